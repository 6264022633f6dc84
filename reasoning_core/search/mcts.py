"""Monte Carlo tree search over reasoning steps (AlphaZero-style PUCT; rStar, OpenR).

Each iteration selects a path by PUCT (Q from the PRM, priors from the generator's log-probs),
expands the leaf with `expansion_width` proposed steps in one batched call, values the new
children by their PRM score (or by a greedy rollout to the end, PRM-scored), and backs the best
child value up the path. Every node exposes `visits` and Q (`value`). If the iterations end before
the most-visited path reaches an answer, that path is finished greedily (its tokens count too).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, ClassVar, Iterator

from ..protocols import aggregate
from ..knobs import knob
from ..tree import Event, Node
from .base import Search, SearchConfig, Strategy


@dataclass
class MCTSConfig(SearchConfig):
    iterations: int = knob(16, "iterations", "select-expand-evaluate-backup rounds", low=1)
    expansion_width: int = knob(3, "expansion width", "children proposed per expansion", low=1)
    c_puct: float = knob(1.0, "c_puct", "exploration constant of PUCT", low=0.0)
    rollout_depth: int = knob(0, "rollout depth", "greedy rollout steps for values (0: the PRM score of the new step)",
                              low=0)
    size_field: ClassVar[str] = "iterations"


def priors(children: list[Node]) -> list[float]:
    """Softmax over per-token log-probs, so long steps are not penalised for their length."""
    logits = [c.logprob / max(1, c.num_tokens) for c in children]
    top = max(logits)
    weights = [math.exp(x - top) for x in logits]
    return [w / sum(weights) for w in weights]


def puct_child(search: Search, node: Node, c_puct: float) -> Node:
    """argmax Q + c * P * sqrt(N_parent) / (1 + N_child); unvisited children use their PRM value as Q."""
    children = [c for c in search.tree.children(node.id) if c.status != "pruned"]
    sqrt_n = math.sqrt(max(1, node.visits))

    def puct(child: Node, prior: float) -> tuple[float, int]:
        q = child.value if child.value is not None else 0.0
        return (q + c_puct * prior * sqrt_n / (1 + child.visits), -child.id)

    return max(zip(children, priors(children)), key=lambda cp: puct(*cp))[0]


def rollout_values(search: Search, node_ids: list[int], depth: int) -> list[float]:
    """Value each node by a greedy rollout of up to `depth` steps, PRM-scored as one chain.
    Nodes that have ended (or hold no step yet and roll out to nothing) keep their own value."""
    chains = search.rollout(node_ids, depth)
    ids = [i for i in chains if search.steps(i) or chains[i]]
    rows = search.meter.score(search.problem.text, [search.steps(i) + [c.text for c in chains[i]] for i in ids])
    by_id = {i: aggregate(row, search.config.aggregation) for i, row in zip(ids, rows)}
    return [by_id.get(i, search.tree[i].value or 0.0) for i in node_ids]


def most_visited_leaf(search: Search) -> Node:
    node = search.tree.root
    while node.children:
        node = max(search.tree.children(node.id), key=lambda c: (c.visits, c.value or 0.0, -c.id))
    return node


def expand_leaf(search: Search, leaf: Node) -> Iterator[Event]:
    """Plain MCTS expansion: `expansion_width` next steps, PRM-valued (or rollout-valued).
    Returns the new node ids."""
    added = search.expand([leaf.id], search.config.expansion_width)
    yield from added
    yield from search.score([a.node_id for a in added])
    return [a.node_id for a in added]


def search_loop(search: Search, expand: Callable[[Search, Node], Iterator[Event]]) -> Iterator[Event]:
    """The MCTS skeleton both `mcts` and `rstar` share: select by PUCT, expand, value the new nodes
    (by rollouts when `rollout_depth` > 0), back the best new value up the selected path."""
    config, tree = search.config, search.tree
    totals: dict[int, float] = {}  # summed backed-up value per node (Q = total / visits)
    for _ in range(config.iterations):
        search.meter.check()
        path = [tree.root]
        while path[-1].children and not path[-1].terminal:
            path.append(puct_child(search, path[-1], config.c_puct))
        leaf = path[-1]
        if leaf.terminal:
            value = leaf.value if leaf.value is not None else 0.0
        else:
            new_ids = yield from expand(search, leaf)
            if config.rollout_depth > 0:
                for i, v in zip(new_ids, rollout_values(search, new_ids, config.rollout_depth)):
                    yield tree.update(i, value=v, visits=0)
            value = max((tree[i].value or 0.0 for i in new_ids), default=0.0)
        for node in path:
            totals[node.id] = totals.get(node.id, 0.0) + value
            yield tree.update(node.id, value=totals[node.id] / (node.visits + 1), visits=node.visits + 1)
    leaf = most_visited_leaf(search)
    if not leaf.terminal and leaf.id != 0:  # iterations ran out mid-chain: finish it greedily
        leaves = yield from search.extend_chains([leaf.id], temperature=0.0)
        yield from search.score(leaves, whole_path=True)


def explore(search: Search) -> Iterator[Event]:
    yield from search_loop(search, expand_leaf)


def choose(search: Search) -> int | None:
    """Follow the most-visited child; if that path has not ended, take the best ended chain."""
    node = most_visited_leaf(search)
    if node.terminal and node.answer is not None:
        return node.id
    best = search.best([n for n in search.tree.terminals() if n.answer is not None])
    return best.id if best else None


mcts = Strategy("mcts", MCTSConfig, explore, choose, doc=__doc__)
