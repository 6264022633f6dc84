"""The generated-task contract, for every task in GENERATED: what search, training and the app rely on."""
from __future__ import annotations

import pytest

from reasoning_core.tasks import GENERATED, STEPS, check_steps, coverage_notice, detect, get_task, solve
from training.config import TaskMix
from training.data import mix_problems, shares
from ui.examples import default_levels, default_tasks, example_rows, task_examples


@pytest.mark.parametrize("name", list(GENERATED))
def test_each_task_keeps_the_contract(name):
    module = GENERATED[name]
    test = module.generate("test", 300, seed=0)
    assert test == module.generate("test", 300, seed=0)  # the same problems on every machine
    train = {ex.problem for ex in module.generate("train", 2000, seed=0)}
    assert not train & {ex.problem for ex in test}  # splits never share a problem
    assert {ex.difficulty for ex in test} <= set(module.LEVELS) and set(module.DEFAULT_LEVELS) <= set(module.LEVELS)
    one = module.LEVELS[-1]
    assert {ex.difficulty for ex in module.generate("test", 20, levels=[one])} == {one}
    for ex in test:
        assert detect(ex.problem) == name and module.recognise(ex.problem)
        assert check_steps(ex.problem, list(ex.steps)) == [True] * len(ex.steps)
        assert solve(ex.problem) == ex.reference  # generated in this process: the task knows its answer
        assert get_task(name).is_correct(get_task(name).extract_answer(ex.steps[-1]), ex.reference)
        assert get_task(name).prompt(ex.problem) == STEPS.prompt(ex.problem)  # one format for the mix


def test_a_task_mix_shares_problems_by_weight_and_interleaves_them():
    assert shares({"arith": 1, "word": 2, "letters": 1}, 10) == {"arith": 3, "word": 5, "letters": 2}
    mix = TaskMix(weights={"arith": 1.0, "word": 2.0, "letters": 1.0}, levels={"arith": [5]})
    problems = mix_problems(mix, "train", 400, seed=3)
    tasks = [detect(ex.problem) for ex in problems]
    assert [tasks.count(t) for t in ("arith", "word", "letters")] == [100, 200, 100]
    assert tasks[:50].count("word") not in (0, 50)  # shuffled together, not one task after another
    assert {ex.difficulty for ex in problems if detect(ex.problem) == "arith"} == {5}
    assert len(mix_problems(mix, "test", 7, per_task=True)) == 21


def test_the_notice_names_what_the_generator_knows():
    assert coverage_notice("3 + 4", ("arith",)) is None and coverage_notice("3 + 4", None) is None
    notice = coverage_notice("What is $\\sqrt{16}$?", ("arith", "letters"))
    assert "trained only on arith (" in notice and "letters (" in notice and "reads as none of them" in notice


def test_app_examples_cover_each_task_easy_to_hard_without_repeats():
    rows = example_rows(per_task=3)
    problems = [r[0] for r in rows]
    assert len(problems) == len(set(problems))
    assert default_tasks() == ("arith", "word", "letters")  # what the shipped generator's stepwise.json records
    for name in GENERATED:  # what the examples of each task look like
        own = [[ex.problem, ex.reference, name] for ex in task_examples(name, 3)]
        assert len({r[0] for r in own}) == 3 and all(detect(r[0]) == name for r in own)
        levels = [ex.difficulty for ex in task_examples(name, 3)]
        assert levels[0] == default_levels(name)[0] and levels[-1] == default_levels(name)[-1]
    assert default_levels("arith") == [1, 2, 3, 4, 5, 6]  # the shipped generator's stepwise.json
    assert default_levels("letters") == sorted(GENERATED["letters"].DEFAULT_LEVELS)  # nothing recorded: the default
    assert [r[2] for r in rows][-2:] == ["math"] * 2 and {r[2] for r in rows[:-2]} == set(default_tasks())
