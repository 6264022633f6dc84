"""Is one generator checkpoint better than another? Greedy accuracy of each on the same problems per task, and
the exact McNemar test of each against the first (`training.pipeline.paired_vs_parent`: the problems gained and
lost, p < 0.05 shows a difference).

A stage's own metrics judge it on 150 problems per task, where a 95% interval is about +-8 points; issue 18's
targets are judged on 500 or more per task, and two checkpoints are best compared on the same problems.

    python -m experiments.compare_generators --generators assets/generator,runs/default-v5/sft --problems 500 \
        --split test --out experiments/results/default-sft-v5

Writes OUT/compare_generators.json (the command, accuracies per task, the paired tests) and prints the table.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import torch

from training.config import preset
from training.pipeline import load_generator, paired_vs_parent, solved_by_task


def compare(paths: list[Path], problems: int, split: str, preset_name: str) -> dict:
    """Each checkpoint's 1/0 per problem and task, and every checkpoint after the first tested against it."""
    cfg = preset(preset_name)
    solved = {}
    for path in paths:
        model, tok = load_generator(path)
        solved[str(path)] = solved_by_task(model.eval(), tok, cfg, split, problems)
    first = solved[str(paths[0])]
    return {"split": split, "problems_per_task": problems, "solved": solved,
            "paired_vs_first": {name: paired_vs_parent(first, s) for name, s in list(solved.items())[1:]}}


def table(result: dict) -> pd.DataFrame:
    """One row per checkpoint: accuracy per task and pooled, and the paired test against the first."""
    rows = []
    for name, by_task in result["solved"].items():
        test = result["paired_vs_first"].get(name)
        rows.append({"generator": name, **{t: sum(v) / len(v) for t, v in by_task.items()},
                     "all": sum(map(sum, by_task.values())) / sum(map(len, by_task.values())),
                     "gained / lost": f"{test['gained']} / {test['lost']}" if test else "",
                     "p": test["p"] if test else float("nan"),
                     **{f"p {t}": s["p"] for t, s in (test["by_task"].items() if test else [])}})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--generators", required=True, help="comma-separated checkpoint folders; the first is the baseline")
    p.add_argument("--problems", type=int, default=500, help="problems per task")
    p.add_argument("--split", default="test", choices=["validation", "test"])
    p.add_argument("--preset", default="default", help="the preset whose task mix poses the problems")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    paths = [Path(g) for g in args.generators.split(",") if g]
    if len(paths) < 2:
        p.error("--generators needs at least two checkpoints")
    result = compare(paths, args.problems, args.split, args.preset)
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python -m experiments.compare_generators " + " ".join(argv if argv is not None else sys.argv[1:])
    (args.out / "compare_generators.json").write_text(json.dumps({"command": command, **result}, indent=1))
    print(table(result).to_string(index=False, float_format=lambda x: f"{x:.3f}"))


if __name__ == "__main__":
    main()
