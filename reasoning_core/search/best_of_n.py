"""Best-of-N: sample N whole chains, score them with the verifier (PRM or ORM), keep the best
(Cobbe et al. 2021), or vote with verifier weights ("weighted best-of-N", Uesato/Li et al.)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Iterator

from ..knobs import knob
from ..tree import Event
from .base import Search, SearchConfig, Strategy, majority


@dataclass
class BestOfNConfig(SearchConfig):
    n: int = knob(8, "N", "chains sampled and scored", low=1)
    weighted: bool = knob(False, "weighted vote", "vote over answers weighted by verifier value instead of taking the argmax")
    size_field: ClassVar[str] = "n"


def explore(search: Search) -> Iterator[Event]:
    first = search.expand([0], search.config.n)
    yield from first
    leaves = yield from search.extend_chains([a.node_id for a in first])
    yield from search.score(leaves, whole_path=True)


def choose(search: Search) -> int | None:
    """The best scored chain, or with `weighted` the answer with the largest summed value."""
    done = [n for n in search.tree.terminals() if n.value is not None and n.status != "pruned"]
    if getattr(search.config, "weighted", False):
        node = majority(done, [n.value for n in done])  # type: ignore[misc]
    else:
        node = search.best(done)
    return node.id if node else None


best_of_n = Strategy("best_of_n", BestOfNConfig, explore, choose, doc=__doc__)
