"""The built-in `word` task: generated word problems, their gold chains, the exact and the consistent step
checker, `recognise` and detection, variety and length."""
from __future__ import annotations

import random
import re

import pytest

from reasoning_core import tasks
from reasoning_core.tasks import word

NATALIA = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
           "How many clips did Natalia sell altogether in April and May?")
NATALIA_STEPS = ["In May she sold 48 / 2 = 24 clips.", "Altogether she sold 48 + 24 = 72 clips.", "The answer is 72."]
MATH = "What is the smallest positive integer $n$ such that $3n \\equiv 1356 \\pmod{22}$?"
EXAMPLES = word.generate("train", 800, seed=3)  # every level (the default mix)
TWO_STEPS = word.generate("train", 3000, seed=1, levels=[2])


def _percentile(values: list[int], fraction: float) -> int:
    return sorted(values)[int(fraction * (len(values) - 1))]


def test_every_gold_chain_is_all_good_and_ends_with_its_reference():
    assert {ex.difficulty for ex in EXAMPLES} == set(word.LEVELS)
    for ex in EXAMPLES:
        assert word.check_steps(ex.problem, list(ex.steps)) == [True] * len(ex.steps), ex
        assert ex.steps[-1] == f"The answer is {ex.reference}."
        assert word.TASK.extract_answer("\n".join(ex.steps)) == ex.reference
        assert ex.reference.isdigit()
        assert tasks.check_steps(ex.problem, list(ex.steps)) == [True] * len(ex.steps)  # through detect


def _unused_numbers(ex) -> set[int]:
    """Numbers the problem gives that no step calculates with."""
    given = {int(n) for n in re.findall(r"\d+", ex.problem)}
    return given - {int(n) for line in ex.steps[:-1] for n in re.findall(r"\d+", line.split("=")[0])}


def test_a_level_sets_the_steps_and_the_higher_levels_add_an_unneeded_number():
    for level in word.LEVELS:
        steps, distractor = word.level_shape(level)
        examples = word.generate("train", 100, seed=level, levels=[level])
        assert all(ex.difficulty == level and len(ex.steps) == steps + 1 for ex in examples)
        assert all(line.count("=") == 1 for ex in examples for line in ex.steps[:-1])  # one calculation a line
        assert all(bool(_unused_numbers(ex)) == distractor for ex in examples), level
    with pytest.raises(ValueError, match="levels 1-8"):
        word.generate("train", 1, levels=[9])


def test_every_number_is_a_small_whole_number():
    for ex in EXAMPLES:
        for line in ex.steps[:-1]:
            a, op, b, c = re.search(r"(\d+) ([+\-*/]) (\d+) = (\d+)", line).groups()
            assert 2 <= int(c) <= word.MAX_NUMBER
            if op == "*":
                assert min(int(a), int(b)) <= 12, line  # products stay readable: one small factor


def test_the_same_seed_gives_the_same_problems_and_the_splits_never_overlap():
    assert word.generate("train", 50, seed=7) == word.generate("train", 50, seed=7)
    assert word.generate("train", 50, seed=7) != word.generate("train", 50, seed=8)
    texts = {split: {ex.problem for ex in word.generate(split, 300, seed=0)} for split in ("train", "validation",
                                                                                           "test")}
    assert not texts["train"] & texts["validation"] and not texts["train"] & texts["test"]
    assert not texts["validation"] & texts["test"]
    assert tasks.held_out_examples("word", 5)[0].problem in texts["test"]


def test_a_changed_result_is_bad_from_that_step_on():
    ex = next(e for e in EXAMPLES if len(e.steps) == 5)
    steps = list(ex.steps)
    c = re.search(r"= (\d+)", steps[1]).group(1)
    steps[1] = steps[1].replace(f"= {c}", f"= {int(c) + 1}")
    assert word.check_steps(ex.problem, steps) == [True, False, False, False, False]


def test_a_wrong_final_answer_is_bad_and_so_is_stopping_early():
    ex = next(e for e in EXAMPLES if len(e.steps) == 4)
    wrong = list(ex.steps[:-1]) + [f"The answer is {int(ex.reference) + 1}."]
    assert word.check_steps(ex.problem, wrong) == [True, True, True, False]
    early = [ex.steps[0], f"The answer is {ex.reference}."]  # the right number without the work
    assert word.check_steps(ex.problem, early) == [True, False]


def test_the_exact_checker_wants_the_gold_calculations_in_any_order_they_allow():
    ex = next(e for e in TWO_STEPS if "half as many" in e.problem and " / 2 = " in e.steps[0] and "+" in e.steps[1])
    first, total, answer = ex.steps
    a, b = re.search(r"(\d+) \+ (\d+)", total).groups()
    swapped = total.replace(f"{a} + {b}", f"{b} + {a}")
    assert word.check_steps(ex.problem, [first, swapped, answer]) == [True, True, True]
    # the sum before the half it needs: its operand is not known yet
    assert word.check_steps(ex.problem, [total, first, answer]) == [False, False, False]
    # a right calculation the gold chain does not need
    assert word.check_steps(ex.problem, [f"{a} + {a} = {2 * int(a)}", first, total, answer])[0] is False


