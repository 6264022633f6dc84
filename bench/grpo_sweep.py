"""GRPO's effect on greedy accuracy: outcome reward (`correct`) against process supervision (`process`,
per-step advantages from the verifier), over learning rates and batch sizes, from one parent.

    python bench/grpo_sweep.py --parent runs/tiny/sft --verifier runs/tiny/verifier
    python bench/grpo_sweep.py --parent runs/tiny/sft --verifier runs/tiny/verifier --runs correct:3e-5:4:40 --val 200

A run is REWARD:LR:PROMPTS_PER_STEP:STEPS (8 generations per prompt, T=0.7, fresh train problems).
Writes OUT/grpo_sweep.json and prints one row per run: validation greedy accuracy before and after, and
the reward on the sampled chains at the first and last log.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd
from datasets import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.config import preset  # noqa: E402
from training.data import TASK  # noqa: E402
from training.pipeline import _problems, evaluate, load_generator  # noqa: E402
from training.rl import GRPOSettings, reward_fn, step_scorer, train_grpo  # noqa: E402

RUNS = ("correct:1e-4:4:40", "process:1e-4:4:40", "correct:3e-5:4:40", "process:3e-5:4:40",
        "correct:3e-5:32:20", "process:3e-5:32:20")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parent", type=Path, required=True, help="generator checkpoint GRPO starts from")
    parser.add_argument("--verifier", type=Path, help="step verifier for the process reward")
    parser.add_argument("--runs", default=",".join(RUNS))
    parser.add_argument("--val", type=int, default=500, help="validation problems for greedy accuracy")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--out", type=Path, default=Path("bench/results/grpo-sweep"))
    args = parser.parse_args()

    cfg = preset(args.preset)
    cfg.eval_problems = args.val
    problems, refs = _problems(cfg, "train", 2000, seed=cfg.seed + 400)
    data = Dataset.from_list([{"prompt": TASK.prompt(p), "problem": p, "reference": r}
                              for p, r in zip(problems, refs)])
    before = evaluate(*load_generator(args.parent), cfg)
    rows = []
    for run in args.runs.split(","):
        reward, lr, prompts, steps = run.split(":")
        model, tok = load_generator(args.parent)
        settings = GRPOSettings(reward=reward, learning_rate=float(lr), prompts_per_step=int(prompts),
                                max_steps=int(steps))
        scores = step_scorer(str(args.verifier)) if reward == "process" else None
        t0 = time.time()
        stats = train_grpo(model, tok, data, settings, reward_fn(reward), str(args.out / "work"), step_scores=scores)
        rows.append({"reward": reward, "lr": float(lr), "completions_per_step": int(prompts) * settings.num_generations,
                     "steps": int(steps), "val_before": before, "val_after": evaluate(model, tok, cfg),
                     "sample_reward_first": stats["reward_first_log"], "sample_reward_last": stats["reward_last_log"],
                     "wall_s": round(time.time() - t0, 1)})
        print(rows[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "grpo_sweep.json").write_text(json.dumps({"parent": str(args.parent), "verifier": str(args.verifier),
                                                          "val_problems": args.val, "runs": rows}, indent=2) + "\n")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
