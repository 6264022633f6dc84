"""Reuse a causal LM's key/value states across calls whose inputs extend earlier ones.

A search reads the same text again and again, one step longer each time: a node's prefix is its parent's
prefix plus the step the parent's call wrote, and a path a verifier scores is the scored path of its
parent plus one step. `PrefixCache` keeps, per model, the states of recent token sequences (an LRU bounded
by their memory); a new batch reuses, row by row, the states of the longest stored sequence its tokens
start with and runs the model only on the rest (`PrefixCache.batch`). Matching is by token ids, never by
text, so a tokenizer that splits a longer text differently (BPE across a step boundary) only loses the
reuse, never the correctness.

Rows are padded into one batch whose first `cached` columns come from the cache; positions stay those of
the unpadded sequences (`Batch.tail` gives `position_ids`, which the sampler `backends.step_decode` carries
on), so a row computes what it would read whole, to float rounding. Models whose states cannot be cut and
pasted this way (encoders, linear-attention layers) are not cached (`reusable`); with a sliding window, a
batch that could outgrow the window is read whole.

What rounding can change: a search that starts from empty caches grows the tree it grows without them.
States and scores kept from an earlier search of the same problem were rounded in other batches, so where
two candidates tie exactly without reuse (the agreement verifier's score of sibling steps is often decided
by the tokens they share), the tie can break the other way: 2 of 120 repeated searches on the shipped
models grew another tree, so `run.stream` empties the models' caches when a search starts. Within a
search the reuse stays; `prefix_cache_mb=0` reads every prefix afresh.
"""
from __future__ import annotations

import inspect
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

log = logging.getLogger(__name__)

KV = tuple[tuple[torch.Tensor, torch.Tensor], ...]
"""Per layer, the keys and values of one unpadded sequence, each (heads, tokens, head_dim)."""
DEFAULT_MB = 128.0
"""Memory for the states kept per model by default: 4 KB a token on the shipped models, so some 32,000
tokens, more than a beam search or MCTS tree of the app's sizes reads back (every node keeps its whole
prefix); a 7B model with grouped-query attention needs some 128 KB a token in fp16."""


MIN_SHARED_TOKENS = 32
"""Token reads a shared prefix must save to be read on its own (`PrefixCache.share`): the extra forward pass
costs about as much as reading some 40 tokens in a batch on the shipped models."""


