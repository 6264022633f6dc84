"""Reward adapters: token-classification PRMs (TRL / Qwen-PRM), step-tag LMs (Math-Shepherd), chat PRMs
(RLHFlow), implicit PRMs (an LM and its reference, PRIME), any causal LM as an agreement verifier, outcome
RMs, and the exact arith oracle. All score many
paths per call, one score in [0, 1] per step. `load(spec)` picks one by its spec; `REWARD_PRESETS` names
the public formats (`load("qwen-prm:PATH")`).

The adapters are imported on first use (`lazy.exports`), so "fake", "oracle" and "none" need no torch.
"""
from __future__ import annotations

import functools
from typing import Any

from ..checkpoints import default_folder, find_model, looks_like_path
from ..lazy import exports
from ..protocols import RewardModel
from .oracle import TaskOracle
from .presets import ADAPTERS, REWARD_PRESETS, RewardPreset, detect_preset, get_preset

__getattr__ = exports(__name__, {**ADAPTERS, "PRM_PRESETS": "token_classification", "VLLMPRM": "vllm_prm",
                                 "VLLMServerPRM": "vllm_server"})
__all__ = [
    "PRM_PRESETS",
    "REWARD_PRESETS",
    "VLLMPRM",
    "AgreementVerifier",
    "ChatPRM",
    "ImplicitPRM",
    "OutcomeRM",
    "RewardPreset",
    "StepTagPRM",
    "TaskOracle",
    "TokenClassificationPRM",
    "VLLMServerPRM",
    "get_preset",
    "load",
]
DEFAULT_REWARDS = {"default": "verifier", "prm-default": "prm", "orm-default": "orm"}
"""Reward specs naming a shipped checkpoint; "default" is the step scorer that makes search help."""


@functools.lru_cache(maxsize=4)
def load(spec: str, **kw: Any) -> RewardModel | None:
    """A reward model from "default" (assets/verifier, an agreement verifier), "prm-default" (assets/prm,
    the token-classification PRM), "orm-default" (assets/orm), "oracle", "fake", "none",
    "<preset>:<path>" for a public format (trl, qwen-prm, math-shepherd, rlhflow, implicit, agreement, orm: see
    `REWARD_PRESETS`), "vllm:<preset>:<model>" (vLLM pooling engine, GPU),
    "vllm-server:<preset>:<url>[,<url>...][#<model>]" (a PRM behind `vllm serve --runner pooling`, several
    servers of one model as a pool; the model defaults to the one the server lists, the API key comes from
    $STEPWISE_API_KEY or $OPENAI_API_KEY), or a folder / hub id whose `architectures` picks the preset
    (`detect_preset`). Keyword arguments go to the adapter (the oracle takes none and ignores them; a server
    takes its own: timeout, max_retries, retry_down_s for a pool, ...). Cached per process, by spec and
    arguments."""
    if spec == "none":
        return None
    if spec == "oracle":
        return TaskOracle()
    if spec == "fake":
        from ..fakes import FakeArithPRM

        return FakeArithPRM()
    if spec.startswith("vllm-server:"):
        from ..backends import LOCAL_OPTIONS
        from .vllm_server import VLLMServerPRM

        preset, _, rest = spec.removeprefix("vllm-server:").partition(":")
        urls, _, model = rest.partition("#")
        urls = [u.strip() for u in urls.split(",") if u.strip()]
        if not urls:
            raise ValueError(f"a vLLM reward server spec is vllm-server:<preset>:<url>[,<url>...][#<model>], got "
                             f"{spec!r}; presets: qwen-prm, math-shepherd")
        return VLLMServerPRM(urls, preset=preset, model=model or None,
                             **{k: v for k, v in kw.items() if k not in LOCAL_OPTIONS})
    if spec.startswith("vllm:"):
        from .vllm_prm import VLLMPRM

        preset, _, model = spec.removeprefix("vllm:").partition(":")
        if not model:
            raise ValueError(f"a vLLM reward spec is vllm:<preset>:<model>, got {spec!r}; presets: qwen-prm, "
                             "math-shepherd")
        return VLLMPRM(model, preset=preset, **kw)
    name, sep, path = spec.partition(":")
    if sep and name in REWARD_PRESETS:
        return get_preset(name).load(path, **kw)
    if sep and len(name) > 1 and not looks_like_path(name) and "/" not in name:  # "C:\\x", "./a:b" are paths
        get_preset(name)  # raises, listing the valid presets
    if spec in DEFAULT_REWARDS:
        folder = default_folder(DEFAULT_REWARDS[spec])
    else:
        folder = find_model(spec, kw.get("local_files_only", True))
    return get_preset(detect_preset(folder, spec)).load(folder, **kw)
