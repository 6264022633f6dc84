"""Mutation testing: how many one-line breaks of the engine the test suite notices (mutmut).

    python -m bench.mutation                       # every group below (about 21 minutes on 2 cores)
    python -m bench.mutation --groups budget,eval  # some of them
    python -m bench.mutation --modules reasoning_core/rewards/chat_prm.py  # some files of their groups
    python -m bench.mutation --out bench/results/mutation

Each group mutates some modules and runs the tests that exercise them, in a scratch copy of the
repository (mutmut writes its `mutants/` folder there, never in the work tree). Prints the kill rate
per module and every surviving mutant as a diff. A full run writes `mutation.json`; a partial one
(--groups, --modules) merges into it: the modules it measured replace their rows, the others keep the
last full run's (as does `wall_s`). `equivalent.md` beside it classifies every survivor of the last full
run: the test that now kills it, or why it is equivalent. A benchmark, not a CI gate: the suite's other
tests do not depend on it.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SEARCH_TESTS = ("tests/test_search.py", "tests/test_search_meaning.py", "tests/test_properties.py",
                "tests/test_golden_trees.py", "tests/test_search_context.py", "tests/test_golden_knobs.py")


@dataclass(frozen=True)
class Group:
    """Modules mutated together, and the tests that should notice."""

    name: str
    mutate: tuple[str, ...]   # glob patterns of files, relative to the repository
    tests: tuple[str, ...]
    skip: str = ""            # a pytest -k expression of tests too slow to rerun per mutant


GROUPS = {g.name: g for g in (
    Group("search", ("reasoning_core/search/*.py",), SEARCH_TESTS),
    Group("budget", ("reasoning_core/budget.py",), SEARCH_TESTS + ("tests/test_budget.py",)),
    Group("eval", ("reasoning_core/eval.py",), ("tests/test_eval.py", "tests/test_cli.py")),
    Group("rewards", ("reasoning_core/rewards/*.py",),
          ("tests/test_rewards.py", "tests/test_reward_presets.py", "tests/test_agreement.py",
           "tests/test_orm_recipe.py", "tests/test_reward_settings.py", "tests/test_reward_reading.py",
           "tests/test_vllm_prm.py")),
    Group("claims stats", ("bench/claims_lib/stats.py",), ("tests/test_claims.py", "tests/test_claims_meaning.py"),
          skip="quick_runner or search_claims_return_rows"),
)}
KILLED = {"killed", "timeout", "caught by type check", "segfault"}
NOT_COUNTED = {"skipped", "not checked", "check was interrupted by user"}


def scratch_copy(work: Path) -> Path:
    """The repository's files (tracked and new, not ignored) copied to `work`."""
    if work.exists():
        shutil.rmtree(work)
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, listed):
        src = REPO / name
        if src.is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, work / name)
    return work


def mutmut_config(group: Group) -> str:
    """The [tool.mutmut] section for one group. The whole packages are copied so imports resolve;
    only the group's files are mutated."""
    pytest_args = ["-q", "-p", "no:cacheprovider", "-m", "not slow"]
    if group.skip:
        pytest_args += ["-k", f"not ({group.skip})"]
    return "\n".join([
        "", "[tool.mutmut]",
        'source_paths = ["reasoning_core", "bench"]',
        f"only_mutate = {json.dumps(list(group.mutate))}",
        'also_copy = ["training", "ui", "assets", "app.py"]',
        f"pytest_add_cli_args_test_selection = {json.dumps([t for t in group.tests if (REPO / t).is_file()])}",
        f"pytest_add_cli_args = {json.dumps(pytest_args)}",
        ""])


def run_group(group: Group, work: Path, log) -> list[dict]:
    """Mutate, test, and read back one row per mutant: module, name, status (and the diff of survivors)."""
    from mutmut.stats import status_by_exit_code

    root = scratch_copy(work / group.name.replace(" ", "_"))
    with open(root / "pyproject.toml", "a") as f:
        f.write(mutmut_config(group))
    subprocess.run([sys.executable, "-m", "mutmut", "run"], cwd=root, stdout=log, stderr=subprocess.STDOUT,
                   check=False)
    rows = []
    for meta in sorted((root / "mutants").rglob("*.py.meta")):
        module = str(meta.relative_to(root / "mutants")).removesuffix(".meta")
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            status = status_by_exit_code[code]
            row = {"group": group.name, "module": module, "mutant": name, "status": status}
            if status not in KILLED | NOT_COUNTED:
                row["diff"] = mutant_diff(root, name)
            rows.append(row)
    return rows


