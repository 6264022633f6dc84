"""The contracts between search and models: Generator, RewardModel, Task, and their value types.

Everything is batched: one generator call proposes continuations for many prefixes, one reward
call scores many paths. Strategies only ever talk to models through these protocols.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

Aggregation = Literal["min", "last", "prod", "mean"]
AGGREGATIONS: tuple[str, ...] = ("min", "last", "prod", "mean")


class ModelError(RuntimeError):
    """A model misbehaved (bad output, missing weights); the message is meant for the user."""


class InputError(ValueError):
    """Bad user input (empty problem, impossible setting); the message is meant for the user."""


@dataclass(frozen=True)
class Continuation:
    """One proposed reasoning step.

    `text` excludes the step delimiter; `logprob` is the sum of the sampled tokens' log-probs;
    `finished` means the model ended the whole chain (EOS) rather than just the step.
    """

    text: str
    num_tokens: int
    logprob: float
    finished: bool


@runtime_checkable
class Generator(Protocol):
    """Proposes next steps. Returns, for each prefix, `n` continuations (in a deterministic order).

    `cancel`, when set during a call, asks the backend to stop early (its output is then discarded);
    backends that cannot interrupt a call may ignore it."""

    def propose(
        self,
        prefixes: Sequence[str],
        n: int,
        *,
        stop: str,
        max_new_tokens: int,
        temperature: float,
        seed: int,
        cancel: threading.Event | None = None,
    ) -> list[list[Continuation]]: ...


@runtime_checkable
class RewardModel(Protocol):
    """Scores paths. Returns, for each path (a list of step texts), one score in [0, 1] per step.

    `kind` is "prm" (process), "orm" (outcome: every entry is the score of the path as a whole)
    or "oracle" (exact checker, for ground-truth comparisons only).
    """

    kind: str

    def score(self, problem: str, paths: Sequence[Sequence[str]]) -> list[list[float]]: ...


@runtime_checkable
class Task(Protocol):
    """How problems of one kind are posed to a generator and how their answers are judged."""

    name: str
    step_delimiter: str

    def prompt(self, problem: str) -> str: ...

    def extract_answer(self, text: str) -> str | None: ...

    def is_correct(self, answer: str | None, reference: str) -> bool: ...


def nothing_to_propose(prefixes: Sequence[str], n: int, max_new_tokens: int, stop: str, temperature: float) -> bool:
    """Whether a `propose` call has no prefixes; raises on settings every backend refuses."""
    if n < 1 or max_new_tokens < 1 or not stop or temperature < 0:
        raise ValueError("propose needs n >= 1, max_new_tokens >= 1, a non-empty stop and temperature >= 0")
    return not prefixes


def aggregate(scores: Sequence[float], how: str = "min") -> float:
    """Collapse per-step scores of one path into a single value (empty path -> 0.5, no evidence)."""
    if how not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {how!r}; valid: {', '.join(AGGREGATIONS)}")
    if not scores:
        return 0.5
    if how == "min":
        return min(scores)
    if how == "last":
        return scores[-1]
    if how == "prod":
        return math.prod(scores)
    return sum(scores) / len(scores)


def check_scores(scores: list[list[float]], paths: Sequence[Sequence[str]]) -> list[list[float]]:
    """Validate a reward model's output: shape matches the paths, every score finite and in [0, 1]."""
    if len(scores) != len(paths):
        raise ModelError(f"reward model returned {len(scores)} score lists for {len(paths)} paths")
    for path, row in zip(paths, scores):
        if len(row) != len(path):
            raise ModelError(f"reward model returned {len(row)} scores for a path of {len(path)} steps")
        for s in row:
            if not math.isfinite(s) or not 0.0 <= s <= 1.0:
                raise ModelError(
                    f"reward model returned an invalid step score {s!r}; scores must be finite and in [0, 1]"
                )
    return scores
