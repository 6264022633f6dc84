"""Example problems for the tabs' gr.Examples: held-out arith problems, then word problems."""
from __future__ import annotations

from reasoning_core.tasks import held_out_examples

# Word problems for models that read GSM8K / MATH prompts (the tiny default models only do arith).
WORD_EXAMPLES = [
    ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many "
     + "clips did Natalia sell altogether in April and May?", "72", "math"),
    ("Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did "
     + "she earn?", "10", "math"),
    ("What is the smallest positive integer $n$ such that $3n \\equiv 1356 \\pmod{22}$?", "12", "math"),
    ("If $x + y = 10$ and $x - y = 2$, what is the value of $x^2 - y^2$?", "20", "math"),
]


def example_rows(count: int = 6) -> list[list[str]]:
    """[problem, reference, task] rows: `count` held-out arith problems, then the word problems."""
    rows = [[ex.problem, ex.reference, "arith"] for ex in held_out_examples("arith", count)]
    return rows + [list(r) for r in WORD_EXAMPLES]
