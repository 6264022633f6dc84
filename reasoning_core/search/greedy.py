"""Greedy chain of thought (Wei et al. 2022): one chain, the most likely step each time (temperature 0)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..knobs import knob
from ..tree import Event
from .base import Search, SearchConfig, Strategy


@dataclass
class GreedyConfig(SearchConfig):
    temperature: float = knob(0.0, "temperature", "sampling temperature (0: the most likely step)", low=0.0)


def explore(search: Search) -> Iterator[Event]:
    """The PRM, when given, scores the steps for display only: it never changes the chain."""
    leaves = yield from search.extend_chains([0])
    yield from search.score(leaves, whole_path=True)


def choose(search: Search) -> int | None:
    ended = search.tree.terminals()
    return ended[0].id if ended else None


greedy = Strategy("greedy", GreedyConfig, explore, choose, reward="display", doc=__doc__)
