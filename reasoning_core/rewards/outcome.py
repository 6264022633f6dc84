"""Outcome reward models: a sequence classifier scores a whole solution at once.

Per the `RewardModel` contract, every step of a path gets that one score (kind "orm").
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from transformers import AutoModelForSequenceClassification

from ..loading import StepFormat, find_model, load_pretrained, load_tokenizer, step_format
from ..protocols import check_scores
from .token_classification import class_probs, model_logits


class OutcomeRM:
    """A `RewardModel` over AutoModelForSequenceClassification (1 logit -> sigmoid, 2+ -> softmax[good]).

    Settings come from the defaults, then the checkpoint's stepwise.json, then explicit arguments."""

    kind: str = "orm"

    def __init__(self, path: str | Path, *, prompt_template: str | None = None, step_separator: str | None = None,
                 good_label: int | None = None, task: str | None = None, device: str | torch.device = "auto",
                 dtype: str | torch.dtype | None = None, trust_remote_code: bool = False,
                 local_files_only: bool = True) -> None:
        folder = find_model(path, local_files_only)
        self.format = step_format(folder, StepFormat(kind="orm"), {
            "prompt_template": prompt_template, "step_separator": step_separator, "good_label": good_label,
            "task": task})
        self.tokenizer = load_tokenizer(folder, trust_remote_code)
        self.model = load_pretrained(AutoModelForSequenceClassification, folder, device=device, dtype=dtype,
                                     trust_remote_code=trust_remote_code)
        # decoder-based classifiers read the last non-pad token, so they must know the pad id
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id

    def text(self, problem: str, steps: Sequence[str]) -> str:
        """Exactly what the model reads for one path."""
        return self.format.prompt(problem) + "".join(step + self.format.step_separator for step in steps)

    def score(self, problem: str, paths: Sequence[Sequence[str]]) -> list[list[float]]:
        scores: list[list[float]] = [[] for _ in paths]
        rows = [i for i, path in enumerate(paths) if path]
        if rows:
            enc = self.tokenizer([self.text(problem, paths[i]) for i in rows], return_tensors="pt",
                                 padding=True, padding_side="right")
            batch = {k: enc[k].to(self.model.device) for k in ("input_ids", "attention_mask")}
            with torch.no_grad():
                probs = class_probs(model_logits(self.model(**batch)), self.format.good_label)
            for row, i in enumerate(rows):
                scores[i] = [float(probs[row])] * len(paths[i])
        return check_scores(scores, paths)
