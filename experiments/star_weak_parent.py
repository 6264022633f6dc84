"""Does STaR lift a generator that has seen few rationales, the paper's setting, and if not, why not?

Claim 2 of the claims report runs STaR from claim 1's step-by-step generator (one-digit arithmetic, trained
from scratch and still learning), on its own right chains alone, at the default preset's learning rate. This
study runs the same rounds from the same parent under other settings: the learning rate, the filter that
keeps a chain (STaR's right final answer, or every step right by the exact checker: the `oracle` reward, a
perfect verifier), and how many problems and steps a round takes (few problems for many steps is how the
report's earlier sizes trained: 25 epochs of 50 chains). The `gold` arm is the control: the same steps on
gold chains of problems the parent trained on, as many as STaR keeps, so a loss it shares is the update's and
not the own chains'. Each arm is scored greedily on the claim's test
problems against the parent (paired: problems gained, lost, McNemar p) and per level.

    python -m experiments.star_weak_parent --work bench/results/claims-full/work \\
        --arms 5e-4:answer,1e-4:answer,5e-4:exact,5e-4:answer:240:100 --out experiments/results/star-weak-parent

The parent is the claims run's `work/claim1/cot_full` (trained here, about 10 minutes, if that folder holds
none of the run's sizes). Writes OUT/star_weak_parent.json (the command, the parent's sampled chains by
level, each arm's results) and prints the table.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from functools import partial
from pathlib import Path

import numpy as np
import torch

from bench.claims import resized
from bench.claims_lib.context import FULL, Context
from bench.claims_lib.train_claims import (
    accuracy_by_level,
    cot_generator,
    cot_mix,
    greedy_hits,
    own_chains_by_level,
    star_config,
)
from bench.parallel import add_arguments, run_in_processes, threads_each
from training.data import mix_problems
from training.pipeline import load_generator, run_star
from training.sampling import paired_test

FILTERS = {"answer": None, "exact": Path("oracle")}   # STaR's filter, or every step right (reward spec "oracle")
GOLD = "gold"        # the control: no sampling; gold chains of problems the parent trained on, as many as STaR keeps
GOLD_ROWS = 400      # about what the answer filter keeps a round from claim 1's generator (409 and 413)


def arm_config(cfg, spec: str):
    """`lr:filter[:problems:steps]` -> (the pipeline config of that arm, its verifier)."""
    lr, kept, *size = spec.split(":")
    if kept not in (*FILTERS, GOLD) or len(size) not in (0, 2):
        raise ValueError(f"arm {spec!r}: expected lr:filter[:problems:steps] with filter one of "
                         f"{', '.join((*FILTERS, GOLD))}")
    star = cfg.star
    if kept == GOLD:
        star = dataclasses.replace(star, self_chains=False, replay_rows=GOLD_ROWS)
    if size:
        star = dataclasses.replace(star, problems=int(size[0]),
                                   train=dataclasses.replace(star.train, max_steps=int(size[1])))
    star = dataclasses.replace(star, train=dataclasses.replace(star.train, learning_rate=float(lr)))
    return dataclasses.replace(cfg, star=star), FILTERS.get(kept)


def by_level(hits: np.ndarray, levels: np.ndarray) -> dict[int, float]:
    return {lv: round(acc, 3) for lv, acc in accuracy_by_level(hits, levels).items()}


def run_arm(job: tuple, parent: Path, test, out: Path) -> tuple[np.ndarray, dict]:
    """One arm's STaR rounds from `parent` (in its own process): its greedy test hits and stage metrics."""
    spec, (cfg, verifier) = job
    folder = out / "work" / spec.replace(":", "_")
    metrics = run_star(cfg, parent, folder, verifier=verifier)
    return greedy_hits(*load_generator(folder), test), metrics


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=Path("bench/results/claims-full/work"),
                   help="a full claims run's work folder (claim 1's generator is the parent)")
    p.add_argument("--arms", default="5e-4:answer,1e-4:answer,5e-4:exact,5e-4:answer:240:100",
                   help="comma-separated lr:filter[:problems:steps]; filter: " + ", ".join((*FILTERS, GOLD)))
    p.add_argument("--size", action="append", default=[], metavar="FIELD=N",
                   help="change one of the full claims run's sizes (as bench.claims takes it; the tests' micro run)")
    add_arguments(p, "arms run as this many processes at once (default 2)")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args(argv)
    each = threads_each(args.jobs, args.threads)
    torch.set_num_threads(each)
    sizes = resized(FULL, args.size)
    ctx = Context(sizes, args.out, args.work)
    cfg = ctx.pipeline_config()
    cfg.mix, cfg.star = cot_mix(), dataclasses.replace(star_config(cfg.star, sizes), rationalize=True)
    arms = {spec: arm_config(cfg, spec) for spec in args.arms.split(",") if spec}
    parent = cot_generator(ctx)
    test = mix_problems(cfg.mix, "test", sizes.test_problems)
    levels = np.array([e.difficulty for e in test])
    model, tok = load_generator(parent)
    base = greedy_hits(model, tok, test)
    own = own_chains_by_level(model, tok, test, cfg.star, ctx.seed)
    done = run_in_processes(partial(run_arm, parent=parent, test=test, out=args.out), list(arms.items()),
                            args.jobs, each)
    results = {}
    for spec, d in zip(arms, done, strict=True):
        if d.error is not None:
            raise RuntimeError(f"arm {spec}: {d.error}")
        hits, metrics = d.result
        results[spec] = {**paired_test(base.astype(int).tolist(), hits.astype(int).tolist()),
                         "by_level": by_level(hits, levels), "rounds": metrics["rounds"]}
    args.out.mkdir(parents=True, exist_ok=True)
    given = argv if argv is not None else sys.argv[1:]
    command = shlex.join(["python", "-m", "experiments.star_weak_parent", *given])
    (args.out / "star_weak_parent.json").write_text(json.dumps({
        "command": command, "parent": str(parent), "rounds": cfg.star.rounds, "problems": cfg.star.problems,
        "steps": cfg.star.train.max_steps, "parent_accuracy": round(float(base.mean()), 4),
        "parent_by_level": by_level(base, levels), "parent_sampled_by_level": own.reset_index().to_dict("records"),
        "arms": results}, indent=1, default=int) + "\n")
    print(f"parent: {base.mean():.3f} {by_level(base, levels)}")
    print("| arm (lr:filter[:problems:steps]) | own chains per round | accuracy | gained / lost | p | by level |")
    print("|---|---|---|---|---|---|")
    for spec, r in results.items():
        rows = [x.get("train_rows", 0) for x in r["rounds"][1:]]
        print(f"| {spec} | {rows} | {r['before']:.3f} -> {r['after']:.3f} | {r['gained']} / {r['lost']} | "
              f"{r['p']:.3f} | {r['by_level']} |")


if __name__ == "__main__":
    main()
