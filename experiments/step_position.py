"""How much of a reward model's within-problem step AUC is the step's position in its chain?

The exact labels follow PRM800K: the first wrong step and every step after it are bad. So among one
problem's sampled chains, later steps are bad more often, and a score that reads nothing but the step's
index (`position`: minus the index) already ranks steps well. This study scores the held-out chains the
pipeline judges reward models on with that baseline and with reward models, and reports the within-problem
AUC over all steps and over the *live* steps only: those whose earlier steps are all right, the steps a
search has to judge when it extends a chain that is still right. Among live steps a step is bad only when
it is the first error, which its position hardly tells.

    python -m experiments.step_position --chains runs/default/.heldout/sft-17d586d021a1-150-0.json \\
        --rewards prm-default,default --out experiments/results/step-position
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from reasoning_core import rewards
from training.prm import score_by_problem
from training.reward_eval import step_report

TASKS = ("arith", "word", "letters")
Scorer = Callable[[list[str], list[list[str]]], list[list[float]]]


def position(problems: Sequence[str], paths: Sequence[list[str]]) -> list[list[float]]:
    """A score that reads no step: minus the step's index in its chain."""
    return [[-float(k) for k in range(len(path))] for path in paths]


def report(problems: Sequence[str], paths: Sequence[list[str]], score: Scorer) -> dict:
    """Per task and as the mean over tasks: within-problem AUC over all steps and over live steps."""
    r = step_report(score, problems, paths, [])
    per_task = {t: {"all_steps": x["within_problem_step_auc"], "live_steps": x["within_problem_live_step_auc"]}
                for t, x in r["per_task"].items()}
    return {**per_task, "all_steps_mean": r["within_problem_step_auc_mean"],
            "live_steps_mean": r["within_problem_live_step_auc_mean"]}


def scorer(spec: str) -> Scorer:
    return position if spec == "position" else partial(score_by_problem, rewards.load(spec, device="cpu"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--chains", required=True, type=Path, help="a held-out chains file (problems, paths)")
    p.add_argument("--rewards", default="prm-default,default", help="reward specs (rewards.load), comma-separated")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    saved = json.loads(args.chains.read_text())
    problems, paths = saved["problems"], saved["paths"]
    args.out.mkdir(parents=True, exist_ok=True)
    result_file = args.out / "step_position.json"
    results = json.loads(result_file.read_text()) if result_file.is_file() else {}
    results["command"] = shlex.join(["python", "-m", "experiments.step_position", *sys.argv[1:]])
    for spec in ["position", *args.rewards.split(",")]:
        results[spec] = report(problems, paths, scorer(spec))
        result_file.write_text(json.dumps(results, indent=2) + "\n")
    print("| scorer | all steps | live steps | " + " | ".join(TASKS) + " |")
    print("|---|---|---|" + "---|" * len(TASKS))
    for spec, r in results.items():
        if spec != "command":
            per = " | ".join(f"{r[t]['all_steps']} / {r[t]['live_steps']}" for t in TASKS if t in r)
            print(f"| {spec} | {r['all_steps_mean']} | {r['live_steps_mean']} | {per} |")


if __name__ == "__main__":
    main()