def keep_last_logits(model: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    """`inputs` asking for the logits of the last position only, where `model.forward` takes that option: a
    prompt's every position times a 150k vocabulary would not fit, and a read for states wants none."""
    if "logits_to_keep" in inspect.signature(model.forward).parameters:
        return {**inputs, "logits_to_keep": 1}
    return inputs


def _common_length(seqs: Sequence[Sequence[int]]) -> int:
    """How many leading tokens all of `seqs` share: those the lexicographically first and last share."""
    lo, hi = min(map(tuple, seqs)), max(map(tuple, seqs))
    return next((i for i, (a, b) in enumerate(zip(lo, hi)) if a != b), min(len(lo), len(hi)))


@dataclass
class Entry:
    ids: tuple[int, ...]
    kv: KV
    size: int            # bytes
    payload: Any = None  # what the caller derived from this sequence (a verifier's step scores)


_LAYERS = (DynamicLayer, DynamicSlidingWindowLayer)
"""Cache layers whose states are one (keys, values) pair per token; a sliding window keeps them all while a
batch stays shorter than the window."""


def _chain(digest: int, token: int) -> int:
    return hash((digest, token))


def _weights_version(params: list[torch.nn.Parameter]) -> int:
    """Bumped by every in-place change of a parameter (an optimizer step, load_state_dict): states computed
    before it are stale."""
    return sum(p._version for p in params)


def reusable(model: Any) -> bool:
    """Whether `model`'s attention states can be stored per row and pasted into another batch: every
    attention module says it is causal (an encoder looks ahead), and a two-token probe fills a cache passed
    in, of plain or sliding-window layers (a remote-code head that takes no cache leaves it empty; linear
    attention keeps no per-token states)."""
    causal = [module.is_causal for module in model.modules() if isinstance(getattr(module, "is_causal", None), bool)]
    if not causal or not all(causal):
        return False
    cache = DynamicCache(config=model.config)
    try:
        with torch.no_grad():
            model(input_ids=torch.tensor([[1, 2]], device=model.device), cache=cache, use_cache=True)
    except (TypeError, ValueError, AttributeError, NotImplementedError, IndexError):
        return False
    return bool(cache.layers) and all(type(layer) in _LAYERS for layer in cache.layers) \
        and cache.get_seq_length() == 2


class PrefixCache:
    """Recent sequences' states for one model, least recently used dropped first once they hold more than
    `max_bytes` bytes. `longest(ids)` finds the longest stored sequence that `ids` starts with in one pass
    over `ids` (each stored sequence is indexed by a hash chained token by token). Thread-safe: one model
    serves many searches at once."""

    def __init__(self, model: Any, max_bytes: int = int(DEFAULT_MB * 2**20)) -> None:
        self.max_bytes, self.config = max_bytes, model.config
        windows = [layer.sliding_window for layer in DynamicCache(config=model.config).layers
                   if isinstance(layer, DynamicSlidingWindowLayer)]
        self.window: int | None = min(windows) if windows else None
        self.bytes = 0
        self._entries: OrderedDict[int, Entry] = OrderedDict()
        self._params = list(model.parameters())
        self._version = _weights_version(self._params)
        self._lock = threading.Lock()

    def longest(self, ids: Sequence[int]) -> Entry | None:
        with self._lock:
            self._check_weights()
            hits, digest = [], 0
            for token in ids:
                digest = _chain(digest, token)
                if digest in self._entries:
                    hits.append(digest)
            for digest in reversed(hits):  # a hash collision is possible in principle: compare the tokens
                entry = self._entries[digest]
                if tuple(ids[:len(entry.ids)]) == entry.ids:
                    self._entries.move_to_end(digest)
                    return entry
            return None

    def put(self, ids: Sequence[int], kv: KV, payload: Any = None) -> None:
        """Store the states of `ids` (replacing those of the same sequence)."""
        ids, size = tuple(ids), sum(t.numel() * t.element_size() for pair in kv for t in pair)
        if not ids or size > self.max_bytes:
            return
        digest = 0
        for token in ids:
            digest = _chain(digest, token)
        with self._lock:
            old = self._entries.pop(digest, None)
            if old is not None:
                self.bytes -= old.size
            self._entries[digest] = Entry(ids, kv, size, payload)
            self.bytes += size
            while self.bytes > self.max_bytes:
                self.bytes -= self._entries.popitem(last=False)[1].size

    def batch(self, seqs: Sequence[Sequence[int]], reuse: Sequence[tuple[Entry | None, int]], pad_id: int,
              device: torch.device, *, extra: int = 0, pad_left: bool = True) -> Batch:
        """One batch of `seqs` on `device`, where row r takes the states of up to `limit` leading tokens from
        its entry (`reuse[r]` = (entry or None, limit); the model must still read every token whose output is
        wanted). `extra` is how many tokens the caller will append (the sampler's new tokens).

        The model reads all rows from one column on. Rows a sampler extends must end in one column, so they
        are padded on the left and read from the widest uncached part on (a row with longer reused states
        recomputes a few tokens). Rows only read (`pad_left=False`, a reward model) are placed so that each
        one's reused part ends, and its new part starts, in that column: nothing is recomputed, and rows
        with the same reused states (siblings) hold the tokens they share in the same columns, so those are
        computed alike and siblings whose scores are decided there tie exactly, as in a plain padded read,
        not merely to float rounding."""
        lengths = [len(s) for s in seqs]
        storable = self.window is None or max(lengths) + extra < self.window - 1
        usable = [min(len(entry.ids), limit) if entry is not None and storable else 0 for entry, limit in reuse]
        if pad_left:
            width = max(lengths)
            starts = [width - n for n in lengths]
            cached = width - max(n - c for n, c in zip(lengths, usable))
        else:
            cached = max(usable)
            starts = [cached - c for c in usable]
            width = cached + max(n - c for n, c in zip(lengths, usable))
        ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, (seq, start) in enumerate(zip(seqs, starts)):
            ids[r, start:start + len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[r, start:start + len(seq)] = 1
        cache = DynamicCache(config=self.config)
        if cached > 0:  # then every row with tokens in the cached columns has states for all of them
            sample = next(entry.kv for (entry, _), c in zip(reuse, usable) if c > 0)
            layers = []
            for layer, (k0, v0) in enumerate(sample):
                keys = k0.new_zeros((len(seqs), k0.shape[0], cached, k0.shape[2]))
                values = v0.new_zeros((len(seqs), v0.shape[0], cached, v0.shape[2]))
                for r, ((entry, _), start) in enumerate(zip(reuse, starts)):
                    if start < cached:
                        keys[r, :, start:] = entry.kv[layer][0][:, :cached - start]
                        values[r, :, start:] = entry.kv[layer][1][:, :cached - start]
                layers.append((keys, values))
            cache = DynamicCache(ddp_cache_data=layers, config=self.config)
        return Batch(ids.to(device), mask.to(device), cache, cached, starts, storable)

    def share(self, model: Any, seqs: Sequence[Sequence[int]], reuse: Sequence[tuple[Entry | None, int]],
              pad_id: int, device: torch.device) -> list[tuple[Entry | None, int]]:
        """`reuse` where the rows' common leading tokens are read once, in a row of their own, and stored,
        when that saves the batch at least `MIN_SHARED_TOKENS` token reads: the rows of a search's first call
        (N samples of one prompt, N candidate steps of one problem) would each read the same prompt."""
        if self.max_bytes == 0 or len(seqs) < 2:  # nothing kept, or no second row to share with
            return list(reuse)
        common = min(_common_length(seqs), min(limit for _, limit in reuse))
        usable = [min(len(entry.ids), limit) if entry is not None else 0 for entry, limit in reuse]
        saved = sum(max(0, common - u) for u in usable) - max(0, common - max(usable))
        if saved < MIN_SHARED_TOKENS:
            return list(reuse)
        best = max(range(len(seqs)), key=usable.__getitem__)
        entry = reuse[best][0]
        if usable[best] < common:  # read the shared part in a row of its own
            prefix = list(seqs[0][:common])
            batch = self.batch([prefix], [(entry, common)], pad_id, device, pad_left=False)
            with torch.no_grad():
                model(**keep_last_logits(model, batch.tail()))
            batch.store(self, 0, prefix)
            entry = self.longest(prefix)
            if entry is None or len(entry.ids) != common:  # not storable (a sliding window), or over the budget
                return list(reuse)
        # an entry longer than `common` may go on differently from a row: a row reads from `common` on
        return [(entry, common) if u < common else (old, limit) for (old, limit), u in zip(reuse, usable)]

    def clear(self) -> None:
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _check_weights(self) -> None:
        version = _weights_version(self._params)
        if version != self._version:  # a model trained in memory between calls (training's samplers)
            log.debug("model weights changed: dropping %d cached sequences", len(self._entries))
            self._clear()
            self._version = version


@dataclass
class Batch:
    """Rows padded to one width; the first `cached` columns' states are already in `cache`."""

    input_ids: torch.Tensor       # (rows, width): every row's whole sequence, padded
    attention_mask: torch.Tensor  # (rows, width): 0 on the pads
    cache: DynamicCache
    cached: int
    starts: list[int]             # the column of each row's first token
    storable: bool = True  # False when a sliding window could drop states before the batch is done

    @property
    def width(self) -> int:
        return self.input_ids.shape[1]

    def tail(self) -> dict[str, Any]:
        """Model inputs for the uncached columns, at the positions of the unpadded sequences."""
        positions = (self.attention_mask.cumsum(-1) - 1).clamp(min=0)
        return {"input_ids": self.input_ids[:, self.cached:], "attention_mask": self.attention_mask,
                "position_ids": positions[:, self.cached:], "cache": self.cache, "use_cache": True}

    def store(self, into: PrefixCache, row: int, seq: Sequence[int], payload: Any = None,
              cache_row: int | None = None) -> None:
        """Store in `into` the states of `seq` (`row`'s sequence, or it and what decoding appended), as far
        as the batch read it (a sampler never reads the last token it samples). `cache_row`: the row's index
        in a cache that rows have left since (`step_decode`). Copied out of the batch: a view would keep the
        whole batch alive."""
        if not self.storable:
            return
        start, at = self.starts[row], row if cache_row is None else cache_row
        n = min(len(seq), self.cache.get_seq_length() - start)
        kv = tuple((layer.keys[at, :, start:start + n].clone(), layer.values[at, :, start:start + n].clone())
                   for layer in self.cache.layers)
        into.put(seq[:n], kv, payload)
