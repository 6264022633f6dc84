"""The app's examples: each shipped one is solved by the shipped models with the search it names, and the
picker that chose them keeps hand-written problems first, spreads the rest over the levels and skips
what the models cannot solve."""
from __future__ import annotations

import pytest

from reasoning_core import backends, rewards
from reasoning_core.checkpoints import DEFAULTS, trained_tasks
from reasoning_core.fakes import FakeArithGenerator
from reasoning_core.rewards import TaskOracle
from reasoning_core.run import solve
from reasoning_core.search import Problem, make_config
from reasoning_core.tasks import get_task
from training.examples import Picker
from ui.examples import example_rows, shipped_examples

SHIPPED = shipped_examples()


def test_the_shipped_examples_cover_every_trained_task_once_each():
    assert SHIPPED, "assets/examples.json is missing: run `python -m training examples --assets assets`"
    problems = [ex["problem"] for ex in SHIPPED]
    assert len(problems) == len(set(problems))
    assert {ex["task"] for ex in SHIPPED} == set(trained_tasks(DEFAULTS["generator"]))
    rows = example_rows(3)
    assert rows[0][0] in {ex["problem"] for ex in SHIPPED if ex["size"] is None}  # the box solves as the app starts


@pytest.mark.parametrize("example", SHIPPED, ids=[ex["problem"][:30] for ex in SHIPPED])
def test_each_shipped_example_is_solved_by_the_search_it_names(example):
    problem = Problem(example["problem"], get_task(example["task"]), example["reference"])
    config = make_config(example["strategy"], example["size"], seed=example["seed"])
    result = solve(example["strategy"], problem, backends.load("default"), rewards.load("default"), config=config)
    assert result.correct, (example, result.answer)


HAND = [{"problem": "12 + 30", "answer": "42", "task": "arith"},
        {"problem": "How many r's are in strawberry?", "answer": "3", "task": "letters"}]


def test_the_picker_takes_a_hand_written_problem_first_then_spreads_the_levels():
    picker = Picker(FakeArithGenerator(accuracy=1.0), TaskOracle(), tries=3)
    picks = picker.for_task("arith", [1, 2, 3, 4], 3, HAND)
    assert [ex.difficulty for ex in picks] == [None, 1, 4] and picks[0].problem == "12 + 30"
    assert all(ex.strategy == "greedy" and ex.size is None for ex in picks)
    assert len({ex.problem for ex in picks}) == 3


def test_the_picker_skips_levels_it_cannot_solve():
    picker = Picker(FakeArithGenerator(accuracy=0.0), TaskOracle(), tries=2)
    assert picker.for_task("arith", [1, 2], 2, HAND) == []


def test_the_examples_command_names_what_is_missing(tmp_path, capsys):
    from training import __main__ as cli

    assert cli.main(["examples", "--assets", str(tmp_path)]) == 2
    assert "no generator/ checkpoint" in capsys.readouterr().err
    assert cli.main(["examples", "--assets", "assets", "--candidates", str(tmp_path / "none.jsonl")]) == 2
    assert "--candidates" in capsys.readouterr().err and not (tmp_path / "examples.json").exists()
