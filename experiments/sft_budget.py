"""Why the first default SFT run learned almost nothing (greedy arith 0.7%, word 0%, letters at the rate of
always answering 2), and what the next run should change: more steps of the same model, or a smaller
model that takes more steps in the same time. Each arm trains for the same wall time on fresh problems of
the default mix, then reports the held-out completion loss and greedy accuracy per task.

    python -m experiments.sft_budget --parent runs/default/sft --minutes 15 --out experiments/results/sft-budget

Arms (`--arms`): `continue` (the parent checkpoint, trained further), `small` (a 1.1M-parameter, 4-layer
Llama from scratch at the tiny preset's learning rate) and `short` (the default 2.4M shape from scratch on
the short tasks only, arith and letters: does reading the question emerge when word problems do not take
the tokens?). Writes OUT/sft_budget.json.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from training.config import preset
from training.data import mix_problems, sft_dataset, split_problems
from training.pipeline import load_generator
from training.sampling import greedy_solved
from training.sft import ModelConfig, build_generator, train_sft

from .model_size import completion_loss

SMALL = ModelConfig(hidden_size=128, num_layers=4, num_heads=4, intermediate_size=512, max_positions=512)


def report(model, tok, problems_per_task: int) -> dict:
    cfg = preset("default")
    held = list(sft_dataset(mix_problems(cfg.mix, "validation", 60, seed=11)))
    row = {"heldout_loss": round(completion_loss(model, tok, held), 4)}
    for task in cfg.mix.weights:
        problems, refs = split_problems("validation", problems_per_task, replace(cfg.mix, weights={task: 1.0}),
                                        seed=11)
        solved = greedy_solved(model, tok, problems, refs, desc=f"greedy {task}")
        row[f"greedy_{task}"] = round(sum(solved) / len(solved), 3)
    return row


def arm(name: str, model, tok, steps: int, lr: float, minutes: float, out: Path, problems: int,
        weights: dict[str, float] | None = None) -> dict:
    cfg = preset("default")
    tc = replace(cfg.sft, max_steps=steps, learning_rate=lr, max_wall_s=minutes * 60, warmup_ratio=0.02)
    mix = replace(cfg.mix, weights=weights or cfg.mix.weights)
    data = sft_dataset(mix_problems(mix, "train", steps * tc.batch_size, seed=77))
    t0 = time.time()
    stats = train_sft(model, tok, data, tc, str(out / "work" / name))
    return {"arm": name, "trained_on": sorted(mix.weights),
            "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
            "learning_rate": lr, "steps": stats["steps"], "train_wall_s": round(time.time() - t0, 1),
            **report(model, tok, problems)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parent", type=Path, required=True, help="the default preset's SFT checkpoint")
    parser.add_argument("--minutes", type=float, default=15.0, help="training wall time per arm")
    parser.add_argument("--problems", type=int, default=60, help="validation problems per task for greedy accuracy")
    parser.add_argument("--arms", default="continue,small", help="comma-separated: continue, small, short")
    parser.add_argument("--out", type=Path, default=Path("experiments/results/sft-budget"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    arms = args.arms.split(",")
    parent, tok = load_generator(args.parent)
    rows = [{"arm": "parent", **report(parent, tok, args.problems)}]
    if "continue" in arms:
        parent.train()
        rows.append(arm("continue", parent, tok, 900, 1e-3, args.minutes, args.out, args.problems))
    if "small" in arms:
        torch.manual_seed(0)
        small, small_tok = build_generator(SMALL)
        rows.append(arm("small", small, small_tok, 2000, 3e-3, args.minutes, args.out, args.problems))
    if "short" in arms:
        torch.manual_seed(0)
        short, short_tok = build_generator(preset("default").model)
        # arith and letters texts are about half as long as the mix's mean: about twice the steps per minute
        rows.append(arm("short", short, short_tok, int(args.minutes * 60 / 0.45), 2e-3, args.minutes, args.out,
                        args.problems, weights={"arith": 1.0, "letters": 1.0}))
    for row in rows:
        print(row, flush=True)
    (args.out / "sft_budget.json").write_text(json.dumps({"minutes_per_arm": args.minutes, "arms": rows}, indent=2)
                                              + "\n")
    print(f"wrote {args.out / 'sft_budget.json'}")


if __name__ == "__main__":
    main()
