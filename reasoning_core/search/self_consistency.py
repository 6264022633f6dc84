"""Self-consistency (Wang et al. 2022): sample N chains, answer by majority vote. No verifier."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from ..knobs import knob
from ..tree import Event
from .base import Search, SearchConfig, Strategy, vote_choice


@dataclass
class SelfConsistencyConfig(SearchConfig):
    n: int = knob(8, "N", "chains sampled for the vote", low=1)
    size_field: ClassVar[str] = "n"


def explore(search: Search) -> Iterator[Event]:
    first = search.expand([0], search.config.n)
    yield from first
    yield from search.extend_chains([a.node_id for a in first])


def choose(search: Search) -> int | None:
    node = vote_choice(search.tree.terminals(), search.config)
    return node.id if node else None


self_consistency = Strategy("self_consistency", SelfConsistencyConfig, explore, choose, reward="unused",
                            doc=__doc__, pool_choose=vote_choice)
