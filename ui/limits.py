"""Caps that keep one user from taking a shared machine (the Space's policy, not the core's: the
core's knob ranges have no upper bound where there is no natural one)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from reasoning_core.search.base import MAX_PROBLEM_CHARS


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def _knob_caps() -> Mapping[str, float]:
    return MappingProxyType({
        "n": 64, "width": 64, "iterations": 200, "expansion_width": 8, "c_puct": 10.0, "rollout_depth": 16,
        "per_action": 8, "rounds": 32, "candidates": 16, "temperature": 2.0, "max_steps": 24, "max_step_tokens": 256,
        "max_tokens": 50_000, "max_generator_calls": 1_000, "max_reward_calls": 1_000,
        "max_wall_s": float(_env_int("STEPWISE_MAX_WALL_S", 120)),
    })


@dataclass(frozen=True)
class Limits:
    """What one person may ask of this machine (STEPWISE_MAX_WALL_S, STEPWISE_RUNS_PER_SESSION and
    STEPWISE_CONCURRENCY override their defaults).

    `knobs` caps config and budget knobs by name, on top of each knob's own range; a knob missing
    here keeps its core range, and an uncapped budget knob left at 0 means no cap."""

    problem_chars: int = min(2_000, MAX_PROBLEM_CHARS)
    knobs: Mapping[str, float] = field(default_factory=_knob_caps)
    eval_problems: int = 50
    eval_searches: int = 1_000
    runs_per_session: int = _env_int("STEPWISE_RUNS_PER_SESSION", 2)
    concurrency: int = _env_int("STEPWISE_CONCURRENCY", 4)


LIMITS = Limits()
