"""A search's event log as a film: consecutive events of one kind make one frame (an expansion, a round
of scoring, a pruning, a backup), each told in one sentence, so a replay can step through what the
strategy did rather than through single events.

    frames = film(result.events)
    tree = SearchTree.from_events(result.events[:frames[7].end])   # the tree as frame 7 leaves it
    frames[7].text                                 # "depth 3: kept 2 of 8, pruned 6"
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .tree import (
    Event,
    NodeAdded,
    NodePruned,
    NodeRepeated,
    NodeScored,
    NodeSelected,
    NodeUpdated,
    SearchFinished,
    SearchTree,
)

SHOWN = 3        # step texts quoted in one frame
TEXT_CHARS = 40  # of each quoted step
STATUS_WORDS = {"done": "finished", "budget": "stopped by the budget", "cancelled": "cancelled"}


@dataclass(frozen=True)
class Frame:
    """`events[start:end]` happen in this frame; `text` says what they did."""

    start: int
    end: int
    text: str


def film(events: Sequence[Event]) -> list[Frame]:
    """The frames of an event log, in order; together they cover every event exactly once."""
    tree, frames, i = SearchTree(), [], 0
    while i < len(events):
        j = i + 1
        if not isinstance(events[i], (NodeSelected, SearchFinished)):
            while j < len(events) and type(events[j]) is type(events[i]):
                j += 1
        group = events[i:j]
        for event in group:
            tree.apply(event)
        frames.append(Frame(i, j, describe(group, tree)))
        i = j
    return frames


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return f'"{text[:TEXT_CHARS - 1]}…"' if len(text) > TEXT_CHARS else f'"{text}"'


def _ids(ids: Sequence[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:6])
    return shown + (f" and {len(ids) - 6} more" if len(ids) > 6 else "")


def describe(group: Sequence[Event], tree: SearchTree) -> str:
    """One sentence for a frame's events (all of one kind), read against the tree they leave."""
    first = group[0]
    if isinstance(first, NodeAdded):
        return _added([e for e in group if isinstance(e, NodeAdded)])
    if isinstance(first, NodeScored):
        scored = sorted((e for e in group if isinstance(e, NodeScored)), key=lambda e: (-e.score, e.node_id))
        if len(scored) == 1:
            return f"scored node {scored[0].node_id}: {scored[0].score:.2f} (path value {scored[0].value:.2f})"
        return (f"scored {len(scored)} steps: best node {scored[0].node_id} ({scored[0].score:.2f}), "
                f"worst node {scored[-1].node_id} ({scored[-1].score:.2f})")
    if isinstance(first, NodeUpdated):
        return _backed_up([e for e in group if isinstance(e, NodeUpdated)], tree)
    if isinstance(first, NodePruned):
        return _pruned([e.node_id for e in group if isinstance(e, NodePruned)], tree)
    if isinstance(first, NodeRepeated):
        counts: dict[int, int] = {}
        for e in group:
            if isinstance(e, NodeRepeated):
                counts[e.node_id] = e.count
        merged = ", ".join(f"node {i} ×{c}" for i, c in counts.items())
        copies = "copy" if len(group) == 1 else "copies"
        return f"proposed {len(group)} more {copies} of existing steps, merged: {merged}"
    if isinstance(first, NodeSelected):
        return "chose the path " + " → ".join(str(i) for i in first.path)
    assert isinstance(first, SearchFinished)
    answer = first.answer if first.answer is not None else "none"
    return f"{STATUS_WORDS.get(first.status, first.status)}: answer {answer}"


def _added(events: list[NodeAdded]) -> str:
    parents = sorted({e.parent_id for e in events if e.parent_id is not None})
    where = f"under node {parents[0]}" if len(parents) == 1 else f"under {len(parents)} nodes ({_ids(parents)})"
    quoted = ", ".join(_quote(e.text) for e in events[:SHOWN]) + (", …" if len(events) > SHOWN else "")
    answers = sum(e.answer is not None for e in events)
    tail = f"; {answers} {'reaches' if answers == 1 else 'reach'} an answer" if answers else ""
    noun = "step" if len(events) == 1 else "steps"
    return f"proposed {len(events)} {noun} {where}: {quoted}{tail}"


def _backed_up(events: list[NodeUpdated], tree: SearchTree) -> str:
    top = min(reversed(events), key=lambda e: tree[e.node_id].depth)  # the last update nearest the root
    value = "no value" if top.value is None else f"Q {top.value:.2f}"
    visits = f"{top.visits} visit" + ("" if top.visits == 1 else "s")
    ids = [e.node_id for e in events]
    if len({tree[i].depth for i in ids}) < len(ids):  # not one leaf-to-root path: several backups in a row
        return f"backed up {len(ids)} values over {len(set(ids))} nodes: node {top.node_id} now {value} after {visits}"
    along = " → ".join(str(i) for i in sorted(ids, key=lambda i: -tree[i].depth))  # from the leaf up
    return f"backed up along {along}: node {top.node_id} now {value} after {visits}"


def _pruned(ids: list[int], tree: SearchTree) -> str:
    depths = sorted({tree[i].depth for i in ids})
    if len(depths) > 1:
        return f"pruned {len(ids)} nodes ({_ids(ids)})"
    level = [n for n in tree.nodes.values() if n.depth == depths[0] and n.parent is not None]
    kept = sum(n.status != "pruned" for n in level)
    return f"depth {depths[0]}: kept {kept} of {len(level)}, pruned {len(ids)} ({_ids(ids)})"
