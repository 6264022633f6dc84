"""Does any way of reading the shipped reward models pick a right chain more often than greedy decoding?

On the shipped v6 models the 16 chains of best-of-16 hold a right answer on 66-96% of test problems, and the
verifier's pick is right no more often than greedy's one chain (`bench/results/scaling-default-v6`). Before
blaming the verifier, rule out the reading: this study samples N chains per validation problem once, scores
them with each reward model, and picks among them by every aggregation of the step scores the engine offers
(`protocols.AGGREGATIONS`: min, last, mean, prod), as the best chain and as a vote over answers weighted by
that value (the engine's `majority`, what best-of-N's `weighted` knob runs). Beside them: greedy, majority
vote, a random pick (its expected accuracy), pass@N; and for each rule the share of greedy's misses it rescues,
of greedy's right answers it loses, and how often its answer is greedy's.

    python -m experiments.pick_rules --problems 100 --n 16 --rewards default,assets/prm,assets/orm \\
        --out experiments/results/pick-rules

Writes OUT/pick_rules.json (the command, the table, each problem's results) and prints the table.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from reasoning_core import backends, rewards
from reasoning_core.budget import Budget
from reasoning_core.protocols import AGGREGATIONS, aggregate
from reasoning_core.run import solve
from reasoning_core.search import Problem, make_config
from reasoning_core.search.base import best_node, majority
from reasoning_core.tasks import get_task, recognised
from training.config import preset
from training.data import mix_problems

SAME = "greedy's answer"   # the table's column: how often a rule's pick states greedy's answer


def sample(generator, problems, n: int) -> list[dict]:
    """Per problem: N chains sampled once (the engine's self-consistency tree, seeded by the problem's index)
    with their steps, answers, log-probs and grades, and greedy's answer."""
    out = []
    for i, ex in enumerate(problems):
        name = recognised(ex.problem) or "other"
        task = get_task(name)
        problem = Problem(ex.problem, task, ex.reference)
        config = make_config("self_consistency", n, seed=i)
        tree = solve("self_consistency", problem, generator, None, Budget(), config).tree
        leaves = sorted((x for x in tree.terminals() if x.id != 0), key=lambda x: x.id)
        greedy = solve("greedy", problem, generator, None, Budget(), make_config("greedy", seed=0))
        out.append({"problem": ex.problem, "task": name, "leaves": leaves,
                    "steps": [[s.text for s in tree.path(x.id)] for x in leaves],
                    "correct": [bool(task.is_correct(x.answer, ex.reference)) for x in leaves],
                    "greedy_answer": greedy.answer, "greedy_correct": bool(greedy.correct)})
    return out


def picks(row: dict, scores: Sequence[Sequence[float]]) -> dict[str, int | None]:
    """Per rule, the index of the chain it answers with: the best by each aggregation (ties as the engine's
    `best_node` breaks them: log-prob, then order), and each aggregation's weighted vote."""
    leaves, out = row["leaves"], {}
    for how in AGGREGATIONS:
        valued = [replace(x, value=aggregate(s, how) if s else 0.0) for x, s in zip(leaves, scores)]
        for rule, chosen in (("best", best_node(valued)), ("vote", majority(valued, [x.value for x in valued]))):
            out[f"{rule} {how}"] = valued.index(chosen) if chosen is not None else None
    return out


def baselines(row: dict) -> dict[str, float]:
    correct, leaves = row["correct"], row["leaves"]
    chosen = majority(leaves)
    return {"greedy": float(row["greedy_correct"]),
            "majority": float(chosen is not None and correct[leaves.index(chosen)]),
            "random pick": float(np.mean(correct)) if correct else 0.0, "pass@n": float(any(correct))}


def study(rows: list[dict], reward_specs: list[str]) -> list[dict]:
    """Per problem: its task, whether each baseline and rule is right, and (`same`) whether each rule's pick
    states greedy's answer."""
    per_problem = [{"task": r["task"], **baselines(r), "same": {}} for r in rows]
    for spec in reward_specs:
        reward = rewards.load(spec, device="cpu")
        for r, record in zip(rows, per_problem):
            scores = reward.score(r["problem"], r["steps"]) if r["steps"] else []
            for rule, j in picks(r, scores).items():
                record[f"{spec}: {rule}"] = float(j is not None and r["correct"][j])
                record["same"][f"{spec}: {rule}"] = float(j is not None and r["leaves"][j].answer == r["greedy_answer"])
    return per_problem


def summarise(per_problem: list[dict]) -> dict[str, dict]:
    """Per rule: accuracy per task and over all problems; `rescued`, the share of the problems greedy gets wrong
    and some sample right that the rule gets right; `lost`, the share of greedy's right problems it gets wrong;
    and for a reward's rules how often the pick states greedy's answer. Greedy + 25 points needs most of the
    first and little of the second."""
    tasks = sorted({p["task"] for p in per_problem})
    missed = [p for p in per_problem if not p["greedy"] and p["pass@n"]]
    kept = [p for p in per_problem if p["greedy"]]

    def mean(values: list[float]) -> float | None:
        return round(float(np.mean(values)), 3) if values else None

    table = {}
    for rule in (k for k in per_problem[0] if k not in ("task", "same")):
        table[rule] = {t: mean([p[rule] for p in per_problem if p["task"] == t]) for t in tasks} | {
            "all": mean([p[rule] for p in per_problem]), "rescued": mean([p[rule] for p in missed]),
            "lost": mean([1 - p[rule] for p in kept])}
        if rule in per_problem[0]["same"]:
            table[rule][SAME] = mean([p["same"][rule] for p in per_problem])
    return table


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--generator", default="default", help="generator spec (backends.load)")
    p.add_argument("--rewards", default="default,assets/prm,assets/orm", help="reward specs, comma-separated")
    p.add_argument("--problems", type=int, default=100, help="validation problems per task")
    p.add_argument("--n", type=int, default=16, help="chains sampled per problem")
    p.add_argument("--preset", default="default", help="the preset whose task mix poses the problems")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    problems = mix_problems(preset(args.preset).mix, "validation", args.problems, per_task=True)
    rows = sample(backends.load(args.generator), problems, args.n)
    per_problem = study(rows, [s for s in args.rewards.split(",") if s])
    table = summarise(per_problem)
    args.out.mkdir(parents=True, exist_ok=True)
    command = shlex.join(["python", "-m", "experiments.pick_rules", *(argv if argv is not None else sys.argv[1:])])
    (args.out / "pick_rules.json").write_text(json.dumps({"command": command, "n": args.n, "table": table,
                                                          "per_problem": per_problem}, indent=1) + "\n")
    columns = [c for c in table["greedy"] if c not in ("rescued", "lost")] + ["rescued", "lost", SAME]
    print("| rule | " + " | ".join(columns) + " |\n|---|" + "---|" * len(columns))
    for rule, row in table.items():
        print(f"| {rule} | " + " | ".join("" if row.get(c) is None else f"{row[c]:.3f}" for c in columns) + " |")


if __name__ == "__main__":
    main()
