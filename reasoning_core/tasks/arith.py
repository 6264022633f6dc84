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
from dataclasses import dataclass

from .answers import extract_answer, is_equivalent

OPS = ("+", "-", "*")
_STEP = re.compile(r"^\s*(-?\d+)\s*([+\-*])\s*(-?\d+)\s*=\s*(-?\d+)\s*$")
_PROBLEM = re.compile(r"^\s*(?:Compute left to right:\s*)?(\d+(?:\s*[+\-*]\s*\d+)+)\s*$")
SPLITS = {"train": 1, "validation": 2, "test": 3}


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


# The mix the default checkpoints are trained on, and what `--example K` and `eval` draw from.
DEFAULT_MIN_OPS, DEFAULT_MAX_OPS, DEFAULT_DIGITS = 1, 4, 1


def generate(split: str, count: int, *, seed: int = 0, min_ops: int = DEFAULT_MIN_OPS,
             max_ops: int = DEFAULT_MAX_OPS, digits: int = DEFAULT_DIGITS) -> list[ArithProblem]:
    """`count` problems of one split; splits draw from disjoint seed streams, so never overlap by design
    of the seed (and test problems are the same on every machine)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    rng = random.Random(f"arith/{split}/{seed}")
    return [make_problem(rng, rng.randint(min_ops, max_ops), digits) for _ in range(count)]


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


@dataclass(frozen=True)
class ArithTask:
    """Prompt format and grading for the built-in task."""

    name: str = "arith"
    step_delimiter: str = "\n"

    def prompt(self, problem: str) -> str:
        text = problem.strip()
        parsed = parse_problem(text)
        if parsed is not None:
            text = parsed.text  # "17 + 25" and "Compute left to right: 17 + 25" read the same
        return f"Question: {text}\nAnswer:\n"

    def extract_answer(self, text: str) -> str | None:
        return extract_answer(text)

    def is_correct(self, answer: str | None, reference: str) -> bool:
        return answer is not None and is_equivalent(answer, reference)
