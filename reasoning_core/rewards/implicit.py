"""An implicit PRM (Yuan et al. 2024, "Free Process Rewards without Process Labels"; PRIME): a causal LM
trained from a reference LM so that beta * log(pi(y) / pi_ref(y)), summed over the tokens of a solution's
prefix, is the logit that the prefix is still right.

Its score for step k is sigmoid(beta * the sum of log pi(token) - log pi_ref(token) over every token of
steps 1..k), each token read from the logits that predict it. The check a step needs ("is 25 what 48 / 2
gives?") is thereby made by the LM's own next-token prediction of the written result, where an LM already
computes, and not by a head reading the step's end. Scores are prefix values: a step after a wrong one
stays low (the PRM800K convention the labels follow).

The checkpoint is the trained LM; its reference is `reference.safetensors` beside it (same config and
tokenizer; what `training` writes), or any causal LM folder named by `reference=` (a public implicit PRM
and the model it was trained from). A path is read whole by both models in one batch each: the two
models' states would have to be kept in step for prefix reuse, and these PRMs are small.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import torch
from safetensors.torch import load_model
from transformers import AutoModelForCausalLM

from ..checkpoints import find_model, load_pretrained
from ..protocols import ModelError
from .agreement import AgreementVerifier
from .base import model_logits, score_nonempty
from .step_format import StepFormat

IMPLICIT_FORMAT = StepFormat(kind="implicit", prompt_template="{problem}\n", step_separator="\n", beta=0.1)
REFERENCE_FILE = "reference.safetensors"


class ImplicitPRM(AgreementVerifier):
    """A `RewardModel` over a causal LM and its reference. Settings: `IMPLICIT_FORMAT`, then the
    checkpoint's stepwise.json, then explicit arguments (`beta`, the prompt and separator, `task`);
    `reference` names the reference LM when it is not stored beside the weights."""

    default_format = IMPLICIT_FORMAT

    def __init__(self, path: str | Path, *, reference: str | Path | None = None, beta: float | None = None,
                 prompt_template: str | None = None, step_separator: str | None = None, task: str | None = None,
                 **load: Any) -> None:
        load["prefix_cache_mb"] = 0
        self._open(path, {"beta": beta, "prompt_template": prompt_template, "step_separator": step_separator,
                          "task": task}, **load)
        folder = find_model(path, load.get("local_files_only", True))
        self.reference = _open_reference(folder, reference, self.model, load)

    @classmethod
    def from_models(cls, model: Any, reference: Any, tokenizer: Any, **settings: Any) -> Self:
        """The adapter over a model and its reference already in memory (training measures one)."""
        adapter = cls.from_model(model, tokenizer, prefix_cache_mb=0, **settings)
        adapter.reference = reference.eval()
        return adapter

    def score(self, problem: str, paths: Sequence[Sequence[str]]) -> list[list[float]]:
        return self._scores(problem, paths, itertools.accumulate)

    def local_scores(self, problem: str, paths: Sequence[Sequence[str]]) -> list[list[float]]:
        """Each step's own reward, sigmoid(beta * its tokens' log-ratio), without the steps before it."""
        return self._scores(problem, paths, list)

    def _scores(self, problem: str, paths: Sequence[Sequence[str]], combine) -> list[list[float]]:
        """sigmoid(beta * x) for x in `combine`(each path's per-step log-ratios)."""
        def batch(batch_paths: list[Sequence[str]]) -> list[list[float]]:
            return [[_sigmoid(self.format.beta * x) for x in combine(row)]
                    for row in self._local_batch(problem, batch_paths)]
        return score_nonempty(paths, batch)

    def _step_scores(self, batch: dict[str, torch.Tensor], spans: list[list[tuple[int, int]]]) -> list[list[float]]:
        """Per step, the summed log pi - log pi_ref of its tokens."""
        batch = {k: v.to(self.model.device) for k, v in batch.items()}
        ids = batch["input_ids"][:, 1:]
        with torch.no_grad():
            ratio = _token_logp(self.model, batch, ids) - _token_logp(self.reference, batch, ids)
        # position t of `ratio` scores token t + 1; a span's first token is read from the logits before it
        return [[float(ratio[row, a - 1:b - 1].sum()) for a, b in row_spans]
                for row, row_spans in enumerate(spans)]


def _token_logp(model: Any, batch: dict[str, torch.Tensor], ids: torch.Tensor) -> torch.Tensor:
    logits = model_logits(model(**batch))[:, :-1]
    return logits.log_softmax(-1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _open_reference(folder: Path, reference: str | Path | None, model: Any, load: dict[str, Any]) -> Any:
    """The reference LM: the folder `reference` names, else the weights stored beside the model."""
    if reference is not None:
        ref_folder = find_model(reference, load.get("local_files_only", True))
        return load_pretrained(AutoModelForCausalLM, ref_folder, device=load.get("device", "auto"),
                               dtype=load.get("dtype"), trust_remote_code=load.get("trust_remote_code", False)).eval()
    weights = folder / REFERENCE_FILE
    if not weights.is_file():
        raise ModelError(f"{folder} is an implicit PRM but holds no {REFERENCE_FILE}; name its reference LM "
                         "(the model it was trained from) with reference=PATH")
    ref = AutoModelForCausalLM.from_config(model.config).to(device=model.device, dtype=model.dtype)
    load_model(ref, str(weights))
    return ref.eval()

