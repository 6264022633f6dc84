"""Search strategies: one module each, one shared signature

    run(problem, generator, reward, budget, config=None, cancel=None) -> Iterator[Event]

chosen by name from `STRATEGIES` (name == module == function); `CONFIGS` holds each one's
dataclass config."""
from __future__ import annotations

from typing import Any

from .base import InputError, Problem, Search, SearchConfig, Strategy, check_problem_text
from .beam_search import beam_search
from .best_of_n import best_of_n
from .compute_optimal import HANDOVER, compute_optimal
from .dvts import dvts
from .greedy import greedy
from .mcts import mcts
from .revise import revise
from .rstar import rstar
from .self_consistency import self_consistency

HANDOVER.update({s.name: s for s in (greedy, self_consistency, best_of_n, beam_search, dvts, mcts, rstar, revise)})
STRATEGIES: dict[str, Strategy] = {**HANDOVER, compute_optimal.name: compute_optimal}
CONFIGS: dict[str, type[SearchConfig]] = {name: s.config_cls for name, s in STRATEGIES.items()}


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise InputError(f"unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]


def make_config(name: str, size: int | None = None, **overrides: Any) -> SearchConfig:
    """The named strategy's config (see `Strategy.configure`)."""
    return get_strategy(name).configure(size, **overrides)


__all__ = [
    "CONFIGS",
    "STRATEGIES",
    "InputError",
    "Problem",
    "Search",
    "SearchConfig",
    "Strategy",
    "check_problem_text",
    "get_strategy",
    "make_config",
]
