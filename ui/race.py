"""Race tab: 2-4 strategies on the same problem and the same budget, side by side. One generator
handler interleaves their event streams round-robin, so every tree grows live; a table compares
them at the end."""
from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from reasoning_core.run import collect, stream
from reasoning_core.search import STRATEGIES
from reasoning_core.tree import NodeAdded, SearchFinished, SearchTree

from . import models
from .common import (
    LIMITS,
    RUNS,
    TASK_CHOICES,
    build_budget,
    build_config,
    build_problem,
    example_rows,
    readable_errors,
    user_error,
    verdict,
)
from .tree_figure import Throttle, tree_figure

TAB = "race"
SLOTS = 4
SUMMARY_COLUMNS = ["strategy", "answer", "correct", "status", "tokens", "generator calls", "PRM calls", "nodes",
                   "model s", "wall s"]


def check_strategies(names: Any) -> list[str]:
    if isinstance(names, str):
        names = [names]
    names = [n for n in (names or []) if n]
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        raise user_error(f"unknown strategy {unknown[0]!r}; valid: {', '.join(STRATEGIES)}")
    if len(set(names)) != len(names):
        raise user_error("Pick each strategy once.")
    if not 2 <= len(names) <= SLOTS:
        raise user_error(f"Pick 2 to {SLOTS} strategies to race (got {len(names)}).")
    return names


def summary_row(result) -> list[Any]:
    s = result.stats
    return [result.strategy, result.answer, verdict(result.correct), result.status, s["generated_tokens"],
            s["generator_calls"], s["reward_calls"], s["nodes"], round(s["model_s"], 3), round(s["wall_s"], 3)]


def run_race(problem_text, reference, task, strategies, size, width, seed, temperature, max_tokens, max_calls,
             max_wall_s, choice, request: gr.Request | None = None):
    names = check_strategies(strategies)
    problem = build_problem(problem_text, reference, task)
    knobs = {"width": width, "seed": seed, "temperature": temperature}
    configs = {name: build_config(name, knobs, size) for name in names}
    budget = build_budget(max_tokens, max_calls, max_wall_s)
    generator, reward = models.load(choice or models.ModelChoice.from_env())
    hidden = [gr.update(visible=False, value=None)] * (SLOTS - len(names))
    with RUNS.run(request, TAB) as cancel:
        with readable_errors():
            streams = {name: stream(name, problem, generator, reward, budget, configs[name], cancel) for name in names}
        trees = {name: SearchTree() for name in names}
        logs: dict[str, list] = {name: [] for name in names}
        alive, throttle, shown_first = list(names), Throttle(0.3), False
        with readable_errors():
            while alive:
                new_node = False
                for name in list(alive):  # one event from each live stream in turn
                    event = next(streams[name], None)
                    if event is None:
                        alive.remove(name)
                        continue
                    trees[name].apply(event)
                    logs[name].append(event)
                    new_node = new_node or isinstance(event, NodeAdded)
                    if isinstance(event, SearchFinished):
                        alive.remove(name)
                if (new_node and not shown_first) or throttle.ready():
                    shown_first = shown_first or new_node
                    figs = [gr.update(visible=True, value=tree_figure(trees[name], f"{name}: searching…", height=420))
                            for name in names]
                    yield (*figs, *hidden, f"⏳ racing {', '.join(names)}…", gr.skip())
        results = [collect(name, problem, iter(logs[name])) for name in names]
    figs = [gr.update(visible=True, value=tree_figure(r.tree, f"{r.strategy}: {r.answer} {verdict(r.correct)}",
                                                      height=420)) for r in results]
    table = pd.DataFrame([summary_row(r) for r in results], columns=SUMMARY_COLUMNS)
    ref = f" · reference {problem.reference}" if problem.reference is not None else ""
    note = (f"Finished on one budget{ref}. 'model s' is time inside each strategy's own model calls; wall times "
            "overlap because the streams are interleaved.")
    yield (*figs, *hidden, note, table)



def build(models_state: gr.State) -> None:
    gr.Markdown("Race strategies on one problem and one budget: each tree grows as its search runs.")
    with gr.Row():
        with gr.Column(scale=2):
            problem = gr.Textbox(label="problem", lines=2, max_length=LIMITS.problem_chars, elem_id="race-problem")
            with gr.Row():
                reference = gr.Textbox("", label="reference answer (optional)", scale=2)
                task = gr.Dropdown(TASK_CHOICES, value="auto", label="task", scale=1)
            gr.Examples(example_rows(4), [problem, reference, task])
        with gr.Column(scale=2):
            strategies = gr.Dropdown(list(STRATEGIES), value=["best_of_n", "beam_search", "mcts"], multiselect=True,
                                     max_choices=SLOTS, label=f"strategies (2-{SLOTS})", elem_id="race-strategies")
            with gr.Row():
                size = gr.Number(8, label="size", info="each one's budget knob: N, iterations or rounds (≤ 64)",
                                 min_width=90)
                width = gr.Number(2, label="beam width", min_width=90, info="beam_search, dvts")
                seed = gr.Number(0, label="seed", min_width=90)
                temperature = gr.Textbox("", label="temperature", info="blank: each one's default", min_width=90)
            with gr.Row():
                max_tokens = gr.Number(0, label="max generated tokens (each)", info=f"0: {LIMITS.max_tokens:,}")
                max_calls = gr.Number(0, label="max generator calls (each)", info=f"0: {LIMITS.max_calls:,}")
                max_wall = gr.Number(0, label="max wall s (race-wide)", info=f"0: {LIMITS.max_wall_s:g}")
            with gr.Row():
                run_btn = gr.Button("Race", variant="primary", elem_id="race-run")
                stop_btn = gr.Button("Stop", variant="stop")
    status = gr.Markdown()
    plots = []
    for row in range(SLOTS // 2):
        with gr.Row():
            plots += [gr.Plot(visible=False, elem_id=f"race-{row * 2 + k}-tree") for k in range(2)]
    table = gr.Dataframe(pd.DataFrame(columns=SUMMARY_COLUMNS), label="summary", interactive=False)
    inputs = [problem, reference, task, strategies, size, width, seed, temperature, max_tokens, max_calls, max_wall,
              models_state]
    run_btn.click(run_race, inputs, [*plots, status, table], api_name="race", concurrency_limit=LIMITS.concurrency,
                  concurrency_id="search", trigger_mode="once")
    stop_btn.click(RUNS.stopper(TAB), None, None, api_name="stop_race", concurrency_limit=None, show_progress="hidden")
