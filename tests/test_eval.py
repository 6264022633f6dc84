"""Batch evaluation: the numbers in results.csv are the means of the runs they summarise, a strategy
without a size runs once, and the budget reaches every search."""
from __future__ import annotations

import threading

import pandas as pd
import pytest

from reasoning_core import eval as ev
from reasoning_core.budget import Budget
from reasoning_core.fakes import FakeArithGenerator, FakeArithPRM
from reasoning_core.run import solve
from reasoning_core.search import Problem, make_config
from reasoning_core.tasks import get_task, held_out_examples

TASK = get_task("arith")


@pytest.fixture(scope="module")
def examples():
    return ev.draw_problems("arith", 6, seed=1)


def run(examples, spec, **kw):
    return ev.evaluate(spec, examples, TASK, FakeArithGenerator(0.6), FakeArithPRM(), **kw)


def test_drawn_problems_depend_on_the_seed_only():
    assert ev.draw_problems("arith", 5, 1) == ev.draw_problems("arith", 5, 1)
    assert ev.draw_problems("arith", 5, 1) != ev.draw_problems("arith", 5, 2)
    assert ev.draw_problems("arith", 5, 1) == ev.draw_problems("arith", 5, 1, pool=500)
    assert len(ev.draw_problems("arith", 600, 0)) == 600  # more than the default pool
    assert len(ev.draw_problems("arith", 1, 0)) == 1
    assert ev.draw_problems("arith", 500, 3) == held_out_examples("arith", 500)  # the pool: the first 500
    with pytest.raises(ValueError, match="--limit must be at least 1, got 0"):
        ev.draw_problems("arith", 0, 0)


def test_accuracy_is_the_mean_of_the_runs_it_summarises(examples):
    summary, runs = run(examples, ev.EvalSpec(["greedy", "best_of_n", "beam_search"], [1, 4], seed=2))
    assert list(summary.columns) == ev.COLUMNS and len(runs) == 3 * 2 * len(examples)
    grouped = runs.groupby(["strategy", "size"], sort=False)
    expected = pd.DataFrame({"accuracy": grouped["correct"].mean(), "reached": grouped["reached"].mean(),
                             "mean_generated_tokens":
                             grouped["generated_tokens"].mean(), "mean_wall_s": grouped["wall_s"].mean(),
                             "n": grouped["correct"].size(), "pooled": False}).reset_index()
    pd.testing.assert_frame_equal(summary, expected[ev.COLUMNS])
    assert 0 < runs["correct"].mean() < 1, "the fake generator must get some right and some wrong"
    assert list(summary.strategy) == ["greedy", "greedy", "best_of_n", "best_of_n", "beam_search", "beam_search"]
    assert (runs["reference"] == [e.reference for e in examples] * 6).all()
    assert list(runs.columns) == ["strategy", "size", "problem", "correct", "reached", "generated_tokens",
                                  "wall_s", "difficulty", "answer", "reference", "pooled"]
    assert list(runs["problem"][:len(examples)]) == list(range(len(examples)))
    assert list(runs["difficulty"][:len(examples)]) == [e.difficulty for e in examples]
    assert (runs["wall_s"] > 0).all()


def test_a_strategy_without_a_size_runs_once_and_is_reported_at_every_size(examples, monkeypatch):
    calls = []
    solve = ev.solve
    monkeypatch.setattr(ev, "solve", lambda name, *a, **k: calls.append(name) or solve(name, *a, **k))
    _, runs = run(examples, ev.EvalSpec(["greedy", "best_of_n"], [1, 2, 4]))
    assert calls.count("greedy") == len(examples) and calls.count("best_of_n") == 3 * len(examples)
    greedy = runs[runs.strategy == "greedy"]
    assert sorted(set(greedy["size"])) == [1, 2, 4]
    assert (greedy.groupby("problem")["answer"].nunique() == 1).all()


def test_the_budget_and_the_knobs_reach_every_search(examples):
    _, capped = run(examples, ev.EvalSpec(["best_of_n"], [8], budget=Budget(max_tokens=30)))
    assert (capped["generated_tokens"] <= 30).all()
    _, short = run(examples, ev.EvalSpec(["best_of_n"], [2], overrides={"max_steps": 1}))
    _, full = run(examples, ev.EvalSpec(["best_of_n"], [2]))
    assert short["generated_tokens"].sum() < full["generated_tokens"].sum()
    configs = ev.EvalSpec(["greedy", "best_of_n"], [2, 4], seed=7, overrides={"temperature": 0.3}).configs()
    assert {(c.seed, c.temperature) for c in configs.values()} == {(7, 0.3)}


def test_a_cancel_reaches_the_running_search(examples):
    cancel = threading.Event()
    cancel.set()
    _, runs = run(examples, ev.EvalSpec(["best_of_n"], [2]), progress=lambda jobs: iter(jobs[:1]), cancel=cancel)
    assert runs.empty  # set before the first search: nothing runs
    # runs.csv still has its header
    assert list(runs.columns) == ["strategy", "size", "problem", "correct", "reached", "generated_tokens",
                                  "wall_s", "difficulty", "answer", "reference", "pooled"]

    class CancelOnFirstCall(FakeArithGenerator):
        def propose(self, *args, **kw):
            cancel.set()
            return super().propose(*args, **kw)

    cancel.clear()
    _, runs = ev.evaluate(ev.EvalSpec(["best_of_n"], [4]), examples[:1], TASK, CancelOnFirstCall(0.6),
                          FakeArithPRM(), cancel=cancel)
    assert len(runs) == 1 and runs["generated_tokens"][0] > 0 and not runs["correct"][0]  # stopped mid-search


