"""Sharded evaluation: `eval --shard I/K` runs part I of K of a benchmark (on another machine, say) and
writes a part file; `eval merge PART...` checks that the parts are every part of one run and writes the
tables a single run writes.

Shard I holds the problems whose index is I modulo K (interleaved, so each part gets a like mix of the
problem set's order, its levels and lengths). A problem keeps its index in the whole set, and with it its
seeds, so its rows are the rows a single run gives it. A part records the run's identity (strategies,
sizes, knobs, budget, task, a digest of the problems, the models: for servers what they serve, not
their addresses, since each machine may reach its own); parts merge only when it is the same.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .eval import SERVER_COLUMNS, EvalSpec, tables
from .protocols import InputError
from .tasks import Example

PART_FORMAT = "stepwise-eval-part/1"


@dataclass(frozen=True)
class Shard:
    """Part `index` (from 0) of `count`."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """A shard from "I/K" (0 <= I < K), or an InputError saying what is wrong."""
        head, _, tail = text.partition("/")
        if not (head.strip().isdigit() and tail.strip().isdigit()) or not 0 <= int(head) < int(tail):
            raise InputError(f"--shard must be I/K with 0 <= I < K, e.g. 0/4 ... 3/4; got {text!r}")
        return cls(int(head), int(tail))

    def problems(self, total: int) -> range:
        """The indices of this shard's problems among `total`."""
        return range(self.index, total, self.count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def run_identity(spec: EvalSpec, examples: Sequence[Example], task: str, models: dict[str, str | None]) -> dict:
    """Everything a run's rows depend on, as plain JSON; two parts merge only when theirs are equal."""
    problems = json.dumps([[e.problem, e.reference, e.difficulty] for e in examples])
    return {"strategies": list(spec.strategies), "sizes": list(spec.sizes), "seed": spec.seed,
            "overrides": dict(spec.overrides or {}), "budget": asdict(spec.budget), "pool": spec.pool,
            "resamples": spec.resamples, "task": task, "problems": len(examples),
            "problems_sha256": hashlib.sha256(problems.encode()).hexdigest(), **models}


def part_name(shard: Shard) -> str:
    return f"part-{shard.index}-of-{shard.count}.json"


def write_part(out: str | Path, run: dict, shard: Shard, per_run: pd.DataFrame, servers: pd.DataFrame) -> Path:
    """Write one shard's rows (and its servers' load) with the run's identity to `out`/part-I-of-K.json."""
    path = Path(out) / part_name(shard)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = {"format": PART_FORMAT, "run": run, "shard": [shard.index, shard.count],
            "rows": per_run.to_dict("records"), "servers": servers.to_dict("records")}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(part, indent=1))
    tmp.replace(path)  # a part file is whole or absent
    return path


@dataclass
class Merged:
    """A merged run: its identity and the tables a single run of it writes (servers: one row per server
    and shard)."""

    run: dict
    summary: pd.DataFrame
    per_run: pd.DataFrame
    servers: pd.DataFrame


def merge_parts(paths: Sequence[str | Path]) -> Merged:
    """Every part of one run -> its tables; an InputError names the first problem: an unreadable file, parts
    of different runs or splits, a shard given twice or missing, a part without its rows."""
    if not paths:
        raise InputError("eval merge needs the part files of a run: eval merge PART... --out DIR")
    parts = [(Path(p), _read_part(Path(p))) for p in paths]
    (first, head), *rest = parts
    count = head["shard"][1]
    for path, part in rest:
        if part["shard"][1] != count:
            raise InputError(f"{first} is a part of {count} and {path} a part of {part['shard'][1]}: "
                             "merge the parts of one split")
        if part["run"] != head["run"]:
            differ = sorted(k for k in {*head["run"], *part["run"]} if head["run"].get(k) != part["run"].get(k))
            what = "; ".join(f"{k}: {head['run'].get(k)!r} vs {part['run'].get(k)!r}" for k in differ)
            raise InputError(f"{first} and {path} are parts of different runs ({what})")
    owner: dict[int, tuple[Path, dict]] = {}
    for path, part in parts:
        index = part["shard"][0]
        if index in owner:
            raise InputError(f"shard {index}/{count} is given twice: {owner[index][0]} and {path}")
        owner[index] = path, part
    missing = [f"{i}/{count}" for i in range(count) if i not in owner]
    if missing:
        which = f"shard {missing[0]} is" if len(missing) == 1 else f"shards {', '.join(missing)} are"
        raise InputError(f"{which} missing: merge needs all {count} parts of the run "
                         f"(got {', '.join(f'{i}/{count}' for i in sorted(owner))})")
    run = head["run"]
    rows = _in_job_order(run, count, {i: (path, part["rows"]) for i, (path, part) in owner.items()})
    return Merged(run, *tables(rows), _servers(count, {i: part["servers"] for i, (_, part) in owner.items()}))


def _read_part(path: Path) -> dict[str, Any]:
    try:
        part = json.loads(path.read_text())
    except OSError as err:
        raise InputError(f"cannot read the part file {path}: {err.strerror or err}") from None
    except ValueError:
        raise InputError(f"{path} is not an eval part file (not JSON)") from None
    if not isinstance(part, dict) or part.get("format") != PART_FORMAT or \
            not {"run", "shard", "rows", "servers"} <= part.keys():
        raise InputError(f"{path} is not an eval part file ({PART_FORMAT}); `eval --shard I/K` writes them")
    shard = part["shard"]
    if not (isinstance(shard, list) and len(shard) == 2 and all(isinstance(x, int) for x in shard)
            and 0 <= shard[0] < shard[1]):
        raise InputError(f"{path} names no valid shard I/K (it says {shard!r})")
    return part


def _in_job_order(run: dict, count: int, parts: dict[int, tuple[Path, list[dict]]]) -> list[dict]:
    """The parts' rows in the order a single run makes them (strategy, size, problem), each checked
    against the job it should be."""
    queues = {i: iter(rows) for i, (_, rows) in parts.items()}
    rows = []
    for strategy in run["strategies"]:
        for size in run["sizes"]:
            for problem in range(run["problems"]):
                row = next(queues[problem % count], None)
                if row is None or (row["strategy"], row["size"], row["problem"]) != (strategy, size, problem):
                    raise InputError(f"{parts[problem % count][0]} lacks the row of {strategy} at size {size} on "
                                     f"problem {problem}; was its run stopped early?")
                rows.append(row)
    for i, queue in queues.items():
        if next(queue, None) is not None:
            raise InputError(f"{parts[i][0]} holds more rows than its shard's searches")
    return rows


def _servers(count: int, loads: dict[int, list[dict]]) -> pd.DataFrame:
    rows = [{"shard": f"{i}/{count}", **load} for i in sorted(loads) for load in loads[i]]
    return pd.DataFrame(rows, columns=["shard", *SERVER_COLUMNS])
