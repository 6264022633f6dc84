"""PRMs that classify tokens: the score of a step is P(good) at the last token of "step + separator".

This is the TRL stepwise-supervision format (separator "\\n") and, with the separator "<extra_0>" and
a chat prompt, the Qwen2.5-Math-PRM format. All paths are scored in one padded forward pass.
"""
from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Sequence

import torch
from transformers import AutoModel, AutoModelForTokenClassification

from ..loading import StepFormat, find_model, load_pretrained, load_tokenizer, step_format
from ..protocols import ModelError, check_scores

log = logging.getLogger(__name__)

QWEN_PRM_PROMPT = ("<|im_start|>system\nPlease reason step by step, and put your final answer within \\boxed{}."
                   "<|im_end|>\n<|im_start|>user\n{problem}<|im_end|>\n<|im_start|>assistant\n")
PRM_PRESETS: dict[str, StepFormat] = {
    "trl": StepFormat(prompt_template="{problem}\n", step_separator="\n", good_label=1),
    "qwen-prm": StepFormat(prompt_template=QWEN_PRM_PROMPT, step_separator="<extra_0>", good_label=1),
}


class MarkedPRM(ABC):
    """The scoring loop PRMs that read a step's score at a marked position share: render each path with
    one marked character per step, run all paths in one padded forward pass, and read P(good) at the
    token covering each mark. Subclasses say how a path is rendered and how P(good) is computed."""

    kind: str = "prm"

    def text(self, problem: str, steps: Sequence[str]) -> str:
        """Exactly what the model reads for one path."""
        return self._marked(problem, steps)[0]

    @abstractmethod
    def _marked(self, problem: str, steps: Sequence[str]) -> tuple[str, list[int]]:
        """The input text and, per step, the index of the character whose token carries its score."""

    @abstractmethod
    def _good_probs(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(rows, tokens) probability that the step ending at each token is good."""

    def score(self, problem: str, paths: Sequence[Sequence[str]]) -> list[list[float]]:
        scores: list[list[float]] = [[] for _ in paths]
        rows = [i for i, path in enumerate(paths) if path]
        if rows:
            texts, marks = zip(*(self._marked(problem, paths[i]) for i in rows))
            batch, positions = encode_marked(self.tokenizer, list(texts), list(marks), self.model.device)
            with torch.no_grad():
                probs = self._good_probs(batch)
            for row, i in enumerate(rows):
                scores[i] = probs[row, positions[row]].tolist()
        return check_scores(scores, paths)


class TokenClassificationPRM(MarkedPRM):
    """A `RewardModel` over a token-classification head or a *ProcessRewardModel (Qwen2's built in, others
    as the checkpoint's remote code).

    Settings come from the `preset`, then the checkpoint's stepwise.json, then explicit arguments."""

    def __init__(self, path: str | Path, *, preset: str = "trl", prompt_template: str | None = None,
                 step_separator: str | None = None, good_label: int | None = None, task: str | None = None,
                 device: str | torch.device = "auto", dtype: str | torch.dtype | None = None,
                 trust_remote_code: bool = False, local_files_only: bool = True) -> None:
        if preset not in PRM_PRESETS:
            raise ValueError(f"unknown PRM preset {preset!r}; valid: {', '.join(PRM_PRESETS)}")
        folder = find_model(path, local_files_only)
        self.format = step_format(folder, PRM_PRESETS[preset], {
            "prompt_template": prompt_template, "step_separator": step_separator, "good_label": good_label,
            "task": task})
        self.tokenizer = load_tokenizer(folder, trust_remote_code)
        self.model = load_pretrained(_auto_class(folder, trust_remote_code), folder, device=device, dtype=dtype,
                                     trust_remote_code=trust_remote_code)

    def _marked(self, problem: str, steps: Sequence[str]) -> tuple[str, list[int]]:
        return separated_text(self.format, problem, steps)

    def _good_probs(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return class_probs(model_logits(self.model(**batch)), self.format.good_label)


def separated_text(fmt: StepFormat, problem: str, steps: Sequence[str]) -> tuple[str, list[int]]:
    """The input text and, per step, the index of the last character of step + separator."""
    text, marks = fmt.prompt(problem), []
    for step in steps:
        text += step + fmt.step_separator
        marks.append(len(text) - 1)
    return text, marks


def _auto_class(folder: Path, trust_remote_code: bool) -> Any:
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


def encode_marked(tokenizer: Any, texts: list[str], marks: list[list[int]], device: torch.device,
                  add_special_tokens: bool = True) -> tuple[dict[str, torch.Tensor], list[list[int]]]:
    """Tokenize `texts` as one right-padded batch and find, for each marked character (ascending), the
    token that covers it. Tokenizing whole texts (not pieces) keeps tokenization as in training.
    Texts rendered by a chat template already hold their BOS: pass `add_special_tokens=False`."""
    try:
        enc = tokenizer(texts, return_tensors="pt", padding=True, padding_side="right", return_offsets_mapping=True,
                        add_special_tokens=add_special_tokens)
    except NotImplementedError as e:  # slow (Python) tokenizers have no offsets
        raise ModelError("this reward model needs a fast tokenizer (tokenizer.json) to locate its steps") from e
    positions = [_covering_tokens(offsets, chars, text)
                 for offsets, chars, text in zip(enc["offset_mapping"].tolist(), marks, texts)]
    batch = {k: enc[k].to(device) for k in ("input_ids", "attention_mask")}
    return batch, positions


def _covering_tokens(offsets: list[list[int]], chars: list[int], text: str) -> list[int]:
    out, i = [], 0
    for c in chars:
        while i < len(offsets) and not offsets[i][0] <= c < offsets[i][1]:
            i += 1
        if i == len(offsets):
            raise ModelError(f"the tokenizer dropped the character {text[c]!r} that ends a step; "
                             "check the step separator / tag for this model")
        out.append(i)
    return out


def model_logits(output: Any) -> torch.Tensor:
    """Standard heads return an output object; some remote-code PRMs return a plain tuple."""
    logits = output.logits if hasattr(output, "logits") else output[0]
    return logits.float()


def class_probs(logits: torch.Tensor, good_label: int) -> torch.Tensor:
    """P(good) from a classifier's last dimension: sigmoid of a single logit, else softmax[good_label]."""
    if logits.shape[-1] == 1:
        return torch.sigmoid(logits[..., 0])
    if not 0 <= good_label < logits.shape[-1]:
        raise ModelError(f"good_label {good_label} is not one of the model's {logits.shape[-1]} classes")
    return torch.softmax(logits, dim=-1)[..., good_label]
