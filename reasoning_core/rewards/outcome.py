"""Outcome reward models: a sequence classifier scores a whole solution at once.

Per the `RewardModel` contract, every step of a path gets that one score (kind "orm").
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForSequenceClassification

from .base import RewardAdapter, class_probs, model_logits, score_nonempty
from .step_format import StepFormat


class OutcomeRM(RewardAdapter):
    """A `RewardModel` over AutoModelForSequenceClassification (1 logit -> sigmoid, 2+ -> softmax[good]).

    Settings come from the defaults, then the checkpoint's stepwise.json, then explicit arguments.
    `load` options (device, dtype, trust_remote_code, local_files_only) say how the checkpoint is opened."""

    kind: str = "orm"
    default_format = StepFormat(kind="orm")
    auto_class = AutoModelForSequenceClassification

    def __init__(self, path: str | Path, *, prompt_template: str | None = None, step_separator: str | None = None,
                 good_label: int | None = None, task: str | None = None, **load: Any) -> None:
        self._open(path, {"prompt_template": prompt_template, "step_separator": step_separator,
                          "good_label": good_label, "task": task}, **load)

    def _setup(self, model: Any, tokenizer: Any, fmt: StepFormat) -> None:
        super()._setup(model, tokenizer, fmt)
        # decoder-based classifiers read the last non-pad token, so they must know the pad id
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tokenizer.pad_token_id

    def text(self, problem: str, steps: Sequence[str]) -> str:
        """Exactly what the model reads for one path."""
        return self.format.prompt(problem) + "".join(step + self.format.step_separator for step in steps)

    def score(self, problem: str, paths: Sequence[Sequence[str]]) -> list[list[float]]:
        return score_nonempty(paths, lambda batch_paths: self._score_batch(problem, batch_paths))

    def _score_batch(self, problem: str, paths: list[Sequence[str]]) -> list[list[float]]:
        enc = self.tokenizer([self.text(problem, path) for path in paths], return_tensors="pt", padding=True,
                             padding_side="right")
        batch = {k: enc[k].to(self.model.device) for k in ("input_ids", "attention_mask")}
        with torch.no_grad():
            probs = class_probs(model_logits(self.model(**batch)), self.format.good_label)
        return [[float(probs[row])] * len(path) for row, path in enumerate(paths)]
