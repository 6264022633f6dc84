"""Test-time scaling on held-out problems of each task the default generator was trained on (of the levels
it was trained on, from its stepwise.json): accuracy of every strategy against its size with the default
generator, PRM and ORM, per task, per difficulty, and on problems written by hand (bench/data/handwritten.jsonl,
not from the task generators).

    python -m bench.scaling                         # 500 problems per task, sizes 1,4,16 (long)
    python -m bench.scaling --limit 60 --sizes 1,4 --strategies greedy,beam_search --out bench/results/scaling-quick
    python -m bench.scaling --jobs 1 --threads 2    # one process (the default: two one-thread processes)

Writes OUT/scaling.json (summary per task, per-difficulty table, hand-written accuracy, claims checked per
task), OUT/results.csv, OUT/runs.csv and OUT/accuracy_vs_tokens.html. `best_of_n/orm` is best-of-N reranked
by the ORM on the same samples as `best_of_n` (same seeds), so the two differ only in the verifier.
Best-of-N and majority vote run once at the largest size; their smaller sizes are estimated from that
pool (`EvalSpec.pool`; those rows say `pooled`), so the top-size claims compare real runs only.

With `--jobs K` the problems are split K ways (`reasoning_core.shards`: every K-th problem, each keeping its
seeds) and run as K processes at once on `--threads` / K torch threads each; the rows are those of one
process, in the same order.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from reasoning_core.backends import load as load_generator
from reasoning_core.eval import EvalSpec, draw_problems, evaluate, summarise, write_results
from reasoning_core.rewards import load as load_reward
from reasoning_core.shards import Shard
from reasoning_core.tasks import GENERATED, Example, get_task

from .parallel import add_arguments, run_in_processes, threads_each

STRATEGIES = ("greedy", "self_consistency", "best_of_n", "beam_search")
HANDWRITTEN = Path(__file__).parent / "data" / "handwritten.jsonl"


def claims(summary: pd.DataFrame, top: int) -> dict[str, dict]:
    """What search should deliver at the top size on one task (the default world's targets): beam search
    25 points above greedy and 10 above majority vote, the PRM above the ORM in best-of-N."""
    at = summary[summary["size"] == top].set_index("strategy")["accuracy"]
    out = {}

    def check(name: str, a: str, b: str, margin: float) -> None:
        if a in at and b in at:
            out[name] = {"a": a, "b": b, "a_acc": float(at[a]), "b_acc": float(at[b]),
                         "margin": margin, "holds": bool(at[a] >= at[b] + margin)}

    check(f"beam_search@{top} >= greedy + 25 points", "beam_search", "greedy", 0.25)
    check(f"beam_search@{top} >= majority vote@{top} + 10 points", "beam_search", "self_consistency", 0.10)
    check(f"PRM best-of-{top} > ORM best-of-{top}", "best_of_n", "best_of_n/orm", 1e-9)
    return out


def handwritten(path: Path = HANDWRITTEN) -> dict[str, list[Example]]:
    """The hand-written problems by task."""
    out: dict[str, list[Example]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            out.setdefault(row["task"], []).append(Example(row["problem"], row["answer"]))
    return out


@dataclass(frozen=True)
class Plan:
    """Everything a run (or one process's share of it) needs, by name, so that it travels to a process."""

    generator: str
    prm: str
    orm: str | None
    strategies: list[str]
    sizes: list[int]
    seed: int
    problems: dict[str, list[Example]]     # the held-out problems by task
    hand: dict[str, list[Example]]         # the hand-written ones by task

    def run(self, shard: Shard | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(runs, hand-written runs) of every task, or of `shard`'s problems only."""
        generator, prm = load_generator(self.generator), load_reward(self.prm)
        orm = load_reward(self.orm) if self.orm else None
        hand_strategies = [s for s in ("greedy", "beam_search") if s in self.strategies]
        runs = pd.concat([run_task(n, exs, self.strategies, self.sizes, self.seed, generator, prm, orm, shard)
                          for n, exs in self.problems.items()], ignore_index=True)
        hand = pd.concat([run_task(n, exs, hand_strategies, [max(self.sizes)], self.seed, generator, prm, None, shard)
                          for n, exs in self.hand.items()], ignore_index=True)
        return runs, hand


def run_task(name: str, examples: list[Example], strategies: list[str], sizes: list[int], seed: int,
             generator, prm, orm, shard: Shard | None = None) -> pd.DataFrame:
    """Every run of one task's problems (PRM strategies, then best-of-N with the ORM), with a task column."""
    task = get_task(name)
    picked = shard.problems(len(examples)) if shard else None

    def bar(desc: str):
        return lambda jobs: tqdm(jobs, desc=f"{name} {desc}" + (f" {shard}" if shard else ""), unit=" search")

    _, prm_runs = evaluate(EvalSpec(strategies, sizes, seed, pool=True), examples, task, generator, prm, bar("PRM"),
                           problems=picked)
    runs = [prm_runs]
    if "best_of_n" in strategies and orm is not None:
        _, orm_runs = evaluate(EvalSpec(["best_of_n"], sizes, seed, pool=True), examples, task, generator, orm,
                               bar("ORM"), problems=picked)
        runs.append(orm_runs.assign(strategy="best_of_n/orm"))
    return pd.concat(runs, ignore_index=True).assign(task=name)


def run_sharded(plan: Plan, jobs: int, threads: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`plan.run()` as `jobs` processes, one shard each, its rows put back in the order one process gives."""
    shards = [Shard(i, jobs) for i in range(jobs)]
    done = run_in_processes(partial(Plan.run, plan), shards, jobs, threads)
    failed = [f"shard {s}: {d.error}" for s, d in zip(shards, done, strict=True) if d.error]
    if failed:
        raise RuntimeError("; ".join(failed))
    return tuple(in_run_order(pd.concat([d.result[k] for d in done], ignore_index=True)) for k in (0, 1))


def in_run_order(runs: pd.DataFrame) -> pd.DataFrame:
    """Rows of several shards in one process's order: task, verifier (the ORM's last), strategy, size, problem,
    each in the order it first appears."""
    rank = {c: {v: i for i, v in enumerate(dict.fromkeys(runs[c]))} for c in ("task", "strategy", "size")}
    key = pd.DataFrame({"task": runs["task"].map(rank["task"]), "orm": runs["strategy"] == "best_of_n/orm",
                        "strategy": runs["strategy"].map(rank["strategy"]), "size": runs["size"].map(rank["size"]),
                        "problem": runs["problem"]})
    return runs.loc[key.sort_values(list(key.columns), kind="stable").index].reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", default="default")
    parser.add_argument("--prm", default="default")
    parser.add_argument("--orm", default="orm-default", help="'none' to skip the ORM comparison")
    parser.add_argument("--tasks", default=None, help="comma-separated (default: the generator's recorded tasks)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--sizes", "--budgets", dest="sizes", default="1,4,16",
                        help="strategy sizes to sweep (N, iterations, rounds; --budgets is the old name)")
    parser.add_argument("--limit", type=int, default=500, help="held-out test problems per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/results/scaling")
    add_arguments(parser, "processes at once, each on a K-th of the problems (default 2; 1 runs in this process)")
    args = parser.parse_args()
    try:
        each = threads_each(args.jobs, args.threads)
    except ValueError as err:
        parser.error(str(err))

    sizes = [int(b) for b in args.sizes.split(",")]
    strategies = args.strategies.split(",")
    generator = load_generator(args.generator)
    names = args.tasks.split(",") if args.tasks else list(getattr(generator, "tasks", None) or ["arith"])
    unknown = [n for n in names if n not in GENERATED]
    if unknown:
        parser.error(f"no built-in problems for {', '.join(unknown)}; valid: {', '.join(GENERATED)}")
    top = max(sizes)
    # the levels the generator was trained on: an untrained level measures nothing search can fix
    levels = getattr(generator, "levels", None) or {}
    plan = Plan(args.generator, args.prm, None if args.orm == "none" else args.orm, strategies, sizes, args.seed,
                {n: draw_problems(n, args.limit, args.seed, levels=levels.get(n)) for n in names},
                {n: exs for n, exs in handwritten().items() if n in names})
    if args.jobs > 1:
        try:
            runs, hand = run_sharded(plan, args.jobs, each)
        except RuntimeError as err:
            sys.exit(f"error: {err}")
    else:
        import torch

        torch.set_num_threads(args.threads)
        runs, hand = plan.run()
    per_task = {n: summarise(runs[runs.task == n]) for n in names}
    by_difficulty = (runs[runs["size"] == top].groupby(["task", "difficulty", "strategy"])["correct"].mean()
                     .unstack("strategy").round(3))
    hand_acc = hand.groupby(["task", "strategy"])["correct"].agg(["mean", "size"]).round(3)
    paths = write_results(summarise(runs), runs, args.out)
    result = {"problems_per_task": args.limit, "sizes": sizes, "tasks": names, "levels": levels,
              "models": {"generator": args.generator, "prm": args.prm, "orm": args.orm},
              "summary_by_task": {n: s.to_dict("records") for n, s in per_task.items()},
              f"accuracy_by_difficulty_at_{top}": by_difficulty.reset_index().to_dict("records"),
              f"handwritten_at_{top}": hand_acc.reset_index().to_dict("records"),
              "claims_by_task": {n: claims(s, top) for n, s in per_task.items()}}
    (Path(args.out) / "scaling.json").write_text(json.dumps(result, indent=2))
    pd.set_option("display.width", 200)
    for n, s in per_task.items():
        print(f"\n{n}:\n" + s.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"\naccuracy by difficulty at size {top}:\n{by_difficulty.to_string()}")
    print(f"\nhand-written problems (greedy and beam search at {top}):\n{hand_acc.to_string()}\n")
    for n, checks in result["claims_by_task"].items():
        for name, c in checks.items():
            print(f"{'HOLDS' if c['holds'] else 'FAILS'}  {n}: {name}: {c['a_acc']:.3f} vs {c['b_acc']:.3f}")
    print("\nwrote " + ", ".join(map(str, paths + [Path(args.out) / "scaling.json"])))


if __name__ == "__main__":
    main()
