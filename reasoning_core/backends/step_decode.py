"""Sample one step per row, each row leaving the batch as soon as its step ends.

`model.generate` runs every row until the last one stops, so a step-wise search pays for the longest step
of each call in every row: on the shipped models a beam search's rows spent about a quarter of their
decoding steps on tokens thrown away after the step had ended. Here a row that writes the step delimiter
or EOS is cut out of the batch (its states copied out first, for the prefix cache), and the next forward
pass runs on the rows still writing. On a CPU the cost of a pass grows with its rows, so that quarter is
saved; on a GPU it is mostly launch overhead either way.

Sampling is plain (no top-k, top-p or penalties), at `temperature` after the raw log-probability of each
token is recorded. Every draw comes from the call's own generator: row r's t-th token is sampled by inverse
CDF from the number at (r, t) of one (rows, max_new_tokens) table of uniforms, filled row by row from the
seed. So a row's tokens depend on the seed, its index, `max_new_tokens` and its own logits only: not on how
many rows follow it or which are still in the batch, nor on any other thread's use of torch's global RNG
(two searches sharing a model stay reproducible).

It serves models whose states `kv_cache.PrefixCache` can hold (`kv_cache.reusable`); others use `generate`.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Collection

import torch

from ..kv_cache import Batch, keep_last_logits

Leave = Callable[[int, int, list[int], list[float], bool], None]
"""leave(row, cache_row, tokens, logprobs, stopped): row `row` is done (`stopped`: its text holds the
delimiter); `batch.cache` still holds its states at index `cache_row`."""


def step_token_ids(tokenizer, stop: str) -> set[int] | None:
    """Token ids whose own text contains `stop`, when that decides whether a row's text does: `stop` is one
    ASCII character, which no two tokens can form together. None: decode the row's text instead."""
    if len(stop) != 1 or not stop.isascii():
        return None
    vocab = range(len(tokenizer))
    texts = tokenizer.batch_decode([[i] for i in vocab], skip_special_tokens=True)  # as a row's text is read
    return {i for i, text in zip(vocab, texts) if stop in text}


def sample_steps(model, batch: Batch, *, max_new_tokens: int, temperature: float, seed: int,
                 ends_step: Callable[[list[int], int], bool], eos_ids: Collection[int],
                 leave: Leave, cancel: threading.Event | None = None) -> None:
    """Decode every row of `batch` (left-padded, its first `cached` columns in `batch.cache`) until it
    ends its step (`ends_step(tokens, new_token)`), writes an EOS id or has `max_new_tokens` tokens;
    `leave` is called once per row, as it goes. `cancel` set ends every row at the next token."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, not {max_new_tokens}")
    rows, device = batch.input_ids.shape[0], batch.input_ids.device
    draws = torch.rand(rows, max_new_tokens, generator=torch.Generator(device=device).manual_seed(seed),
                       device=device)
    eos = torch.tensor(sorted(eos_ids), device=device)
    inputs = keep_last_logits(model, batch.tail())
    cache, mask = inputs["cache"], inputs["attention_mask"]
    position = inputs["position_ids"][:, -1]
    active = list(range(rows))  # original index of each row still in the batch
    tokens: list[list[int]] = [[] for _ in range(rows)]
    logprobs: list[list[float]] = [[] for _ in range(rows)]
    with torch.no_grad():
        logits = model(**inputs).logits[:, -1].float()
        for t in range(max_new_tokens):
            raw = logits.log_softmax(-1)
            if temperature > 0:
                cdf = (logits / temperature).softmax(-1).cumsum(-1)
                new = torch.searchsorted(cdf, (draws[active, t] * cdf[:, -1]).unsqueeze(-1), right=True).squeeze(-1)
                new = new.clamp(max=logits.shape[-1] - 1)
            else:
                new = logits.argmax(-1)
            chosen = raw.gather(-1, new.unsqueeze(-1)).squeeze(-1).tolist()
            done = torch.isin(new, eos).tolist()
            stay = []
            for i, (row, token) in enumerate(zip(active, new.tolist())):
                tokens[row].append(token)
                logprobs[row].append(chosen[i])
                stopped = ends_step(tokens[row], token)
                if stopped or done[i] or len(tokens[row]) == max_new_tokens or (cancel and cancel.is_set()):
                    leave(row, i, tokens[row], logprobs[row], stopped)
                else:
                    stay.append(i)
            if not stay:
                return
            if len(stay) < len(active):
                keep = torch.tensor(stay, device=device)
                cache.batch_select_indices(keep)
                mask, position, new = mask[keep], position[keep], new[keep]
                active = [active[i] for i in stay]
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
            position = position + 1
            logits = model(input_ids=new.unsqueeze(-1), attention_mask=mask, position_ids=position.unsqueeze(-1),
                           cache=cache, use_cache=True).logits[:, -1].float()
