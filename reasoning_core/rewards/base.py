"""What the reward adapters share: opening a checkpoint or wrapping a model already in memory
(`RewardAdapter`), the batch helper that scores a call's distinct non-empty paths (`score_nonempty`), the
step-span scoring loop (`StepScorer`) and the marked-position one built on it (`MarkedPRM`), and reading a
model's logits at marked characters.

Incremental scoring: a search scores a path that is a path it scored before plus one step. With a causal
model, a step's score depends only on the text up to it, so each scored path keeps its states and its step
scores (`kv_cache.PrefixCache`); a path that extends it has only its new steps read and scored, and no
call grows with the depth of the paths it scores. The scores agree with reading every path whole to float
rounding; `prefix_cache_mb=0` reads every path whole."""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import torch

from ..checkpoints import ensure_pad_token, find_model, load_pretrained, load_tokenizer
from ..kv_cache import DEFAULT_MB, Batch, Entry, PrefixCache, reusable
from ..protocols import ModelError, check_scores
from .step_format import StepFormat, step_format


def score_nonempty(paths: Sequence[Sequence[str]],
                   score_batch: Callable[[list[Sequence[str]]], list[list[float]]]) -> list[list[float]]:
    """Per-step scores for `paths`: `score_batch` scores each distinct non-empty one once, in one batch (an
    empty path has no step to score, and would be an empty row in the batch; a search often samples one
    step several times, and copies of a path then score exactly alike, not merely to float rounding); the
    result is checked (`check_scores`)."""
    distinct = list(dict.fromkeys(tuple(path) for path in paths if path))
    scored = dict(zip(distinct, score_batch([list(path) for path in distinct]))) if distinct else {}
    return check_scores([list(scored[tuple(path)]) if path else [] for path in paths], paths)


class RewardAdapter:
    """A reward model read through a transformers model and tokenizer, in a `StepFormat`.

    `__init__` opens a checkpoint folder (`_open`); `from_model` wraps a model already in memory (training
    measures one before it is saved). Both end in `_setup`, which subclasses extend. `prefix_cache_mb`
    bounds the memory of the scored paths' states kept for the paths that extend them (0: keep none)."""

    kind: str = "prm"
    default_format: ClassVar[StepFormat]
    auto_class: ClassVar[Any]  # the transformers Auto class that loads the adapter's checkpoints
    prefix_cache_mb: float = DEFAULT_MB

    def _open(self, path: str | Path, settings: dict[str, Any], *, base: StepFormat | None = None,
              device: str | torch.device = "auto", dtype: str | torch.dtype | None = None,
              trust_remote_code: bool = False, local_files_only: bool = True,
              prefix_cache_mb: float = DEFAULT_MB) -> None:
        """Open the checkpoint at `path` (a folder or a cached hub id): its StepFormat (`base`, by default the
        adapter's, then its stepwise.json, then `settings`), its tokenizer and its weights on `device`."""
        self.prefix_cache_mb = prefix_cache_mb
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
        reuse = self.prefix_cache_mb > 0 and reusable(model)
        self.prefix_cache = PrefixCache(model, int(self.prefix_cache_mb * 2**20)) if reuse else None

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, *, prefix_cache_mb: float = DEFAULT_MB,
                   **settings: Any) -> Self:
        """The adapter over `model` and `tokenizer`; `settings` replace fields of its default StepFormat
        (e.g. task="arith"; None means "not given"). Training the model further in place drops the states
        kept so far (`kv_cache.PrefixCache` watches the weights)."""
        adapter = cls.__new__(cls)
        adapter.prefix_cache_mb = prefix_cache_mb
        fmt = dataclasses.replace(cls.default_format, **{k: v for k, v in settings.items() if v is not None})
        adapter._setup(model.eval(), ensure_pad_token(tokenizer), fmt)
        return adapter

    def _read(self, seqs: list[list[int]], reuse: list[tuple[Entry | None, int]]) -> tuple[Batch, torch.Tensor]:
        """One forward pass over `seqs` that reads each row only from where its reused states end
        (`PrefixCache.batch`): the batch, and the model's logits over the batch's uncached columns."""
        pad, device = self.tokenizer.pad_token_id, self.model.device
        reuse = self.prefix_cache.share(self.model, seqs, reuse, pad, device)
        batch = self.prefix_cache.batch(seqs, reuse, pad, device, pad_left=False)
        with torch.no_grad():
            return batch, model_logits(self.model(**batch.tail()))


