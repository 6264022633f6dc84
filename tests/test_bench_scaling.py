"""bench/scaling.py: the targets it checks read the right rows, its runs carry what its tables group by,
and its hand-written problems are what the tasks' own readers call them."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from bench import scaling
from reasoning_core.checkpoints import trained_levels
from reasoning_core.eval import draw_problems, summarise
from reasoning_core.fakes import FakeArithGenerator, FakeArithPRM
from reasoning_core.tasks import GENERATED, detect


def table(acc: dict[str, float], size: int = 16) -> pd.DataFrame:
    return pd.DataFrame([{"strategy": s, "size": size, "accuracy": a} for s, a in acc.items()]
                        + [{"strategy": s, "size": 1, "accuracy": 1.0} for s in acc])


def test_the_targets_hold_only_with_their_margins_at_the_top_size():
    held = scaling.claims(table({"greedy": 0.40, "self_consistency": 0.55, "beam_search": 0.65,
                                 "best_of_n": 0.60, "best_of_n/orm": 0.59}), 16)
    assert {k: v["holds"] for k, v in held.items()} == {
        "beam_search@16 >= greedy + 25 points": True, "beam_search@16 >= majority vote@16 + 10 points": True,
        "PRM best-of-16 > ORM best-of-16": True}
    short = scaling.claims(table({"greedy": 0.41, "self_consistency": 0.56, "beam_search": 0.65,
                                  "best_of_n": 0.60, "best_of_n/orm": 0.60}), 16)
    assert not any(v["holds"] for v in short.values())  # a point short of each margin; a tie is no win
    assert short["beam_search@16 >= greedy + 25 points"]["b_acc"] == 0.41  # read at 16, not at size 1
    assert scaling.claims(table({"greedy": 0.4}), 16) == {}  # nothing to compare, nothing claimed


def test_a_task_run_has_the_orm_arm_and_pools_only_below_the_top_size():
    examples = draw_problems("arith", 4, seed=0)
    runs = scaling.run_task("arith", examples, ["greedy", "self_consistency", "best_of_n", "beam_search"], [1, 4], 0,
                            FakeArithGenerator(0.6), FakeArithPRM(), FakeArithPRM())
    assert set(runs.task) == {"arith"} and len(runs) == 5 * 2 * len(examples)
    pooled = runs.groupby(["strategy", "size"])["pooled"].all()
    assert pooled[("best_of_n", 1)] and pooled[("best_of_n/orm", 1)] and pooled[("self_consistency", 1)]
    assert not pooled[("best_of_n", 4)] and not pooled[("beam_search", 1)] and not pooled[("greedy", 4)]
    assert summarise(runs)["accuracy"].between(0, 1).all()


def test_hand_written_problems_cover_every_task_and_read_as_their_task():
    hand = scaling.handwritten()
    assert set(hand) == set(GENERATED) and sum(map(len, hand.values())) == 20
    for task, examples in hand.items():
        for ex in examples:
            assert detect(ex.problem) == task, ex.problem
            solved = GENERATED[task].solve(ex.problem)  # the generated tasks' grammar reads arith and letters
            assert solved is None or solved == ex.reference, ex.problem


def test_problems_come_from_the_levels_the_generator_was_trained_on(tmp_path):
    (tmp_path / "stepwise.json").write_text(json.dumps({"tasks": ["word"], "levels": {"word": [1, 2]}}))
    levels = trained_levels(tmp_path)
    assert levels == {"word": [1, 2]} and trained_levels(tmp_path / "nothing-here") == {}
    drawn = draw_problems("word", 40, seed=0, levels=levels["word"])
    assert len(drawn) == 40 and {ex.difficulty for ex in drawn} == {1, 2}
    assert {ex.difficulty for ex in draw_problems("word", 40, seed=0)} - {1, 2}  # every level otherwise


def test_a_run_split_over_processes_gives_the_rows_of_one_process():
    """Each shard keeps its problems' seeds, and the rows come back in one process's order."""
    plan = scaling.Plan("fake", "fake", "fake", ["greedy", "best_of_n", "beam_search"], [1, 4], 0,
                        {"arith": draw_problems("arith", 5, seed=0)}, {"arith": scaling.handwritten()["arith"][:3]})
    runs, hand = plan.run()
    split_runs, split_hand = scaling.run_sharded(plan, jobs=2, threads=1)
    drop = ["wall_s"]   # the one column that measures the machine
    pd.testing.assert_frame_equal(split_runs.drop(columns=drop), runs.drop(columns=drop))
    pd.testing.assert_frame_equal(split_hand.drop(columns=drop), hand.drop(columns=drop))
    assert list(runs.strategy.unique()) == ["greedy", "best_of_n", "beam_search", "best_of_n/orm"]


def test_a_shard_that_fails_names_itself():
    plan = scaling.Plan("fake", "no/such/prm", None, ["greedy"], [1], 0,
                        {"arith": draw_problems("arith", 2, seed=0)}, {})
    with pytest.raises(RuntimeError, match=r"shard 0/2: .*no/such/prm.*; shard 1/2"):
        scaling.run_sharded(plan, jobs=2, threads=1)
