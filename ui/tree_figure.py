"""A plotly picture of a `SearchTree`: tidy top-down layout, colour = PRM step score, size = visits.

Pure function of the tree (no Gradio), so the explorer, the race and replays draw the same way and
tests can check nodes, colours and sizes directly. `Throttle` paces redraws while a search streams.
"""
from __future__ import annotations

import dataclasses
import html
import math
import textwrap
import time

import networkx as nx
import plotly.colors
import plotly.graph_objects as go

from reasoning_core.tree import Node, SearchTree

MIN_SIZE, MAX_SIZE = 11.0, 34.0
UNSCORED = "#b0b0b0"
CHOSEN = "#1f3bb3"
COLORSCALE = plotly.colors.get_colorscale("RdYlGn")  # as pairs: plotly.js knows no RdYlGn by name
KIND_SYMBOLS = {"root": "diamond", "step": "circle"}
EXTRA_SYMBOLS = ("triangle-up", "hexagon", "pentagon", "star", "triangle-down", "cross")


class Throttle:
    """At most one redraw per `interval` seconds; the first call is always ready."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval, self._last = interval, -math.inf

    def ready(self) -> bool:
        now = time.perf_counter()
        if now - self._last >= self.interval:
            self._last = now
            return True
        return False


def to_graph(tree: SearchTree) -> nx.DiGraph:
    """The tree as a networkx DiGraph (children in insertion order), node attributes = Node fields."""
    graph = nx.DiGraph()
    for node in tree.nodes.values():
        graph.add_node(node.id, node=node)
    for node in tree.nodes.values():
        for child in node.children:
            graph.add_edge(node.id, child)
    return graph


def layout(tree: SearchTree) -> dict[int, tuple[float, float]]:
    """Tidy layered layout: leaves take consecutive x slots in depth-first order, a parent sits over
    the middle of its children, y = -depth. Sibling subtrees never overlap."""
    graph = to_graph(tree)
    pos: dict[int, tuple[float, float]] = {}
    next_slot = 0.0
    for node_id in nx.dfs_postorder_nodes(graph, 0):
        children = list(graph.successors(node_id))
        if children:
            x = (pos[children[0]][0] + pos[children[-1]][0]) / 2
        else:
            x, next_slot = next_slot, next_slot + 1.0
        pos[node_id] = (x, -float(graph.nodes[node_id]["node"].depth))
    return pos


def kind_symbols(tree: SearchTree) -> dict[str, str]:
    """A marker symbol per node kind: root and step fixed, other kinds (e.g. revisions) in turn."""
    symbols = dict(KIND_SYMBOLS)
    for i, kind in enumerate(sorted({n.kind for n in tree.nodes.values()} - set(symbols))):
        symbols[kind] = EXTRA_SYMBOLS[i % len(EXTRA_SYMBOLS)]
    return symbols


def node_sizes(tree: SearchTree) -> dict[int, float]:
    """Marker size grows with sqrt(visits) (MCTS); trees without visits use the minimum size."""
    top = max((n.visits for n in tree.nodes.values()), default=0)
    if top <= 0:
        return dict.fromkeys(tree.nodes, MIN_SIZE)
    return {i: MIN_SIZE + (MAX_SIZE - MIN_SIZE) * math.sqrt(n.visits / top) for i, n in tree.nodes.items()}


def _fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def hover_text(node: Node) -> str:
    """What a pointer over a node shows: the step itself and every number the strategy attached."""
    if node.parent is None:
        head = "<b>root</b> (the problem)"
        step = ""
    else:
        head = f"<b>node {node.id}</b> · {node.kind} · {node.status}{' · terminal' if node.terminal else ''}"
        if node.count > 1:
            head += f" · proposed ×{node.count}"
        wrapped = textwrap.wrap(node.text, 70) or [""]
        step = "<br>" + "<br>".join(html.escape(line) for line in wrapped[:8]) + ("<br>…" if len(wrapped) > 8 else "")
    nums = (f"<br>PRM score {_fmt(node.score)} · value {_fmt(node.value)} · visits {node.visits}"
            f"<br>log-prob {node.logprob:.2f} · {node.num_tokens} tokens · depth {node.depth}")
    answer = f"<br>answer: <b>{html.escape(node.answer)}</b>" if node.answer is not None else ""
    return head + step + nums + answer


PLOT_PX = 520          # about the width of a tree plot's drawing area (beside the inspector, or half a race row)
LABEL_CHAR_PX = 6.5    # of a 10-px answer label
LABEL_GAP_PX = 6


STEP_CHARS = 22        # a step's text on the plot is cut to this many characters


def fitting_labels(labels: list[tuple[Node, str]], pos: dict[int, tuple[float, float]]) -> dict[int, str]:
    """The labels that fit, in the order given: each shown only where it does not run into a label already
    placed on its row (the rest stay on hover)."""
    xs = [x for x, _ in pos.values()]
    px_per_unit = PLOT_PX / max(1.0, max(xs, default=0.0) - min(xs, default=0.0) + 1)
    placed: dict[float, list[tuple[float, float]]] = {}  # row -> (centre px, half width px) of its labels
    out: dict[int, str] = {}
    for node, text in labels:
        x, y = pos[node.id]
        centre, half = x * px_per_unit, len(text) * LABEL_CHAR_PX / 2
        row = placed.setdefault(y, [])
        if all(abs(centre - c) >= half + h + LABEL_GAP_PX for c, h in row):
            row.append((centre, half))
            out[node.id] = text
    return out


def answer_labels(tree: SearchTree, pos: dict[int, tuple[float, float]]) -> dict[int, str]:
    """Answer labels under the nodes that state one: the chosen leaf first, then left to right where they fit."""
    wanted = [n for n in tree.nodes.values() if n.answer is not None and n.status != "pruned"]
    wanted.sort(key=lambda n: (n.status != "chosen", pos[n.id][0]))
    return fitting_labels([(n, n.answer) for n in wanted], pos)  # type: ignore[misc]


def step_labels(tree: SearchTree, pos: dict[int, tuple[float, float]]) -> dict[int, str]:
    """Step texts above the nodes where the row has room (the chosen path first), cut to `STEP_CHARS`."""
    def cut(text: str) -> str:
        text = " ".join(text.split())
        return text if len(text) <= STEP_CHARS else text[:STEP_CHARS - 1] + "…"

    wanted = [n for n in tree.nodes.values() if n.parent is not None and n.kind != "folded" and n.text]
    wanted.sort(key=lambda n: (n.status != "chosen", n.status == "pruned", pos[n.id][0]))
    return fitting_labels([(n, cut(n.text)) for n in wanted], pos)


COMPACT_ABOVE = 200    # nodes; bigger trees are drawn compact unless asked otherwise
RARE_VISITS = 0.02     # of the root's visits: a subtree visited less is folded in the compact view


def compact(tree: SearchTree) -> SearchTree:
    """A drawing copy of `tree` that folds what a reader skips in a big search: pruned subtrees and,
    when the tree has visits (MCTS), subtrees visited less than `RARE_VISITS` of the root. The chosen
    path always stays. Each parent's folded children become one "folded" node (negative id) that says
    how many nodes it hides."""
    keep_visits = RARE_VISITS * tree.root.visits
    out = SearchTree()
    out.nodes[0] = dataclasses.replace(tree.root, children=[])
    fold_id = -1

    def hidden(node: Node) -> bool:
        if node.status == "chosen":
            return False
        return node.status == "pruned" or (tree.root.visits > 0 and node.visits < keep_visits)

    def size(node_id: int) -> int:
        return 1 + sum(size(c) for c in tree[node_id].children)

    stack = [0]
    while stack:
        parent = tree[stack.pop()]
        shown = [c for c in parent.children if not hidden(tree[c])]
        folded = [c for c in parent.children if hidden(tree[c])]
        children = list(shown)
        if folded:
            n = sum(size(c) for c in folded)
            out.nodes[fold_id] = Node(id=fold_id, parent=parent.id, depth=parent.depth + 1, kind="folded",
                                      text=f"{n} node{'s' if n != 1 else ''} folded (pruned or rarely visited)")
            children.append(fold_id)
            fold_id -= 1
        for c in shown:
            out.nodes[c] = dataclasses.replace(tree[c], children=[])
            stack.append(c)
        out.nodes[parent.id].children = children
    return out


ROW_PX = 70             # vertical room per depth once a tree is deeper than its default height holds
MAX_HEIGHT = 1100


def tree_figure(tree: SearchTree, title: str = "", height: int = 520, folded: bool | None = None) -> go.Figure:
    """The tree as a figure. Traces (by name): edges, pruned edges, chosen path, step text, answers, scored /
    unscored nodes, then one legend-only marker per node kind. `folded` draws `compact(tree)` (default: above
    `COMPACT_ABOVE` nodes). A deep tree gets a taller canvas (`ROW_PX` a depth, up to `MAX_HEIGHT`)."""
    if folded if folded is not None else len(tree) > COMPACT_ABOVE:
        tree = compact(tree)
    pos = layout(tree)
    sizes = node_sizes(tree)
    symbols = kind_symbols(tree)
    labels = answer_labels(tree, pos)
    every = list(tree.nodes.values())
    depth = max((n.depth for n in every), default=0)
    fig_height = min(MAX_HEIGHT, max(height, 120 + ROW_PX * depth))
    traces: list[dict] = []

    def edges(name: str, keep, **line) -> None:
        xs: list[float | None] = []
        ys: list[float | None] = []
        for node in tree.nodes.values():
            if node.parent is not None and keep(node):
                (x0, y0), (x1, y1) = pos[node.parent], pos[node.id]
                xs += [x0, x1, None]
                ys += [y0, y1, None]
        traces.append({"type": "scatter", "x": xs, "y": ys, "mode": "lines", "name": name, "line": line,
                       "hoverinfo": "skip", "showlegend": name != "edges" and bool(xs)})

    edges("edges", lambda n: n.status not in ("pruned", "chosen"), color="#9a9a9a", width=1.2)
    edges("pruned", lambda n: n.status == "pruned", color="rgba(150,150,150,0.35)", width=1, dash="dot")
    edges("chosen path", lambda n: n.status == "chosen", color=CHOSEN, width=4)

    def nodes(name: str, members: list[Node], scored: bool) -> None:
        chosen = [n.status == "chosen" for n in members]
        marker = {
            "size": [sizes[n.id] for n in members],
            "symbol": [symbols.get(n.kind, "circle") for n in members],
            "opacity": [0.3 if n.status == "pruned" else 1.0 for n in members],
            "line": {"color": [CHOSEN if c else "#444444" for c in chosen],
                     "width": [3.5 if c else 0.8 for c in chosen]},
        }
        if scored:
            marker.update(color=[n.score for n in members], colorscale=COLORSCALE, cmin=0.0, cmax=1.0,
                          colorbar={"title": {"text": "PRM step score"}, "thickness": 14, "len": 0.8})
        else:
            marker.update(color=UNSCORED)
        traces.append({
            "type": "scatter", "x": [pos[n.id][0] for n in members], "y": [pos[n.id][1] for n in members],
            "name": name, "mode": "markers", "marker": marker, "customdata": [n.id for n in members],
            "hovertext": [hover_text(n) for n in members], "hoverinfo": "text", "showlegend": False})

    # texts in traces of their own, one point per label: "markers+text" writes an SVG text per node, most of
    # them empty, and the browser's redraw of a big tree grows with every element
    # a step's text sits just over its marker and an answer just under it; marker sizes are in pixels, and a
    # unit of the y axis is about (plot height - margins and legend) / (depth + 1.2) of them
    unit_px = (fig_height - 90) / (depth + 1.2)
    steps = step_labels(tree, pos)
    traces.append({"type": "scatter", "x": [pos[i][0] for i in steps],
                   "y": [pos[i][1] + (sizes[i] / 2 + 2) / unit_px for i in steps], "textposition": "top center",
                   "mode": "text", "text": list(steps.values()), "textfont": {"size": 9, "color": "#555"},
                   "name": "step text", "hoverinfo": "skip", "showlegend": False})
    traces.append({"type": "scatter", "x": [pos[i][0] for i in labels],
                   "y": [pos[i][1] - (sizes[i] / 2 + 2) / unit_px for i in labels],
                   "mode": "text", "text": list(labels.values()), "customdata": list(labels),
                   "textposition": "bottom center", "textfont": {"size": 10}, "name": "answers",
                   "hoverinfo": "skip", "showlegend": False})
    nodes("scored nodes", [n for n in every if n.score is not None], True)
    nodes("unscored nodes", [n for n in every if n.score is None], False)
    for kind, symbol in symbols.items():
        if any(n.kind == kind for n in every):
            traces.append({"type": "scatter", "x": [None], "y": [None], "mode": "markers", "name": kind,
                           "showlegend": True, "marker": {"symbol": symbol, "color": UNSCORED, "size": 10}})
    layout_ = {
        "title": {"text": title, "font": {"size": 14}},
        "height": fig_height, "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
        "plot_bgcolor": "white", "paper_bgcolor": "white", "hovermode": "closest", "uirevision": "tree",
        "legend": {"orientation": "h", "yanchor": "bottom", "y": -0.08, "xanchor": "left", "x": 0},
        "xaxis": {"visible": False}, "yaxis": {"visible": False, "range": [-depth - 0.7, 0.5]}}
    # Validation is 90% of building a 1,000-node figure (~240 ms against ~20 ms) and these keys are fixed:
    # test_ui_figure checks that the figure validates, so a misspelt key still fails a test.
    return go.Figure(data=traces, layout=layout_, _validate=False)


def figure_nodes(fig: go.Figure) -> dict[int, dict]:
    """Node id -> {x, y, size, color, opacity, trace} read back from a figure (for tests and checks)."""
    out: dict[int, dict] = {}
    for trace in fig.data:
        if trace.name not in ("scored nodes", "unscored nodes") or trace.customdata is None:
            continue
        m = trace.marker
        for k, node_id in enumerate(trace.customdata):
            color = m.color[k] if isinstance(m.color, (list, tuple)) else m.color
            out[int(node_id)] = {"x": trace.x[k], "y": trace.y[k], "size": m.size[k], "color": color,
                                 "opacity": m.opacity[k], "outline": m.line.width[k], "trace": trace.name}
    return out
