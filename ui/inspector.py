"""Node inspector: a table of every node; pick one (table row, plot click, or its id) to see its whole
path step by step; mark steps good/bad and export the marks as TRL stepwise-supervision JSONL
({"prompt", "completions", "labels"}), which `training/` reads as PRM training data."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from reasoning_core.tree import SearchTree

from .errors import user_error
from .files import scratch_file

NODE_COLUMNS = ["id", "depth", "kind", "status", "step", "PRM score", "value", "visits", "log-prob", "answer",
                "proposed"]
PATH_COLUMNS = ["step", "node", "text", "PRM score", "value", "visits", "log-prob", "tokens", "good"]
# widths that keep each header of the node table on one line (with wrapped cells, a column sized by its
# content shrinks a short header to a letter a line); the path table fits its width as it is
NODE_WIDTHS = ["44px", "64px", "64px", "84px", "200px", "92px", "64px", "64px", "80px", "72px", "88px"]

# Clicking a node in any tree plot whose elem_id ends in "-tree" writes its id into the number box
# "<prefix>-node" next to it (plotly's own click event; gr.Plot has no select event).
CLICK_JS = """
() => {
  const hook = () => {
    document.querySelectorAll('[id$="-tree"]').forEach((box) => {
      const prefix = box.id.slice(0, -5);
      box.querySelectorAll('.js-plotly-plot').forEach((plot) => {
        if (plot.__stepwiseHooked || !plot.on) return;
        plot.__stepwiseHooked = true;
        plot.on('plotly_click', (data) => {
          const point = data && data.points && data.points[0];
          if (!point || point.customdata === undefined || point.customdata === null) return;
          const input = document.querySelector('#' + prefix + '-node input');
          if (!input) return;
          input.value = String(point.customdata);
          input.dispatchEvent(new Event('input', { bubbles: true }));
          input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
        });
      });
    });
  };
  setInterval(hook, 500);
}
"""


def _round(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(float(x), digits)


def node_table(tree: SearchTree | None) -> pd.DataFrame:
    """One row per node except the root, in id order."""
    if tree is None:
        return pd.DataFrame(columns=NODE_COLUMNS)
    rows = [[n.id, n.depth, n.kind, n.status, n.text, _round(n.score), _round(n.value), n.visits,
             _round(n.logprob, 2), n.answer or "", n.count] for n in tree.nodes.values() if n.parent is not None]
    return pd.DataFrame(rows, columns=NODE_COLUMNS)


def path_table(tree: SearchTree, node_id: int) -> pd.DataFrame:
    """The path from the first step to `node_id`; `good` starts as the PRM's opinion (score >= 0.5)."""
    rows = [[k, n.id, n.text, _round(n.score), _round(n.value), n.visits, _round(n.logprob, 2), n.num_tokens,
             n.score is None or n.score >= 0.5] for k, n in enumerate(tree.path(node_id), 1)]
    return pd.DataFrame(rows, columns=PATH_COLUMNS)


def path_scores_figure(tree: SearchTree | None, node_id: int | None):
    """The path's step scores as bars (red to green as in the tree), the path value as a line: where
    the PRM lost confidence in this chain."""
    import plotly.graph_objects as go

    from .tree_figure import COLORSCALE

    path = tree.path(node_id) if tree is not None and node_id is not None else []
    fig = go.Figure(go.Bar(x=[f"{k}" for k in range(1, len(path) + 1)], y=[n.score or 0.0 for n in path],
                           marker={"color": [n.score or 0.0 for n in path], "colorscale": COLORSCALE, "cmin": 0,
                                   "cmax": 1}, name="step score",
                           hovertext=[n.text for n in path], customdata=[n.id for n in path]))
    fig.add_trace(go.Scatter(x=[f"{k}" for k in range(1, len(path) + 1)], y=[n.value for n in path],
                             mode="lines+markers", name="path value", line={"color": "#333", "width": 1.5}))
    fig.update_layout(height=220, margin={"l": 40, "r": 10, "t": 30, "b": 30}, plot_bgcolor="white",
                      title={"text": f"step scores to node {node_id}" if path else "step scores", "font": {"size": 13}},
                      yaxis={"range": [0, 1.05], "gridcolor": "#eee"}, xaxis={"title": None}, showlegend=False)
    return fig


def path_header(result, node_id: int) -> str:
    node = result.tree[node_id]
    answer = f" · states the answer **{node.answer}**" if node.answer is not None else ""
    return (f"**Path to node {node_id}** ({node.depth} steps, {node.status}{answer}) for: "
            f"_{result.problem.text[:300]}_")


def resolve_node(result, node_id: Any) -> int:
    if result is None:
        raise user_error("Run a search first; then pick a node.")
    try:
        node_id = int(float(node_id))
    except (TypeError, ValueError):
        raise user_error(f"A node id is a whole number, got {node_id!r}") from None
    if node_id not in result.tree.nodes:
        raise user_error(f"There is no node {node_id}; this tree has ids 0 to {len(result.tree) - 1}.")
    if node_id == 0:
        raise user_error("Node 0 is the root (the problem itself); pick a step.")
    return node_id


