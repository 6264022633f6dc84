"""Command line for the training pipeline.

    python -m training pipeline --out runs/tiny --preset tiny [--assets assets]
    python -m training sft   --out runs/tiny/sft --preset tiny
    python -m training verifier --parent runs/tiny/sft --out runs/tiny/verifier
    python -m training star  --parent runs/tiny/sft  --out runs/tiny/star --verifier runs/tiny/verifier
    python -m training label --parent runs/tiny/star --out runs/tiny/labels
    python -m training prm   --parent runs/tiny/star --labels runs/tiny/labels --out runs/tiny/prm
    python -m training prm   --parent assets/generator --labels step-labels.jsonl --out runs/my-prm  # the app's labels
    python -m training orm   --parent runs/tiny/star --labels runs/tiny/labels --out runs/tiny/orm
    python -m training grpo  --parent runs/tiny/star --out runs/tiny/grpo --reward process --prm runs/tiny/verifier
    python -m training examples --assets assets --candidates bench/data/handwritten.jsonl
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from . import checkpoint as ckpt

# Busy-waiting OpenMP threads collapse throughput when the CPU is shared (measured 6x slower on 2 cores
# with another process running); passive waiting costs nothing when the machine is idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
GRPO_REWARDS = ("correct", "orm", "prm", "process")  # training.rl.REWARDS, without importing torch for --help
PRM_FORMATS = ("token_classification", "implicit")  # training.prm.PRM_FORMATS, likewise
PRESETS = ("micro", "tiny", "small", "default")  # training.config.PRESETS, likewise (a test keeps both lists true)
LABEL_FILES = ("math_shepherd.jsonl", "omega_prm.jsonl")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training",
        description="Train stepwise's generator, process/outcome reward models and RL policy on the "
                    "built-in arithmetic task, on CPU. Every stage writes one HF checkpoint folder atomically.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_: str, parent: bool = True, labels: bool = False) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=help_, description=help_)
        s.add_argument("--out", required=True, type=Path, help="output folder (written atomically)")
        s.add_argument("--preset", default="tiny", choices=PRESETS,
                       help="micro (tests) | tiny (quick reproduction; the default) | small | default (shipped)")
        s.add_argument("--seed", type=int, default=0, help="global seed (default 0)")
        s.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
        if parent:
            s.add_argument("--parent", required=True, type=Path, help="generator checkpoint to start from")
        if labels:
            s.add_argument("--labels", required=True, type=Path,
                           help="folder written by `label`, or one stepwise JSONL file (the app's exported labels, "
                                "TRL, PRM800K or Math-Shepherd rows)")
        return s

    pipe = add("pipeline", "run every stage in order, skipping stages whose output is complete", parent=False)
    pipe.add_argument("--assets", type=Path, help="also copy generator, PRM, ORM and verifier here (e.g. assets)")
    pipe.add_argument("--reward", choices=GRPO_REWARDS, help="GRPO reward (default: the preset's)")
    pipe.add_argument("--skip", type=lambda text: [n for n in text.split(",") if n], default=[],
                      metavar="STAGE,...", help="stages not to run (a complete output of one is still used), e.g. grpo")
    add("sft", "train the generator from scratch on gold chains (TRL SFTTrainer)", parent=False)
    add("verifier", "train the SFT model further on gold chains: the step verifier (a causal LM read by agreement)")
    s = add("star", "STaR self-training rounds on the generator's own correct chains")
    s.add_argument("--rounds", type=int, help="number of STaR rounds (preset default otherwise)")
    s.add_argument("--verifier", type=Path, help="keep only chains this step verifier passes (e.g. runs/tiny/verifier)")
    s.add_argument("--problems", type=int, help="train problems sampled per round (preset default otherwise)")
    s.add_argument("--samples", type=int, help="chains sampled per problem (preset default otherwise)")
    s.add_argument("--replay-rows", type=int, help="SFT rows replayed beside each round's own chains (preset default "
                   "otherwise; 0: the round's chains alone)")
    s.add_argument("--lr", type=float, help="peak learning rate of each round's fine-tuning (preset default otherwise)")
    add("label", "Math-Shepherd and OmegaPRM process labels from Monte-Carlo rollouts")
    s = add("prm", "train the PRM (token classifier or implicit PRM) on process labels", labels=True)
    s.add_argument("--label-source", choices=("math_shepherd", "omega_prm", "both"), help="which labels")
    s.add_argument("--format", choices=PRM_FORMATS, help="PRM format (default: the preset's); see training.prm")
    s = add("orm", "train the outcome RM (sequence classifier) on final correctness")
    s.add_argument("--labels", type=Path, help="folder written by `label` (its chains, labelled by their answer)")
    s.add_argument("--samples", type=int, help="instead, Cobbe et al.'s recipe: sample this many chains per train "
                   "problem (RewardConfig.problems of them) and keep the checkpoint that ranks held-back ones best")
    s = add("grpo", "GRPO on the generator (TRL GRPOTrainer) against a chosen reward")
    s.add_argument("--reward", choices=GRPO_REWARDS, help="reward (default: the preset's); see training.rl")
    s.add_argument("--prm", type=Path, help="PRM or verifier checkpoint (for --reward prm or process)")
    s.add_argument("--orm", type=Path, help="ORM checkpoint (for --reward orm)")
    s.add_argument("--max-steps", type=int, help="GRPO steps (preset default otherwise)")
    s = sub.add_parser("examples", help="pick the app's examples: problems the models in --assets solve",
                       description="pick the app's examples: problems the models in --assets solve")
    s.add_argument("--assets", required=True, type=Path, help="folder with generator/ and verifier/ (e.g. assets)")
    s.add_argument("--candidates", type=Path, help="JSONL of hand-written rows {problem, answer, task}, tried first")
    s.add_argument("--per-task", type=int, default=3, help="examples per task (default 3)")
    s.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    return p


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2 (as argparse does)."""


