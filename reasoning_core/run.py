"""Running a strategy: the event stream is the engine; `solve` just drains it into a result."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .budget import Budget
from .protocols import Generator, RewardModel
from .search import Problem, SearchConfig, get_strategy, make_config
from .tree import Event, SearchFinished, SearchTree, event_to_dict


def stream(strategy: str, problem: Problem, generator: Generator, reward: RewardModel | None,
           budget: Budget | None = None, config: SearchConfig | None = None,
           cancel: threading.Event | None = None) -> Iterator[Event]:
    """The events of one search, ending with `SearchFinished`. Bad input raises before any event."""
    run = get_strategy(strategy)
    forget_prefixes(generator, reward)
    return run(problem, generator, reward, budget or Budget(), config or make_config(strategy), cancel)


def forget_prefixes(*models: object) -> None:
    """Empty the models' prefix caches (`kv_cache`): a search starts from none, because states another
    search left can break an exact score tie the other way, and one seed must give one tree."""
    for model in models:
        cache = getattr(model, "prefix_cache", None)
        if cache is not None:
            cache.clear()


@dataclass
class SearchResult:
    """A finished search: the answer, its grade, the whole tree and the event log (for replay)."""

    strategy: str
    problem: Problem
    answer: str | None
    status: str
    leaf_id: int | None
    stats: dict[str, Any]
    tree: SearchTree
    info: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    @property
    def correct(self) -> bool | None:
        if self.problem.reference is None:
            return None
        return self.problem.task.is_correct(self.answer, self.problem.reference)

    def best_path(self) -> list[dict[str, Any]]:
        if self.leaf_id is None:
            return []
        return [{"id": n.id, "text": n.text, "score": n.score, "value": n.value}
                for n in self.tree.path(self.leaf_id)]

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "problem": self.problem.text, "task": self.problem.task.name,
                "reference": self.problem.reference, "answer": self.answer, "correct": self.correct,
                "status": self.status, "best_path": self.best_path(), "tree": self.tree.to_dict(),
                "stats": self.stats, "info": self.info, "events": [event_to_dict(e) for e in self.events]}


def collect(strategy: str, problem: Problem, events: Iterator[Event]) -> SearchResult:
    """Drain a stream into a SearchResult, rebuilding the tree from the events alone."""
    log = list(events)
    finished = log[-1]
    assert isinstance(finished, SearchFinished), "a strategy stream must end with SearchFinished"
    return SearchResult(strategy, problem, finished.answer, finished.status, finished.leaf_id,
                        finished.stats, SearchTree.from_events(log), finished.info, log)


def solve(strategy: str, problem: Problem, generator: Generator, reward: RewardModel | None,
          budget: Budget | None = None, config: SearchConfig | None = None,
          cancel: threading.Event | None = None) -> SearchResult:
    return collect(strategy, problem, stream(strategy, problem, generator, reward, budget, config, cancel))
