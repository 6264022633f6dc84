"""Score steps with vLLM's pooling engine (GPU): the same input texts as the transformers adapters, but
batched through vLLM's STEP pooler, which returns the class probabilities at every step-tag token.

    rewards.load("vllm:qwen-prm:Qwen/Qwen2.5-Math-PRM-7B")           # native Qwen2ForProcessRewardModel
    rewards.load("vllm:math-shepherd:peiyi9979/math-shepherd-mistral-7b-prm")

vLLM is imported only when used (`lazy.import_vllm`). Its pooling API moved between releases (`task="reward"` became
`runner="pooling"`, `LLM.encode` gained `pooling_task`, `override_pooler_config` became `pooler_config`);
each is tried in turn, newest first. `PoolingPRM` is what this adapter shares with the one that asks a vLLM server
(`vllm_server.py`): the texts sent and how the pooled rows are read.
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from ..lazy import import_vllm
from ..protocols import ModelError
from .base import score_nonempty
from .step_format import StepFormat
from .step_tag import MATH_SHEPHERD, tagged_text
from .token_classification import PRM_PRESETS, separated_text

log = logging.getLogger(__name__)

VLLM_PRESETS: dict[str, tuple[StepFormat, str]] = {
    "qwen-prm": (PRM_PRESETS["qwen-prm"], "separated"),
    "math-shepherd": (MATH_SHEPHERD, "tagged"),
}


class PoolingPRM(ABC):
    """A `RewardModel` read from vLLM's STEP pooler in a preset of `VLLM_PRESETS`: each path is sent as `text`
    builds it, and the pooler answers one row of class probabilities per step tag, of which `good_column` is
    P(good). Subclasses say where the rows come from (`_rows`)."""

    kind: str = "prm"

    def __init__(self, preset: str) -> None:
        if preset not in VLLM_PRESETS:
            raise ValueError(f"unknown vLLM reward preset {preset!r}; valid: {', '.join(VLLM_PRESETS)}")
        self.format, self.layout = VLLM_PRESETS[preset]
        self.good_column = 1 if self.layout == "separated" else 0  # Qwen: class 1 is good; shepherd: [+, -]

    def text(self, problem: str, steps: Sequence[str]) -> str:
        make = separated_text if self.layout == "separated" else tagged_text
        return make(self.format, problem, steps)[0]

    def score(self, problem: str, paths: Sequence[Sequence[str]]) -> list[list[float]]:
        return score_nonempty(paths, lambda batch_paths: self._score_batch(problem, batch_paths))

    def _score_batch(self, problem: str, paths: list[Sequence[str]]) -> list[list[float]]:
        rows = self._rows([self.text(problem, path) for path in paths])
        return [self._step_scores(path, data) for path, data in zip(paths, rows, strict=True)]

    @abstractmethod
    def _rows(self, texts: list[str]) -> list[Any]:
        """For each text, the pooler's rows (one per step tag, one column per class)."""

    def _step_scores(self, path: Sequence[str], data: Any) -> list[float]:
        if len(data) != len(path):
            tag = self.format.step_tag if self.layout == "tagged" else self.format.step_separator
            within = [k + 1 for k, step in enumerate(path) if tag in step]
            where = f" (step {', '.join(map(str, within))} holds {tag!r})" if within else ""
            raise ModelError(f"vLLM returned {len(data)} step scores for a path of {len(path)} steps; "
                             f"does a step's text contain the step tag itself?{where}")
        return [float(row[self.good_column]) for row in data]


class VLLMPRM(PoolingPRM):
    """A `RewardModel` over `vllm.LLM` in pooling mode; `engine_kwargs` go to the engine (dtype, ...)."""

    def __init__(self, model: str, *, preset: str = "qwen-prm", **engine_kwargs: Any) -> None:
        super().__init__(preset)
        vllm = import_vllm("the vLLM reward backend")
        for key in ("device", "local_files_only"):  # options of the transformers adapters
            engine_kwargs.pop(key, None)
        pooler = None
        if self.layout == "tagged":  # a causal LM: pool the +/- logits at each tag token
            tokenizer = _tokenizer(model, engine_kwargs.get("trust_remote_code", False))
            ids = [tokenizer.encode(t, add_special_tokens=False)[-1]
                   for t in (self.format.step_tag, self.format.good_token, self.format.bad_token)]
            pooler = {"pooling_type": "STEP", "step_tag_id": ids[0], "returned_token_ids": ids[1:]}
        self.llm = _engine(vllm, model, pooler, engine_kwargs)

    def _rows(self, texts: list[str]) -> list[Any]:
        rows = [out.outputs.data for out in _pool(self.llm, texts)]
        return [data.float().cpu() if hasattr(data, "cpu") else data for data in rows]


def _tokenizer(model: str, trust_remote_code: bool) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)


def _engine(vllm: Any, model: str, pooler: dict[str, Any] | None, kwargs: dict[str, Any]) -> Any:
    """A pooling engine, across vLLM releases (newest spelling first)."""
    attempts = []
    for mode in ({"runner": "pooling"}, {"task": "reward"}):
        if pooler is None:
            attempts.append(mode)
            continue
        config = _pooler_config(pooler)
        convert = {"convert": "reward"} if "runner" in mode else {}
        attempts += [{**mode, **convert, "pooler_config": config},
                     {**mode, **convert, "override_pooler_config": config}]
    errors = []
    for extra in attempts:
        try:
            log.info("starting a vLLM pooling engine for %s (%s)", model, ", ".join(extra))
            return vllm.LLM(model=model, **extra, **kwargs)
        except TypeError as e:  # an argument this release does not know
            errors.append(f"{sorted(extra)}: {e}")
    raise ModelError(f"could not start a vLLM pooling engine for {model}; tried {'; '.join(errors)}")


def _pooler_config(pooler: dict[str, Any]) -> Any:
    try:
        from vllm.config import PoolerConfig
    except ImportError:  # pragma: no cover - very old releases
        return pooler
    return PoolerConfig(**pooler)


def _pool(llm: Any, texts: list[str]) -> list[Any]:
    """Per-token pooling outputs: `encode(pooling_task="token_classify")` (vLLM >= 0.11), else `reward` / `encode`."""
    try:
        return llm.encode(texts, pooling_task="token_classify", use_tqdm=False)
    except TypeError:
        pass
    if hasattr(llm, "reward"):
        return llm.reward(texts, use_tqdm=False)
    return llm.encode(texts, use_tqdm=False)
