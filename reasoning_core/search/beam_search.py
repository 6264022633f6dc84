"""Step-level beam search with a PRM (Snell et al. 2024; search-and-learn): every step, each of the M
kept beams proposes N/M next steps, the PRM scores all of them, and only the best M survive."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..tree import Event, Node
from .base import Search, Strategy, WidthConfig, verifier_choice


@dataclass
class BeamSearchConfig(WidthConfig):
    """N candidate steps per depth from M beams; the verifier keeps the best M."""


def distinct(ranked: list[Node], width: int) -> list[Node]:
    """The best `width` candidates, preferring distinct chains: a confident model often samples the
    same step several times, and identical beams would waste the width. Duplicates fill in only
    when there are fewer distinct candidates than beams."""
    seen: set[tuple[int | None, str]] = set()
    unique, repeats = [], []
    for node in ranked:
        key = (node.parent, node.text)
        (repeats if key in seen else unique).append(node)
        seen.add(key)
    return (unique + repeats)[:width]


def explore(search: Search) -> Iterator[Event]:
    """A kept chain that has ended leaves the beam; the search stops once M chains have ended."""
    n, width = search.config.n, search.config.width
    beams, finished = [0], 0
    while beams and finished < width:
        added = search.expand(beams, n if beams == [0] else max(1, n // width))
        yield from added
        yield from search.score([a.node_id for a in added])
        ranked = sorted((search.tree[a.node_id] for a in added), reverse=True,
                        key=lambda node: (node.value, node.logprob, -node.id))
        kept = distinct(ranked, width)
        for node in ranked:
            if node not in kept:
                yield search.tree.prune(node.id)
        finished += sum(node.terminal for node in kept)
        beams = [node.id for node in kept if not node.terminal]


beam_search = Strategy("beam_search", BeamSearchConfig, explore, verifier_choice, doc=__doc__)
