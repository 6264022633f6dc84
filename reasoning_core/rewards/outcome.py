"""Outcome reward models: a sequence classifier scores a whole solution at once.

Per the `RewardModel` contract, every step of a path gets that one score (kind "orm"). A causal classifier
reads a path that extends one it scored before from where that one ended (`RewardAdapter._read`).
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
        # decoder-based classifiers read the last non-pad token, so they must know the pad id (before the
        # setup's probe of whether the model's states can be reused runs it on a batch)
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tokenizer.pad_token_id
        super()._setup(model, tokenizer, fmt)

    def text(self, problem: str, steps: Sequence[str]) -> str:
        """Exactly what the model reads for one path."""
        return self.format.prompt(problem) + "".join(step + self.format.step_separator for step in steps)

    def score(self, problem: str, paths: Sequence[Sequence[str]]) -> list[list[float]]:
        return score_nonempty(paths, lambda batch_paths: self._score_batch(problem, batch_paths))

    def _score_batch(self, problem: str, paths: list[Sequence[str]]) -> list[list[float]]:
        texts = [self.text(problem, path) for path in paths]
        if self.prefix_cache is not None:
            seqs = self.tokenizer(texts).input_ids
            read, logits = self._read(seqs, [(self.prefix_cache.longest(seq), len(seq) - 1) for seq in seqs])
            for row, seq in enumerate(seqs):
                read.store(self.prefix_cache, row, seq)
        else:
            enc = self.tokenizer(texts, return_tensors="pt", padding=True, padding_side="right")
            with torch.no_grad():
                logits = model_logits(self.model(**{k: enc[k].to(self.model.device)
                                                    for k in ("input_ids", "attention_mask")}))
        probs = class_probs(logits, self.format.good_label)
        return [[float(probs[row])] * len(path) for row, path in enumerate(paths)]
