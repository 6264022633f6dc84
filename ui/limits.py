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


def _public() -> bool:
    """A shared host: a Hugging Face Space (which sets SPACE_ID) or STEPWISE_PUBLIC=1."""
    return bool(os.environ.get("SPACE_ID")) or os.environ.get("STEPWISE_PUBLIC", "").lower() in ("1", "true", "yes")


def _knob_caps() -> Mapping[str, float]:
    return MappingProxyType({
        "n": 64, "width": 64, "iterations": 200, "expansion_width": 8, "leaves_per_call": 16, "c_puct": 10.0,
        "rollout_depth": 16,
        "per_action": 8, "rounds": 32, "candidates": 16, "temperature": 2.0, "max_steps": 24, "max_step_tokens": 256,
        "max_tokens": 50_000, "max_generator_calls": 1_000, "max_reward_calls": 1_000,
        "max_wall_s": float(_env_int("STEPWISE_MAX_WALL_S", 120)),
    })


@dataclass(frozen=True)
class Limits:
    """What one person may ask of this machine (STEPWISE_MAX_WALL_S, STEPWISE_RUNS_PER_SESSION and
    STEPWISE_CONCURRENCY override their defaults). `public` (a shared host) also limits model specs to
    the app's own list: no local paths, no hub downloads, no remote code.

    `knobs` caps config and budget knobs by name, on top of each knob's own range; a knob missing
    here keeps its core range, and an uncapped budget knob left at 0 means no cap."""

    problem_chars: int = min(2_000, MAX_PROBLEM_CHARS)
    knobs: Mapping[str, float] = field(default_factory=_knob_caps)
    eval_problems: int = 50
    eval_searches: int = 1_000
    runs_per_session: int = _env_int("STEPWISE_RUNS_PER_SESSION", 2)
    concurrency: int = _env_int("STEPWISE_CONCURRENCY", 4)
    public: bool = field(default_factory=_public)

    def describe(self) -> str:
        """The limits as the page shows them."""
        k = self.knobs
        models = ("only the models listed here (no local paths, hub downloads or remote code)" if self.public
                  else "any spec: this is your own machine")
        return (f"- problems up to **{self.problem_chars:,}** characters\n"
                f"- N and beam width up to **{k['n']:g}**, MCTS iterations up to **{k['iterations']:g}**, "
                f"revision rounds up to **{k['rounds']:g}**\n"
                f"- every search within **{k['max_tokens']:,g}** generated tokens, **{k['max_generator_calls']:g}** "
                f"generator and **{k['max_reward_calls']:g}** reward calls and **{k['max_wall_s']:g} s**\n"
                f"- **{self.runs_per_session}** searches at once per browser session, **{self.concurrency}** on the "
                f"whole app; Scaling runs up to **{self.eval_problems}** problems, **{self.eval_searches:,}** "
                f"searches\n- models: {models}")


LIMITS = Limits()
