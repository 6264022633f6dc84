"""Tasks: prompt formats, answer extraction and grading, and where problems come from.

The generated tasks (`arith`, `letters`, `word`; see `generated` for their contract) come with splits, gold chains,
difficulty levels and an exact step checker; `math` is the GSM8K / MATH prompt format for files and real
models.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from types import ModuleType

from ..checkpoints import trained_levels
from ..protocols import Task
from . import arith, letters, word
from .example import Example
from .generated import StepTask
from .loaders import load_jsonl
from .math_task import MathTask

# detect() asks them in this order: the strictest readers first
GENERATED: dict[str, ModuleType] = {"arith": arith, "letters": letters, "word": word}
TASKS: dict[str, Task] = {**{name: module.TASK for name, module in GENERATED.items()}, "math": MathTask()}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid: {', '.join(TASKS)}")
    return TASKS[name]


def generated(name: str) -> ModuleType:
    """The module of a generated task (splits, levels, `check_steps`)."""
    if name not in GENERATED:
        raise ValueError(f"task {name!r} has no built-in problems; valid: {', '.join(GENERATED)} "
                         "(or pass a JSONL file)")
    return GENERATED[name]


def levels_trained(folder: Path, task: str) -> list[int]:
    """The levels of `task` a checkpoint was trained on (its stepwise.json), else the task's default mix."""
    return sorted(trained_levels(folder).get(task) or generated(task).DEFAULT_LEVELS)


def spread_levels(levels: Sequence[int], count: int) -> list[int]:
    """`count` of `levels` from the easiest to the hardest, evenly spaced (repeated when there are fewer)."""
    return [levels[round(i * (len(levels) - 1) / max(1, count - 1))] for i in range(count)]


def recognised(text: str) -> str | None:
    """The generated task that can read a free-form problem, or None."""
    return next((name for name, module in GENERATED.items() if module.recognise(text)), None)


def canonical(text: str) -> str:
    """A typed problem in the form its generated task writes (unchanged when no generated task reads it)."""
    name = recognised(text)
    return GENERATED[name].TASK.canonical(text) if name else text


# The one prompt format of every generated task: what a generator trained on all of them reads
STEPS = StepTask("steps", canonical)
TASKS["steps"] = STEPS


def detect(text: str) -> str:
    """The task a free-form problem belongs to: the generated task that reads it, else math (the GSM8K /
    MATH format)."""
    return recognised(text) or "math"


def check_steps(problem: str, steps: list[str]) -> list[bool]:
    """Exact step labels from the generated task that reads `problem` (all False when none does)."""
    name = recognised(problem)
    return generated(name).check_steps(problem, steps) if name else [False] * len(steps)


def solve(text: str) -> str | None:
    """The right answer of a typed problem, when a generated task reads it and can work it out."""
    name = recognised(text)
    return GENERATED[name].solve(text) if name else None


def coverage_notice(text: str, trained: Sequence[str] | None) -> str | None:
    """A word for the user when a problem is none of the generated tasks a generator was trained on (it
    will answer with confidence anyway); None when it is one of them or when nothing is known."""
    if not trained:
        return None
    name = recognised(text)
    if name in trained:
        return None
    kinds = ", ".join(f"{t} ({GENERATED[t].KIND})" for t in trained if t in GENERATED)
    read = f"reads as a {name} problem" if name else "reads as none of them"
    return (f"This generator was trained only on {kinds}; this problem {read}, so expect a confident wrong "
            "answer. Load a real model for anything else (a local Hugging Face folder, vllm:MODEL or "
            "openai:URL as the generator).")


def held_out_examples(task: str, count: int = 500, seed: int = 0,
                      levels: Collection[int] | None = None) -> list[Example]:
    """The held-out test problems of a generated task (what `--example K` and `eval` draw from), of
    `levels` only when given (the levels a generator was trained on)."""
    return generated(task).generate("test", count, seed=seed, levels=levels)


__all__ = [
    "GENERATED",
    "STEPS",
    "TASKS",
    "Example",
    "MathTask",
    "StepTask",
    "arith",
    "canonical",
    "check_steps",
    "coverage_notice",
    "detect",
    "generated",
    "get_task",
    "held_out_examples",
    "letters",
    "levels_trained",
    "load_jsonl",
    "recognised",
    "solve",
    "spread_levels",
    "word",
]
