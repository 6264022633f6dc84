"""Which part of the default SFT recipe stops the model from reading the question? The tiny recipe
(1M parameters, 4 x 128, lr 3e-3, random batches, one-digit arith) learns arith in 1200 steps; the
default recipe (6 x 160, lr 2e-3, length-grouped batches, two-digit levels, three tasks) learns nothing in
1600. Each arm changes one thing, trains from scratch for the same wall time on one CPU thread (so two
arms share the machine fairly), and reports greedy accuracy per task and level on validation problems.

    python -m experiments.sft_recipe --arm tiny-1d --minutes 10 --out experiments/results/sft-recipe &
    python -m experiments.sft_recipe --arm tiny-2d --minutes 10 --out experiments/results/sft-recipe
    python -m experiments.sft_recipe --table experiments/results/sft-recipe

Writes OUT/ARM.json; `--table` prints every arm's row from those files.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from reasoning_core.tasks import generated
from training.config import TaskMix, preset
from training.data import mix_problems, sft_dataset
from training.sampling import greedy_solved
from training.sft import ModelConfig, TrainConfig, build_generator, train_sft

TINY = ModelConfig(hidden_size=128, num_layers=4, num_heads=4, intermediate_size=512, max_positions=512)
ONE_DIGIT = {"arith": [1, 2, 3, 4], "letters": [1, 2, 3, 4, 5, 6]}


@dataclass
class Arm:
    doc: str
    model: ModelConfig = field(default_factory=lambda: TINY)
    learning_rate: float = 3e-3
    group_by_length: bool = False
    weights: dict[str, float] = field(default_factory=lambda: {"arith": 1.0, "letters": 1.0})
    levels: dict[str, list[int]] = field(default_factory=lambda: dict(ONE_DIGIT))
    steps_per_minute: int = 100  # the cosine schedule's length is set from the arm's measured speed


def _two_digit() -> dict[str, list[int]]:
    return {"arith": list(range(1, 9)), "letters": [1, 2, 3, 4, 5, 6]}


ARMS = {
    "tiny-1d": Arm("the tiny recipe on one-digit arith + letters (control)"),
    "tiny-2d": Arm("the tiny recipe with the two-digit arith levels", levels=_two_digit()),
    "tiny-2d-grouped": Arm("tiny-2d with length-grouped batches", group_by_length=True, levels=_two_digit()),
    "deep-2d": Arm("tiny-2d in the default 6 x 160 shape at lr 2e-3", model=preset("default").model,
                   learning_rate=2e-3, levels=_two_digit(), steps_per_minute=50),
    "tiny-word": Arm("the tiny recipe on the default mix (arith, word x2, letters), all levels",
                     weights={"arith": 1.0, "word": 2.0, "letters": 1.0}, levels={}, steps_per_minute=55),
}


def per_level(model, tok, mix: TaskMix, problems: int) -> dict[str, dict[str, float]]:
    """Greedy accuracy per task and level on `problems` validation problems of each level."""
    out = {}
    for task in mix.weights:
        levels = mix.levels.get(task) or generated(task).DEFAULT_LEVELS
        row = {}
        for level in levels:
            exs = generated(task).generate("validation", problems, seed=11, levels=[level])
            solved = greedy_solved(model, tok, [e.problem for e in exs], [e.reference for e in exs],
                                   desc=f"{task} L{level}")
            row[str(level)] = round(sum(solved) / len(solved), 3)
        row["mean"] = round(sum(row.values()) / len(row), 3)
        out[task] = row
    return out


def run(name: str, minutes: float, problems: int) -> dict:
    arm = ARMS[name]
    torch.manual_seed(0)
    model, tok = build_generator(arm.model)
    mix = TaskMix(weights=arm.weights, levels=arm.levels)
    # the wall clock is a safety net: the schedule ends near `minutes` at the arm's speed
    tc = TrainConfig(max_steps=int(minutes * arm.steps_per_minute), batch_size=32, learning_rate=arm.learning_rate,
                     warmup_ratio=0.02, max_length=512, group_by_length=arm.group_by_length,
                     max_wall_s=minutes * 60 * 1.3)
    data = sft_dataset(mix_problems(mix, "train", tc.max_steps * tc.batch_size, seed=77))
    t0 = time.time()
    stats = train_sft(model, tok, data, tc, f"/tmp/sft-recipe/{name}")
    return {"arm": name, "doc": arm.doc, "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
            "steps": stats["steps"], "train_loss": stats["train_loss"], "train_wall_s": round(time.time() - t0),
            "greedy": per_level(model, tok, mix, problems)}


def table(out: Path) -> None:
    for path in sorted(out.glob("*.json")):
        row = json.loads(path.read_text())
        accs = "  ".join(f"{task} {r['mean']:.3f} ({', '.join(f'{k}:{v:.2f}' for k, v in r.items() if k != 'mean')})"
                         for task, r in row["greedy"].items())
        print(f"{row['arm']:<16} {row['params_M']:.2f}M {row['steps']:>5} steps loss {row['train_loss']:.3f}  {accs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arm", choices=sorted(ARMS))
    parser.add_argument("--minutes", type=float, default=10.0, help="training wall time")
    parser.add_argument("--problems", type=int, default=30, help="validation problems per task and level")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("experiments/results/sft-recipe"))
    parser.add_argument("--table", action="store_true", help="print the arms already written to OUT")
    args = parser.parse_args()
    if args.table:
        return table(args.out)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    row = run(args.arm, args.minutes, args.problems)
    (args.out / f"{args.arm}.json").write_text(json.dumps({"minutes": args.minutes, **row}, indent=2) + "\n")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