def check_args(args: argparse.Namespace) -> None:
    """Bad paths and settings fail here, in words, before torch is imported or anything trains."""
    if args.command == "examples":
        return check_examples_args(args)
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} is a file; give a folder to write the checkpoint into")
    try:
        ckpt.check_stages(getattr(args, "skip", []))
    except ValueError as err:
        raise UsageError(f"--skip: {err}") from None
    for flag in ("parent", "verifier", "prm", "orm"):
        path = getattr(args, flag, None)
        if path is not None and not (path / "config.json").is_file():
            what = "no such folder" if not path.exists() else "not a checkpoint folder (no config.json)"
            raise UsageError(f"--{flag} {path}: {what}; point it at a folder a training stage wrote "
                             f"(e.g. runs/tiny/sft from `python -m training sft --out runs/tiny/sft`)")
    labels = getattr(args, "labels", None)
    if labels is not None and labels.suffix == ".jsonl":
        if not labels.is_file():
            raise UsageError(f"--labels {labels}: no such file; export one from the app's node inspector")
    elif labels is not None:
        missing = [f for f in LABEL_FILES if not (labels / f).is_file()]
        if missing:
            raise UsageError(f"--labels {labels}: missing {', '.join(missing)}; write them with "
                             "`python -m training label --parent GENERATOR --out FOLDER`")
    if args.command == "orm" and labels is None and args.samples is None:
        raise UsageError("orm needs --labels FOLDER (the label stage's chains) or --samples N (Cobbe et al.'s "
                         "recipe: N chains sampled per train problem)")
    for flag in ("threads", "rounds", "max_steps", "samples", "problems"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")


def check_examples_args(args: argparse.Namespace) -> None:
    for role in ("generator", "verifier"):
        if not (args.assets / role / "config.json").is_file():
            raise UsageError(f"--assets {args.assets}: no {role}/ checkpoint; export one with "
                             "`python -m training pipeline --preset tiny --out runs/tiny --assets FOLDER`")
    if args.candidates is not None and not args.candidates.is_file():
        raise UsageError(f"--candidates {args.candidates}: no such file")
    if args.per_task < 1:
        raise UsageError(f"--per-task must be at least 1, got {args.per_task}")


def check_grpo_reward(reward: str, args: argparse.Namespace) -> None:
    """The checkpoint each GRPO reward reads must be given (the default reward comes from the preset)."""
    if reward in ("prm", "process") and args.prm is None:
        raise UsageError(f"GRPO reward {reward!r} needs --prm CHECKPOINT (a PRM or the step verifier)")
    if reward == "orm" and args.orm is None:
        raise UsageError("GRPO reward 'orm' needs --orm CHECKPOINT")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        check_args(args)
        return run(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    from . import pipeline as pl
    from .config import preset

    torch.set_num_threads(args.threads)
    if args.command == "examples":
        from .examples import pick_examples

        picked = pick_examples(args.assets, args.per_task, args.candidates)
        sys.stdout.write(json.dumps([vars(ex) for ex in picked], indent=1) + "\n")
        return 0
    cfg = preset(args.preset)
    cfg.seed = args.seed
    cmd = args.command
    if cmd == "pipeline":
        if args.reward:
            cfg.grpo.reward = args.reward
        try:
            pl.check_skip(cfg, args.out, args.skip, export=args.assets is not None)
        except ValueError as err:
            raise UsageError(f"--skip: {err}") from None
        result = pl.run_pipeline(cfg, args.out, assets=args.assets, skip=args.skip)
    elif cmd == "sft":
        result = pl.run_sft(cfg, args.out)
    elif cmd == "star":
        if args.rounds is not None:
            cfg.star.rounds = args.rounds
        if args.problems is not None:
            cfg.star.problems = args.problems
        if args.samples is not None:
            cfg.star.samples = args.samples
        if args.replay_rows is not None:
            cfg.star.replay_rows = args.replay_rows
        if args.lr is not None:
            cfg.star.train.learning_rate = args.lr
        result = pl.run_star(cfg, args.parent, args.out, verifier=args.verifier)
    elif cmd == "label":
        result = pl.run_label(cfg, args.parent, args.out)
    elif cmd == "prm":
        if args.label_source:
            cfg.prm.label_source = args.label_source
        if args.format:
            cfg.prm.format = args.format
        result = pl.run_prm(cfg, args.parent, args.labels, args.out)
    elif cmd == "orm":
        if args.samples:
            cfg.orm.samples = args.samples
        result = pl.run_orm(cfg, args.parent, args.labels, args.out)
    elif cmd == "verifier":
        result = pl.run_verifier(cfg, args.parent, args.out)
    else:
        if args.reward:
            cfg.grpo.reward = args.reward
        if args.max_steps is not None:
            cfg.grpo.max_steps = args.max_steps
        check_grpo_reward(cfg.grpo.reward, args)
        result = pl.run_grpo(cfg, args.parent, args.out, prm=args.prm, orm=args.orm)
    sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    if cmd == "pipeline":
        sys.stdout.write(pl.summary_table(result).to_string() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
