"""Best-of-N: sample N whole chains, score them with the verifier (PRM or ORM), keep the best
(Cobbe et al. 2021), or vote with verifier weights ("weighted best-of-N", Uesato/Li et al.)."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import ClassVar, Iterator

from ..budget import Budget
from ..protocols import Generator, RewardModel
from ..tree import Event
from .base import Problem, Search, SearchConfig, majority, require_reward, run_guarded


@dataclass
class BestOfNConfig(SearchConfig):
    n: int = 8
    weighted: bool = False
    budget_field: ClassVar[str] = "n"


def best_of_n(problem: Problem, generator: Generator, reward: RewardModel | None, budget: Budget,
              config: BestOfNConfig | None = None, cancel: threading.Event | None = None) -> Iterator[Event]:
    config = config or BestOfNConfig()
    require_reward(reward, "best_of_n")
    search = Search(problem, generator, reward, budget, config, cancel)

    def body() -> Iterator[Event]:
        first = search.expand([0], config.n)
        yield from first
        leaves = yield from search.extend_chains([a.node_id for a in first])
        yield from search.score(leaves, whole_path=True)

    def choose() -> int | None:
        done = [n for n in search.tree.terminals() if n.value is not None]
        if config.weighted:
            node = majority(done, [n.value for n in done])  # type: ignore[misc]
        else:
            node = search.best(done)
        return node.id if node else None

    return run_guarded(search, body(), choose)
