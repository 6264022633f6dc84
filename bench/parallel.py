"""Run independent pieces of a benchmark in fresh processes, a few at a time, each with its own share of the
torch threads. On this project's small models one-thread processes side by side finish sooner than one
process with every thread: a search's forward passes are a few rows of a 1M-parameter model, too small for
a second thread to speed up (docs/findings.md, "Two one-thread jobs...")."""
from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class Done:
    """What one piece of work gave: its `result`, or `error` when it has none (what went wrong: the exception,
    or "process ended with exit code 3 and no result")."""

    result: Any = None
    error: str | None = None


def add_arguments(parser, jobs_help: str) -> None:
    """`--threads` (torch threads in all) and `--jobs` (processes at once), as every parallel benchmark takes them."""
    parser.add_argument("--threads", type=int, default=2,
                        help="torch CPU threads in all, shared by the jobs (default 2)")
    parser.add_argument("--jobs", type=int, default=2, help=jobs_help)


def threads_each(jobs: int, threads: int) -> int:
    """Each job's share of `threads`; a ValueError when either is below 1 (checked before torch reads them, since
    it refuses a thread count below 1 in its own words)."""
    if jobs < 1 or threads < 1:
        raise ValueError("--jobs and --threads must be at least 1")
    return max(1, threads // jobs)


def run_in_processes(fn: Callable[[Any], Any], work: Sequence[Any], jobs: int, threads: int) -> list[Done]:
    """`fn(item)` for every item of `work`, each in a fresh spawned process with `threads` torch threads,
    `jobs` processes at a time, the next starting when one ends; the outcomes in `work`'s order. `fn` and the
    items must pickle (a module-level function, `functools.partial` of one). A piece that raises, or whose
    process dies without a result (killed, out of memory), gets an `error`; the others still run. Every
    process ends within a second when this one is gone, so killing the run leaves none behind."""
    spawn = multiprocessing.get_context("spawn")   # fork after torch's thread pool has started can hang
    results = spawn.Queue()
    pending, running, silent = list(range(len(work))), {}, set()
    done: dict[int, Done] = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                i = pending.pop(0)
                running[i] = proc = spawn.Process(target=_worker, args=(fn, work[i], i, threads, results,
                                                                        os.getpid()), daemon=True)
                proc.start()
            try:
                i, outcome = results.get(timeout=1.0)
                running.pop(i).join()
                done[i] = outcome
            except queue.Empty:
                # a process flushes its result before it exits, so one that ended a whole wait ago and is
                # still running here sent none (an exit code, or a result the queue could not pickle)
                for i, proc in list(running.items()):
                    if proc.exitcode is not None and (proc.exitcode != 0 or i in silent):
                        running.pop(i)
                        logger.error("job %d: its process ended with exit code %s", i, proc.exitcode)
                        done[i] = Done(error=f"process ended with exit code {proc.exitcode} and no result")
                silent = {i for i, proc in running.items() if proc.exitcode == 0}
    finally:  # interrupted: leave no job running
        for proc in running.values():
            proc.terminate()
    return [done[i] for i in range(len(work))]


def _worker(fn: Callable[[Any], Any], item: Any, index: int, threads: int, results, parent: int) -> None:
    import torch

    _exit_with(parent)
    torch.set_num_threads(threads)
    try:
        outcome = Done(result=fn(item))
    except Exception as err:
        logger.error("job %d failed:\n%s", index, traceback.format_exc())
        outcome = Done(error=f"{type(err).__name__}: {err}")
    results.put((index, outcome))


def _exit_with(parent: int) -> None:
    """End this process when its parent is gone (killed with no chance to stop its jobs)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
