"""Free-form math word problems (GSM8K, MATH): steps split by a blank line, answer in \\boxed{}."""
from __future__ import annotations

from dataclasses import dataclass

from .answers import extract_answer, is_equivalent


@dataclass(frozen=True)
class MathTask:
    name: str = "math"
    step_delimiter: str = "\n\n"
    template: str = ("Solve the problem step by step. Separate steps with a blank line and put the "
                     "final answer in \\boxed{{}}.\n\nProblem: {problem}\n\nSolution:\n")

    def prompt(self, problem: str) -> str:
        return self.template.format(problem=problem.strip())

    def extract_answer(self, text: str) -> str | None:
        return extract_answer(text)

    def is_correct(self, answer: str | None, reference: str) -> bool:
        return answer is not None and is_equivalent(answer, reference)
