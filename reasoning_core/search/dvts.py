"""Diverse verifier tree search (Beeching et al. 2024): N/M independent subtrees, each a greedy
PRM-guided search that proposes M steps and keeps the best one, so the N samples are not all
captured by one high-scoring prefix as in beam search."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from ..knobs import knob
from ..tree import Event
from .base import Search, Strategy, WidthConfig, verifier_choice


@dataclass
class DVTSConfig(WidthConfig):
    weighted: bool = knob(False, "weighted vote", "vote over the subtrees' answers weighted by verifier value")
    size_field: ClassVar[str] = "n"


def explore(search: Search) -> Iterator[Event]:
    width = search.config.width
    heads = [0] * max(1, search.config.n // width)  # the current node of each subtree
    while any(not search.tree[h].terminal for h in heads):
        active = [i for i, h in enumerate(heads) if not search.tree[h].terminal]
        added = search.expand([heads[i] for i in active], width)
        yield from added
        yield from search.score([a.node_id for a in added])
        for slot, i in enumerate(active):
            group = [search.tree[a.node_id] for a in added[slot * width:(slot + 1) * width]]
            best = search.best(group)
            for node in group:
                if node is not best:
                    yield search.tree.prune(node.id)
            heads[i] = best.id  # type: ignore[union-attr]


dvts = Strategy("dvts", DVTSConfig, explore, verifier_choice, doc=__doc__)