def _as_bool(x: Any) -> bool:
    if isinstance(x, str):
        return x.strip().lower() in ("true", "1", "yes", "good", "✓")
    return bool(x)


def stepwise_row(result, node_id: int, table: pd.DataFrame | None) -> dict[str, Any]:
    """TRL stepwise supervision for one path; labels from the (edited) `good` column."""
    steps = result.tree.steps(node_id)
    if table is None or len(table) != len(steps) or "good" not in table:
        raise user_error("The path table does not match the selected node; select the node again.")
    row: dict[str, Any] = {"prompt": result.problem.text, "completions": steps,
                           "labels": [_as_bool(x) for x in table["good"].tolist()]}
    if result.problem.reference is not None:
        row["reference"] = result.problem.reference
    return row


def write_jsonl(rows: list[dict[str, Any]]) -> str:
    if not rows:
        raise user_error("No labelled paths yet: select a node, tick good/bad, then 'Add path to labels'.")
    path = scratch_file("step-labels.jsonl")
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@dataclass
class Inspector:
    node_table: gr.Dataframe
    node_id: gr.Number
    selection: list[gr.Component]  # what picking a node updates: `shown(result, node_id)` fills them


def shown(result, node_id: int | None) -> tuple[Any, ...]:
    """Values for `Inspector.selection` (id box, path header, path table, selected id, score chart) with
    `node_id` picked; after a search the Explorer picks the chosen leaf."""
    if node_id is None:
        return None, "", pd.DataFrame(columns=PATH_COLUMNS), None, path_scores_figure(None, None)
    return (node_id, path_header(result, node_id), path_table(result.tree, node_id), node_id,
            path_scores_figure(result.tree, node_id))


def build(result: gr.State, prefix: str) -> Inspector:
    """The inspector under a tree plot whose gr.Plot has elem_id f"{prefix}-tree"; `result` holds the
    SearchResult it inspects."""
    gr.Markdown("#### Node inspector — click a node in the plot or a row of the table")
    with gr.Row():
        with gr.Column(scale=3):
            nodes = gr.Dataframe(node_table(None), label="nodes", interactive=False, max_height=320, wrap=True,
                                 column_widths=NODE_WIDTHS, elem_id=f"{prefix}-nodes")
        with gr.Column(scale=2):
            node_id = gr.Number(label="node id", precision=0, elem_id=f"{prefix}-node",
                                info="click a node, a table row, or type an id and press Enter")
            header = gr.Markdown(elem_id=f"{prefix}-path-header")
            scores = gr.Plot(path_scores_figure(None, None), label="step scores of the path", show_label=False,
                             elem_id=f"{prefix}-scores")
    path = gr.Dataframe(pd.DataFrame(columns=PATH_COLUMNS), label="path (tick or untick 'good' to label each step)",
                        interactive=True, static_columns=list(range(len(PATH_COLUMNS) - 1)), wrap=True,
                        datatype=["number", "number", "str", "number", "number", "number", "number", "number", "bool"],
                        elem_id=f"{prefix}-path")
    marks = gr.State([])
    selected = gr.State(None)
    with gr.Row():
        add = gr.Button("Add path to labels", elem_id=f"{prefix}-add-labels")
        export = gr.Button("Export labels (JSONL)", elem_id=f"{prefix}-export-labels")
        marks_md = gr.Markdown("0 labelled paths", elem_id=f"{prefix}-marks")
    labels_file = gr.File(label="stepwise labels (TRL JSONL)", visible=False, interactive=False,
                          elem_id=f"{prefix}-labels-file")
    gr.Markdown("<small>Train a PRM on exported labels: `python -m training prm --parent assets/generator "
                "--labels step-labels.jsonl --out runs/my-prm`, then load `runs/my-prm` as the reward model."
                "</small>")

    def show(res, value):
        return shown(res, resolve_node(res, value))

    def pick_row(res, evt: gr.SelectData):
        row = evt.row_value if evt.row_value else None
        value = row[0] if row else None
        if value is None and res is not None:
            value = node_table(res.tree).iloc[evt.index[0]]["id"]
        return show(res, value)

    def show_quiet(res, value):  # typing or a plot click: ignore ids that do not exist (yet)
        try:
            return show(res, value)
        except gr.Error:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()

    outs = [node_id, header, path, selected, scores]
    nodes.select(pick_row, [result], outs, api_visibility="private")
    node_id.submit(show, [result, node_id], outs, api_name=f"{prefix}_node")
    node_id.input(show_quiet, [result, node_id], outs, api_visibility="private", trigger_mode="always_last",
                  show_progress="hidden")

    def add_marks(res, nid, table, rows):
        if res is None or nid is None:
            raise user_error("Select a node first.")
        row = stepwise_row(res, nid, table)
        rows = [r for r in rows if (r["prompt"], r["completions"]) != (row["prompt"], row["completions"])] + [row]
        return rows, f"{len(rows)} labelled path{'s' if len(rows) != 1 else ''}"

    add.click(add_marks, [result, selected, path, marks], [marks, marks_md], api_visibility="private")
    export.click(lambda rows: gr.update(value=write_jsonl(rows), visible=True), [marks], [labels_file],
                 api_visibility="private")
    return Inspector(nodes, node_id, outs)
