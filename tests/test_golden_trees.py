"""Same seed, same tree, across versions: every strategy's tree, answer and stats on fixed problems and
seeds, against a digest committed with the code. A change that moves any node of any tree shows up here;
when the change is meant, regenerate with `python tests/test_golden_trees.py` and say why in the commit."""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from reasoning_core.budget import Budget
from reasoning_core.fakes import FakeArithGenerator, FakeArithPRM
from reasoning_core.run import solve
from reasoning_core.search import STRATEGIES, Problem, make_config
from reasoning_core.tasks import arith, get_task

GOLDEN = Path(__file__).parent / "golden" / "trees.json"
EXAMPLES = arith.problems("test", 3, min_ops=2, max_ops=5, digits=2)
CASES = [(name, i, seed, cap) for name in STRATEGIES for i in range(len(EXAMPLES)) for seed, cap in
         ((0, {}), (7, {}), (1, {"max_nodes": 9}), (2, {"max_tokens": 150}))]


def digest(name: str, i: int, seed: int, cap: dict) -> str:
    ex = EXAMPLES[i]
    result = solve(name, Problem(ex.problem, get_task("arith"), ex.reference), FakeArithGenerator(0.7),
                   FakeArithPRM(), Budget(**cap), make_config(name, None, seed=seed))
    stats = {k: v for k, v in result.stats.items() if k not in ("wall_s", "model_s")}
    blob = json.dumps([result.tree.to_dict(), result.answer, result.status, result.leaf_id, stats], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def key(name: str, i: int, seed: int, cap: dict) -> str:
    return f"{name}/{i}/{seed}/{json.dumps(cap, sort_keys=True)}"


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_tree_matches_its_committed_digest(name):
    golden = json.loads(GOLDEN.read_text())
    for case in [c for c in CASES if c[0] == name]:
        assert digest(*case) == golden[key(*case)], key(*case)


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps({key(*c): digest(*c) for c in CASES}, indent=1, sort_keys=True) + "\n")
    sys.stdout.write(f"wrote {len(CASES)} digests to {GOLDEN}\n")
