"""Imports put off until first use, in one style: a package's heavy exports and the optional GPU extras.

`backends` and `rewards` export their adapters through `exports`, so routing a "fake" spec (or printing
`--help`) imports neither torch nor an HTTP client; vLLM comes through `import_vllm`, which says how to
install it when it is missing.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .protocols import ModelError

GPU_EXTRAS = "pip install -r requirements-gpu.txt (GPU only)"


def exports(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package` that imports `names[name]` (a submodule) when `name` is first used."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{names[name]}"), name)

    return __getattr__


def import_vllm(feature: str) -> ModuleType:
    """The `vllm` module, or a ModelError naming `feature` and how to install vLLM."""
    try:
        return importlib.import_module("vllm")
    except ImportError as e:
        raise ModelError(f"{feature} needs vLLM: {GPU_EXTRAS}") from e
