"""Explorer tab: one problem, one strategy; the search tree grows live, then the answer, its grade,
the budget used, and a node inspector. Run is a generator over the core's event stream."""
from __future__ import annotations

from typing import Any

import gradio as gr

from reasoning_core.run import collect, stream
from reasoning_core.search import STRATEGIES
from reasoning_core.tree import NodeAdded, SearchFinished, SearchTree

from . import inspector, models, replay
from .decisions import decision_figure
from .errors import readable_errors
from .inputs import (
    SHARED,
    STRATEGY_KNOBS,
    budget_inputs,
    build_budget,
    build_config,
    build_problem,
    knob_inputs,
    knob_updates,
    problem_inputs,
)
from .limits import LIMITS
from .sessions import RUNS
from .summary import coverage_note, summary_dict, summary_markdown
from .tree_figure import COMPACT_ABOVE, Throttle, tree_figure

TAB = "explorer"
STREAMING_SKIPS = 5 + len(inspector.shown(None, None))  # outputs a streamed frame leaves alone
FIRST = "beam_search"


def run_search(request: gr.Request | None = None, **values: Any):
    """Stream one search: a figure per throttled frame (the first node at once), then the result.
    `values` are the form's inputs by name: problem_text, reference, task, strategy, every knob (those
    the strategy lacks are ignored), the budget caps and the session's model choice."""
    strategy = values["strategy"]
    problem = build_problem(values["problem_text"], values.get("reference"), values.get("task"))
    config = build_config(strategy, values)
    budget = build_budget(values)
    generator, reward = models.load(values.get("choice") or models.ModelChoice.from_env())
    note = coverage_note(problem.text, generator)
    folded = None if values.get("fold", True) else False  # None: fold only trees too big to read
    with RUNS.run(request, TAB) as cancel, readable_errors():
        events = stream(strategy, problem, generator, reward, budget, config, cancel)
        tree, log, throttle, seen_node = SearchTree(), [], Throttle(0.25), False
        for event in events:
            tree.apply(event)
            log.append(event)
            if isinstance(event, SearchFinished):
                break
            first = isinstance(event, NodeAdded) and not seen_node
            seen_node = seen_node or isinstance(event, NodeAdded)
            if first or throttle.ready():
                tokens = sum(node.num_tokens for node in tree.nodes.values())
                yield (tree_figure(tree, f"{strategy}: searching…", folded=folded),
                       f"{note}⏳ **{strategy}** running… {len(tree) - 1} nodes, {tokens} tokens",
                       *[gr.skip()] * STREAMING_SKIPS)
        result = collect(strategy, problem, iter(log))
    title = f"{strategy}: answer {result.answer} ({result.status})"
    yield (tree_figure(result.tree, title, folded=folded), note + summary_markdown(result), summary_dict(result),
           inspector.node_table(result.tree), result,
           gr.update(value=replay.save_result(result), interactive=True),
           decision_figure(result.tree, f"{strategy}: the candidates of each depth, kept or pruned"),
           *inspector.shown(result, result.leaf_id))


VERIFIER_ROLE = {"required": "steered by the reward model", "display": "shows the reward model's scores",
                 "unused": "no reward model (a verifier-free baseline)"}


def strategy_note(name: str) -> str:
    """What the picked strategy does, from its docstring, and how it uses the reward model."""
    strategy = STRATEGIES[name]
    return f"<small>{strategy.summary} *({VERIFIER_ROLE[strategy.reward]})*</small>"


def build(models_state: gr.State, last_search: gr.State | None = None) -> dict[str, gr.Component]:
    """The tab; returns its Run inputs by handler keyword (every knob of every strategy has one).
    `last_search` receives each finished search (the Replay tab plays it)."""
    result_state = last_search if last_search is not None else gr.State(None)
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            form = problem_inputs(TAB, examples=3)
            form["strategy"] = gr.Dropdown(list(STRATEGIES), value=FIRST, label="strategy", elem_id="explorer-strategy")
            about = gr.Markdown(strategy_note(FIRST), elem_id="explorer-strategy-doc")
            with gr.Accordion("knobs", open=True):
                with gr.Row():  # the strategy's own knobs
                    knobs = knob_inputs([name for name in STRATEGY_KNOBS if name not in SHARED], TAB, FIRST)
                with gr.Row():  # the ones every strategy has
                    knobs |= knob_inputs(SHARED, TAB, FIRST)
            form |= knobs
            with gr.Accordion("budget (a search stops cleanly at the first cap)", open=False), gr.Row():
                form |= budget_inputs(TAB)
            with gr.Row():
                run_btn = gr.Button("Run", variant="primary", elem_id="explorer-run")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="explorer-stop")
        with gr.Column(scale=3):
            summary = gr.Markdown("Pick a problem and a strategy, then **Run**.", elem_id="explorer-summary")
            plot = gr.Plot(tree_figure(SearchTree(), "the tree grows here"), label="search tree",
                           elem_id="explorer-tree")
            form["fold"] = gr.Checkbox(True, label=f"fold big trees (over {COMPACT_ABOVE} nodes: pruned and rarely "
                                       "visited subtrees become one grey node)", elem_id="explorer-fold")
            insp = inspector.build(result_state, prefix=TAB)  # beside the tree it explains
            with gr.Accordion("decisions per depth: each candidate's score, kept or pruned (beam search, DVTS, "
                              "best-of-N)", open=False):
                decisions = gr.Plot(decision_figure(SearchTree()), label="decisions", elem_id="explorer-decisions")
            with gr.Accordion("result (JSON)", open=False):
                result_json = gr.JSON(label="result")
            save = gr.DownloadButton("Download this search (JSON, replayable)", value=None, interactive=False,
                                     size="sm", elem_id="explorer-save")

    def show_knobs(strategy: str) -> dict[gr.Component, dict]:
        return {knobs[name]: update for name, update in knob_updates(strategy).items()} | {
            about: gr.update(value=strategy_note(strategy))}

    form["strategy"].change(show_knobs, [form["strategy"]], [*knobs.values(), about], api_visibility="private")
    def refold(result, fold: bool):
        if result is None:
            return gr.skip()
        return tree_figure(result.tree, f"{result.strategy}: answer {result.answer} ({result.status})",
                           folded=None if fold else False)

    form["fold"].input(refold, [result_state, form["fold"]], [plot], api_visibility="private")
    form["choice"] = models_state
    outputs = [plot, summary, result_json, insp.node_table, result_state, save, decisions, *insp.selection]
    # progress (and an error) show on the summary line alone, not as a badge on every output
    run_btn.click(run_search, inputs_kwargs=form, outputs=outputs, api_name="solve", show_progress_on=[summary],
                  concurrency_limit=LIMITS.concurrency, concurrency_id="search", trigger_mode="once")
    stop_btn.click(RUNS.stopper(TAB), None, None, api_name="stop", concurrency_limit=None, show_progress="hidden")
    return form
