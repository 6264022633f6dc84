"""Run the chosen claims in order (one progress bar over them), keep going past a failing claim, and
write REPORT.md and claims.csv from the rows the claims returned."""
from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from tqdm.auto import tqdm

from reasoning_core.checkpoints import REPO

from .context import Context
from .report import Row, write_report
from .search_claims import claim_difficulty, claim_mcts, claim_prm_vs_orm
from .train_claims import claim_cot, claim_grpo, claim_process_labels, claim_star, claim_verifier

logger = logging.getLogger(__name__)
ClaimFn = Callable[..., list[Row]]

CLAIMS: dict[str, ClaimFn] = {
    "cot": claim_cot, "star": claim_star, "verifier": claim_verifier, "prm_vs_orm": claim_prm_vs_orm,
    "labels": claim_process_labels, "difficulty": claim_difficulty, "mcts": claim_mcts, "grpo": claim_grpo}


def check_names(names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in CLAIMS]
    if unknown:
        raise ValueError(f"unknown claims {unknown}; valid: {', '.join(CLAIMS)}")
    return list(names)


def run_claims(ctx: Context, names: Sequence[str] | None = None, claims: dict[str, ClaimFn] | None = None,
               show_progress: bool = True) -> tuple[list[Row], dict[str, str], dict[str, float]]:
    """Returns (rows, failures by claim name, wall seconds by claim name) and writes the report."""
    claims = claims or CLAIMS
    names = list(names or claims)
    rows, failures, walls = [], {}, {}
    started = time.time()
    bar = tqdm(names, desc="claims", unit="claim", disable=not show_progress)

    def inner(jobs):
        return tqdm(jobs, desc="  searches", leave=False, disable=not show_progress)

    for name in bar:
        bar.set_postfix_str(name)
        t0 = time.time()
        try:
            rows += claims[name](ctx, inner)
        except Exception as err:  # a broken claim is reported, the others still run
            logger.error("claim %s failed:\n%s", name, traceback.format_exc())
            failures[name] = f"{type(err).__name__}: {err}"
        walls[name] = round(time.time() - t0, 1)
        tqdm.write(f"claim {name}: done in {walls[name]:.0f} s")
    header = {"run": ctx.sizes.name, "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "seed": ctx.seed,
              "checkpoints": ", ".join(f"{k}={_shown(v)}" for k, v in ctx.models.items()),
              "wall time": f"{time.time() - started:.0f} s ("
                           + ", ".join(f"{k} {v:.0f} s" for k, v in walls.items()) + ")",
              "bootstrap": f"{ctx.sizes.n_boot} resamples of the problems, seed {ctx.seed}, percentile interval",
              "sizes": ", ".join(f"{k}={v}" for k, v in vars(ctx.sizes).items() if k != "name")}
    write_report(rows, ctx.out, header, failures)
    return rows, failures, walls


def _shown(path) -> str:
    """A checkpoint path as a reader of the committed report can use it: relative to the repository."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
