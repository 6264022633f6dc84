"""Math-Shepherd-style PRMs: a causal LM reads "step ки" and predicts "+" (good) or "-" (bad) after the tag.

The score of a step is softmax([logit(good), logit(bad)])[good] at the tag's position; every step's
tag is read in the same forward pass, and all paths go in one padded batch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from transformers import AutoModelForCausalLM

from ..loading import StepFormat, find_model, load_pretrained, load_tokenizer, step_format
from ..protocols import ModelError
from .token_classification import MarkedPRM, model_logits

MATH_SHEPHERD = StepFormat(prompt_template="{problem} ", step_separator="\n", step_tag="ки",
                           good_token="+", bad_token="-")


class StepTagPRM(MarkedPRM):
    """A `RewardModel` over a causal LM trained to emit a good/bad token after each step tag.

    Input: prompt + separator.join(f"{step} {step_tag}"), Math-Shepherd's layout. Settings come from the
    Math-Shepherd defaults, then the checkpoint's stepwise.json, then explicit arguments."""

    def __init__(self, path: str | Path, *, step_tag: str | None = None, good_token: str | None = None,
                 bad_token: str | None = None, prompt_template: str | None = None,
                 step_separator: str | None = None, task: str | None = None,
                 device: str | torch.device = "auto", dtype: str | torch.dtype | None = None,
                 trust_remote_code: bool = False, local_files_only: bool = True) -> None:
        folder = find_model(path, local_files_only)
        self.format = step_format(folder, MATH_SHEPHERD, {
            "step_tag": step_tag, "good_token": good_token, "bad_token": bad_token,
            "prompt_template": prompt_template, "step_separator": step_separator, "task": task})
        self.tokenizer = load_tokenizer(folder, trust_remote_code)
        self.model = load_pretrained(AutoModelForCausalLM, folder, device=device, dtype=dtype,
                                     trust_remote_code=trust_remote_code)
        self.candidates = [_token_id(self.tokenizer, self.format.good_token),
                           _token_id(self.tokenizer, self.format.bad_token)]

    def _marked(self, problem: str, steps: Sequence[str]) -> tuple[str, list[int]]:
        return tagged_text(self.format, problem, steps)

    def _good_probs(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = model_logits(self.model(**batch))[..., self.candidates]
        return torch.softmax(logits, dim=-1)[..., 0]


def tagged_text(fmt: StepFormat, problem: str, steps: Sequence[str]) -> tuple[str, list[int]]:
    """The input text and, per step, the index of the last character of its tag."""
    text, marks = fmt.prompt(problem), []
    for k, step in enumerate(steps):
        text += (fmt.step_separator if k else "") + f"{step} {fmt.step_tag}"
        marks.append(len(text) - 1)
    return text, marks


def _token_id(tokenizer: Any, token: str) -> int:
    """The id the model predicts for `token` (the last piece, as Math-Shepherd encodes "+" and "-")."""
    ids = tokenizer.encode(token, add_special_tokens=False)
    if not ids:
        raise ModelError(f"the tokenizer cannot encode the label token {token!r}")
    return ids[-1]
