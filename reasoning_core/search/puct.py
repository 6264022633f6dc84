"""The MCTS machinery that `mcts` and `rstar` share: PUCT selection over one SearchTree, rollout
values, the backup of the best new value, and the most-visited path (AlphaZero-style; rStar, OpenR).
Not a strategy itself: each strategy brings its own expansion."""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from ..protocols import aggregate
from ..tree import Event, Node
from .base import Search


def priors(children: list[Node]) -> list[float]:
    """Softmax over per-token log-probs, so long steps are not penalised for their length, times each
    child's `count`: a step proposed three times carries the mass of three proposals."""
    logits = [c.logprob / max(1, c.num_tokens) for c in children]
    top = max(logits)
    weights = [c.count * math.exp(x - top) for c, x in zip(children, logits)]
    return [w / sum(weights) for w in weights]


def puct_child(search: Search, node: Node, c_puct: float, virtual: dict[int, int] | None = None) -> Node:
    """argmax Q + c * P * sqrt(N_parent) / (1 + N_child); unvisited children use their PRM value as Q.
    `virtual` counts selections not yet backed up (a batch of leaves): each counts as a visit that
    returned 0 (virtual loss), so the next selection of the batch looks elsewhere."""
    virtual = virtual or {}
    children = [c for c in search.tree.children(node.id) if c.status != "pruned"]
    sqrt_n = math.sqrt(max(1, node.visits + virtual.get(node.id, 0)))

    def puct(child: Node, prior: float) -> tuple[float, int]:
        q = child.value if child.value is not None else 0.0
        pending = virtual.get(child.id, 0)
        if pending:
            q = q * child.visits / (child.visits + pending)
        return (q + c_puct * prior * sqrt_n / (1 + child.visits + pending), -child.id)

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


def select_batch(search: Search, k: int) -> list[list[Node]]:
    """`k` root-to-leaf paths by PUCT, each selection adding a virtual loss along its path."""
    tree, virtual, paths = search.tree, {}, []
    for _ in range(k):
        path = [tree.root]
        while path[-1].children and not path[-1].terminal:
            path.append(puct_child(search, path[-1], search.config.c_puct, virtual))
        for node in path:
            virtual[node.id] = virtual.get(node.id, 0) + 1
        paths.append(path)
    return paths


def search_loop(search: Search, expand: Callable[[Search, list[Node]], Iterator[Event]]) -> Iterator[Event]:
    """The MCTS skeleton both `mcts` and `rstar` share: select by PUCT (`leaves_per_call` leaves at a time, with
    virtual loss), expand the distinct open leaves together (`expand` returns each leaf's new node ids), value
    the new nodes (by rollouts when `rollout_depth` > 0), back the best new value of each leaf up its path."""
    config, tree = search.config, search.tree
    per_call = getattr(config, "leaves_per_call", 1)
    totals: dict[int, float] = {}  # summed backed-up value per node (Q = total / visits)
    left = config.iterations
    while left > 0:
        search.meter.check()
        paths = select_batch(search, min(per_call, left))
        left -= len(paths)
        leaves = list({p[-1].id: p[-1] for p in paths if not p[-1].terminal}.values())
        new = (yield from expand(search, leaves)) if leaves else {}
        if config.rollout_depth > 0:
            fresh = [i for ids in new.values() for i in ids]
            for i, v in zip(fresh, rollout_values(search, fresh, config.rollout_depth)):
                yield tree.update(i, value=v, visits=0)
        for path in paths:
            leaf = path[-1]
            if leaf.terminal:
                value = leaf.value if leaf.value is not None else 0.0
            else:
                value = max((tree[i].value or 0.0 for i in new.get(leaf.id, [])), default=0.0)
            for node in path:
                totals[node.id] = totals.get(node.id, 0.0) + value
                yield tree.update(node.id, value=totals[node.id] / (node.visits + 1), visits=node.visits + 1)
    leaf = most_visited_leaf(search)
    if not leaf.terminal and leaf.id != 0:  # iterations ran out mid-chain: finish it greedily
        leaves = yield from search.extend_chains([leaf.id], temperature=0.0)
        yield from search.score(leaves, whole_path=True)