def test_a_step_without_exactly_one_calculation_is_bad():
    ex = next(e for e in EXAMPLES if len(e.steps) == 3)
    assert word.check_steps(ex.problem, ["Let us think.", *ex.steps]) == [False] * 4
    both = ex.steps[0] + " " + ex.steps[1]
    assert word.check_steps(ex.problem, [both, ex.steps[2]]) == [False, False]
    assert word.check_steps(ex.problem, [*ex.steps, ex.steps[0]])[-1] is False  # after the answer


def test_the_consistent_checker_reads_a_hand_written_problem():
    assert word.canonical(NATALIA) not in word._GOLD
    assert word.check_steps(NATALIA, NATALIA_STEPS) == [True, True, True]
    assert word.check_steps(NATALIA, ["In May she sold 48 / 2 = 25 clips.", *NATALIA_STEPS[1:]]) == [False] * 3
    assert word.check_steps(NATALIA, [*NATALIA_STEPS[:2], "The answer is 24."]) == [True, True, False]
    # a number the problem does not give
    assert word.check_steps(NATALIA, ["In May she sold 50 - 2 = 48 clips.", "The answer is 48."]) == [False, False]
    week = "Tom reads 5 pages a day for 2 weeks. How many pages does he read?"
    assert word.check_steps(week, ["2 weeks is 7 * 2 = 14 days.", "He reads 5 * 14 = 70 pages.",
                                   "The answer is 70."]) == [True, True, True]


def test_recognise_reads_word_problems_and_not_latex_or_chatter():
    assert all(word.recognise(ex.problem) for ex in EXAMPLES)
    assert word.recognise(NATALIA)
    assert word.recognise("Tom has 12 apples and eats 3 of them. How many apples does Tom have left?")
    assert not word.recognise(MATH)
    assert not word.recognise("hello")
    assert not word.recognise("How many apples does Tom have if he buys some more apples?")  # no number
    assert not word.recognise("Tom has 12 apples. " * 30 + "How many?")  # too long


def test_detect_sends_word_problems_here_and_expressions_to_arith():
    assert tasks.detect(NATALIA) == "word"
    assert tasks.detect(EXAMPLES[0].problem) == "word"
    assert tasks.detect("17 + 25 * 3") == "arith"
    assert tasks.detect(MATH) == "math"
    assert tasks.get_task("word").prompt("  Tom has 3   apples.  ") == "Question: Tom has 3 apples.\nAnswer:\n"


def test_the_natalia_kind_of_problem_is_generated():
    natalia = re.compile(r"^\w+ sold \w+ to \d+ of (?:his|her|their) friends (?:on|in|in the) \w+, and then "
                         r"(?:he|she|they) sold \w+(?: \w+)? as many \w+ (?:on|in|in the) \w+\.")
    found = [ex for ex in TWO_STEPS if natalia.match(ex.problem)]
    assert len(found) >= 3  # measured: 5 of 3000 two-step problems
    assert all(word.check_steps(ex.problem, list(ex.steps)) == [True] * 3 for ex in found)


def test_the_problems_vary_in_template_names_objects_and_questions():
    rng = random.Random(0)
    drafts = [word.make(rng, rng.choice(word.LEVELS)) for _ in range(2000)]
    texts = [word.text_of(d) for d in drafts]
    assert len({tuple(d.template) for d in drafts}) >= 1200  # measured: 1591 distinct template sequences
    assert len({d.template[0] for d in drafts}) >= 35  # measured: 42 openings
    names = "|".join(p.name for p in word.PEOPLE)
    questions = {re.sub(r"\d+", "N", re.sub(rf"\b(?:{names})\b", "X", d.question)) for d in drafts}
    assert len(questions) >= 500  # measured: 674 questions, names and numbers aside
    assert len({d.person.name for d in drafts}) == len(word.PEOPLE)  # all 50 names
    assert {d.person.pronoun for d in drafts} == {"he", "she", "they"}
    objects = {t.plural for t in word.THINGS} | {"dollars", "pages", "miles", "laps", "clips", "years"}
    assert len({o for o in objects if any(o in t for t in texts)}) >= 25
    for phrase in ("buys", "gets", "receives", "is given", "altogether", "in all", "left", "half", "twice",
                   "three times", "a third", "a quarter", "each", "per hour", "years old"):
        assert any(phrase in t for t in texts), phrase


def test_pronouns_agree_with_their_person():
    for ex in EXAMPLES:
        text = ex.problem + " " + " ".join(ex.steps)
        if re.search(r"\bThey (?:has|is|buys|gets|gives|earns|shares)\b", text):
            raise AssertionError(text)
        if re.search(r"\b(?:He|She) (?:have|are|buy|get|give|earn|share)\b", text):
            raise AssertionError(text)


def test_problems_and_chains_stay_short():
    problems = [len(ex.problem) for ex in EXAMPLES]
    chains = [len("\n".join(ex.steps)) for ex in EXAMPLES]
    assert _percentile(problems, 0.9) <= 220  # measured: 95th percentile 211, mean 142
    assert _percentile(chains, 0.95) <= 200  # measured: 171, mean 105
    assert _percentile([p + c for p, c in zip(problems, chains)], 0.95) <= 400  # measured: 368
    assert max(problems) <= 400  # so recognise reads every one
