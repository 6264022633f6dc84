"""Monte Carlo tree search over reasoning steps (AlphaZero-style PUCT, Silver et al. 2017; as in rStar
and OpenR).

Each iteration selects a path by PUCT (Q from the PRM, priors from the generator's log-probs),
expands the leaf with `expansion_width` proposed steps in one batched call (with `leaves_per_call` K > 1,
K leaves are selected under virtual loss and expanded in one call, so 64 iterations cost about 64/K
calls), values the new children by their PRM score (or by a greedy rollout to the end, PRM-scored),
and backs the best child value up the path. Every node exposes `visits` and Q (`value`). If the iterations end before
the most-visited path reaches an answer, that path is finished greedily (its tokens count too).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from ..knobs import knob
from ..tree import Event, Node, NodeAdded
from .base import Search, SearchConfig, Strategy
from .puct import most_visited_leaf, search_loop


@dataclass
class MCTSConfig(SearchConfig):
    iterations: int = knob(16, "iterations", "select-expand-evaluate-backup rounds", low=1)
    expansion_width: int = knob(3, "expansion width", "children proposed per expansion", low=1)
    c_puct: float = knob(1.0, "c_puct", "exploration constant of PUCT", low=0.0)
    rollout_depth: int = knob(0, "rollout depth", "greedy rollout steps for values (0: the PRM score of the new step)",
                              low=0)
    leaves_per_call: int = knob(1, "leaves per call", "leaves selected at once (with virtual loss) and expanded in "
                                "one model call; 1 is classic MCTS", low=1)
    size_field: ClassVar[str] = "iterations"


def expand_leaves(search: Search, leaves: list[Node]) -> Iterator[Event]:
    """Plain MCTS expansion of every selected leaf in one generator call: `expansion_width` next steps
    each, identical ones merged into one node (its `count` raises its prior), PRM-valued in one reward
    call (or rollout-valued). Returns each leaf's new node ids."""
    added = search.expand([leaf.id for leaf in leaves], search.config.expansion_width, merge=True)
    yield from added
    new: dict[int, list[int]] = {leaf.id: [] for leaf in leaves}
    for a in added:
        if isinstance(a, NodeAdded):
            new[a.parent_id].append(a.node_id)  # type: ignore[index]
    yield from search.score([i for ids in new.values() for i in ids])
    return new


def explore(search: Search) -> Iterator[Event]:
    yield from search_loop(search, expand_leaves)


def choose(search: Search) -> int | None:
    """Follow the most-visited child; if that path has not ended, take the best ended chain."""
    node = most_visited_leaf(search)
    if node.terminal and node.answer is not None:
        return node.id
    best = search.best([n for n in search.tree.terminals() if n.answer is not None])
    return best.id if best else None


mcts = Strategy("mcts", MCTSConfig, explore, choose, doc=__doc__)
