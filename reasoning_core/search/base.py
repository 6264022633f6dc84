"""What every strategy shares: the problem, the common config, and a `Search` context that grows
one `SearchTree` through metered, batched model calls and turns each change into an event."""
from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import ClassVar, Iterator, Sequence

from ..budget import Budget, BudgetExhausted, Cancelled, Meter
from ..protocols import AGGREGATIONS, Generator, RewardModel, Task, aggregate
from ..tree import Event, Node, NodeAdded, SearchFinished, SearchTree

MAX_PROBLEM_CHARS = 20_000


class InputError(ValueError):
    """Bad user input (empty problem, impossible setting); the message is meant for the user."""


@dataclass(frozen=True)
class Problem:
    text: str
    task: Task
    reference: str | None = None


@dataclass
class SearchConfig:
    """Settings every strategy understands; strategies subclass it with their own knobs.

    `budget_field` names the knob that `eval` scales when it sweeps compute budgets."""

    seed: int = 0
    temperature: float = 0.8
    max_step_tokens: int = 48
    max_steps: int = 12
    aggregation: str = "min"
    budget_field: ClassVar[str | None] = None

    def validate(self) -> None:
        if self.aggregation not in AGGREGATIONS:
            raise InputError(f"unknown aggregation {self.aggregation!r}; valid: {', '.join(AGGREGATIONS)}")
        if self.temperature < 0:
            raise InputError(f"temperature must be >= 0, got {self.temperature}")
        for name in ("max_step_tokens", "max_steps"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("n", "width", "iterations", "expansion_width"):
            value = getattr(self, name, None)
            if value is not None and value < 1:
                raise InputError(f"{name} must be at least 1, got {value}")


@dataclass
class Search:
    """One run's state: the tree, the meter and the helpers strategies compose."""

    problem: Problem
    generator: Generator
    reward: RewardModel | None
    budget: Budget
    config: SearchConfig
    cancel: threading.Event | None = None
    tree: SearchTree = field(default_factory=SearchTree)

    def __post_init__(self) -> None:
        text = self.problem.text.strip()
        if not text:
            raise InputError("the problem is empty: type a question to solve")
        if len(text) > MAX_PROBLEM_CHARS:
            raise InputError(f"the problem is {len(text):,} characters long; the limit is {MAX_PROBLEM_CHARS:,}")
        self.config.validate()
        self.meter = Meter(self.generator, self.reward, self.budget, self.cancel)
        self.prompt = self.problem.task.prompt(text)
        self.delimiter = self.problem.task.step_delimiter

    # --- text ----------------------------------------------------------------------------------
    def prefix(self, node_id: int) -> str:
        """The generator's input for extending `node_id`: prompt, then each step and its delimiter."""
        return self.prompt + "".join(step + self.delimiter for step in self.tree.steps(node_id))

    # --- growth --------------------------------------------------------------------------------
    def expand(self, parent_ids: Sequence[int], n: int, *, temperature: float | None = None,
               max_new_tokens: int | None = None, kind: str = "step") -> list[NodeAdded]:
        """Propose `n` next steps for every parent in ONE generator call and add them as children.
        Raises BudgetExhausted, adding nothing, when they would not all fit in the node budget."""
        parent_ids = list(parent_ids)
        if self.meter.nodes_allowed(len(parent_ids) * n) < len(parent_ids) * n:
            raise BudgetExhausted("nodes")
        temp = self.config.temperature if temperature is None else temperature
        rows = self.meter.propose([self.prefix(p) for p in parent_ids], n, stop=self.delimiter,
                                  max_new_tokens=max_new_tokens or self.config.max_step_tokens,
                                  temperature=temp, seed=self.next_seed())
        events = []
        for parent_id, row in zip(parent_ids, rows):
            depth = self.tree[parent_id].depth + 1
            for cont in row:
                answer = self.problem.task.extract_answer(cont.text)
                terminal = cont.finished or answer is not None or depth >= self.config.max_steps
                events.append(self.tree.add(parent_id, cont.text, logprob=cont.logprob,
                                            num_tokens=cont.num_tokens, terminal=terminal,
                                            answer=answer, kind=kind))
        self.meter.count_nodes(len(events))
        return events

    def score(self, node_ids: Sequence[int], *, whole_path: bool = False) -> list[Event]:
        """Score the paths ending at `node_ids` in ONE reward call; each node gets its step score and
        the aggregate of its path's scores as value. With `whole_path`, every unscored node on each
        path gets its score from the same call (chains sampled to the end, then verified).
        Without a reward model, nothing happens."""
        if self.reward is None or not node_ids:
            return []
        rows = self.meter.score(self.problem.text, [self.tree.steps(i) for i in node_ids])
        events: list[Event] = []
        for node_id, row in zip(node_ids, rows):
            path = self.tree.path(node_id)
            for depth, node in enumerate(path, 1):
                if node.id == node_id or (whole_path and node.score is None):
                    events.append(self.tree.set_score(node.id, row[depth - 1],
                                                      aggregate(row[:depth], self.config.aggregation)))
        return events

    def extend_chains(self, leaf_ids: Sequence[int], *, temperature: float | None = None) -> Iterator[Event]:
        """Grow each chain one step at a time until every one has ended, one batched call per step.
        Returns (via StopIteration.value) the ids of the final leaves, in input order."""
        leaves = list(leaf_ids)
        while True:
            open_ids = [i for i in leaves if not self.tree[i].terminal]
            if not open_ids:
                return leaves
            added = self.expand(open_ids, 1, temperature=temperature)
            yield from added
            extended = {self.tree[a.node_id].parent: a.node_id for a in added}
            leaves = [extended.get(i, i) for i in leaves]

    def next_seed(self) -> int:
        """A fresh, reproducible seed per model call."""
        return self.config.seed * 1_000_003 + self.meter.stats.model_calls

    # --- ending --------------------------------------------------------------------------------
    def finish(self, leaf_id: int | None, status: str) -> Iterator[Event]:
        """Mark the chosen path and close the stream with the answer and what was used."""
        if leaf_id is not None and leaf_id != 0:
            yield self.tree.select(leaf_id)
        answer = self.tree[leaf_id].answer if leaf_id is not None else None
        stats = self.meter.finish()
        stats.nodes = len(self.tree) - 1
        yield SearchFinished(answer=answer, leaf_id=leaf_id, status=status, stats=stats.to_dict())

    def best(self, nodes: Sequence[Node]) -> Node | None:
        """Highest value first, then higher log-prob, then lower id (deterministic ties)."""
        if not nodes:
            return None
        return max(nodes, key=lambda n: (n.value if n.value is not None else -1.0, n.logprob, -n.id))

    def fallback_leaf(self) -> int | None:
        """The best thing to report when a search stops early: the best answered chain if any,
        else the best (deepest on ties) partial chain."""
        answered = [n for n in self.tree.terminals() if n.answer is not None]
        if answered:
            return self.best(answered).id  # type: ignore[union-attr]
        leaves = self.tree.leaves()
        if not leaves:
            return None
        return max(leaves, key=lambda n: (n.depth, n.value or 0.0, n.logprob, -n.id)).id


def require_reward(reward: RewardModel | None, strategy: str) -> None:
    """Verifier-guided strategies fail before any sampling when no verifier was given."""
    if reward is None:
        raise InputError(f"{strategy} needs a reward model (a PRM or an ORM); pick one, or use greedy "
                         "or self_consistency, which need none")


def majority(nodes: Sequence[Node], weights: Sequence[float] | None = None) -> Node | None:
    """The node whose answer has the largest (weighted) vote; within that answer, the best node.
    Ties between answers go to the answer seen first, so the result is deterministic."""
    answered = [(n, w) for n, w in zip(nodes, weights or [1.0] * len(nodes)) if n.answer is not None]
    if not answered:
        return None
    votes: Counter[str] = Counter()
    for node, w in answered:
        votes[node.answer] += w  # type: ignore[index]
    first_seen = {n.answer: i for i, (n, _) in reversed(list(enumerate(answered)))}
    winner = max(votes, key=lambda a: (votes[a], -first_seen[a]))
    group = [(n, w) for n, w in answered if n.answer == winner]
    return max(group, key=lambda nw: (nw[1], nw[0].logprob, -nw[0].id))[0]


def run_guarded(search: Search, body: Iterator[Event], choose) -> Iterator[Event]:
    """Drive a strategy body, turning budget exhaustion and cancellation into a clean finish.

    `body` yields the events of the search proper; `choose()` names the leaf to report once it
    ends (normally or not)."""
    status = "done"
    try:
        yield from body
    except BudgetExhausted:
        status = "budget"
    except Cancelled:
        status = "cancelled"
    leaf = choose()
    if leaf is None and status != "done":
        leaf = search.fallback_leaf()
    yield from search.finish(leaf, status)
