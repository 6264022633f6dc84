"""RLHFlow-style chat PRMs: a causal chat model reads the solution as a conversation, one user turn per
step, each answered by the assistant with "+" (good) or "-" (bad).

    user: "<problem> <step 1>"   assistant: "+"   user: "<step 2>"   assistant: "+"   ...

rendered with the checkpoint's own chat template (Llama-3.1's for RLHFlow/Llama3.1-8B-PRM-*). The score
of step k is softmax([logit(+), logit(-)])[+] at the token just before the k-th assistant reply, where
the model predicts it: RLHFlow's recipe (their "-3" position for the last step), for every step of every
path in one padded forward pass.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from transformers import AutoModelForCausalLM

from ..loading import StepFormat, find_model, load_pretrained, load_tokenizer, step_format
from ..protocols import ModelError, check_scores
from .step_tag import _token_id
from .token_classification import encode_marked, model_logits

RLHFLOW = StepFormat(prompt_template="{problem} ", good_token="+", bad_token="-")
"""The first user turn is prompt(problem) + first step: RLHFlow writes `problem + " " + step`."""


class ChatPRM:
    """A `RewardModel` over a chat LM that answers each step turn with a good or bad token.

    Settings (prompt_template for the first turn, good_token, bad_token, task) come from the RLHFlow
    defaults, then the checkpoint's stepwise.json, then explicit arguments."""

    kind: str = "prm"

    def __init__(self, path: str | Path, *, good_token: str | None = None, bad_token: str | None = None,
                 prompt_template: str | None = None, task: str | None = None,
                 device: str | torch.device = "auto", dtype: str | torch.dtype | None = None,
                 trust_remote_code: bool = False, local_files_only: bool = True) -> None:
        folder = find_model(path, local_files_only)
        self.format = step_format(folder, RLHFLOW, {"good_token": good_token, "bad_token": bad_token,
                                                    "prompt_template": prompt_template, "task": task})
        self.tokenizer = load_tokenizer(folder, trust_remote_code)
        if not getattr(self.tokenizer, "chat_template", None):
            raise ModelError(f"{folder} has no chat template, and a chat PRM reads a conversation; "
                             "load it as a step-tag PRM (math-shepherd:PATH) if it expects tagged steps")
        self.model = load_pretrained(AutoModelForCausalLM, folder, device=device, dtype=dtype,
                                     trust_remote_code=trust_remote_code)
        self.candidates = [_token_id(self.tokenizer, self.format.good_token),
                           _token_id(self.tokenizer, self.format.bad_token)]

    def conversation(self, problem: str, steps: Sequence[str]) -> list[dict[str, str]]:
        """The chat the model reads: each step a user turn, each answered with the good token."""
        messages = []
        for k, step in enumerate(steps):
            content = self.format.prompt(problem) + step if k == 0 else step
            messages += [{"role": "user", "content": content}, {"role": "assistant", "content": self.format.good_token}]
        return messages

    def text(self, problem: str, steps: Sequence[str]) -> str:
        """Exactly what the model reads for one path."""
        return self._marked(problem, steps)[0]

    def _render(self, messages: list[dict[str, str]], reply: bool) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=reply)

    def _marked(self, problem: str, steps: Sequence[str]) -> tuple[str, list[int]]:
        """The rendered chat and, per step, the index of the first character of its assistant reply."""
        messages = self.conversation(problem, steps)
        text, marks = self._render(messages, reply=False), []
        for k in range(len(steps)):
            prefix = self._render(messages[:2 * k + 1], reply=True)
            if not text.startswith(prefix) or not text[len(prefix):].lstrip().startswith(self.format.good_token):
                raise ModelError("this chat template does not render a conversation's first turns as a prefix of "
                                 "the whole, so the step replies cannot be located")
            marks.append(len(prefix) + len(text[len(prefix):]) - len(text[len(prefix):].lstrip()))
        return text, marks

    def score(self, problem: str, paths: Sequence[Sequence[str]]) -> list[list[float]]:
        scores: list[list[float]] = [[] for _ in paths]
        rows = [i for i, path in enumerate(paths) if path]
        if rows:
            texts, marks = zip(*(self._marked(problem, paths[i]) for i in rows))
            batch, positions = encode_marked(self.tokenizer, list(texts), list(marks), self.model.device,
                                             add_special_tokens=False)  # the template wrote the BOS
            with torch.no_grad():
                logits = model_logits(self.model(**batch))[..., self.candidates]
            good = torch.softmax(logits, dim=-1)[..., 0]
            for row, i in enumerate(rows):
                # the reply token sits at `p`; the model predicts it from the token before
                scores[i] = good[row, [p - 1 for p in positions[row]]].tolist()
        return check_scores(scores, paths)
