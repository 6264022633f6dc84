"""The built-in `arith` task: multi-step arithmetic, one operation per step, then an answer line.

    Question: Compute left to right: 17 + 25 * 3 - 40
    Answer:
    17 + 25 = 42
    42 * 3 = 126
    126 - 40 = 86
    The answer is 86

Problems are generated from a seed; difficulty is the number of operations and of digits.
Because every step is checkable, the task has an exact step checker (see `check_steps`).
"""
from __future__ import annotations

import random
import re
from collections.abc import Collection
from dataclasses import dataclass

from .answers import extract_answer, is_equivalent
from .example import Example
from .generated import StepTask, draw

OPS = ("+", "-", "*")
_STEP = re.compile(r"^\s*(-?\d+)\s*([+\-*])\s*(-?\d+)\s*=\s*(-?\d+)\s*$")
_PROBLEM = re.compile(r"^\s*(?:Compute left to right:\s*)?(\d+(?:\s*[+\-*]\s*\d+)+)\s*$")


@dataclass(frozen=True)
class ArithProblem:
    start: int
    ops: tuple[tuple[str, int], ...]

    @property
    def text(self) -> str:
        return "Compute left to right: " + " ".join([str(self.start)] + [f"{op} {x}" for op, x in self.ops])

    def steps(self) -> list[str]:
        """The gold chain: one operation per step, then the answer line."""
        out, acc = [], self.start
        for op, x in self.ops:
            new = apply_op(acc, op, x)
            out.append(f"{acc} {op} {x} = {new}")
            acc = new
        return out + [f"The answer is {acc}"]

    @property
    def answer(self) -> str:
        return self.steps()[-1].removeprefix("The answer is ")

    @property
    def difficulty(self) -> int:
        return len(self.ops)


def apply_op(a: int, op: str, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


def make_problem(rng: random.Random, num_ops: int, digits: int) -> ArithProblem:
    """Operands have up to `digits` digits; multipliers stay one digit so numbers stay readable."""
    hi = 10 ** digits - 1
    ops = []
    for _ in range(num_ops):
        op = rng.choice(OPS)
        ops.append((op, rng.randint(2, 9) if op == "*" else rng.randint(1, hi)))
    return ArithProblem(start=rng.randint(1, hi), ops=tuple(ops))


# Level L: 1-4 operations (L mod 4) on one-digit operands (levels 1-4) or up to two digits (5-8).
LEVELS = tuple(range(1, 9))
DEFAULT_LEVELS = LEVELS


def level_shape(level: int) -> tuple[int, int]:
    """(operations, digits) of a difficulty level."""
    if level not in LEVELS:
        raise ValueError(f"arith has levels {LEVELS[0]}-{LEVELS[-1]}, not {level}")
    return (level - 1) % 4 + 1, 1 if level <= 4 else 2


def _example(problem: ArithProblem, level: int | None = None) -> Example:
    return Example(problem.text, problem.answer, tuple(problem.steps()), level or problem.difficulty)


def generate(split: str, count: int, *, seed: int = 0, levels: Collection[int] | None = None) -> list[Example]:
    """`count` problems of one split (see `generated.draw`); difficulty is the level (operations x digits)."""
    def make(rng: random.Random, level: int) -> Example:
        return _example(make_problem(rng, *level_shape(level)), level)

    return draw(split, count, make, task="arith", seed=seed, levels=levels or DEFAULT_LEVELS)


def problems(split: str, count: int, *, seed: int = 0, min_ops: int = 1, max_ops: int = 4,
             digits: int = 1) -> list[Example]:
    """An explicit operations/digits mix, drawn without the split partition (the seeded test fixtures)."""
    rng = random.Random(f"arith/{split}/{seed}")
    return [_example(make_problem(rng, rng.randint(min_ops, max_ops), digits)) for _ in range(count)]


def parse_problem(text: str) -> ArithProblem | None:
    """Read a typed problem such as "17 + 25 * 3 - 40" (left to right); None when it is not one."""
    m = _PROBLEM.match(text)
    if not m:
        return None
    tokens = re.findall(r"\d+|[+\-*]", m.group(1))
    ops = tuple((tokens[i], int(tokens[i + 1])) for i in range(1, len(tokens), 2))
    return ArithProblem(start=int(tokens[0]), ops=ops)


def check_steps(problem_text: str, steps: list[str]) -> list[bool]:
    """Exact per-step labels: a step is good when it applies the problem's next operation to the
    previous result correctly, and the answer line states the true value. The first wrong step and
    every step after it are bad: the chain can no longer reach the answer (the PRM800K convention)."""
    problem = parse_problem(problem_text)
    if problem is None:
        return [False] * len(steps)
    labels, acc, op_index, alive = [], problem.start, 0, True
    for step in steps:
        answer = extract_answer(step)
        if answer is not None:
            ok = alive and op_index == len(problem.ops) and is_equivalent(answer, str(acc))
            labels.append(ok)
            alive = alive and ok
            continue
        m = _STEP.match(step)
        ok = False
        if m and alive and op_index < len(problem.ops):
            a, op, b, c = int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
            want_op, want_b = problem.ops[op_index]
            ok = a == acc and op == want_op and b == want_b and c == apply_op(a, op, b)
        if ok:
            acc = apply_op(acc, *problem.ops[op_index])
            op_index += 1
        alive = alive and ok
        labels.append(ok)
    return labels


def recognise(text: str) -> bool:
    return parse_problem(text.strip()) is not None


def solve(text: str) -> str | None:
    parsed = parse_problem(text.strip())
    return None if parsed is None else parsed.answer


def canonical(text: str) -> str:
    """"17 + 25" and "Compute left to right: 17 + 25" read the same."""
    parsed = parse_problem(text)
    return parsed.text if parsed is not None else text


TASK = StepTask("arith", canonical)
KIND = 'left-to-right arithmetic such as "17 + 25 * 3"'
