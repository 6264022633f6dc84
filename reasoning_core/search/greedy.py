"""Greedy chain of thought: one chain, the most likely step each time (temperature 0)."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Iterator

from ..budget import Budget
from ..protocols import Generator, RewardModel
from ..tree import Event
from .base import Problem, Search, SearchConfig, run_guarded


@dataclass
class GreedyConfig(SearchConfig):
    temperature: float = 0.0


def greedy(problem: Problem, generator: Generator, reward: RewardModel | None, budget: Budget,
           config: GreedyConfig | None = None, cancel: threading.Event | None = None) -> Iterator[Event]:
    """Steps are PRM-scored for display only; the PRM never changes the chain."""
    search = Search(problem, generator, reward, budget, config or GreedyConfig(), cancel)
    leaves = [0]

    def body() -> Iterator[Event]:
        leaves[:] = yield from search.extend_chains(leaves)
        yield from search.score(leaves, whole_path=True)

    return run_guarded(search, body(), lambda: leaves[0] if search.tree[leaves[0]].terminal else None)
