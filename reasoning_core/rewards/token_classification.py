"""PRMs that classify tokens: the score of a step is P(good) at the last token of "step + separator".

This is the TRL stepwise-supervision format (separator "\\n") and, with the separator "<extra_0>" and
a chat prompt, the Qwen2.5-Math-PRM format. All paths are scored in one padded forward pass.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModel, AutoModelForTokenClassification

from ..protocols import ModelError
from .base import MarkedPRM, class_probs
from .step_format import StepFormat

log = logging.getLogger(__name__)

QWEN_PRM_PROMPT = ("<|im_start|>system\nPlease reason step by step, and put your final answer within \\boxed{}."
                   "<|im_end|>\n<|im_start|>user\n{problem}<|im_end|>\n<|im_start|>assistant\n")
PRM_PRESETS: dict[str, StepFormat] = {
    "trl": StepFormat(prompt_template="{problem}\n", step_separator="\n", good_label=1),
    "qwen-prm": StepFormat(prompt_template=QWEN_PRM_PROMPT, step_separator="<extra_0>", good_label=1),
}


class TokenClassificationPRM(MarkedPRM):
    """A `RewardModel` over a token-classification head or a *ProcessRewardModel (Qwen2's built in, others
    as the checkpoint's remote code).

    Settings come from the `preset`, then the checkpoint's stepwise.json, then explicit arguments
    (`from_model` starts from the "trl" preset). `load` options (device, dtype, trust_remote_code,
    local_files_only) say how the checkpoint is opened."""

    default_format = PRM_PRESETS["trl"]

    def __init__(self, path: str | Path, *, preset: str = "trl", prompt_template: str | None = None,
                 step_separator: str | None = None, good_label: int | None = None, task: str | None = None,
                 **load: Any) -> None:
        if preset not in PRM_PRESETS:
            raise ValueError(f"unknown PRM preset {preset!r}; valid: {', '.join(PRM_PRESETS)}")
        self._open(path, {"prompt_template": prompt_template, "step_separator": step_separator,
                          "good_label": good_label, "task": task}, base=PRM_PRESETS[preset], **load)

    def _marked(self, problem: str, steps: Sequence[str]) -> tuple[str, list[int]]:
        return separated_text(self.format, problem, steps)

    def _good_probs(self, logits: torch.Tensor) -> torch.Tensor:
        return class_probs(logits, self.format.good_label)

    def _auto_class(self, folder: Path, trust_remote_code: bool) -> Any:
        """Qwen2.5-Math-PRM style checkpoints ship their own *ProcessRewardModel class (remote code); the
        Qwen2 one is also built in, so it loads without running the checkpoint's code."""
        archs = json.loads((folder / "config.json").read_text()).get("architectures") or []
        if any(a.endswith("ProcessRewardModel") for a in archs):
            if trust_remote_code:
                return AutoModel
            if "Qwen2ForProcessRewardModel" in archs:
                from .qwen_prm import Qwen2ForProcessRewardModel

                log.info("%s: using the built-in Qwen2ForProcessRewardModel (no remote code)", folder)
                return _Strict(Qwen2ForProcessRewardModel)
            raise ModelError(f"{folder} is a {archs[0]} that ships its own code; "
                             "load it with trust_remote_code=True if you trust it")
        return AutoModelForTokenClassification


def separated_text(fmt: StepFormat, problem: str, steps: Sequence[str]) -> tuple[str, list[int]]:
    """The input text and, per step, the index of the last character of step + separator."""
    text, marks = fmt.prompt(problem), []
    for step in steps:
        text += step + fmt.step_separator
        marks.append(len(text) - 1)
    return text, marks


class _Strict:
    """Loads a built-in class and refuses a checkpoint whose weights do not all fit it (no silent random init)."""

    def __init__(self, cls: Any) -> None:
        self.cls, self.__name__ = cls, cls.__name__

    def from_pretrained(self, folder: Path, **kw: Any) -> Any:
        kw.pop("trust_remote_code", None)
        model, info = self.cls.from_pretrained(folder, output_loading_info=True, **kw)
        missing = sorted(info.get("missing_keys", []))
        if missing:
            raise ModelError(f"{folder} does not hold a {self.__name__}: missing weights {missing[:4]}")
        return model
