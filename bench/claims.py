"""Reproduce the papers' claims on the default checkpoints and write a report folder.

    python -m bench.claims --quick    # under 10 minutes on 2 CPU cores (measured: bench/results/claims-quick)
    python -m bench.claims            # the full run, under 60 minutes (bench/results/claims-full)
    python -m bench.claims --quick --claims verifier,prm_vs_orm --out runs/claims-partial
    python -m bench.claims --claims cot --size sft_steps=1600 --out runs/claim1-longer
    python -m bench.claims --jobs 1 --threads 2   # one claim after another in one process

Claims: cot (CoT vs direct), star (STaR rounds, rationalisation), verifier (ORM best-of-N vs greedy and
majority), prm_vs_orm, labels (MC vs exact process labels), difficulty (compute-optimal per difficulty),
mcts (MCTS vs sampling at equal tokens, rStar consistency), grpo (RL against the PRM vs the ORM).

Writes OUT/REPORT.md (the claims table with bootstrap 95% intervals), OUT/claims.csv, and one CSV and one
plotly HTML per claim; trained variants go to OUT/work/. Every number comes from the run. By default the claims
run as two processes of one torch thread each (`--jobs`), which on 2 cores finishes sooner than one process of two.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see training/__main__.py: shared 2-core machines
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from bench.claims_lib.context import SIZES, Context, Sizes, default_models
from bench.claims_lib.runner import CLAIMS, check_names, run_claims
from bench.parallel import add_arguments, threads_each

DEFAULT_OUT = "runs/claims"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="small sizes (the wall time of each claim is in the report's header)")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"report folder (default {DEFAULT_OUT})")
    p.add_argument("--claims", default=",".join(CLAIMS), help="comma-separated subset (default: all)")
    p.add_argument("--size", action="append", default=[], metavar="FIELD=N",
                   help="override one size of the run (repeatable), e.g. --size sft_steps=1600; fields: "
                        + ", ".join(f.name for f in dataclasses.fields(Sizes) if f.name != "name"))
    p.add_argument("--seed", type=int, default=0)
    add_arguments(p, "claims run as this many processes at once (default 2; 1: one after another, in this process)")
    for role, path in default_models().items():
        p.add_argument(f"--{role}", type=Path, default=path, help=f"{role} checkpoint folder (default {path.name})")
    return p.parse_args(argv)


def resized(sizes: Sizes, overrides: list[str]) -> Sizes:
    """`sizes` with FIELD=N overrides; a run with any is named after them (the report's header shows it)."""
    known = {f.name for f in dataclasses.fields(Sizes)} - {"name"}
    changes = {}
    for item in overrides:
        key, _, value = item.partition("=")
        if key not in known or not value.isdigit():
            raise ValueError(f"--size {item!r}: expected FIELD=N with FIELD one of {', '.join(sorted(known))}")
        changes[key] = int(value)
    if not changes:
        return sizes
    return dataclasses.replace(sizes, name=sizes.name + " with " + ", ".join(f"{k}={v}" for k, v in changes.items()),
                               **changes)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    import torch

    try:
        each = threads_each(args.jobs, args.threads)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    try:
        names = check_names([c for c in args.claims.split(",") if c])
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        sizes = resized(SIZES["quick" if args.quick else "full"], args.size)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    ctx = Context(sizes, out, out / "work",
                  {role: getattr(args, role) for role in default_models()}, seed=args.seed)
    t0 = time.time()
    rows, failures, _ = run_claims(ctx, names, jobs=args.jobs, threads=each)
    for r in rows:
        print(f"{r.holds:>9}  {r.claim}: {r.metric} = {r.effect:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}] (n={r.n})")
    for name, err in failures.items():
        print(f"   FAILED  {name}: {err}")
    print(f"wrote {out / 'REPORT.md'} in {time.time() - t0:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
