"""GRPO's effect on greedy accuracy: outcome reward (`correct`) against process supervision (`process`,
per-step advantages from the verifier), over learning rates, batch sizes, sampling temperature, a KL
term and the optimizer, from one parent.

    python -m experiments.grpo_sweep --parent runs/tiny/sft --verifier runs/tiny/verifier
    python -m experiments.grpo_sweep --parent runs/tiny/sft --verifier runs/tiny/verifier \
        --runs correct:3e-5:4:40 --val 200
    python -m experiments.grpo_sweep --parent runs/tiny/sft --runs correct:1e-4:4:40 --repeat 8 \
        --out experiments/results/grpo-repeat
    python -m experiments.grpo_sweep --parent runs/tiny/sft --verifier runs/tiny/verifier \
        --out experiments/results/grpo-diversity \
        --runs correct:1e-4:32:30:num_generations=4,process:1e-4:64:40:num_generations=4

A run is REWARD:LR:PROMPTS_PER_STEP:STEPS[:FIELD=VALUE...] with any other `GRPOSettings` field
(temperature, beta, optim, num_generations); by default 8 generations per prompt at T=0.7 with Adam,
on fresh train problems.
Writes OUT/grpo_sweep.json and prints one row per run: validation accuracy before and after, greedy and
of 2 chains per problem sampled at the run's temperature (what GRPO optimises), the validation problems
greedy decoding gained and lost with the exact paired (McNemar) p-value of that difference, and the
reward logged on its training samples at the first and last log (which also moves with the problems each
batch draws).
With --repeat K, GRPO trains on only K problems that the parent sometimes solves, over and over, and each
row adds their sampled accuracy before and after: whether RL learns what it is trained on at all.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import time
from pathlib import Path

import pandas as pd

from training.config import preset
from training.data import split_problems
from training.pipeline import evaluate_sampled, load_generator
from training.rl import GRPOSettings, grpo_dataset, reward_fn, step_scorer, train_grpo
from training.sampling import greedy_solved, paired_test, sample_accuracy, sample_chains, solved_counts

FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(GRPOSettings)}


def parse_run(run: str) -> GRPOSettings:
    """`REWARD:LR:PROMPTS:STEPS[:FIELD=VALUE...]` as settings (see the module docstring)."""
    reward, lr, prompts, steps, *extra = run.split(":")
    fields = dict(item.split("=", 1) for item in extra)
    unknown = set(fields) - set(FIELD_TYPES)
    if unknown:
        raise ValueError(f"unknown GRPO setting(s) {', '.join(sorted(unknown))}; valid: {', '.join(FIELD_TYPES)}")
    typed = {k: {"int": int, "float": float}.get(FIELD_TYPES[k], str)(v) for k, v in fields.items()}
    return GRPOSettings(reward=reward, learning_rate=float(lr), prompts_per_step=int(prompts), max_steps=int(steps),
                        **typed)


RUNS = ("correct:1e-4:4:40", "process:1e-4:4:40", "correct:3e-5:4:40", "process:3e-5:4:40",
        "correct:3e-5:32:20", "process:3e-5:32:20", "correct:1e-5:32:40",
        # closer to greedy's own choices, a wider search, an anchor to the parent, no Adam rescaling
        "correct:3e-5:4:40:temperature=0.3", "correct:1e-4:4:40:temperature=0.3",
        "correct:3e-5:4:40:temperature=1.0", "correct:3e-5:4:40:beta=0.04", "correct:0.05:4:40:optim=sgd")


def sometimes_solved(model, tok, problems: list[str], refs: list[str], k: int) -> tuple[list[str], list[str]]:
    """The first `k` problems that some but not all of 8 samples at T=0.7 solve (where GRPO has a signal)."""
    chains = sample_chains(model, tok, problems, 8, temperature=0.7, seed=3, desc="sometimes solved")
    picked = [i for i, h in enumerate(solved_counts(chains, refs)) if 0 < h < 8][:k]
    if not picked:
        raise SystemExit(f"none of {len(problems)} train problems is solved by some but not all of 8 samples: "
                         "--repeat needs a parent that is sometimes right")
    return [problems[i] for i in picked], [refs[i] for i in picked]


def sweep_keys(result: dict) -> dict:
    """`paired_test`'s figures under the names the sweep's JSON has always used."""
    return {("val_p_paired" if k == "p" else f"val_{k}"): v for k, v in result.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parent", type=Path, required=True, help="generator checkpoint GRPO starts from")
    parser.add_argument("--verifier", type=Path, help="step verifier for the process reward")
    parser.add_argument("--runs", default=",".join(RUNS))
    parser.add_argument("--val", type=int, default=500, help="validation problems for greedy accuracy")
    parser.add_argument("--repeat", type=int, default=0, metavar="K",
                        help="train on K sometimes-solved problems only, repeated (default: 2000 fresh ones)")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--out", type=Path, default=Path("experiments/results/grpo-sweep"))
    args = parser.parse_args()

    cfg = preset(args.preset)
    cfg.eval_problems = args.val
    problems, refs = split_problems("train", 2000, cfg.mix, seed=cfg.seed + 400)
    parent = load_generator(args.parent)
    if args.repeat:
        problems, refs = sometimes_solved(*parent, problems[:20 * args.repeat], refs[:20 * args.repeat], args.repeat)
    copies = 2000 // len(problems) if args.repeat else 1
    data = grpo_dataset(problems * copies, refs * copies)

    def trained_on(model, tok) -> float:
        return round(sample_accuracy(model, tok, problems, refs, n=16, temperature=0.7, seed=5,
                                     desc="trained-on problems"), 4)

    if args.repeat:
        repeat_before = {"trained_on": len(problems), "trained_on_sampled_before": trained_on(*parent)}
    val_problems, val_refs = split_problems("validation", cfg.eval_problems, cfg.mix)
    greedy = functools.partial(greedy_solved, problems=val_problems, references=val_refs, desc="greedy validation")
    before = greedy(*parent)
    sampled_before = functools.cache(lambda temperature: evaluate_sampled(*parent, cfg, temperature))
    rows = []
    for run in args.runs.split(","):
        settings = parse_run(run)
        model, tok = load_generator(args.parent)
        scores = step_scorer(str(args.verifier)) if settings.reward == "process" else None
        t0 = time.time()
        stats = train_grpo(model, tok, data, settings, reward_fn(settings.reward), str(args.out / "work"),
                           step_scores=scores)
        rows.append({"run": run, "reward": settings.reward, "lr": settings.learning_rate,
                     "completions_per_step": settings.prompts_per_step * settings.num_generations,
                     "steps": settings.max_steps, "temperature": settings.temperature, "beta": settings.beta,
                     "optim": settings.optim, **sweep_keys(paired_test(before, greedy(model, tok))),
                     "val_sampled_before": sampled_before(settings.temperature),
                     "val_sampled_after": evaluate_sampled(model, tok, cfg, settings.temperature),
                     **(repeat_before | {"trained_on_sampled_after": trained_on(model, tok)} if args.repeat else {}),
                     "sample_reward_first": stats["reward_first_log"], "sample_reward_last": stats["reward_last_log"],
                     "wall_s": round(time.time() - t0, 1)})
        print(rows[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "grpo_sweep.json").write_text(json.dumps({"parent": str(args.parent), "verifier": str(args.verifier),
                                                          "val_problems": args.val, "runs": rows}, indent=2) + "\n")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
