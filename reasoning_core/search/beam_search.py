"""Step-level beam search with a PRM (Snell et al. 2024; search-and-learn): every step, each of the M
kept beams proposes N/M next steps, the PRM scores all N, and only the best M survive."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import ClassVar, Iterator

from ..budget import Budget
from ..protocols import Generator, RewardModel
from ..tree import Event
from .base import InputError, Problem, Search, SearchConfig, require_reward, run_guarded


@dataclass
class BeamSearchConfig(SearchConfig):
    n: int = 8
    width: int = 2
    budget_field: ClassVar[str] = "n"

    def validate(self) -> None:
        super().validate()
        if self.width > self.n:
            raise InputError(f"beam width ({self.width}) cannot exceed the number of candidates n ({self.n})")


def beam_search(problem: Problem, generator: Generator, reward: RewardModel | None, budget: Budget,
                config: BeamSearchConfig | None = None, cancel: threading.Event | None = None) -> Iterator[Event]:
    """The best M candidates of each step are kept; a kept chain that has ended leaves the beam and
    the search stops once M chains have ended. The answer is the best ended chain by PRM value."""
    config = config or BeamSearchConfig()
    require_reward(reward, "beam_search")
    search = Search(problem, generator, reward, budget, config, cancel)

    def body() -> Iterator[Event]:
        beams, finished = [0], 0
        while beams and finished < config.width:
            per_beam = config.n if beams == [0] else max(1, config.n // config.width)
            added = search.expand(beams, per_beam)
            yield from added
            yield from search.score([a.node_id for a in added])
            ranked = sorted((search.tree[a.node_id] for a in added), reverse=True,
                            key=lambda n: (n.value, n.logprob, -n.id))
            for node in ranked[config.width:]:
                yield search.tree.prune(node.id)
            kept = ranked[: config.width]
            finished += sum(n.terminal for n in kept)
            beams = [n.id for n in kept if not n.terminal]

    def choose() -> int | None:
        node = search.best([n for n in search.tree.terminals() if n.status != "pruned"])
        return node.id if node else None

    return run_guarded(search, body(), choose)
