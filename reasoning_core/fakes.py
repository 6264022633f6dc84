"""Seeded stand-in models for the `arith` task: exact strategy tests, engine benchmarks with no
model cost, and demos without checkpoints. They honour the same protocols as the real backends."""
from __future__ import annotations

import hashlib
import math
import random
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from .protocols import Continuation
from .tasks.arith import apply_op, check_steps, parse_problem

_QUESTION = re.compile(r"Question: (.*)\nAnswer:\n", re.S)
_RESULT = re.compile(r"=\s*(-?\d+)\s*$")


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


@dataclass
class FakeArithGenerator:
    """Proposes the right next step with probability `accuracy`, else a step off by a small amount.
    A sample depends on (prefix, seed, its position in the batch), like seeded batched sampling:
    identical prefixes in one batch still get independent samples. Greedy depends on the prefix only."""

    accuracy: float = 0.7
    finish_with_eos: bool = False
    tasks: ClassVar[tuple[str, ...]] = ("arith",)  # what it can read, as a trained checkpoint records it

    def propose(self, prefixes: Sequence[str], n: int, *, stop: str, max_new_tokens: int,
                temperature: float, seed: int,
                cancel: threading.Event | None = None) -> list[list[Continuation]]:
        return [[self._one(prefix, seed, i * n + k, temperature, max_new_tokens) for k in range(n)]
                for i, prefix in enumerate(prefixes)]

    def _one(self, prefix: str, seed: int, k: int, temperature: float, max_new_tokens: int) -> Continuation:
        m = _QUESTION.search(prefix)
        problem = parse_problem(m.group(1)) if m else None
        if problem is None:
            return Continuation("The answer is 0", 16, -5.0, True)
        steps = [s for s in prefix[m.end():].split("\n") if s]  # type: ignore[union-attr]
        rng = _rng(prefix) if temperature == 0 else _rng(prefix, seed, k)  # greedy ignores the seed
        acc = problem.start
        for step in steps:
            r = _RESULT.search(step)
            acc = int(r.group(1)) if r else acc
        ops_done = sum(1 for s in steps if _RESULT.search(s))
        right = rng.random() < self.accuracy
        if ops_done >= len(problem.ops):
            value = acc if right else acc + rng.choice([-2, -1, 1, 2])
            text = f"The answer is {value}"
        else:
            op, x = problem.ops[ops_done]
            value = apply_op(acc, op, x) + (0 if right else rng.choice([-10, -1, 1, 10]))
            text = f"{acc} {op} {x} = {value}"
        text = text[:max_new_tokens]
        logprob = -0.1 * len(text) if right else -0.4 * len(text)
        finished = self.finish_with_eos and text.startswith("The answer is")
        return Continuation(text, max(1, min(len(text) + 1, max_new_tokens)), logprob, finished)


@dataclass
class FakeArithPRM:
    """The exact checker blurred by seeded noise: right steps score near `high`, wrong near `low`."""

    noise: float = 0.1
    high: float = 0.9
    low: float = 0.1
    kind: str = "prm"

    def score(self, problem: str, paths: Sequence[Sequence[str]]) -> list[list[float]]:
        out = []
        for path in paths:
            labels = check_steps(problem, list(path))
            row = []
            for i, ok in enumerate(labels):
                jitter = _rng(problem, *path[: i + 1]).uniform(-self.noise, self.noise)
                row.append(min(1.0, max(0.0, (self.high if ok else self.low) + jitter)))
            out.append(row)
        return out


@dataclass
class ScriptedGenerator:
    """A generator whose steps come from a function of (prefix, sample index in the batch, seed);
    for tests of prompt formats and strategies on tasks other than arith."""

    fn: Callable[[str, int, int], str]
    eos_marker: str = "\x00"  # a returned text ending with it finishes the chain

    def propose(self, prefixes: Sequence[str], n: int, *, stop: str, max_new_tokens: int,
                temperature: float, seed: int,
                cancel: threading.Event | None = None) -> list[list[Continuation]]:
        out = []
        for i, prefix in enumerate(prefixes):
            row = []
            for k in range(n):
                text = self.fn(prefix, i * n + k, seed if temperature > 0 else 0)
                finished = text.endswith(self.eos_marker)
                text = text.removesuffix(self.eos_marker).split(stop, 1)[0][:max_new_tokens]
                row.append(Continuation(text, max(1, min(len(text), max_new_tokens)), -0.1 * len(text), finished))
            out.append(row)
        return out


@dataclass
class ScriptedReward:
    """A reward model whose per-step scores come from a function of (problem, steps) - for tests."""

    fn: Callable[[str, Sequence[str]], list[float]]
    kind: str = "prm"

    def score(self, problem: str, paths: Sequence[Sequence[str]]) -> list[list[float]]:
        return [self.fn(problem, path) for path in paths]


def nan_reward() -> ScriptedReward:
    """A broken PRM that returns NaN, to check that errors reach the user readably."""
    return ScriptedReward(lambda problem, steps: [math.nan] * len(steps))