def test_a_cancelled_evaluation_stops_and_keeps_what_it_has(examples):
    cancel = threading.Event()
    seen = []

    def progress(jobs):
        for job in jobs:
            seen.append(job)
            if len(seen) == 3:
                cancel.set()
            yield job

    _, runs = run(examples, ev.EvalSpec(["best_of_n"], [2]), progress=progress, cancel=cancel)
    assert len(runs) == 2


def test_an_empty_run_summarises_to_an_empty_table():
    empty = ev.summarise(pd.DataFrame(columns=["strategy", "size", "correct", "generated_tokens", "wall_s"]))
    assert empty.empty and list(empty.columns) == ev.COLUMNS


def test_results_are_written_and_plotted(examples, tmp_path):
    summary, runs = run(examples, ev.EvalSpec(["greedy", "best_of_n"], [1, 4]))
    paths = ev.write_results(summary, runs, tmp_path / "new" / "out")  # missing parents are made
    assert [p.name for p in paths] == ["results.csv", "runs.csv", "accuracy_vs_tokens.html"]
    pd.testing.assert_frame_equal(pd.read_csv(paths[0]), summary, check_dtype=False)
    pd.testing.assert_frame_equal(pd.read_csv(paths[1], dtype={"answer": str, "reference": str}), runs,
                                  check_dtype=False)
    assert (paths[2].parent / "plotly.min.js").is_file()  # one copy per folder, beside the HTML
    fig = ev.accuracy_figure(summary)
    assert {t.name for t in fig.data} == {"greedy", "best_of_n"}
    assert all(t.mode == "lines+markers" for t in fig.data)
    assert list(fig.data[0].x) == sorted(fig.data[0].x) and fig.data[0].y is not None
    assert "size" in fig.data[0].hovertemplate and "n=" in fig.data[0].hovertemplate
    assert fig.layout.xaxis.type == "log" and fig.layout.title.text == "Accuracy against test-time compute"
    assert fig.layout.xaxis.title.text == "mean generated tokens per problem (log)"
    assert fig.layout.yaxis.title.text == "accuracy" and list(fig.layout.yaxis.range) == [0, 1.02]


def test_a_pooled_sweep_runs_once_at_the_largest_size_and_estimates_the_rest(examples):
    calls = []
    gen = FakeArithGenerator(0.6)
    real = gen.propose

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    gen.propose = counting
    strategies, sizes = ["self_consistency", "best_of_n", "beam_search"], [1, 2, 8]
    summary, runs = ev.evaluate(ev.EvalSpec(strategies, sizes, seed=3, pool=True), examples, TASK, gen, FakeArithPRM())
    pooled_calls = len(calls)
    calls.clear()
    full, _ = ev.evaluate(ev.EvalSpec(strategies, sizes, seed=3), examples, TASK, gen, FakeArithPRM())
    assert pooled_calls < len(calls)  # the pool saves the small runs of the two sampling strategies
    rows = summary.set_index(["strategy", "size"])
    # the largest size is the run itself, identical with and without pooling; beam search never pools
    same = full.set_index(["strategy", "size"])
    for key in [("self_consistency", 8), ("best_of_n", 8), *(("beam_search", k) for k in sizes)]:
        assert rows.loc[key, "accuracy"] == same.loc[key, "accuracy"] and not rows.loc[key, "pooled"]
    assert rows.loc[("best_of_n", 1), "pooled"] and rows.loc[("self_consistency", 2), "pooled"]
    # an estimate is a mean over random subsets of the pool: a fraction, between the bounds of a vote
    one = runs[(runs.strategy == "self_consistency") & (runs["size"] == 1)]
    assert one["correct"].between(0, 1).all() and not one["correct"].isin([0, 1]).all()
    # one chain of the pool costs about an eighth of the pool's tokens
    eight = runs[(runs.strategy == "best_of_n") & (runs["size"] == 8)]["generated_tokens"].to_numpy()
    assert one["generated_tokens"].to_numpy() == pytest.approx(eight / 8, rel=0.3)
    # one chain answers for itself: a size-1 vote is as often right as the pool's chains are
    assert rows.loc[("self_consistency", 1), "accuracy"] == pytest.approx(rows.loc[("best_of_n", 1), "accuracy"],
                                                                         abs=0.15)


def test_reached_says_whether_the_tree_held_a_right_chain(examples):
    """`reached` is what a perfect verifier would score: never below the accuracy, for best-of-N the share of
    problems where one of the N chains is right (pass@N), and it grows with N, pooled or not."""
    for pool in (False, True):
        summary, runs = ev.evaluate(ev.EvalSpec(["greedy", "best_of_n"], [1, 8], seed=4, pool=pool), examples, TASK,
                                    FakeArithGenerator(0.25), FakeArithPRM())
        assert (runs["reached"] >= runs["correct"]).all()
        rows = summary.set_index(["strategy", "size"])
        assert rows.loc[("greedy", 8), "reached"] == rows.loc[("greedy", 8), "accuracy"]  # one chain
        assert rows.loc[("best_of_n", 8), "reached"] > rows.loc[("best_of_n", 8), "accuracy"]
        assert rows.loc[("best_of_n", 8), "reached"] > rows.loc[("best_of_n", 1), "reached"]
    problem = examples[0]
    result = solve("best_of_n", Problem(problem.problem, TASK, problem.reference), FakeArithGenerator(0.25),
                   FakeArithPRM(), config=make_config("best_of_n", 8, seed=4))
    right = [n for n in result.tree.terminals() if TASK.is_correct(n.answer, problem.reference)]
    assert ev.reached(result, result.tree.terminals()) == bool(right)
    assert not ev.reached(result, [n for n in result.tree.terminals() if n not in right])
