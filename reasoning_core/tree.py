"""The one search tree every strategy shares, and the events that describe its growth.

A strategy mutates the tree only through `SearchTree` methods; each returns the event it caused,
and the strategy yields that event. `SearchTree.apply` replays an event, so any consumer (the UI,
a saved JSON file) can rebuild the exact tree from the stream alone.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

Status = Literal["open", "expanded", "pruned", "chosen"]


@dataclass
class Node:
    """One reasoning step. The root (id 0) holds no step text; `value` is the strategy's estimate
    for the path ending here (aggregate PRM score, MCTS Q, vote share)."""

    id: int
    parent: int | None
    text: str = ""
    depth: int = 0
    score: float | None = None
    value: float | None = None
    visits: int = 0
    logprob: float = 0.0
    num_tokens: int = 0
    terminal: bool = False
    answer: str | None = None
    status: Status = "open"
    kind: str = "step"
    count: int = 1  # proposals this node stands for: identical sibling steps merge into one node
    children: list[int] = field(default_factory=list)


# ----- events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeAdded:
    node_id: int
    parent_id: int | None
    text: str
    depth: int
    logprob: float
    num_tokens: int
    terminal: bool
    answer: str | None
    kind: str = "step"
    type: str = "node_added"


@dataclass(frozen=True)
class NodeScored:
    node_id: int
    score: float
    value: float
    type: str = "node_scored"


@dataclass(frozen=True)
class NodeUpdated:
    node_id: int
    value: float | None
    visits: int
    type: str = "node_updated"


@dataclass(frozen=True)
class NodePruned:
    node_id: int
    type: str = "node_pruned"


@dataclass(frozen=True)
class NodeRepeated:
    """The generator proposed an existing node's step again under the same parent: one more proposal
    behind that node (`count` is its new total), no new node."""

    node_id: int
    count: int
    type: str = "node_repeated"


@dataclass(frozen=True)
class NodeSelected:
    """The final chosen path: `path` lists node ids from the root to the chosen leaf."""

    path: tuple[int, ...]
    type: str = "node_selected"


@dataclass(frozen=True)
class SearchFinished:
    """Always the last event. `status` is "done", "budget" (stopped by a budget cap) or "cancelled"."""

    answer: str | None
    leaf_id: int | None
    status: str
    stats: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)  # strategy-specific facts (e.g. chosen sub-strategy)
    type: str = "search_finished"


Event = NodeAdded | NodeScored | NodeUpdated | NodePruned | NodeRepeated | NodeSelected | SearchFinished
_EVENT_CLASSES = (NodeAdded, NodeScored, NodeUpdated, NodePruned, NodeRepeated, NodeSelected, SearchFinished)
EVENT_TYPES: dict[str, type] = {
    f.default: cls for cls in _EVENT_CLASSES for f in fields(cls) if f.name == "type"  # type: ignore[misc]
}


def event_to_dict(event: Event) -> dict[str, Any]:
    d = asdict(event)
    if isinstance(event, NodeSelected):
        d["path"] = list(event.path)
    return d


def event_from_dict(d: dict[str, Any]) -> Event:
    try:
        cls = EVENT_TYPES[d["type"]]
    except KeyError as err:
        raise ValueError(f"unknown event type {d.get('type')!r}; valid: {', '.join(EVENT_TYPES)}") from err
    kwargs = {k: v for k, v in d.items() if k != "type"}
    if cls is NodeSelected:
        kwargs["path"] = tuple(kwargs["path"])
    return cls(**kwargs)


# ----- tree -----------------------------------------------------------------------------------


class SearchTree:
    """Nodes by id, with the root (id 0) standing for the problem itself."""

    def __init__(self) -> None:
        self.nodes: dict[int, Node] = {0: Node(id=0, parent=None, kind="root")}

    @property
    def root(self) -> Node:
        return self.nodes[0]

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, node_id: int) -> Node:
        return self.nodes[node_id]

    # mutations: each returns the event it caused
    def add(self, parent_id: int, text: str, *, logprob: float = 0.0, num_tokens: int = 0,
            terminal: bool = False, answer: str | None = None, kind: str = "step") -> NodeAdded:
        event = NodeAdded(node_id=len(self.nodes), parent_id=parent_id, text=text,
                          depth=self.nodes[parent_id].depth + 1, logprob=logprob, num_tokens=num_tokens,
                          terminal=terminal, answer=answer, kind=kind)
        self.apply(event)
        return event

    def set_score(self, node_id: int, score: float, value: float) -> NodeScored:
        event = NodeScored(node_id=node_id, score=score, value=value)
        self.apply(event)
        return event

    def update(self, node_id: int, *, value: float | None, visits: int) -> NodeUpdated:
        event = NodeUpdated(node_id=node_id, value=value, visits=visits)
        self.apply(event)
        return event

    def repeat(self, node_id: int) -> NodeRepeated:
        event = NodeRepeated(node_id=node_id, count=self.nodes[node_id].count + 1)
        self.apply(event)
        return event

    def prune(self, node_id: int) -> NodePruned:
        event = NodePruned(node_id=node_id)
        self.apply(event)
        return event

    def select(self, leaf_id: int) -> NodeSelected:
        event = NodeSelected(path=tuple(n.id for n in self.path(leaf_id)))
        self.apply(event)
        return event

    def apply(self, event: Event) -> None:
        """Replay one event onto this tree (used by the mutators above and by stream consumers)."""
        if isinstance(event, NodeAdded):
            if event.parent_id is None:
                return  # the root exists from the start
            node = Node(id=event.node_id, parent=event.parent_id, text=event.text, depth=event.depth,
                        logprob=event.logprob, num_tokens=event.num_tokens, terminal=event.terminal,
                        answer=event.answer, kind=event.kind)
            self.nodes[node.id] = node
            parent = self.nodes[event.parent_id]
            parent.children.append(node.id)
            if parent.status == "open":
                parent.status = "expanded"
        elif isinstance(event, NodeScored):
            node = self.nodes[event.node_id]
            node.score, node.value = event.score, event.value
        elif isinstance(event, NodeUpdated):
            node = self.nodes[event.node_id]
            node.value, node.visits = event.value, event.visits
        elif isinstance(event, NodePruned):
            self.nodes[event.node_id].status = "pruned"
        elif isinstance(event, NodeRepeated):
            self.nodes[event.node_id].count = event.count
        elif isinstance(event, NodeSelected):
            for node_id in event.path:
                self.nodes[node_id].status = "chosen"

    # queries
    def path(self, node_id: int) -> list[Node]:
        """Nodes from the first step to `node_id` (the root excluded)."""
        out: list[Node] = []
        node = self.nodes[node_id]
        while node.parent is not None:
            out.append(node)
            node = self.nodes[node.parent]
        return out[::-1]

    def steps(self, node_id: int) -> list[str]:
        return [n.text for n in self.path(node_id)]

    def children(self, node_id: int) -> list[Node]:
        return [self.nodes[c] for c in self.nodes[node_id].children]

    def leaves(self) -> list[Node]:
        return [n for n in self.nodes.values() if not n.children and n.parent is not None]

    def terminals(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.terminal]

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": [
            {"id": n.id, "parent": n.parent, "text": n.text, "depth": n.depth, "score": n.score,
             "value": n.value, "visits": n.visits, "logprob": n.logprob, "num_tokens": n.num_tokens,
             "terminal": n.terminal, "answer": n.answer, "status": n.status, "kind": n.kind, "count": n.count}
            for n in self.nodes.values()]}

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> SearchTree:
        tree = cls()
        for event in events:
            tree.apply(event)
        return tree
