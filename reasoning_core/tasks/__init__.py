"""Tasks: prompt formats, answer extraction and grading, and where problems come from."""
from __future__ import annotations

from ..protocols import Task
from .arith import ArithTask, parse_problem
from .loaders import Example, arith_examples, load_jsonl
from .math_task import MathTask

TASKS: dict[str, Task] = {"arith": ArithTask(), "math": MathTask()}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid: {', '.join(TASKS)}")
    return TASKS[name]


def detect(text: str) -> str:
    """The built-in task a free-form problem belongs to: arith when it parses as a left-to-right
    arithmetic problem, else math (the GSM8K / MATH format)."""
    return "arith" if parse_problem(text.strip()) is not None else "math"


def held_out_examples(task: str, count: int = 500, seed: int = 0) -> list[Example]:
    """The held-out problems of a built-in task (what `--example K` and `eval` draw from)."""
    if task != "arith":
        raise ValueError(f"task {task!r} has no built-in problems; pass a JSONL file instead")
    return arith_examples("test", count, seed=seed)


__all__ = [
    "TASKS",
    "ArithTask",
    "Example",
    "MathTask",
    "arith_examples",
    "detect",
    "get_task",
    "held_out_examples",
    "load_jsonl",
]
