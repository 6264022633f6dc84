"""Propose reasoning steps with any Hugging Face causal LM, one batched call per proposal.

All prefixes go into one left-padded batch, each sampled `n` times; a row ends once it has written the
step delimiter or EOS, and the step is cut at the delimiter. Log-probs are the model's own (raw logits, no
temperature). Models whose states the prefix cache can hold (`kv_cache.reusable`: the decoders one finds
on the hub) are sampled by `step_decode`, where a row leaves the batch as soon as its step ends and draws
come from the call's seed alone; others by `model.generate`, every row running until the last one ends.

Prefix reuse (`prefix_cache_mb`, on by default): a search asks for the children of nodes whose own
text the previous call wrote, so after each call the states of prompt + step are kept for every row
(`kv_cache.PrefixCache`) and the next call reads only what follows them. Re-reading the prefixes was half
of a beam search's generation time on the shipped models. The tokens sampled are the same as without the
cache for the same seed (the same rows draw the same numbers; logits agree to float rounding, so only an
exact near-tie could tell them apart); 0 turns it off.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    GenerationConfig,
    LogitsProcessor,
    PreTrainedModel,
    StoppingCriteria,
    TemperatureLogitsWarper,
)

from ..checkpoints import ensure_pad_token, find_model, load_pretrained, load_tokenizer, trained_levels, trained_tasks
from ..kv_cache import DEFAULT_MB, PrefixCache, reusable
from ..protocols import Continuation, ModelError, nothing_to_propose
from .step_decode import sample_steps, step_token_ids

log = logging.getLogger(__name__)


class TransformersGenerator:
    """A `Generator` over a local or cached HF causal LM (a path, hub id, or a loaded model + tokenizer).

    Set `should_stop` (a `threading.Event`) from another thread to end a running `propose` within one
    decoding step; the partial continuations it then returns are meant to be discarded.
    `prefix_cache_mb` bounds the memory of the prefix states kept between calls (0: keep none, re-read
    every prefix)."""

    def __init__(self, model_path_or_model: str | Path | PreTrainedModel, tokenizer: Any = None,
                 device: str | torch.device = "auto", dtype: str | torch.dtype | None = None,
                 trust_remote_code: bool = False, local_files_only: bool = True,
                 should_stop: threading.Event | None = None, prefix_cache_mb: float = DEFAULT_MB) -> None:
        self.tasks: tuple[str, ...] | None = None  # the generated tasks it was trained on, when known
        self.levels: dict[str, list[int]] = {}  # and their trained difficulty levels, where recorded
        if isinstance(model_path_or_model, PreTrainedModel):
            if tokenizer is None:
                raise ModelError("pass the tokenizer together with a loaded model")
            self.model = model_path_or_model.eval()
        else:
            folder = find_model(model_path_or_model, local_files_only)
            self.tasks, self.levels = trained_tasks(folder), trained_levels(folder)
            self.model = load_pretrained(AutoModelForCausalLM, folder, device=device, dtype=dtype,
                                         trust_remote_code=trust_remote_code)
            tokenizer = tokenizer or load_tokenizer(folder, trust_remote_code)
        self.tokenizer = ensure_pad_token(tokenizer)
        self.should_stop = should_stop
        self.eos_ids = _eos_ids(self.model, self.tokenizer)
        self.prefix_cache: PrefixCache | None = None
        self._rows: PrefixCache | None = None  # builds the batches `step_decode` reads (None: `generate`)
        if reusable(self.model):
            self.prefix_cache = PrefixCache(self.model, int(prefix_cache_mb * 2**20)) if prefix_cache_mb > 0 else None
            # an empty cache is falsy (it has a length), hence no `or`; 0 bytes: it keeps nothing
            self._rows = self.prefix_cache if self.prefix_cache is not None else PrefixCache(self.model, 0)
        else:
            log.info("%s: its attention states cannot be reused, so every prefix is read in full, by generate",
                     type(self.model).__name__)
        self._step_ids: dict[str, set[int] | None] = {}

    def propose(self, prefixes: Sequence[str], n: int, *, stop: str, max_new_tokens: int,
                temperature: float, seed: int,
                cancel: threading.Event | None = None) -> list[list[Continuation]]:
        if nothing_to_propose(prefixes, n, max_new_tokens, stop, temperature):
            return []
        limit = getattr(self.model.config, "max_position_embeddings", None)
        ids = self.tokenizer(list(prefixes)).input_ids
        lengths = [len(seq) for seq in ids]
        if limit and max(lengths) + 1 > limit:
            return self._propose_in_context(prefixes, lengths, limit, n, stop=stop, max_new_tokens=max_new_tokens,
                                            temperature=temperature, seed=seed, cancel=cancel)
        if limit:  # past its positions a model reads garbage (RoPE) or fails (learned positions)
            max_new_tokens = min(max_new_tokens, limit - max(lengths))
        sampling = temperature > 0
        per_prefix = n if sampling else 1  # greedy: one decode per prefix, repeated n times
        stop_event = cancel or self.should_stop  # per call: a shared model serves many searches at once
        args = (per_prefix, stop, max_new_tokens, temperature, seed, stop_event)
        conts = self._decode(ids, *args) if self._rows is not None else self._generate(prefixes, *args)
        if stop_event is not None and stop_event.is_set():
            log.info("generation cancelled after %d tokens", max(c.num_tokens for c in conts))
        if not sampling:
            return [[c] * n for c in conts]
        return [conts[i * n:(i + 1) * n] for i in range(len(prefixes))]

    def _decode(self, ids: list[list[int]], per_prefix: int, stop: str, max_new_tokens: int,
                temperature: float, seed: int, cancel: threading.Event | None) -> list[Continuation]:
        """Rows in the order `num_return_sequences` would make them, each reading its prefix from the longest
        stored states it starts with, each leaving the batch when its step ends (`step_decode`); then the
        states of each row's prompt and prompt + step are kept for the next call (its children) and the
        next search of the same problem (`ids`: the prefixes' token ids). A chain that ended has no children;
        a sequence sampled twice, or stored already, is kept once."""
        reuse = [(self._rows.longest(seq), len(seq) - 1) for seq in ids]  # the model must read the last token
        row_ids = [seq for seq in ids for _ in range(per_prefix)]
        pad, device = self.tokenizer.pad_token_id, self.model.device
        row_reuse = self._rows.share(self.model, row_ids, [r for r in reuse for _ in range(per_prefix)], pad, device)
        batch = self._rows.batch(row_ids, row_reuse, pad, device, extra=max_new_tokens)
        kept = {entry.ids for entry, _ in reuse if entry is not None}
        conts: list[Continuation | None] = [None] * len(row_ids)

        def leave(row: int, cache_row: int, tokens: list[int], logprobs: list[float], stopped: bool) -> None:
            cont = self._continuation(torch.tensor(tokens), torch.tensor(logprobs), len(tokens) if stopped else None,
                                      stop)
            conts[row] = cont
            prompt = tuple(row_ids[row])
            for seq in (prompt, () if cont.finished else prompt + tuple(tokens[:cont.num_tokens])):
                if seq and seq not in kept:
                    kept.add(seq)
                    batch.store(self._rows, row, seq, cache_row=cache_row)

        if stop not in self._step_ids:
            self._step_ids[stop] = step_token_ids(self.tokenizer, stop)
        step_ids = self._step_ids[stop]

        def ends_step(tokens: list[int], token: int) -> bool:
            if step_ids is not None:
                return token in step_ids
            return stop in self.tokenizer.decode(tokens, skip_special_tokens=True)

        sample_steps(self.model, batch, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
                     ends_step=ends_step, eos_ids=self.eos_ids, leave=leave, cancel=cancel)
        return conts

    def _generate(self, prefixes: Sequence[str], per_prefix: int, stop: str, max_new_tokens: int,
                  temperature: float, seed: int, cancel: threading.Event | None) -> list[Continuation]:
        """Models whose states cannot be reused: all prefixes left-padded into one `generate` call, every row
        running until the last one has ended its step."""
        device = self.model.device
        sampling = temperature > 0
        inputs = dict(self.tokenizer(list(prefixes), return_tensors="pt", padding=True,
                                     padding_side="left").to(device))
        prompt_len = inputs["input_ids"].shape[1]
        rows = len(prefixes) * per_prefix
        recorder = _LogprobRecorder()
        step_end = _StepEnd(self.tokenizer, stop, prompt_len, rows, cancel)
        # plain sampling at `temperature`: no top-k/top-p/penalties from the checkpoint's defaults
        plain = dict(temperature=1.0, top_k=0, top_p=1.0) if sampling else {}
        config = GenerationConfig(
            max_new_tokens=max_new_tokens, do_sample=sampling, num_return_sequences=per_prefix,
            repetition_penalty=1.0, pad_token_id=self.tokenizer.pad_token_id, eos_token_id=sorted(self.eos_ids),
            **plain)
        # the recorder must see raw logits, so temperature is applied after it, by hand
        processors = [recorder] + ([TemperatureLogitsWarper(temperature)] if sampling and temperature != 1.0 else [])
        cuda = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda), torch.no_grad():
            torch.manual_seed(seed)
            out = self.model.generate(**inputs, generation_config=config, logits_processor=processors,
                                      stopping_criteria=[step_end])
        new = out[:, prompt_len:].cpu()
        logprobs = recorder.finish(out[:, prompt_len:]).cpu()
        return [self._continuation(new[r], logprobs[r], step_end.first[r], stop) for r in range(rows)]

    def _propose_in_context(self, prefixes: Sequence[str], lengths: list[int], limit: int, n: int,
                            **kwargs: Any) -> list[list[Continuation]]:
        """A prefix that fills the model's context ends there (an empty, finished step, so its chain ends
        unanswered); the others are proposed as usual."""
        log.warning("%d of %d prefixes fill the model's %d positions; their chains end there",
                    sum(length + 1 > limit for length in lengths), len(prefixes), limit)
        room = [i for i, length in enumerate(lengths) if length + 1 <= limit]
        proposed = iter(self.propose([prefixes[i] for i in room], n, **kwargs) if room else [])
        ended = [Continuation(text="", num_tokens=0, logprob=0.0, finished=True)] * n
        return [next(proposed) if length + 1 <= limit else ended for length in lengths]

    def _continuation(self, ids: torch.Tensor, logprobs: torch.Tensor, stop_at: int | None,
                      stop: str) -> Continuation:
        """Cut one row at whichever came first: the stop string or EOS (or keep all of it)."""
        is_eos = torch.isin(ids, torch.tensor(sorted(self.eos_ids)))
        eos_at = int(is_eos.nonzero()[0, 0]) if is_eos.any() else None
        if stop_at is not None and (eos_at is None or stop_at <= eos_at):
            kept, finished = stop_at, False
        elif eos_at is not None:
            kept, finished = eos_at + 1, True
        else:
            kept, finished = len(ids), False
        text = self.tokenizer.decode(ids[:kept], skip_special_tokens=True).split(stop, 1)[0]
        return Continuation(text=text, num_tokens=kept, logprob=float(logprobs[:kept].sum()), finished=finished)


def _eos_ids(model: PreTrainedModel, tokenizer: Any) -> set[int]:
    """Chat models often end on several tokens (e.g. <|im_end|> and <|endoftext|>)."""
    ids = model.generation_config.eos_token_id
    ids = set(ids if isinstance(ids, list) else [] if ids is None else [ids])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    if not ids:
        raise ModelError("the model has no EOS token, so a chain could never end")
    return ids


class _LogprobRecorder(LogitsProcessor):
    """Keeps each generated token's log-prob under the raw logits. A token is only known one call later,
    so only the previous step's log-softmax is held, not one vocabulary-sized row per step."""

    def __init__(self) -> None:
        self.prev: torch.Tensor | None = None
        self.steps: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.prev is not None:
            self.steps.append(self.prev.gather(1, input_ids[:, -1:]).squeeze(1))
        self.prev = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, new_tokens: torch.Tensor) -> torch.Tensor:
        """(rows, new tokens) log-probs; generate may have run (and undone) steps past the last token."""
        length = new_tokens.shape[1]
        if length > len(self.steps) and self.prev is not None:
            self.steps.append(self.prev.gather(1, new_tokens[:, len(self.steps):len(self.steps) + 1]).squeeze(1))
        if not self.steps:
            return torch.zeros(new_tokens.shape, dtype=torch.float32)
        return torch.stack(self.steps[:length], dim=1)


class _StepEnd(StoppingCriteria):
    """Ends a row once its new text contains `stop` (remembering after how many tokens); ends every row
    at once when `should_stop` is set."""

    def __init__(self, tokenizer: Any, stop: str, prompt_len: int, rows: int,
                 should_stop: threading.Event | None) -> None:
        self.tokenizer, self.stop, self.prompt_len, self.should_stop = tokenizer, stop, prompt_len, should_stop
        self.first: list[int | None] = [None] * rows

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        new = input_ids[:, self.prompt_len:]
        todo = [r for r, f in enumerate(self.first) if f is None]
        texts = self.tokenizer.batch_decode(new[todo].cpu(), skip_special_tokens=True) if todo else []
        for r, text in zip(todo, texts):
            if self.stop in text:
                self.first[r] = new.shape[1]
        done = torch.tensor([f is not None for f in self.first], device=input_ids.device)
        if self.should_stop is not None and self.should_stop.is_set():
            done[:] = True
        return done
