"""Batch evaluation: strategies x sizes over a problem set -> a pandas table of accuracy against
compute, and (optionally) a plotly HTML of accuracy against generated tokens. A run can be split into
shards that run apart and merge into the same tables (`shards.py`)."""
from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .budget import Budget
from .protocols import Generator, RewardModel, Task
from .run import SearchResult, solve
from .search import Problem, SearchConfig, get_strategy, make_config
from .tasks import Example, held_out_examples
from .tree import Node

logger = logging.getLogger(__name__)
COLUMNS = ["strategy", "size", "accuracy", "reached", "mean_generated_tokens", "mean_wall_s", "n", "pooled"]
"""results.csv; `reached` is the share of searches whose tree holds a finished chain with the right answer,
what a perfect verifier picking among them would score (pass@N for best-of-N): a strategy whose accuracy
is far below it loses the answer in the choice, not in the sampling."""
RUN_COLUMNS = ["strategy", "size", "problem", "correct", "reached", "generated_tokens", "wall_s", "difficulty",
               "answer", "reference", "pooled"]
SERVER_COLUMNS = ["model", "server", "requests", "prompts", "failures", "outstanding", "up", "error"]
"""servers.csv: per server of a pool, which model it serves ("generator" or "reward"), what it was sent
(requests, and the prompts or the scored texts in them), failures, requests in flight, and up or down."""


@dataclass
class EvalSpec:
    """What to run: each strategy at each size (N, iterations or rounds), under one budget per search."""

    strategies: Sequence[str]
    sizes: Sequence[int]
    seed: int = 0
    overrides: dict | None = None  # strategy knobs shared by all runs (temperature, width, ...)
    budget: Budget = field(default_factory=Budget)  # the caps every search runs under
    # strategies whose chains are independent samples (best-of-N, majority and weighted vote) run once at
    # the largest size; each smaller size is estimated from `resamples` random subsets of that pool
    pool: bool = False
    resamples: int = 32

    def configs(self) -> dict[tuple[str, int], SearchConfig]:
        """Every (strategy, size) config of the run, built (and so checked) before any search starts."""
        knobs = {"seed": self.seed, **(self.overrides or {})}
        return {(s, size): make_config(s, size, **knobs) for s in self.strategies for size in self.sizes}


def draw_problems(task: str, limit: int, seed: int, pool: int = 500,
                  levels: Collection[int] | None = None) -> list[Example]:
    """`limit` problems of the task's test split (of `levels` only, when given); `seed` picks which ones,
    the pool never changes."""
    if limit < 1:
        raise ValueError(f"--limit must be at least 1, got {limit}")
    examples = held_out_examples(task, max(pool, limit), levels=levels)
    picked = sorted(random.Random(seed).sample(range(len(examples)), limit))
    return [examples[i] for i in picked]


