"""Best-of-N: sample N whole chains, score them with the verifier (PRM or ORM), keep the best
(Cobbe et al. 2021), or vote with verifier weights ("weighted best-of-N", Uesato/Li et al.)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from ..knobs import knob
from ..tree import Event
from .base import Search, SearchConfig, Strategy, scored_choice, verifier_choice


@dataclass
class BestOfNConfig(SearchConfig):
    n: int = knob(8, "N", "chains sampled and scored", low=1)
    weighted: bool = knob(False, "weighted vote",
                          "vote over answers weighted by verifier value instead of taking the argmax")
    size_field: ClassVar[str] = "n"


def explore(search: Search) -> Iterator[Event]:
    first = search.expand([0], search.config.n)
    yield from first
    leaves = yield from search.extend_chains([a.node_id for a in first])
    yield from search.score(leaves, whole_path=True)


best_of_n = Strategy("best_of_n", BestOfNConfig, explore, verifier_choice, doc=__doc__, pool_choose=scored_choice)
