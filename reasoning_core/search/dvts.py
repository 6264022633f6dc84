"""Diverse verifier tree search (Beeching et al. 2024): N/M independent subtrees, each a greedy
PRM-guided search that proposes M steps and keeps the best one, so the N samples are not all
captured by one high-scoring prefix as in beam search."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import ClassVar, Iterator

from ..budget import Budget
from ..protocols import Generator, RewardModel
from ..tree import Event
from .base import Problem, Search, majority, require_reward, run_guarded
from .beam_search import BeamSearchConfig


@dataclass
class DVTSConfig(BeamSearchConfig):
    n: int = 8
    width: int = 2
    weighted: bool = False
    budget_field: ClassVar[str] = "n"


def dvts(problem: Problem, generator: Generator, reward: RewardModel | None, budget: Budget,
         config: DVTSConfig | None = None, cancel: threading.Event | None = None) -> Iterator[Event]:
    config = config or DVTSConfig()
    require_reward(reward, "dvts")
    search = Search(problem, generator, reward, budget, config, cancel)

    def body() -> Iterator[Event]:
        heads = [0] * max(1, config.n // config.width)  # one current node per subtree
        while any(not search.tree[h].terminal for h in heads):
            active = [i for i, h in enumerate(heads) if not search.tree[h].terminal]
            added = search.expand([heads[i] for i in active], config.width)
            yield from added
            yield from search.score([a.node_id for a in added])
            for slot, i in enumerate(active):
                group = [search.tree[a.node_id] for a in added[slot * config.width:(slot + 1) * config.width]]
                best = search.best(group)
                for node in group:
                    if node is not best:
                        yield search.tree.prune(node.id)
                heads[i] = best.id  # type: ignore[union-attr]

    def choose() -> int | None:
        done = [n for n in search.tree.terminals() if n.status != "pruned" and n.value is not None]
        node = majority(done, [n.value for n in done]) if config.weighted else search.best(done)  # type: ignore[misc]
        return node.id if node else None

    return run_guarded(search, body(), choose)
