"""The decision timeline: per depth, every candidate step a search scored, the value it was ranked by (the
path's aggregate PRM score), and whether it was kept, pruned or ended on the chosen path. Where the tree
shows structure, this shows the choices beam search, DVTS and best-of-N made at each depth. A pure function
of the tree, like `tree_figure`."""
from __future__ import annotations

import plotly.graph_objects as go

from reasoning_core.tree import Node, SearchTree

from .tree_figure import CHOSEN, hover_text

FATES = {"chosen": (CHOSEN, "star", "on the chosen path"), "kept": ("#2e9d4f", "circle", "kept"),
         "pruned": ("#c23b3b", "x", "pruned")}


def fate(node: Node) -> str:
    if node.status == "chosen":
        return "chosen"
    return "pruned" if node.status == "pruned" else "kept"


def decision_rows(tree: SearchTree) -> list[tuple[int, int, Node, str]]:
    """(depth, slot, node, fate) for every valued step; slots spread a depth's candidates apart, best first."""
    by_depth: dict[int, list[Node]] = {}
    for node in tree.nodes.values():
        if node.parent is not None and node.value is not None:
            by_depth.setdefault(node.depth, []).append(node)
    rows = []
    for depth, nodes in sorted(by_depth.items()):
        for slot, node in enumerate(sorted(nodes, key=lambda n: (-(n.value or 0.0), n.id))):
            rows.append((depth, slot, node, fate(node)))
    return rows


def decision_figure(tree: SearchTree, title: str = "decisions per depth", height: int = 320) -> go.Figure:
    """Depth on x (candidates of a depth side by side, best first), path value on y; one trace per fate."""
    rows = decision_rows(tree)
    widest = max((slot for _, slot, _, _ in rows), default=0) + 1
    fig = go.Figure()
    for name, (color, symbol, label) in FATES.items():
        picked = [r for r in rows if r[3] == name]
        counts = {d: sum(1 for r in rows if r[0] == d and r[3] == name) for d, *_ in picked}
        fig.add_trace(go.Scatter(
            x=[d + 0.8 * (slot / widest - 0.4) for d, slot, _, _ in picked], y=[n.value for _, _, n, _ in picked],
            mode="markers", name=f"{label} ({len(picked)})", customdata=[n.id for _, _, n, _ in picked],
            marker={"color": color, "symbol": symbol, "size": 10, "line": {"width": 0.5, "color": "#333"}},
            hovertext=[hover_text(n) + f"<br>{counts[d]} {label} at depth {d}" for d, _, n, _ in picked],
            hoverinfo="text"))
    depths = sorted({d for d, *_ in rows})
    values = [n.value for _, _, n, _ in rows if n.value is not None]
    low, high = min([0.0, *values]), max([1.0, *values])  # a PRM's values are usually, not always, in [0, 1]
    fig.update_layout(title=title, height=height, margin={"l": 50, "r": 20, "t": 40, "b": 80},
                      plot_bgcolor="white", legend={"orientation": "h", "y": -0.35},
                      xaxis={"title": "depth (step)", "tickvals": depths, "gridcolor": "#eee"},
                      yaxis={"title": "path value (ranked by)", "range": [low - 0.05, high + 0.05],
                             "gridcolor": "#eee"})
    return fig