class StepScorer(RewardAdapter, ABC):
    """Adapters whose step score is the least of per-token values over the step's tokens (its span): a
    marked PRM's P(good) at one token, the agreement verifier's gaps over every token of the step. The
    value at a token may be read `lookback` positions earlier (a prediction of that token)."""

    lookback: ClassVar[int] = 0

    @abstractmethod
    def _values(self, logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """(rows, tokens) value at each token, from the model's logits over those tokens and their ids."""

    def _step_score(self, values: torch.Tensor) -> float:
        return float(values.min())

    def _step_scores(self, batch: dict[str, torch.Tensor], spans: list[list[tuple[int, int]]]) -> list[list[float]]:
        """Each row's step scores, given its tokens (`batch`, right-padded, on the CPU) and its steps' token
        spans."""
        if self.prefix_cache is not None:
            return self._step_scores_reusing(batch, spans)
        batch = {k: v.to(self.model.device) for k, v in batch.items()}
        with torch.no_grad():
            values = self._values(model_logits(self.model(**batch)), batch["input_ids"])
        return [[self._step_score(values[row, a:b]) for a, b in row_spans] for row, row_spans in enumerate(spans)]

    def _step_scores_reusing(self, batch: dict[str, torch.Tensor],
                             spans: list[list[tuple[int, int]]]) -> list[list[float]]:
        """`_step_scores` where a row that extends a path scored before takes that path's scores for the steps
        it shares (same tokens, same spans) and its states, and only its new steps are read."""
        seqs = [ids[:int(mask.sum())].tolist() for ids, mask in zip(batch["input_ids"], batch["attention_mask"])]
        entries = [self.prefix_cache.longest(seq) for seq in seqs]
        scores = [_shared_scores(entry, row_spans) for entry, row_spans in zip(entries, spans)]
        todo = [r for r in range(len(seqs)) if len(scores[r]) < len(spans[r])]
        if not todo:
            return scores
        first = [spans[r][len(scores[r])][0] - self.lookback for r in todo]  # the first output a new step needs
        read, logits = self._read([seqs[r] for r in todo], [(entries[r], f) for r, f in zip(todo, first)])
        values = self._values(logits, read.input_ids[:, read.cached:])
        for i, r in enumerate(todo):
            shift = read.starts[i] - read.cached  # token position -> column of `values`
            scores[r] = scores[r] + [self._step_score(values[i, a + shift:b + shift])
                                     for a, b in spans[r][len(scores[r]):]]
            read.store(self.prefix_cache, i, seqs[r], payload=(spans[r], scores[r]))
        return scores


def _shared_scores(entry: Entry | None, spans: list[tuple[int, int]]) -> list[float]:
    """The scores a stored path (whose tokens the new one starts with) gives the new path's leading steps:
    those whose spans agree; a step's score depends on no token after its span."""
    if entry is None or entry.payload is None:
        return []
    old_spans, old_scores = entry.payload
    shared = 0
    while shared < min(len(old_spans), len(spans)) and old_spans[shared] == spans[shared]:
        shared += 1
    return old_scores[:shared]


class MarkedPRM(StepScorer, ABC):
    """The scoring loop PRMs that read a step's score at a marked position share: render each path with
    one marked character per step, run all paths in one padded forward pass, and read P(good) at the
    token covering each mark (a span of one token). Subclasses say how a path is rendered and how P(good)
    is computed."""

    add_special_tokens: ClassVar[bool] = True  # False where a chat template already wrote the BOS

    def text(self, problem: str, steps: Sequence[str]) -> str:
        """Exactly what the model reads for one path."""
        return self._marked(problem, steps)[0]

    @abstractmethod
    def _marked(self, problem: str, steps: Sequence[str]) -> tuple[str, list[int]]:
        """The input text and, per step, the index of the character whose token carries its score."""

    @abstractmethod
    def _good_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """(rows, tokens) probability that the step marked at each token is good, from the model's logits."""

    def _values(self, logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return self._good_probs(logits)

    def score(self, problem: str, paths: Sequence[Sequence[str]]) -> list[list[float]]:
        return score_nonempty(paths, lambda batch_paths: self._score_batch(problem, batch_paths))

    def _score_batch(self, problem: str, paths: list[Sequence[str]]) -> list[list[float]]:
        texts, marks = zip(*(self._marked(problem, path) for path in paths))
        batch, positions = encode_marked(self.tokenizer, list(texts), list(marks), torch.device("cpu"),
                                         add_special_tokens=self.add_special_tokens)
        return self._step_scores(batch, [[(p, p + 1) for p in row] for row in positions])


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
