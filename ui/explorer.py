"""Explorer tab: one problem, one strategy; the search tree grows live, then the answer, its grade,
the budget used, and a node inspector. Run is a generator over the core's event stream."""
from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any

import gradio as gr

from reasoning_core.protocols import AGGREGATIONS
from reasoning_core.run import collect, stream
from reasoning_core.search import CONFIGS, STRATEGIES
from reasoning_core.tree import NodeAdded, SearchFinished, SearchTree

from . import inspector, models, replay
from .common import (
    LIMITS,
    RUNS,
    TASK_CHOICES,
    build_budget,
    build_config,
    build_problem,
    example_rows,
    readable_errors,
    strategy_knobs,
    summary_dict,
    summary_markdown,
)
from .tree_figure import Throttle, tree_figure

TAB = "explorer"
FIRST = "beam_search"
# (name, label, info) of the knobs in run_search's parameter order; each shows only for the strategies
# whose config has it, starting at that strategy's default.
KNOBS = [
    ("n", "N", f"samples / candidates per step (≤ {LIMITS.n})"),
    ("width", "beam width", "beams kept per step (≤ N)"),
    ("iterations", "iterations", f"MCTS / rStar (≤ {LIMITS.iterations})"),
    ("expansion_width", "expansion width", f"MCTS children per expansion (≤ {LIMITS.expansion_width})"),
    ("c_puct", "c_puct", "exploration constant"),
    ("rollout_depth", "rollout depth", "greedy rollout steps for values (0: PRM only)"),
    ("per_action", "samples per action", "rStar"),
    ("rounds", "revision rounds", "revise"),
    ("candidates", "candidates", "replacements per revision"),
    ("temperature", "temperature", "blank: the strategy's default"),
    ("seed", "seed", "same seed, same tree"),
    ("max_steps", "max steps", f"depth cap of a chain (≤ {LIMITS.max_steps})"),
]


def knob_default(name: str, strategy: str | None = None) -> Any:
    """The knob's default in `strategy`'s config, else in the first config that has it."""
    for cls in ([CONFIGS[strategy]] if strategy in CONFIGS else []) + list(CONFIGS.values()):
        for f in fields(cls):
            if f.name == name and f.default is not MISSING:
                return f.default
    return None


def knob_updates(strategy: str) -> list[dict]:
    """Show only the knobs the chosen strategy's config has (read from its dataclass), each at that
    strategy's default; temperature stays blank with the default as its hint (greedy samples at 0)."""
    known = strategy_knobs(strategy) if strategy in CONFIGS else set()
    return ([gr.update(placeholder=temperature_hint(strategy)) if name == "temperature" else
             gr.update(visible=name in known, value=knob_default(name, strategy)) for name, _, _ in KNOBS]
            + [gr.update(visible="weighted" in known)])


def temperature_hint(strategy: str) -> str:
    return f"{knob_default('temperature', strategy):g} (default)"


def temperature_box(strategy: str, label: str, info: str) -> gr.Textbox:
    """A text box, so that blank (the strategy's own default, e.g. 0 for greedy) stays distinct from 0."""
    return gr.Textbox("", label=label, info=info, placeholder=temperature_hint(strategy), min_width=110,
                      max_lines=1, elem_id="explorer-temperature")


def run_search(problem_text, reference, task, strategy, n, width, iterations, expansion_width, c_puct, rollout_depth,
               per_action, rounds, candidates, temperature, seed, max_steps, weighted, aggregation, max_tokens,
               max_calls, max_wall_s, choice, request: gr.Request | None = None):
    """Stream one search: a figure per throttled frame (the first node at once), then the result.
    The knob parameters follow KNOBS' order."""
    knobs = {"n": n, "width": width, "iterations": iterations, "expansion_width": expansion_width, "c_puct": c_puct,
             "rollout_depth": rollout_depth, "per_action": per_action, "rounds": rounds, "candidates": candidates,
             "temperature": temperature, "seed": seed, "max_steps": max_steps, "weighted": weighted,
             "aggregation": aggregation}
    problem = build_problem(problem_text, reference, task)
    config = build_config(strategy, knobs)
    budget = build_budget(max_tokens, max_calls, max_wall_s)
    generator, reward = models.load(choice or models.ModelChoice.from_env())
    with RUNS.run(request, TAB) as cancel:
        with readable_errors():
            events = stream(strategy, problem, generator, reward, budget, config, cancel)
        tree, log, throttle, seen_node = SearchTree(), [], Throttle(0.25), False
        with readable_errors():
            for event in events:
                tree.apply(event)
                log.append(event)
                if isinstance(event, SearchFinished):
                    break
                first = isinstance(event, NodeAdded) and not seen_node
                seen_node = seen_node or isinstance(event, NodeAdded)
                if first or throttle.ready():
                    tokens = sum(node.num_tokens for node in tree.nodes.values())
                    yield (tree_figure(tree, f"{strategy}: searching…"),
                           f"⏳ **{strategy}** running… {len(tree) - 1} nodes, {tokens} tokens",
                           gr.skip(), gr.skip(), gr.skip(), gr.skip())
        result = collect(strategy, problem, iter(log))
    title = f"{strategy}: answer {result.answer} ({result.status})"
    yield (tree_figure(result.tree, title), summary_markdown(result), summary_dict(result),
           inspector.node_table(result.tree), result,
           gr.update(value=replay.save_result(result), interactive=True))


