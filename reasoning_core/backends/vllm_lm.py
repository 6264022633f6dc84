"""Propose reasoning steps with vLLM's offline engine (GPU): prefix caching makes tree search cheap,
since every expansion of a node re-reads the same prefix. vLLM is imported only when used."""
from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from ..lazy import import_vllm
from ..protocols import Continuation

log = logging.getLogger(__name__)

_ENGINES: dict[tuple[str, tuple[tuple[str, Any], ...]], Any] = {}
"""One engine per model and settings per process: an engine claims most of the GPU's memory."""


class VLLMGenerator:
    """A `Generator` over `vllm.LLM`; `engine_kwargs` go to the engine (dtype, gpu_memory_utilization, ...)."""

    def __init__(self, model: str, **engine_kwargs: Any) -> None:
        vllm = import_vllm("the vllm backend")
        self._sampling_params = vllm.SamplingParams
        key = (model, tuple(sorted(engine_kwargs.items())))
        if key not in _ENGINES:
            log.info("starting a vLLM engine for %s", model)
            _ENGINES[key] = vllm.LLM(model=model, enable_prefix_caching=True, **engine_kwargs)
        self.llm = _ENGINES[key]

    def propose(self, prefixes: Sequence[str], n: int, *, stop: str, max_new_tokens: int,
                temperature: float, seed: int,
                cancel: threading.Event | None = None) -> list[list[Continuation]]:
        if not prefixes:
            return []
        # logprobs=0: only the sampled token's (raw) log-prob, which is all cumulative_logprob needs
        params = self._sampling_params(n=n, temperature=temperature, max_tokens=max_new_tokens, stop=[stop],
                                       seed=seed, logprobs=0)
        results = self.llm.generate(list(prefixes), params, use_tqdm=False)
        return [[_continuation(c) for c in sorted(r.outputs, key=lambda c: c.index)] for r in results]


def _continuation(out: Any) -> Continuation:
    """vLLM drops the stop string from `text`; `stop_reason` is None when the model itself ended (EOS)."""
    finished = out.finish_reason == "stop" and out.stop_reason is None
    return Continuation(text=out.text, num_tokens=len(out.token_ids), logprob=float(out.cumulative_logprob or 0.0),
                        finished=finished)
