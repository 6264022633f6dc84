"""`Example`: one problem with its reference answer, the value every problem source produces."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    """One problem with its reference answer (and gold steps and difficulty when known)."""

    problem: str
    reference: str
    steps: tuple[str, ...] = ()
    difficulty: int | None = None
