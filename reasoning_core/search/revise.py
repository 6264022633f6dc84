"""Sequential self-revision (Snell et al. 2024): write a chain, then revise it R-1 times, each round
conditioned on the earlier attempts, and answer with the verifier's favourite attempt.

A revision keeps the previous attempt up to its weakest step (lowest PRM score), proposes
`candidates` replacements for that step in one call, takes the first one that no earlier attempt
already tried at that point (the rejected duplicates stay visible, pruned), and writes the rest of
the chain from there. This needs no model trained to revise, so it
works with the tiny default as well as with instruct models. Drawn, it is a chain of attempts,
each branching off where the previous one went wrong.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from ..knobs import knob
from ..tree import Event, Node
from .base import Search, SearchConfig, Strategy, verifier_choice


@dataclass
class ReviseConfig(SearchConfig):
    rounds: int = knob(4, "revision rounds", "attempts, the first included", low=1)
    candidates: int = knob(4, "candidates per revision", "replacements proposed for the weakest step", low=1)
    size_field: ClassVar[str] = "rounds"


def weakest_step(search: Search, leaf_id: int) -> Node:
    """The lowest-scored step of a chain (the first on ties); the first step when unscored."""
    path = search.tree.path(leaf_id)
    scored = [n for n in path if n.score is not None]
    return min(scored, key=lambda n: (n.score, n.depth)) if scored else path[0]


def revise_from(search: Search, leaf_id: int) -> Iterator[Event]:
    """One revision round; returns the new attempt's leaf id."""
    weak = weakest_step(search, leaf_id)
    parent = weak.parent or 0
    tried = {c.text for c in search.tree.children(parent)}
    added = search.expand([parent], search.config.candidates, kind="revision")
    yield from added
    fresh = [search.tree[a.node_id] for a in added if search.tree[a.node_id].text not in tried]
    pick = max(fresh or [search.tree[a.node_id] for a in added], key=lambda n: (n.logprob, -n.id))
    for a in added:
        if a.node_id != pick.id:
            yield search.tree.prune(a.node_id)
    leaves = yield from search.extend_chains([pick.id])
    yield from search.score(leaves, whole_path=True)
    return leaves[0]


def explore(search: Search) -> Iterator[Event]:
    """Start from the best chain already in the tree (as when another strategy hands over), else
    from a greedy first attempt."""
    start = search.best([n for n in search.tree.terminals() if n.status != "pruned"])
    if start is None:
        leaves = yield from search.extend_chains([0], temperature=0.0)
        yield from search.score(leaves, whole_path=True)
        leaf, rounds_left = leaves[0], search.config.rounds - 1
    else:
        leaf, rounds_left = start.id, search.config.rounds
    for _ in range(rounds_left):
        leaf = yield from revise_from(search, leaf)


revise = Strategy("revise", ReviseConfig, explore, verifier_choice, doc=__doc__)
