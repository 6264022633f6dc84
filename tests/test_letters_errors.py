"""experiments/letters_errors.py: a greedy letters chain's first wrong step is classed as the study says."""
from __future__ import annotations

import pytest

from experiments.letters_errors import first_error
from reasoning_core.tasks import letters

PROBLEM = "How many r's are in strawberry?"
GOLD = letters.parse(PROBLEM).steps()


def with_step(k: int, text: str) -> list[str]:
    return [text if i == k else s for i, s in enumerate(GOLD)]


def test_the_gold_chain_has_no_error():
    assert first_error(PROBLEM, GOLD) == "none"


@pytest.mark.parametrize(("steps", "kind"), [
    (lambda: with_step(0, GOLD[0].replace("s t r", "s t", 1)), "spelling"),  # a letter skipped
    (lambda: with_step(0, GOLD[0].rsplit("->", 1)[0] + "-> 5"), "count"),     # right letters, wrong count
    (lambda: with_step(len(GOLD) - 1, "The answer is 7"), "answer"),          # every chunk right, answer wrong
    (lambda: GOLD[:-1], "answer"),                                            # no answer line
])
def test_the_first_wrong_step_is_classed_by_what_went_wrong(steps, kind):
    assert first_error(PROBLEM, steps()) == kind
