"""Search strategies: one module each, one shared signature

    run(problem, generator, reward, budget, config=None, cancel=None) -> Iterator[Event]

chosen by name from `STRATEGIES` (name == module == function); `CONFIGS` holds each one's
dataclass config."""
from __future__ import annotations

from dataclasses import fields
from typing import Any

from .base import InputError, Problem, Search, SearchConfig, Strategy
from .beam_search import beam_search
from .best_of_n import best_of_n
from .compute_optimal import compute_optimal
from .dvts import dvts
from .greedy import greedy
from .mcts import mcts
from .revise import revise
from .rstar import rstar
from .self_consistency import self_consistency

STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    greedy, self_consistency, best_of_n, beam_search, dvts, mcts, rstar, revise, compute_optimal)}
CONFIGS: dict[str, type[SearchConfig]] = {name: s.config_cls for name, s in STRATEGIES.items()}


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise InputError(f"unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]


def make_config(name: str, size: int | None = None, **overrides: Any) -> SearchConfig:
    """The strategy's config with `overrides` applied (unknown or None values are ignored, so one
    set of CLI/UI knobs serves every strategy) and its size knob (`size_field`) set to `size`."""
    get_strategy(name)
    cls = CONFIGS[name]
    names = {f.name for f in fields(cls)}
    kwargs = {k: v for k, v in overrides.items() if k in names and v is not None}
    if size is not None and cls.size_field is not None:
        kwargs[cls.size_field] = size
        if "width" in names:  # a beam cannot be wider than its candidates at small sizes
            kwargs["width"] = min(kwargs.get("width", cls.width), size)  # type: ignore[attr-defined]
    config = cls(**kwargs)
    config.validate()
    return config


__all__ = ["STRATEGIES", "CONFIGS", "InputError", "Problem", "Search", "SearchConfig", "Strategy", "get_strategy",
           "make_config"]
