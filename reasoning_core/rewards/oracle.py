"""An exact step checker for the built-in arith task, shaped like a reward model.

It is an oracle (kind "oracle"): it knows the true answer, so it is for ground-truth comparisons and
upper bounds, never a fair competitor to a learned PRM.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..tasks.arith import check_steps


class ArithOracle:
    """1.0 for each correct arith step, 0.0 from the first wrong one on (see `check_steps`)."""

    kind: str = "oracle"

    def score(self, problem: str, paths: Sequence[Sequence[str]]) -> list[list[float]]:
        return [[1.0 if ok else 0.0 for ok in check_steps(problem, list(path))] for path in paths]
