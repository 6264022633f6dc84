"""Math-Shepherd-style PRMs: a causal LM reads "step ки" and predicts "+" (good) or "-" (bad) after the tag.

The score of a step is softmax([logit(good), logit(bad)])[good] at the tag's position; every step's
tag is read in the same forward pass, and all paths go in one padded batch.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM

from .base import MarkedPRM, good_vs_bad, label_token_ids
from .step_format import StepFormat

MATH_SHEPHERD = StepFormat(prompt_template="{problem} ", step_separator="\n", step_tag="ки",
                           good_token="+", bad_token="-")


class StepTagPRM(MarkedPRM):
    """A `RewardModel` over a causal LM trained to emit a good/bad token after each step tag.

    Input: prompt + separator.join(f"{step} {step_tag}"), Math-Shepherd's layout. Settings come from the
    Math-Shepherd defaults, then the checkpoint's stepwise.json, then explicit arguments.
    `load` options (device, dtype, trust_remote_code, local_files_only) say how the checkpoint is opened."""

    default_format = MATH_SHEPHERD
    auto_class = AutoModelForCausalLM

    def __init__(self, path: str | Path, *, step_tag: str | None = None, good_token: str | None = None,
                 bad_token: str | None = None, prompt_template: str | None = None,
                 step_separator: str | None = None, task: str | None = None, **load: Any) -> None:
        self._open(path, {"step_tag": step_tag, "good_token": good_token, "bad_token": bad_token,
                          "prompt_template": prompt_template, "step_separator": step_separator, "task": task}, **load)

    def _setup(self, model: Any, tokenizer: Any, fmt: StepFormat) -> None:
        super()._setup(model, tokenizer, fmt)
        self.candidates = label_token_ids(tokenizer, fmt)

    def _marked(self, problem: str, steps: Sequence[str]) -> tuple[str, list[int]]:
        return tagged_text(self.format, problem, steps)

    def _good_probs(self, logits: torch.Tensor) -> torch.Tensor:
        return good_vs_bad(logits, self.candidates)


def tagged_text(fmt: StepFormat, problem: str, steps: Sequence[str]) -> tuple[str, list[int]]:
    """The input text and, per step, the index of the last character of its tag."""
    text, marks = fmt.prompt(problem), []
    for k, step in enumerate(steps):
        text += (fmt.step_separator if k else "") + f"{step} {fmt.step_tag}"
        marks.append(len(text) - 1)
    return text, marks
