"""What the reward adapters share: opening a checkpoint or wrapping a model already in memory
(`RewardAdapter`), the batch helper that scores only a call's non-empty paths (`score_nonempty`), the
marked-position scoring loop (`MarkedPRM`), and reading a model's logits at marked characters."""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import torch

from ..checkpoints import ensure_pad_token, find_model, load_pretrained, load_tokenizer
from ..protocols import ModelError, check_scores
from .step_format import StepFormat, step_format


def score_nonempty(paths: Sequence[Sequence[str]],
                   score_batch: Callable[[list[Sequence[str]]], list[list[float]]]) -> list[list[float]]:
    """Per-step scores for `paths`: `score_batch` scores the non-empty ones in one batch (an empty path has
    no step to score, and would be an empty row in the batch); the result is checked (`check_scores`)."""
    rows = [i for i, path in enumerate(paths) if path]
    scores: list[list[float]] = [[] for _ in paths]
    if rows:
        for i, row in zip(rows, score_batch([paths[i] for i in rows])):
            scores[i] = row
    return check_scores(scores, paths)


class RewardAdapter:
    """A reward model read through a transformers model and tokenizer, in a `StepFormat`.

    `__init__` opens a checkpoint folder (`_open`); `from_model` wraps a model already in memory (training
    measures one before it is saved). Both end in `_setup`, which subclasses extend."""

    kind: str = "prm"
    default_format: ClassVar[StepFormat]
    auto_class: ClassVar[Any]  # the transformers Auto class that loads the adapter's checkpoints

    def _open(self, path: str | Path, settings: dict[str, Any], *, base: StepFormat | None = None,
              device: str | torch.device = "auto", dtype: str | torch.dtype | None = None,
              trust_remote_code: bool = False, local_files_only: bool = True) -> None:
        """Open the checkpoint at `path` (a folder or a cached hub id): its StepFormat (`base`, by default the
        adapter's, then its stepwise.json, then `settings`), its tokenizer and its weights on `device`."""
        folder = find_model(path, local_files_only)
        fmt = step_format(folder, base or self.default_format, settings)
        tokenizer = load_tokenizer(folder, trust_remote_code)
        model = load_pretrained(self._auto_class(folder, trust_remote_code), folder, device=device, dtype=dtype,
                                trust_remote_code=trust_remote_code)
        self._setup(model, tokenizer, fmt)

    def _auto_class(self, folder: Path, trust_remote_code: bool) -> Any:
        return self.auto_class

    def _setup(self, model: Any, tokenizer: Any, fmt: StepFormat) -> None:
        self.model, self.tokenizer, self.format = model, tokenizer, fmt

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, **settings: Any) -> Self:
        """The adapter over `model` and `tokenizer`; `settings` replace fields of its default StepFormat
        (e.g. task="arith"; None means "not given")."""
        adapter = cls.__new__(cls)
        fmt = dataclasses.replace(cls.default_format, **{k: v for k, v in settings.items() if v is not None})
        adapter._setup(model.eval(), ensure_pad_token(tokenizer), fmt)
        return adapter


class MarkedPRM(RewardAdapter, ABC):
    """The scoring loop PRMs that read a step's score at a marked position share: render each path with
    one marked character per step, run all paths in one padded forward pass, and read P(good) at the
    token covering each mark. Subclasses say how a path is rendered and how P(good) is computed."""

    add_special_tokens: ClassVar[bool] = True  # False where a chat template already wrote the BOS

    def text(self, problem: str, steps: Sequence[str]) -> str:
        """Exactly what the model reads for one path."""
        return self._marked(problem, steps)[0]

    @abstractmethod
    def _marked(self, problem: str, steps: Sequence[str]) -> tuple[str, list[int]]:
        """The input text and, per step, the index of the character whose token carries its score."""

    @abstractmethod
    def _good_probs(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(rows, tokens) probability that the step marked at each token is good."""

    def score(self, problem: str, paths: Sequence[Sequence[str]]) -> list[list[float]]:
        return score_nonempty(paths, lambda batch_paths: self._score_batch(problem, batch_paths))

    def _score_batch(self, problem: str, paths: list[Sequence[str]]) -> list[list[float]]:
        texts, marks = zip(*(self._marked(problem, path) for path in paths))
        batch, positions = encode_marked(self.tokenizer, list(texts), list(marks), self.model.device,
                                         add_special_tokens=self.add_special_tokens)
        with torch.no_grad():
            probs = self._good_probs(batch)
        return [probs[row, positions[row]].tolist() for row in range(len(paths))]


def label_token_ids(tokenizer: Any, fmt: StepFormat) -> list[int]:
    """The ids of the good and the bad label token (the last piece of each, as Math-Shepherd encodes "+"
    and "-")."""
    ids = []
    for token in (fmt.good_token, fmt.bad_token):
        pieces = tokenizer.encode(token, add_special_tokens=False)
        if not pieces:
            raise ModelError(f"the tokenizer cannot encode the label token {token!r}")
        ids.append(pieces[-1])
    return ids


def good_vs_bad(logits: torch.Tensor, label_ids: list[int]) -> torch.Tensor:
    """softmax([logit(good), logit(bad)])[good] at every position."""
    return torch.softmax(logits[..., label_ids], dim=-1)[..., 0]


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
