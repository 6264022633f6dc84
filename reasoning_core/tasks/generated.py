"""The contract of a built-in generated task (arith, word, letters), and the prompt format they share.

A generated task module provides:

* `generate(split, count, *, seed=0, levels=None) -> list[Example]`: problems of one split ("train",
  "validation", "test"), the same on every machine for the same seed; splits never overlap; each
  `Example` carries its gold steps and its difficulty level; `levels` (a collection of ints from
  `LEVELS`) restricts the mix, None means `DEFAULT_LEVELS`.
* `LEVELS` (all difficulty levels, easiest first) and `DEFAULT_LEVELS` (the mix the default models train on).
* `recognise(text) -> bool`: whether a free-form problem is one this task can read.
* `check_steps(problem, steps) -> list[bool]`: exact per-step labels (the first wrong step and every step
  after it are bad, the PRM800K convention); the `oracle` reward.
* `TASK`: its `StepTask` (the prompt format and grading below).
* `solve(text) -> str | None`: the right answer of a problem typed in, when the task can work it out.
* `KIND`: what its problems are, in a few words with an example, for the messages users read.

All three share one prompt format, so one generator serves them: "Question: ...\\nAnswer:\\n", then one
step per line, the last line "The answer is N".
"""
from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from .answers import extract_answer, is_equivalent
from .example import Example


def _same(text: str) -> str:
    return text


@dataclass(frozen=True)
class StepTask:
    """Prompt format and grading of a generated task; `canonical` rewrites a typed problem into the form
    the task's own problems take (arith: "17 + 25" -> "Compute left to right: 17 + 25")."""

    name: str
    canonical: Callable[[str], str] = field(default=_same, compare=False, repr=False)
    step_delimiter: str = "\n"

    def prompt(self, problem: str) -> str:
        return f"Question: {self.canonical(problem.strip())}\nAnswer:\n"

    def extract_answer(self, text: str) -> str | None:
        return extract_answer(text)

    def is_correct(self, answer: str | None, reference: str) -> bool:
        return answer is not None and is_equivalent(answer, reference)


SPLIT_BUCKETS = {"train": range(0, 8), "validation": range(8, 9), "test": range(9, 10)}


def split_of(problem: str) -> str:
    """The one split a problem text belongs to (a stable hash of the text: 80/10/10), so the splits of
    every task are disjoint even where its problem space is small (9 * 3 * 9 one-operation sums)."""
    bucket = int(hashlib.sha256(problem.encode()).hexdigest(), 16) % 10
    return next(name for name, b in SPLIT_BUCKETS.items() if bucket in b)


def draw(split: str, count: int, make: Callable[[random.Random, int], Example], *, task: str, seed: int,
         levels: Collection[int]) -> list[Example]:
    """`count` problems of `split`: each draws a level, then `make(rng, level)` proposes problems until one
    falls in the split. Repeats are allowed (the easiest levels hold only a few hundred problems)."""
    if split not in SPLIT_BUCKETS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLIT_BUCKETS)}")
    levels = sorted(levels)
    if not levels:
        raise ValueError(f"{task}: no difficulty levels given")
    rng = random.Random(f"{task}/{split}/{seed}")
    out = []
    for _ in range(count):
        level = rng.choice(levels)
        for _ in range(10_000):
            ex = make(rng, level)
            if split_of(ex.problem) == split:
                out.append(ex)
                break
        else:  # a level with no problem in this split: its generator is broken
            raise ValueError(f"{task}: level {level} produced no {split} problem in 10000 draws")
    return out