def evaluate(spec: EvalSpec, examples: Sequence[Example], task: Task, generator: Generator,
             reward: RewardModel | None, progress: Callable[[Iterable], Iterable] = iter,
             cancel: threading.Event | None = None,
             problems: Iterable[int] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Returns (summary per strategy and size, one row per search). Strategies without a size knob
    (greedy) run once and are reported at every size; with `spec.pool`, poolable strategies run once at
    the largest size and their other rows say `pooled`. `problems` (indices into `examples`, a shard's)
    runs only those; a row keeps the problem's index in `examples`, so a search's seeds do not change."""
    sized = {name: get_strategy(name).config_cls.size_field is not None for name in spec.strategies}
    pooled = {name: spec.pool and sized[name] and get_strategy(name).pool_choose is not None
              for name in spec.strategies}
    top = max(spec.sizes)
    configs, rows, cache = spec.configs(), [], {}
    picked = range(len(examples)) if problems is None else sorted(problems)
    jobs = [(s, size, i) for s in spec.strategies for size in spec.sizes for i in picked]
    for strategy, size, i in progress(jobs):
        if cancel is not None and cancel.is_set():
            break
        ex = examples[i]
        run_size = top if pooled[strategy] else size if sized[strategy] else None
        key = (strategy, run_size, i)
        if key not in cache:
            cache[key] = solve(strategy, Problem(ex.problem, task, ex.reference), generator, reward, spec.budget,
                               configs[strategy, run_size or size], cancel)
        result = cache[key]
        if pooled[strategy] and size != top:
            row = pool_estimate(result, size, configs[strategy, size], spec.resamples, seed=spec.seed * 1_000_003 + i)
        else:
            row = {"correct": bool(result.correct), "reached": reached(result, result.tree.terminals()),
                   "generated_tokens": result.stats["generated_tokens"], "wall_s": result.stats["wall_s"],
                   "answer": result.answer, "pooled": False}
        rows.append({"strategy": strategy, "size": size, "problem": i, "difficulty": ex.difficulty,
                     "reference": ex.reference, **row})
    return tables(rows)


def tables(rows: Sequence[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, per-run table) from the rows of a run in job order; a merge of shards goes through here too,
    so its tables are built exactly as a single run's are."""
    per_run = pd.DataFrame(list(rows), columns=RUN_COLUMNS)
    return summarise(per_run), per_run


def reached(result: SearchResult, chains: Iterable[Node]) -> bool:
    """Whether one of the finished `chains` (nodes of `result.tree`) states the right answer."""
    problem = result.problem
    return problem.reference is not None and any(
        n.terminal and n.answer is not None and problem.task.is_correct(n.answer, problem.reference) for n in chains)


def pool_estimate(result: SearchResult, size: int, config: SearchConfig, resamples: int, seed: int) -> dict:
    """A size-`size` run estimated from the chains of a larger one (`result`): the strategy's own choice
    (`Strategy.pool_choose`) over `resamples` random subsets of `size` chains, averaged. Tokens are those of
    the chains drawn; wall time is the pool's, pro rata."""
    choose = get_strategy(result.strategy).pool_choose
    chains = sorted(result.tree.leaves(), key=lambda n: n.id)  # every leaf ends one sampled chain
    tokens = {c.id: sum(n.num_tokens for n in result.tree.path(c.id)) for c in chains}
    # each chain graded once: math-verify's parse costs milliseconds, and a sweep draws every chain many times
    right = {c.id: reached(result, [c]) for c in chains}
    rng = random.Random(seed)
    draws = [chains] if size >= len(chains) else [sorted(rng.sample(chains, size), key=lambda n: n.id)
                                                  for _ in range(resamples)]
    picks = [choose([c for c in draw if c.terminal], config) for draw in draws]  # type: ignore[misc]
    correct = [p is not None and right[p.id] for p in picks]
    return {"correct": sum(correct) / len(draws),
            "reached": sum(any(right[c.id] for c in draw) for draw in draws) / len(draws),
            "generated_tokens": sum(tokens[c.id] for draw in draws for c in draw) / len(draws),
            "wall_s": result.stats["wall_s"] * min(1.0, size / max(1, len(chains))),
            "answer": picks[0].answer if picks[0] is not None else None, "pooled": True}


def summarise(per_run: pd.DataFrame) -> pd.DataFrame:
    if per_run.empty:
        return pd.DataFrame(columns=COLUMNS)
    grouped = per_run.groupby(["strategy", "size"], sort=False)
    return pd.DataFrame({
        "accuracy": grouped["correct"].mean(),
        "reached": grouped["reached"].mean(),
        "mean_generated_tokens": grouped["generated_tokens"].mean(),
        "mean_wall_s": grouped["wall_s"].mean(),
        "n": grouped["correct"].size(),
        "pooled": grouped["pooled"].any(),
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


def server_load(generator: Generator | None, reward: RewardModel | None = None) -> pd.DataFrame:
    """Per-server load of the generator and the reward model where either spreads its calls over a pool of
    servers, labelled by `model` (no rows for models that are no pool)."""
    rows = []
    for role, model in (("generator", generator), ("reward", reward)):
        loads = getattr(model, "server_load", None)
        rows += [{"model": role, **load} for load in (loads() if loads is not None else [])]
    return pd.DataFrame(rows, columns=SERVER_COLUMNS)


def write_results(summary: pd.DataFrame, per_run: pd.DataFrame, out: str | Path,
                  servers: pd.DataFrame | None = None) -> list[Path]:
    """results.csv, runs.csv and the plot in `out`; servers.csv too when `servers` has rows."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.csv", out / "runs.csv", out / "accuracy_vs_tokens.html"]
    summary.to_csv(paths[0], index=False)
    per_run.to_csv(paths[1], index=False)
    accuracy_figure(summary).write_html(paths[2], include_plotlyjs="directory")  # one plotly.min.js per folder
    if servers is not None and not servers.empty:
        paths.append(out / "servers.csv")
        servers.to_csv(paths[-1], index=False)
    return paths
