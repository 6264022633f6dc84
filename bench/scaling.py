"""Test-time scaling on held-out arith problems: accuracy of every strategy at sizes 1..16 with
the default generator, PRM and ORM, overall and per difficulty (number of operations).

    python -m bench.scaling                         # 500 problems, sizes 1,2,4,8,16 (long)
    python -m bench.scaling --limit 100 --sizes 1,4,16 --out bench/results/scaling-quick

Writes OUT/scaling.json (summary, per-difficulty table, claims checked), OUT/results.csv,
OUT/runs.csv and OUT/accuracy_vs_tokens.html. `best_of_n/orm` is best-of-N reranked by the ORM on
the same samples as `best_of_n` (same seeds), so the two differ only in the verifier.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from reasoning_core.backends import load as load_generator
from reasoning_core.eval import EvalSpec, draw_problems, evaluate, summarise, write_results
from reasoning_core.rewards import load as load_reward
from reasoning_core.tasks import get_task

PRM_STRATEGIES = ("greedy", "self_consistency", "best_of_n", "beam_search", "dvts", "mcts", "rstar", "revise",
                  "compute_optimal")


def claims(summary: pd.DataFrame, top: int) -> dict[str, dict]:
    """What search should deliver at the top size (beam search well above greedy and majority vote, the PRM
    above the ORM), checked against this run's numbers."""
    at = summary[summary["size"] == top].set_index("strategy")["accuracy"]
    out = {}

    def check(name: str, a: str, b: str, margin: float = 0.0) -> None:
        if a in at and b in at:
            out[name] = {"a": a, "b": b, "a_acc": float(at[a]), "b_acc": float(at[b]),
                         "margin": margin, "holds": bool(at[a] >= at[b] + margin)}

    check(f"beam_search@{top} beats greedy by >= 15 points", "beam_search", "greedy", 0.15)
    check(f"beam_search@{top} beats majority vote@{top}", "beam_search", "self_consistency", 1e-9)
    check(f"PRM best-of-{top} beats ORM best-of-{top}", "best_of_n", "best_of_n/orm", 1e-9)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", default="default")
    parser.add_argument("--prm", default="default")
    parser.add_argument("--orm", default="orm-default")
    parser.add_argument("--strategies", default=",".join(PRM_STRATEGIES))
    parser.add_argument("--sizes", "--budgets", dest="sizes", default="1,2,4,8,16",
                        help="strategy sizes to sweep (N, iterations, rounds; --budgets is the old name)")
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/results/scaling")
    args = parser.parse_args()

    task = get_task("arith")
    sizes = [int(b) for b in args.sizes.split(",")]
    strategies = args.strategies.split(",")
    examples = draw_problems("arith", args.limit, args.seed)
    generator, prm, orm = load_generator(args.generator), load_reward(args.prm), load_reward(args.orm)

    def bar(desc: str):
        return lambda jobs: tqdm(jobs, desc=desc, unit=" search")

    _, prm_runs = evaluate(EvalSpec(strategies, sizes, args.seed), examples, task, generator, prm, bar("PRM"))
    _, orm_runs = evaluate(EvalSpec(["best_of_n"], sizes, args.seed), examples, task, generator, orm, bar("ORM"))
    runs = pd.concat([prm_runs, orm_runs.assign(strategy="best_of_n/orm")], ignore_index=True)
    summary = summarise(runs)
    by_difficulty = (runs[runs["size"] == max(sizes)].groupby(["difficulty", "strategy"])["correct"].mean()
                     .unstack("strategy").round(3))
    paths = write_results(summary, runs, args.out)
    result = {"problems": len(examples), "sizes": sizes,
              "models": {"generator": args.generator, "prm": args.prm, "orm": args.orm},
              "summary": summary.to_dict("records"),
              f"accuracy_by_difficulty_at_{max(sizes)}": by_difficulty.reset_index().to_dict("records"),
              "claims": claims(summary, max(sizes))}
    (Path(args.out) / "scaling.json").write_text(json.dumps(result, indent=2))
    pd.set_option("display.width", 200)
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"\naccuracy by difficulty (number of operations) at size {max(sizes)}:")
    print(by_difficulty.to_string())
    print()
    for name, c in result["claims"].items():
        print(f"{'HOLDS' if c['holds'] else 'FAILS'}  {name}: {c['a_acc']:.3f} vs {c['b_acc']:.3f}")
    print("\nwrote " + ", ".join(map(str, paths + [Path(args.out) / "scaling.json"])))


if __name__ == "__main__":
    main()
