"""Batch evaluation: strategies x sizes over a problem set -> a pandas table of accuracy against
compute, and (optionally) a plotly HTML of accuracy against generated tokens."""
from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .budget import Budget
from .protocols import Generator, RewardModel, Task
from .run import solve
from .search import Problem, SearchConfig, get_strategy, make_config
from .tasks import Example, held_out_examples

logger = logging.getLogger(__name__)
COLUMNS = ["strategy", "size", "accuracy", "mean_generated_tokens", "mean_wall_s", "n"]


@dataclass
class EvalSpec:
    """What to run: each strategy at each size (N, iterations or rounds), under one budget per search."""

    strategies: Sequence[str]
    sizes: Sequence[int]
    seed: int = 0
    overrides: dict | None = None  # strategy knobs shared by all runs (temperature, width, ...)
    budget: Budget = field(default_factory=Budget)  # the caps every search runs under

    def configs(self) -> dict[tuple[str, int], SearchConfig]:
        """Every (strategy, size) config of the run, built (and so checked) before any search starts."""
        knobs = {"seed": self.seed, **(self.overrides or {})}
        return {(s, size): make_config(s, size, **knobs) for s in self.strategies for size in self.sizes}


def draw_problems(task: str, limit: int, seed: int, pool: int = 500) -> list[Example]:
    """`limit` problems of the task's test split; `seed` picks which ones, the pool never changes."""
    if limit < 1:
        raise ValueError(f"--limit must be at least 1, got {limit}")
    examples = held_out_examples(task, max(pool, limit))
    picked = sorted(random.Random(seed).sample(range(len(examples)), limit))
    return [examples[i] for i in picked]


def evaluate(spec: EvalSpec, examples: Sequence[Example], task: Task, generator: Generator,
             reward: RewardModel | None, progress: Callable[[Iterable], Iterable] = iter,
             cancel: threading.Event | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Returns (summary per strategy and size, one row per search). Strategies without a size knob
    (greedy) run once and are reported at every size."""
    sized = {name: get_strategy(name).config_cls.size_field is not None for name in spec.strategies}
    configs, rows, cache = spec.configs(), [], {}
    jobs = [(s, size, i) for s in spec.strategies for size in spec.sizes for i in range(len(examples))]
    for strategy, size, i in progress(jobs):
        if cancel is not None and cancel.is_set():
            break
        key = (strategy, size if sized[strategy] else None, i)
        if key not in cache:
            ex = examples[i]
            result = solve(strategy, Problem(ex.problem, task, ex.reference), generator, reward, spec.budget,
                           configs[strategy, size], cancel)
            cache[key] = {"correct": bool(result.correct), "generated_tokens": result.stats["generated_tokens"],
                          "wall_s": result.stats["wall_s"], "difficulty": ex.difficulty,
                          "answer": result.answer, "reference": ex.reference}
        rows.append({"strategy": strategy, "size": size, "problem": i, **cache[key]})
    per_run = pd.DataFrame(rows, columns=["strategy", "size", "problem", "correct", "generated_tokens",
                                          "wall_s", "difficulty", "answer", "reference"])
    return summarise(per_run), per_run


def summarise(per_run: pd.DataFrame) -> pd.DataFrame:
    if per_run.empty:
        return pd.DataFrame(columns=COLUMNS)
    grouped = per_run.groupby(["strategy", "size"], sort=False)
    return pd.DataFrame({
        "accuracy": grouped["correct"].mean(),
        "mean_generated_tokens": grouped["generated_tokens"].mean(),
        "mean_wall_s": grouped["wall_s"].mean(),
        "n": grouped["correct"].size(),
    }).reset_index()[COLUMNS]


def accuracy_figure(summary: pd.DataFrame):
    """Accuracy against mean generated tokens, one line per strategy (plotly imported lazily so
    the engine itself never needs it)."""
    import plotly.express as px

    fig = px.line(summary.sort_values(["strategy", "mean_generated_tokens"]), x="mean_generated_tokens",
                  y="accuracy", color="strategy", markers=True, hover_data=["size", "n"], log_x=True,
                  labels={"mean_generated_tokens": "mean generated tokens per problem (log)"},
                  title="Accuracy against test-time compute")
    fig.update_yaxes(range=[0, 1.02])
    return fig


def write_results(summary: pd.DataFrame, per_run: pd.DataFrame, out: str | Path) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.csv", out / "runs.csv", out / "accuracy_vs_tokens.html"]
    summary.to_csv(paths[0], index=False)
    per_run.to_csv(paths[1], index=False)
    accuracy_figure(summary).write_html(paths[2], include_plotlyjs="directory")  # one plotly.min.js per folder
    return paths
