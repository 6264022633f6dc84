"""Search strategies: one module each, one shared signature

    run(problem, generator, reward, budget, config=None, cancel=None) -> Iterator[Event]

chosen by name from `STRATEGIES` (name == module == function); `CONFIGS` holds each one's
dataclass config."""
from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable

from .base import InputError, Problem, Search, SearchConfig
from .beam_search import BeamSearchConfig, beam_search
from .best_of_n import BestOfNConfig, best_of_n
from .dvts import DVTSConfig, dvts
from .greedy import GreedyConfig, greedy
from .mcts import MCTSConfig, mcts
from .self_consistency import SelfConsistencyConfig, self_consistency

STRATEGIES: dict[str, Callable[..., Any]] = {
    "greedy": greedy,
    "self_consistency": self_consistency,
    "best_of_n": best_of_n,
    "beam_search": beam_search,
    "dvts": dvts,
    "mcts": mcts,
}
CONFIGS: dict[str, type[SearchConfig]] = {
    "greedy": GreedyConfig,
    "self_consistency": SelfConsistencyConfig,
    "best_of_n": BestOfNConfig,
    "beam_search": BeamSearchConfig,
    "dvts": DVTSConfig,
    "mcts": MCTSConfig,
}


def get_strategy(name: str) -> Callable[..., Any]:
    if name not in STRATEGIES:
        raise InputError(f"unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]


def make_config(name: str, budget: int | None = None, **overrides: Any) -> SearchConfig:
    """The strategy's config with `overrides` applied (unknown or None values are ignored, so one
    set of CLI/UI knobs serves every strategy) and its budget knob set to `budget`."""
    get_strategy(name)
    cls = CONFIGS[name]
    names = {f.name for f in fields(cls)}
    kwargs = {k: v for k, v in overrides.items() if k in names and v is not None}
    if budget is not None and cls.budget_field is not None:
        kwargs[cls.budget_field] = budget
        if "width" in names:  # a beam cannot be wider than its candidates at small budgets
            kwargs["width"] = min(kwargs.get("width", cls.width), budget)  # type: ignore[attr-defined]
    config = cls(**kwargs)
    config.validate()
    return config


__all__ = ["STRATEGIES", "CONFIGS", "InputError", "Problem", "Search", "SearchConfig", "get_strategy",
           "make_config"]
