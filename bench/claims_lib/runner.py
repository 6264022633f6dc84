"""Run the chosen claims (a progress bar per job), keep going past a failing claim, and write REPORT.md
and claims.csv from the rows the claims returned.

With `jobs` > 1 the claims run as that many processes at once, each on its share of the torch threads: on
2 cores two one-thread jobs finish sooner than one two-thread job, because most of a claim is searches whose
forward passes are too small for a second thread to speed up. Claims that read the shared sample pool run as
one job, so it is built once, and so do claims 1 and 2 (STaR starts from claim 1's generator); every job
starts in a fresh process, so a claim's numbers do not depend on which claims ran before it in another."""
from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from tqdm.auto import tqdm

from reasoning_core.checkpoints import REPO

from ..parallel import run_in_processes
from .context import Context
from .report import Row, write_report
from .search_claims import claim_difficulty, claim_mcts, claim_prm_vs_orm
from .train_claims import claim_cot, claim_grpo, claim_process_labels, claim_star, claim_verifier

logger = logging.getLogger(__name__)
ClaimFn = Callable[..., list[Row]]

CLAIMS: dict[str, ClaimFn] = {
    "cot": claim_cot, "star": claim_star, "verifier": claim_verifier, "prm_vs_orm": claim_prm_vs_orm,
    "labels": claim_process_labels, "difficulty": claim_difficulty, "mcts": claim_mcts, "grpo": claim_grpo}
POOL_CLAIMS = ("verifier", "prm_vs_orm", "labels", "mcts")   # read `search_claims.sample_pool` (ctx.cache)
# claims that read what another builds run as one job, in this order: the pool's readers share the pool, and
# claim 2's STaR starts from the generator claim 1 trains (`train_claims.cot_generator`)
GROUPS = (POOL_CLAIMS, ("cot", "star"))

# one job's outcome: rows by claim name, failures by claim name, wall seconds by claim name
Outcome = tuple[dict[str, list[Row]], dict[str, str], dict[str, float]]


def check_names(names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in CLAIMS]
    if unknown:
        raise ValueError(f"unknown claims {unknown}; valid: {', '.join(CLAIMS)}")
    return list(names)


def job_list(names: Sequence[str]) -> list[list[str]]:
    """The claims as jobs, in their order; a group's members (`GROUPS`) form one job where the first of them
    stands."""
    jobs = []
    for n in names:
        group = next((g for g in GROUPS if n in g), (n,))
        members = [m for m in group if m in names]
        if n == next(m for m in names if m in members):
            jobs.append(members)
    return jobs


def run_claims(ctx: Context, names: Sequence[str] | None = None, claims: dict[str, ClaimFn] | None = None,
               show_progress: bool = True, jobs: int = 1, threads: int = 1
               ) -> tuple[list[Row], dict[str, str], dict[str, float]]:
    """Returns (rows, failures by claim name, wall seconds by claim name) and writes the report. `jobs` > 1
    runs that many processes at once with `threads` torch threads each; 1 runs in this process."""
    claims = claims or CLAIMS
    names = list(names or claims)
    started = time.time()
    work = job_list(names)
    if jobs > 1:
        outcomes = _in_processes(ctx, work, claims, show_progress, jobs, threads)
    else:
        outcomes = [_run_job(ctx, job, claims, show_progress) for job in work]
    found: dict[str, list[Row]] = {}
    failures, walls = {}, {}
    for by_name, failed, wall in outcomes:
        found |= by_name
        failures |= failed
        walls |= wall
    rows = [r for n in names for r in found.get(n, [])]
    walls = {n: walls[n] for n in names if n in walls}
    parallel = f" in {min(jobs, len(work))} parallel jobs of {threads} thread(s)" if jobs > 1 else ""
    header = {"run": ctx.sizes.name, "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "seed": ctx.seed,
              "checkpoints": ", ".join(f"{k}={_shown(v)}" for k, v in ctx.models.items()),
              "wall time": f"{time.time() - started:.0f} s{parallel} ("
                           + ", ".join(f"{k} {v:.0f} s" for k, v in walls.items()) + ")",
              "bootstrap": f"{ctx.sizes.n_boot} resamples of the problems, seed {ctx.seed}, percentile interval",
              "sizes": ", ".join(f"{k}={v}" for k, v in vars(ctx.sizes).items() if k != "name")}
    write_report(rows, ctx.out, header, dict(sorted(failures.items(), key=lambda kv: names.index(kv[0]))))
    return rows, failures, walls


def _run_job(ctx: Context, job: list[str], claims: dict[str, ClaimFn], show_progress: bool) -> Outcome:
    """Run a job's claims one after another in this process; a claim that raises is reported as failed."""
    found, failures, walls = {}, {}, {}
    bar = tqdm(job, desc="claims", unit="claim", disable=not show_progress)

    def inner(items):
        return tqdm(items, desc="  searches", leave=False, disable=not show_progress)

    for name in bar:
        bar.set_postfix_str(name)
        t0 = time.time()
        try:
            found[name] = claims[name](ctx, inner)
        except Exception as err:  # a broken claim is reported, the others still run
            logger.error("claim %s failed:\n%s", name, traceback.format_exc())
            failures[name] = f"{type(err).__name__}: {err}"
        walls[name] = round(time.time() - t0, 1)
        tqdm.write(f"claim {name}: done in {walls[name]:.0f} s")
    return found, failures, walls


def _in_processes(ctx: Context, work: list[list[str]], claims: dict[str, ClaimFn], show_progress: bool,
                  jobs: int, threads: int) -> list[Outcome]:
    """Run each job in a fresh process, `jobs` at a time; a process that dies without a result (killed, out
    of memory) fails its claims, and the other jobs still run."""
    done = run_in_processes(partial(_run_job, ctx, claims=claims, show_progress=show_progress), work, jobs, threads)
    return [d.result if d.error is None else ({}, dict.fromkeys(job, f"the claim's {d.error}"), {})
            for job, d in zip(work, done, strict=True)]


def _shown(path) -> str:
    """A checkpoint path as a reader of the committed report can use it: relative to the repository."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