def build(models_state: gr.State) -> None:
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            problem = gr.Textbox(label="problem", lines=3, max_length=LIMITS.problem_chars, elem_id="explorer-problem",
                                 placeholder="e.g. 17 + 25 * 3 - 40  (left to right), or a word problem")
            with gr.Row():
                reference = gr.Textbox("", label="reference answer (optional)", scale=2,
                                       info="arith problems are graded without one")
                task = gr.Dropdown(TASK_CHOICES, value="auto", label="task", scale=1,
                                   info="auto: arith if it parses")
            gr.Examples(example_rows(), [problem, reference, task], label="examples (arith, then GSM8K / MATH style)",
                        examples_per_page=5)
            strategy = gr.Dropdown(list(STRATEGIES), value=FIRST, label="strategy", elem_id="explorer-strategy")
            with gr.Accordion("knobs", open=True):
                with gr.Row():
                    shown = strategy_knobs(FIRST)
                    knob_boxes = [temperature_box(FIRST, label, info) if name == "temperature" else
                                  gr.Number(knob_default(name, FIRST), label=label, info=info, min_width=110,
                                            visible=name in shown, elem_id=f"explorer-{name}")
                                  for name, label, info in KNOBS]
                with gr.Row():
                    weighted = gr.Checkbox(False, label="weighted vote", info="best_of_n / dvts", visible=False)
                    aggregation = gr.Dropdown(list(AGGREGATIONS), value="min", label="step-score aggregation")
            with gr.Accordion("budget (a search stops cleanly at the first cap)", open=False), gr.Row():
                max_tokens = gr.Number(0, label="max generated tokens", info=f"0: {LIMITS.max_tokens:,}")
                max_calls = gr.Number(0, label="max generator calls", info=f"0: {LIMITS.max_calls:,}")
                max_wall = gr.Number(0, label="max wall s", info=f"0: {LIMITS.max_wall_s:g} (the cap)")
            with gr.Row():
                run_btn = gr.Button("Run", variant="primary", elem_id="explorer-run")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="explorer-stop")
        with gr.Column(scale=3):
            summary = gr.Markdown("Pick a problem and a strategy, then **Run**.", elem_id="explorer-summary")
            plot = gr.Plot(tree_figure(SearchTree(), "the tree grows here"), label="search tree",
                           elem_id="explorer-tree")
            with gr.Accordion("result (JSON)", open=False):
                result_json = gr.JSON(label="result")
            save = gr.DownloadButton("Download this search (JSON, replayable)", value=None, interactive=False,
                                     size="sm", elem_id="explorer-save")
    result_state = gr.State(None)
    insp = inspector.build(result_state, prefix=TAB)

    strategy.change(knob_updates, [strategy], knob_boxes + [weighted], api_visibility="private")
    inputs = [problem, reference, task, strategy, *knob_boxes, weighted, aggregation, max_tokens, max_calls, max_wall,
              models_state]
    outputs = [plot, summary, result_json, insp.node_table, result_state, save]
    run_btn.click(run_search, inputs, outputs, api_name="solve",
                  concurrency_limit=LIMITS.concurrency, concurrency_id="search", trigger_mode="once")
    stop_btn.click(RUNS.stopper(TAB), None, None, api_name="stop", concurrency_limit=None, show_progress="hidden")
