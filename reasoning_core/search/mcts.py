"""Monte Carlo tree search over reasoning steps (AlphaZero-style PUCT; rStar, OpenR).

Each iteration selects a path by PUCT (Q from the PRM, priors from the generator's log-probs),
expands the leaf with `expansion_width` proposed steps in one batched call, values the new
children by their PRM score (or by a greedy rollout to the end, PRM-scored), and backs the best
child value up the path. Every node exposes `visits` and Q (`value`). If the iterations end before
the most-visited path reaches an answer, that path is finished greedily (its tokens count too).
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import ClassVar, Iterator

from ..budget import Budget
from ..protocols import Generator, RewardModel, aggregate
from ..tree import Event, Node
from .base import Problem, Search, SearchConfig, require_reward, run_guarded


@dataclass
class MCTSConfig(SearchConfig):
    iterations: int = 16
    expansion_width: int = 3
    c_puct: float = 1.0
    rollout_depth: int = 0  # 0: value = PRM score of the new step; k: greedy rollout of up to k steps
    budget_field: ClassVar[str] = "iterations"


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


def mcts(problem: Problem, generator: Generator, reward: RewardModel | None, budget: Budget,
         config: MCTSConfig | None = None, cancel: threading.Event | None = None) -> Iterator[Event]:
    config = config or MCTSConfig()
    require_reward(reward, "mcts")
    search = Search(problem, generator, reward, budget, config, cancel)
    totals: dict[int, float] = {}  # summed backed-up value per node (Q = total / visits)

    def rollout_values(node_ids: list[int]) -> list[float]:
        """Greedy rollouts from each new node, batched; returns one value per node (not added to the
        tree: they estimate a node's worth, they are not search decisions)."""
        chains = {i: [] for i in node_ids if not search.tree[i].terminal}
        for _ in range(config.rollout_depth):
            open_ids = [i for i, steps in chains.items()
                        if not steps or search.problem.task.extract_answer(steps[-1]) is None]
            if not open_ids:
                break
            rows = search.meter.propose(
                [search.prefix(i) + "".join(s + search.delimiter for s in chains[i]) for i in open_ids], 1,
                stop=search.delimiter, max_new_tokens=config.max_step_tokens, temperature=0.0,
                seed=search.next_seed())
            for i, row in zip(open_ids, rows):
                chains[i].append(row[0].text)
        scored = list(chains)
        rows = search.meter.score(search.problem.text, [search.tree.steps(i) + chains[i] for i in scored])
        by_id = {i: aggregate(row, config.aggregation) for i, row in zip(scored, rows)}
        return [by_id.get(i, search.tree[i].value or 0.0) for i in node_ids]

    def body() -> Iterator[Event]:
        for _ in range(config.iterations):
            search.meter.check()
            path = [search.tree.root]
            while path[-1].children and not path[-1].terminal:
                path.append(puct_child(search, path[-1], config.c_puct))
            leaf = path[-1]
            if leaf.terminal:
                value = leaf.value if leaf.value is not None else 0.0
            else:
                added = search.expand([leaf.id], config.expansion_width)
                yield from added
                yield from search.score([a.node_id for a in added])
                new_ids = [a.node_id for a in added]
                if config.rollout_depth > 0:
                    values = rollout_values(new_ids)
                    for i, v in zip(new_ids, values):
                        yield search.tree.update(i, value=v, visits=0)
                value = max(search.tree[i].value or 0.0 for i in new_ids)
            for node in path:
                totals[node.id] = totals.get(node.id, 0.0) + value
                yield search.tree.update(node.id, value=totals[node.id] / (node.visits + 1),
                                         visits=node.visits + 1)
        leaf = most_visited_leaf()
        if not leaf.terminal and leaf.id != 0:  # iterations ran out mid-chain: finish it greedily
            leaves = yield from search.extend_chains([leaf.id], temperature=0.0)
            yield from search.score(leaves, whole_path=True)

    def most_visited_leaf() -> Node:
        node = search.tree.root
        while node.children:
            node = max(search.tree.children(node.id), key=lambda c: (c.visits, c.value or 0.0, -c.id))
        return node

    def choose() -> int | None:
        """Follow the most-visited child; if that path has not ended, take the best ended chain."""
        node = most_visited_leaf()
        if node.terminal and node.answer is not None:
            return node.id
        best = search.best([n for n in search.tree.terminals() if n.answer is not None])
        return best.id if best else None

    return run_guarded(search, body(), choose)
