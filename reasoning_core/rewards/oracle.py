"""The exact step checker of the generated tasks, shaped like a reward model.

It is an oracle (kind "oracle"): it knows the true answer, so it is for ground-truth comparisons and
upper bounds, never a fair competitor to a learned PRM.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..tasks import check_steps


class TaskOracle:
    """1.0 for each correct step (checked by the generated task that reads the problem), 0.0 from the
    first wrong one on (see `tasks.check_steps`)."""

    kind: str = "oracle"

    def score(self, problem: str, paths: Sequence[Sequence[str]]) -> list[list[float]]:
        return [[1.0 if ok else 0.0 for ok in check_steps(problem, list(path))] for path in paths]
