"""Self-consistency (Wang et al. 2022): sample N chains, answer by majority vote. No verifier."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import ClassVar, Iterator

from ..budget import Budget
from ..protocols import Generator, RewardModel
from ..tree import Event
from .base import Problem, Search, SearchConfig, majority, run_guarded


@dataclass
class SelfConsistencyConfig(SearchConfig):
    n: int = 8
    budget_field: ClassVar[str] = "n"


def self_consistency(problem: Problem, generator: Generator, reward: RewardModel | None, budget: Budget,
                     config: SelfConsistencyConfig | None = None,
                     cancel: threading.Event | None = None) -> Iterator[Event]:
    """The reward model is ignored: this is the verifier-free baseline at equal sample count."""
    config = config or SelfConsistencyConfig()
    search = Search(problem, generator, None, budget, config, cancel)

    def body() -> Iterator[Event]:
        first = search.expand([0], config.n)
        yield from first
        yield from search.extend_chains([a.node_id for a in first])

    def choose() -> int | None:
        node = majority(search.tree.terminals())
        return node.id if node else None

    return run_guarded(search, body(), choose)
