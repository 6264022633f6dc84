"""Finish the learning-rate schedule of an SFT run that a wall-clock cap stopped early, and write the result
where the pipeline's `sft` stage would, so the later stages (verifier, STaR, labels, PRM, ORM, GRPO) resume
from it.

The third default SFT (experiments/results/default-sft-v3/sft) stopped at step 7,258 of 9,800 with the
learning rate at about a sixth of its peak and its loss still falling; 300 more steps at a low rate (the
verifier stage) raised greedy arith from 0.16 to 0.26. This continues it on fresh gold chains of the same mix
(a seed no other stage draws), cosine from `--lr` to zero over `--steps`, which is the tail the capped
run never reached. A fresh Adam state starts it, so a short warmup is kept. `--weights` trains on another mix
(one task alone: does that task's skill grow with more of its own data?).

    python -m experiments.anneal_sft --parent experiments/results/default-sft-v3/sft --out runs/default/sft \
        --steps 3600 --lr 5e-4 --max-wall-s 2100
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from training import checkpoint as ckpt
from training.config import preset
from training.data import mix_problems, sft_dataset
from training.pipeline import _metrics, load_generator
from training.sft import train_sft

DATA_SEED = 600  # the stages draw train problems with seeds 0 (SFT), 100+ (STaR), 200, 300, 400, 500


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parent", required=True, type=Path, help="the capped SFT checkpoint")
    p.add_argument("--out", required=True, type=Path, help="where to write the continued `sft` checkpoint")
    p.add_argument("--preset", default="default")
    p.add_argument("--steps", type=int, default=3600)
    p.add_argument("--lr", type=float, default=5e-4, help="the capped run's learning rate when it stopped")
    p.add_argument("--max-wall-s", type=float, default=None,
                   help="stop after this long, the schedule annealed to zero by then (training.sft.WallClock)")
    p.add_argument("--weights", default=None,
                   help="task=weight,... replacing the preset's mix weights (e.g. letters=1: one task alone)")
    p.add_argument("--data-seed", type=int, default=DATA_SEED,
                   help="seed of the fresh train problems; a second anneal takes another, so it sees new problems")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cfg = preset(args.preset)
    if args.weights:
        weights = {name: float(w) for name, w in (pair.split("=") for pair in args.weights.split(","))}
        cfg = replace(cfg, mix=replace(cfg.mix, weights=weights))
    t0 = time.time()
    model, tok = load_generator(args.parent)
    model.train()
    tc = replace(cfg.sft, max_steps=args.steps, learning_rate=args.lr, warmup_ratio=0.02,
                 max_wall_s=args.max_wall_s)
    data = sft_dataset(mix_problems(cfg.mix, "train", args.steps * tc.batch_size, seed=args.data_seed))
    parent_meta = ckpt.read_meta(args.parent)
    with ckpt.atomic_dir(args.out) as tmp:
        stats = train_sft(model, tok, data, tc, str(tmp))
        metrics = _metrics(model, tok, cfg, t0, params=sum(p.numel() for p in model.parameters()),
                           continued_from={"path": str(args.parent), "steps": parent_meta["metrics"]["steps"],
                                           "metrics": {k: parent_meta["metrics"].get(k) for k in
                                                       ("val_greedy_acc_by_task", "test_greedy_acc_by_task")}},
                           anneal={"steps": stats["steps"], "learning_rate": args.lr, "data_seed": args.data_seed,
                                   "max_wall_s": args.max_wall_s},
                           **stats)
        ckpt.save_checkpoint(tmp, model, tok, stage="sft", kind="generator", parent=str(args.parent),
                             config=cfg.to_dict(), metrics=metrics)
    print(metrics)


if __name__ == "__main__":
    main()
