"""Generator backends: Hugging Face transformers (CPU or GPU), vLLM (GPU) and any OpenAI-compatible
completions server (vllm serve, SGLang, llama.cpp, TGI) over HTTP, or a pool of them (`pool.py`); `load(spec)`
picks one by its spec.

The backends are imported on first use (`lazy.exports`), so a "fake" spec needs neither torch nor httpx.
"""
from __future__ import annotations

import functools
from typing import Any

from ..checkpoints import default_folder
from ..lazy import exports
from ..protocols import Generator

__getattr__ = exports(__name__, {"OpenAIGenerator": "openai_lm", "TransformersGenerator": "transformers_lm",
                                 "VLLMGenerator": "vllm_lm"})
__all__ = ["OpenAIGenerator", "TransformersGenerator", "VLLMGenerator", "load"]
LOCAL_OPTIONS = {"device", "dtype", "trust_remote_code", "local_files_only", "prefix_cache_mb"}
"""Options of the local backends, which a remote server has no use for."""


@functools.lru_cache(maxsize=4)
def load(spec: str, **kw: Any) -> Generator:
    """A generator from "default" (assets/generator), "fake" (seeded scripted arith model, no weights),
    a local folder, a hub id, "vllm:<model>", or "openai:<base_url>[,<base_url>...][#<model>]" (any
    OpenAI-compatible /v1/completions server, or several of one model as a pool; the model defaults to the
    one the server lists; the API key comes from $STEPWISE_API_KEY or $OPENAI_API_KEY). Keyword arguments go
    to the backend (device, dtype, trust_remote_code, local_files_only, ...; the openai backend takes its own:
    timeout, max_retries, retry_down_s for a pool, ...).
    Cached per process, by spec and arguments."""
    if spec == "fake":
        from ..fakes import FakeArithGenerator

        return FakeArithGenerator()
    if spec.startswith("vllm:"):
        from .vllm_lm import VLLMGenerator

        model = spec.removeprefix("vllm:")
        return VLLMGenerator(str(default_folder("generator")) if model == "default" else model, **kw)
    if spec.startswith("openai:"):
        from .openai_lm import connect

        urls, _, model = spec.removeprefix("openai:").partition("#")
        return connect([u.strip() for u in urls.split(",") if u.strip()], model or None,
                       **{k: v for k, v in kw.items() if k not in LOCAL_OPTIONS})
    from .transformers_lm import TransformersGenerator

    return TransformersGenerator(default_folder("generator") if spec == "default" else spec, **kw)
