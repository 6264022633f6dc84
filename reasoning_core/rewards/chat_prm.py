"""RLHFlow-style chat PRMs: a causal chat model reads the solution as a conversation, one user turn per
step, each answered by the assistant with "+" (good) or "-" (bad).

    user: "<problem> <step 1>"   assistant: "+"   user: "<step 2>"   assistant: "+"   ...

rendered with the checkpoint's own chat template (Llama-3.1's for RLHFlow/Llama3.1-8B-PRM-*). The score
of step k is softmax([logit(+), logit(-)])[+] at the token just before the k-th assistant reply, where
the model predicts it: RLHFlow's recipe (their "-3" position for the last step), for every step of every
path in one padded forward pass (`MarkedPRM`'s loop, with the reply tokens as the marks).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM

from ..protocols import ModelError
from .base import MarkedPRM, good_vs_bad, label_token_ids
from .step_format import StepFormat

RLHFLOW = StepFormat(prompt_template="{problem} ", good_token="+", bad_token="-")
"""The first user turn is prompt(problem) + first step: RLHFlow writes `problem + " " + step`."""


class ChatPRM(MarkedPRM):
    """A `RewardModel` over a chat LM that answers each step turn with a good or bad token.

    Settings (prompt_template for the first turn, good_token, bad_token, task) come from the RLHFlow
    defaults, then the checkpoint's stepwise.json, then explicit arguments. `load` options (device, dtype,
    trust_remote_code, local_files_only) say how the checkpoint is opened."""

    default_format = RLHFLOW
    auto_class = AutoModelForCausalLM
    add_special_tokens = False  # the chat template writes the BOS
    lookback = 1  # a reply is read where the model predicts it, one token before

    def __init__(self, path: str | Path, *, good_token: str | None = None, bad_token: str | None = None,
                 prompt_template: str | None = None, task: str | None = None, **load: Any) -> None:
        self._open(path, {"good_token": good_token, "bad_token": bad_token, "prompt_template": prompt_template,
                          "task": task}, **load)

    def _setup(self, model: Any, tokenizer: Any, fmt: StepFormat) -> None:
        if not tokenizer.chat_template:
            raise ModelError(f"{tokenizer.name_or_path} has no chat template, and a chat PRM reads a conversation; "
                             "load it as a step-tag PRM (math-shepherd:PATH) if it expects tagged steps")
        super()._setup(model, tokenizer, fmt)
        self.candidates = label_token_ids(tokenizer, fmt)

    def conversation(self, problem: str, steps: Sequence[str]) -> list[dict[str, str]]:
        """The chat the model reads: each step a user turn, each answered with the good token."""
        messages = []
        for k, step in enumerate(steps):
            content = self.format.prompt(problem) + step if k == 0 else step
            messages += [{"role": "user", "content": content}, {"role": "assistant", "content": self.format.good_token}]
        return messages

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

    def _good_probs(self, logits: torch.Tensor) -> torch.Tensor:
        good = good_vs_bad(logits, self.candidates)
        # the reply token at t is predicted from the logits at t - 1
        return torch.nn.functional.pad(good[:, :-1], (1, 0))

