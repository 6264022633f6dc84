"""Race tab: 2-4 strategies on the same problem and the same budget, side by side. One generator
handler interleaves their event streams round-robin, so every tree grows live; a table compares
them at the end."""
from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from reasoning_core.run import SearchResult, collect, stream
from reasoning_core.search import CONFIGS, STRATEGIES, get_strategy
from reasoning_core.tree import NodeAdded, SearchFinished, SearchTree

from . import models
from .errors import readable_errors, user_error
from .inputs import (
    SHARED,
    budget_inputs,
    build_budget,
    build_config,
    build_problem,
    knob_inputs,
    problem_inputs,
    range_hint,
    strategy_knobs,
)
from .limits import LIMITS
from .sessions import RUNS
from .summary import coverage_note, verdict
from .tree_figure import Throttle, tree_figure

TAB = "race"
SLOTS = 4
SUMMARY_COLUMNS = ["strategy", "answer", "correct", "status", "tokens", "generator calls", "reward calls", "nodes",
                   "model s", "wall s"]
# Raced strategies share the knobs every strategy has, and the beam width of the beam strategies.
RACE_KNOBS = ["width", *SHARED]


def size_info() -> str:
    """What `size` sets in each strategy (its `size_field`), and the range each of those knobs has here."""
    ranges = {f"{k.label} {range_hint(k)}" for name, cls in CONFIGS.items() if cls.size_field
              for k in [strategy_knobs(name)[cls.size_field]]}
    return "each strategy's own scale knob: " + ", ".join(sorted(ranges))


def check_strategies(names: Any) -> list[str]:
    if isinstance(names, str):
        names = [names]
    names = [n for n in (names or []) if n]
    with readable_errors():
        for name in names:
            get_strategy(name)
    if len(set(names)) != len(names):
        raise user_error("Pick each strategy once.")
    if not 2 <= len(names) <= SLOTS:
        raise user_error(f"Pick 2 to {SLOTS} strategies to race (got {len(names)}).")
    return names


def summary_row(result: SearchResult) -> list[Any]:
    s = result.stats
    return [result.strategy, result.answer, verdict(result.correct), result.status, s["generated_tokens"],
            s["generator_calls"], s["reward_calls"], s["nodes"], round(s["model_s"], 3), round(s["wall_s"], 3)]


METER_CELLS = 24


def token_meters(tokens: dict[str, int], cap: int | None, done: set[str] = frozenset()) -> str:
    """One bar per strategy: tokens generated so far against the budget's token cap (each strategy's own
    cap; without one, against the hungriest strategy)."""
    scale = cap or max(1, *tokens.values())
    lines = []
    for name, used in tokens.items():
        full = min(METER_CELLS, round(METER_CELLS * used / scale))
        limit = f" / {cap:,}" if cap else ""
        state = " ✓" if name in done else ""
        lines.append(f"`{'█' * full}{'░' * (METER_CELLS - full)}` **{name}** {used:,}{limit} tokens{state}")
    return "  \n".join(lines)


def tree_tokens(tree: SearchTree) -> int:
    """Tokens generated for the tree's nodes so far (a merged node was generated `count` times)."""
    return sum(n.num_tokens * n.count for n in tree.nodes.values())


def run_race(request: gr.Request | None = None, **values: Any):
    """Race the chosen strategies, their trees growing side by side. `values` are the form's inputs by
    name: problem_text, reference, task, strategies, size, the shared knobs, the budget caps (each
    strategy gets them all) and the session's model choice."""
    names = check_strategies(values["strategies"])
    problem = build_problem(values["problem_text"], values.get("reference"), values.get("task"))
    configs = {name: build_config(name, values, values.get("size")) for name in names}
    budget = build_budget(values)
    generator, reward = models.load(values.get("choice") or models.ModelChoice.from_env())
    hidden = [gr.update(visible=False, value=None)] * (SLOTS - len(names))
    warning = coverage_note(problem.text, generator)
    with RUNS.run(request, TAB) as cancel, readable_errors():
        streams = {name: stream(name, problem, generator, reward, budget, configs[name], cancel) for name in names}
        trees = {name: SearchTree() for name in names}
        logs: dict[str, list] = {name: [] for name in names}
        alive, throttle, shown_first = list(names), Throttle(0.3), False
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
                meters = token_meters({n: tree_tokens(trees[n]) for n in names}, budget.max_tokens,
                                      done=set(names) - set(alive))
                yield (*figs, *hidden, f"{warning}⏳ racing {', '.join(names)}…\n\n{meters}", gr.skip())
        results = [collect(name, problem, iter(logs[name])) for name in names]
    figs = [gr.update(visible=True, value=tree_figure(r.tree, f"{r.strategy}: {r.answer} {verdict(r.correct)}",
                                                      height=420)) for r in results]
    table = pd.DataFrame([summary_row(r) for r in results], columns=SUMMARY_COLUMNS)
    ref = f" · reference {problem.reference}" if problem.reference is not None else ""
    meters = token_meters({r.strategy: r.stats["generated_tokens"] for r in results}, budget.max_tokens,
                          done=set(names))
    note = (f"{warning}Finished on one budget{ref}. 'model s' is time inside each strategy's own model calls; "
            f"wall times overlap because the streams are interleaved.\n\n{meters}")
    yield (*figs, *hidden, note, table)


def build(models_state: gr.State) -> dict[str, gr.Component]:
    """The tab; returns its Race inputs by handler keyword."""
    gr.Markdown("Race strategies on one problem and one budget: each tree grows as its search runs.")
    with gr.Row():
        with gr.Column(scale=2):
            form = problem_inputs(TAB, examples=2, lines=2)
        with gr.Column(scale=2):
            form["strategies"] = gr.Dropdown(list(STRATEGIES), value=["best_of_n", "beam_search", "mcts"],
                                             multiselect=True, max_choices=SLOTS, label=f"strategies (2-{SLOTS})",
                                             elem_id="race-strategies")
            with gr.Row():
                form["size"] = gr.Number(8, label="size", info=size_info(), min_width=110, elem_id="race-size")
                form |= knob_inputs(RACE_KNOBS, TAB)
            with gr.Accordion("budget: each strategy's caps", open=False), gr.Row():
                form |= budget_inputs(TAB)
            with gr.Row():
                run_btn = gr.Button("Race", variant="primary", elem_id="race-run")
                stop_btn = gr.Button("Stop", variant="stop")
    status = gr.Markdown()
    plots = []
    for row in range(SLOTS // 2):
        with gr.Row():
            plots += [gr.Plot(visible=False, elem_id=f"race-{row * 2 + k}-tree") for k in range(2)]
    table = gr.Dataframe(pd.DataFrame(columns=SUMMARY_COLUMNS), label="summary", interactive=False)
    form["choice"] = models_state
    run_btn.click(run_race, inputs_kwargs=form, outputs=[*plots, status, table], api_name="race",
                  concurrency_limit=LIMITS.concurrency, concurrency_id="search", trigger_mode="once")
    stop_btn.click(RUNS.stopper(TAB), None, None, api_name="stop_race", concurrency_limit=None, show_progress="hidden")
    return form
