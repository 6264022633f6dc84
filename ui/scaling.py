"""Scaling tab: accuracy against test-time compute. Run a small evaluation here (with a progress bar),
or load the results.csv that `python -m reasoning_core eval` wrote; both plot accuracy against mean
generated tokens per strategy with `reasoning_core.eval.accuracy_figure`."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from reasoning_core.eval import COLUMNS, EvalSpec, accuracy_figure, draw_problems, evaluate, write_results
from reasoning_core.knobs import Knob
from reasoning_core.search import CONFIGS, STRATEGIES, get_strategy
from reasoning_core.tasks import get_task

from . import models
from .errors import readable_errors, user_error
from .files import scratch_file, uploaded
from .inputs import STRATEGY_KNOBS, build_config, knob_input
from .limits import LIMITS
from .sessions import RUNS

TAB = "scaling"
MAX_CSV_BYTES = 5_000_000
PROBLEMS = Knob("limit", int, 10, "problems", "held-out arith problems", low=1, high=LIMITS.eval_problems)


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(b) for b in str(text).replace(" ", "").split(",") if b})
    except ValueError:
        raise user_error(f"Sizes are comma-separated whole numbers such as 1,4,16; got {text!r}") from None
    if not sizes or sizes[0] < 1 or sizes[-1] > LIMITS.knobs["n"]:
        raise user_error(f"Give sizes between 1 and {LIMITS.knobs['n']:g}, e.g. 1,4,16 (got {text!r}).")
    return sizes


def run_eval(strategies, sizes_text, limit, seed, choice, request: gr.Request | None = None,
             progress=gr.Progress()):  # noqa: B008 - gradio injects the progress tracker this way
    """Evaluate on held-out arith problems; returns (figure, summary table, results.csv, status)."""
    names = [s for s in (strategies or []) if s]
    if not names:
        raise user_error("Pick at least one strategy.")
    with readable_errors():
        for name in names:
            get_strategy(name)
        limit = PROBLEMS.default if limit is None else PROBLEMS.check(limit)
        seed = STRATEGY_KNOBS["seed"].default if seed is None else STRATEGY_KNOBS["seed"].check(seed)
    sizes = parse_sizes(sizes_text)
    searches = sum(len(sizes) if CONFIGS[s].size_field else 1 for s in names) * limit
    if searches > LIMITS.eval_searches:
        raise user_error(f"That is {searches} searches; the limit here is {LIMITS.eval_searches}. "
                         "Use fewer problems, sizes or strategies (or the command line).")
    for name in names:
        build_config(name, {"seed": seed}, max(sizes))  # bad combinations fail before any work
    generator, reward = models.load(choice or models.ModelChoice.from_env())
    with RUNS.run(request, TAB) as cancel, readable_errors():
        examples = draw_problems("arith", limit, seed)
        spec = EvalSpec(names, sizes, seed)
        summary, per_run = evaluate(spec, examples, get_task("arith"), generator, reward,
                                    progress=lambda jobs: progress.tqdm(jobs, desc="searches"), cancel=cancel)
        stopped = cancel.is_set()
    out = scratch_file("eval")
    paths = write_results(summary, per_run, out)
    note = " (stopped early: partial results)" if stopped else ""
    return (accuracy_figure(summary), summary.round(4), str(paths[0]),
            f"{len(per_run)} searches on {limit} held-out arith problems{note}.")


def load_csv(path: str | None):
    p = uploaded(path, "a results.csv", MAX_CSV_BYTES)
    try:
        summary = pd.read_csv(p)
    except Exception as err:
        raise user_error(f"Could not read the CSV: {err}") from None
    summary = summary.rename(columns={"budget": "size"})  # results written before sizes had their name
    missing = [c for c in ("strategy", "size", "accuracy", "mean_generated_tokens") if c not in summary.columns]
    if missing:
        raise user_error(f"This is not a results.csv from `python -m reasoning_core eval`: missing columns "
                         f"{', '.join(missing)} (expected {', '.join(COLUMNS)}).")
    if summary.empty:
        raise user_error("The CSV has no rows.")
    for column in ("n",):
        if column not in summary.columns:
            summary[column] = float("nan")
    with readable_errors():
        fig = accuracy_figure(summary)
    return fig, summary.round(4), gr.skip(), f"Loaded {len(summary)} rows from {p.name}."



def build(models_state: gr.State) -> None:
    gr.Markdown("How accuracy grows with compute. A strategy's size is its N (samples / beam candidates), MCTS "
                "iterations or revision rounds; greedy runs once. Bigger sweeps belong on the command line: "
                "`python -m reasoning_core eval --strategies greedy,best_of_n,beam_search --sizes 1,4,16 "
                "--limit 50`.")
    with gr.Row():
        with gr.Column():
            strategies = gr.CheckboxGroup(list(STRATEGIES), value=["greedy", "best_of_n", "beam_search"],
                                          label="strategies")
            with gr.Row():
                sizes = gr.Textbox("1,4,16", label="sizes", info=f"comma-separated, ≤ {LIMITS.knobs['n']:g}")
                limit = knob_input(PROBLEMS, f"{TAB}-limit")
                seed = knob_input(STRATEGY_KNOBS["seed"], f"{TAB}-seed")
            with gr.Row():
                run_btn = gr.Button("Run evaluation", variant="primary")
                stop_btn = gr.Button("Stop", variant="stop")
        with gr.Column():
            upload = gr.File(label="…or load a results.csv", file_types=[".csv"], type="filepath")
            load_btn = gr.Button("Plot CSV")
    status = gr.Markdown()
    plot = gr.Plot(label="accuracy vs generated tokens")
    table = gr.Dataframe(label="summary", interactive=False)
    csv_out = gr.File(label="results.csv", interactive=False)
    run_btn.click(run_eval, [strategies, sizes, limit, seed, models_state], [plot, table, csv_out, status],
                  api_name="eval", concurrency_limit=LIMITS.concurrency, concurrency_id="search", trigger_mode="once")
    load_btn.click(load_csv, [upload], [plot, table, csv_out, status], api_name="plot_csv")
    stop_btn.click(RUNS.stopper(TAB), None, None, api_name="stop_eval", concurrency_limit=None, show_progress="hidden")