def mutant_diff(root: Path, name: str) -> str:
    """The changed lines of one mutant, as mutmut shows them."""
    shown = subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=root, capture_output=True,
                           text=True, check=False).stdout
    return "\n".join(line for line in shown.splitlines()
                     if line[:1] in "+-" and not line.startswith(("+++", "---")))


def narrowed(modules: list[str]) -> dict[str, Group]:
    """The groups that mutate any of `modules`, each narrowed to those it mutates (tests unchanged)."""
    out = {}
    for group in GROUPS.values():
        mine = tuple(m for m in modules if any(fnmatch(m, pattern) for pattern in group.mutate))
        if mine:
            out[group.name] = dataclasses.replace(group, mutate=mine)
    return out


def merged(old: dict, new: dict) -> dict:
    """`old` results with the rows of the modules `new` measured replaced by its rows, in a full run's
    order (the table by group name, survivors by group as run); `wall_s` stays the old (full) run's."""
    measured = {m["module"] for m in new["modules"]}

    def rows(key: str, group_order) -> list[dict]:
        kept = [r for r in old[key] if r["module"] not in measured]
        # a stable sort: a module's survivors keep mutmut's order
        return sorted(kept + new[key], key=lambda r: (group_order(r["group"]), r["module"]))

    return {"wall_s": old["wall_s"], "modules": rows("modules", str),
            "survivors": rows("survivors", list(GROUPS).index)}


def summarise(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    counted = table[~table.status.isin(NOT_COUNTED)]
    out = counted.groupby(["group", "module"]).agg(
        mutants=("status", "size"), killed=("status", lambda s: int(s.isin(KILLED).sum())))
    out["survived"] = out.mutants - out.killed
    out["kill_rate"] = (out.killed / out.mutants).round(3)
    return out.reset_index()


def chosen_groups(p: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Group]:
    """The groups to run: all, those named by --groups, or those holding --modules (narrowed to them)."""
    if args.modules is not None:
        modules = [m.strip() for m in args.modules.split(",") if m.strip()]
        groups = narrowed(modules)
        outside = [m for m in modules if not (REPO / m).is_file() or not any(m in g.mutate for g in groups.values())]
        if outside or not modules:
            p.error(f"module(s) {outside} are no file of a group; groups mutate: "
                    f"{', '.join(pattern for g in GROUPS.values() for pattern in g.mutate)}")
        return groups
    names = [g.strip() for g in args.groups.split(",") if g.strip()] if args.groups is not None else list(GROUPS)
    unknown = [n for n in names if n not in GROUPS]
    if unknown or not names:
        p.error(f"unknown group(s) {unknown}; valid: {', '.join(GROUPS)}")
    return {n: GROUPS[n] for n in names}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--groups", help=f"comma-separated, from: {', '.join(GROUPS)} (default: all)")
    which.add_argument("--modules", help="comma-separated files, e.g. reasoning_core/budget.py: only these are mutated")
    p.add_argument("--out", type=Path, default=REPO / "bench/results/mutation", help="where mutation.json goes")
    args = p.parse_args(argv)
    groups = chosen_groups(p, args)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, started = [], time.time()
    (args.out / "work").mkdir(exist_ok=True)
    with open(args.out / "work" / "mutmut.log", "w") as log:  # mutmut's own progress, beside its scratch copies
        for name, group in groups.items():
            print(f"mutating {', '.join(group.mutate)} ({name}) ...", flush=True)
            rows += run_group(group, args.out / "work", log)
    table = summarise(rows)
    print(table.to_string(index=False))
    survivors = [r for r in rows if "diff" in r]
    for r in survivors:
        print(f"\n{r['status']}: {r['mutant']}\n{r['diff']}")
    results = {"wall_s": round(time.time() - started, 1), "modules": table.to_dict("records"), "survivors": survivors}
    path = args.out / "mutation.json"
    if groups != GROUPS and path.exists():  # a partial run: the modules it did not measure keep their rows
        print(f"\n{results['wall_s']} s for these modules; merged with the other modules' last results")
        results = merged(json.loads(path.read_text()), results)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
