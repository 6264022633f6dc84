"""The verifier figures the pipeline chooses checkpoints by: within-problem AUC and the one-result pairs."""
from __future__ import annotations

import random

import numpy as np

from reasoning_core.rewards import TaskOracle
from reasoning_core.tasks import arith, letters, word
from training.reward_eval import corrupt_one_result, pair_preference, per_problem_auc, step_report, within_auc


def oracle_scores(problems, paths):
    oracle = TaskOracle()
    return [oracle.score(p, [s])[0] for p, s in zip(problems, paths)]


def test_within_auc_ignores_what_only_tells_problems_apart():
    # problem a's steps all score high and b's all low: pooled, that ranks b's wrong steps below a's right
    # ones; within each problem the scores are backwards, so the within-problem AUC is 0
    problems = ["a", "a", "b", "b"]
    labels = [[True], [False], [True], [False]]
    scores = [[0.8], [0.9], [0.1], [0.2]]
    assert within_auc(problems, labels, scores) == (0.0, 2)
    assert within_auc(["a"], [[True, True]], [[0.1, 0.2]]) == (None, 0)  # one class: no AUC


def test_per_problem_auc_gives_each_problem_its_own_ranking():
    # each problem's right steps rank first on its own scale: pooled, problem 2's right step falls below
    # problem 1's wrong one; per problem both rank perfectly, and a one-class problem has no AUC (not 0.5)
    labels = [[True, True, False], [True, False, False], [True, True]]
    scores = [[0.9, 0.8, 0.7], [0.3, 0.2, 0.1], [0.5, 0.5]]
    aucs = per_problem_auc(labels, scores)
    assert aucs[:2].tolist() == [1.0, 1.0] and np.isnan(aucs[2])
    assert per_problem_auc(labels, [row[::-1] for row in scores])[:2].tolist() == [0.0, 0.0]


def test_one_result_changed_touches_one_calculation_and_never_the_answer_line():
    rng = random.Random(0)
    for ex in arith.generate("test", 30) + word.generate("test", 30) + letters.generate("test", 30):
        changed = corrupt_one_result(ex.steps, rng)
        assert changed is not None
        bad, k = changed
        assert k < len(ex.steps) - 1 and bad[-1] == ex.steps[-1]
        assert [i for i, (a, b) in enumerate(zip(ex.steps, bad)) if a != b] == [k]


def test_the_exact_checker_prefers_every_gold_chain_and_a_blind_scorer_half():
    gold = arith.generate("validation", 20) + word.generate("validation", 20) + letters.generate("validation", 20)
    assert pair_preference(oracle_scores, gold) == 1.0
    assert pair_preference(lambda ps, paths: [[0.5] * len(p) for p in paths], gold) == 0.5


def test_step_report_per_task_on_the_oracle_and_on_its_inverse():
    gold = arith.generate("validation", 10) + letters.generate("validation", 10)
    rng = random.Random(1)
    problems, paths = [], []
    for ex in gold:  # each problem: its gold chain and a corrupted copy, as sampled chains would be
        problems += [ex.problem, ex.problem]
        paths += [list(ex.steps), corrupt_one_result(ex.steps, rng)[0]]
    report = step_report(oracle_scores, problems, paths, gold)
    assert set(report["per_task"]) == {"arith", "letters"}
    assert report["within_problem_step_auc_mean"] == 1.0 and report["gold_vs_one_result_changed_mean"] == 1.0
    inverse = step_report(lambda ps, ss: [[1 - x for x in row] for row in oracle_scores(ps, ss)],
                          problems, paths, gold)
    # ties (both chains' weakest step at 0 when the change is not the first step) count half
    assert inverse["within_problem_step_auc_mean"] == 0.0 and inverse["gold_vs_one_result_changed_mean"] < 0.5


def test_a_score_that_reads_only_the_position_ranks_all_steps_well_and_live_steps_at_chance():
    # each problem: a right chain and one whose second step is its first error; the labels after an error
    # stay bad, so "earlier is better" ranks all steps well, but among live steps (all earlier steps right)
    # the first error and the right step at its position tie
    from training.reward_eval import live_steps

    problem = "Compute left to right: 4 + 7 - 2 + 3"
    right = ["4 + 7 = 11", "11 - 2 = 9", "9 + 3 = 12", "The answer is 12"]
    wrong = ["4 + 7 = 11", "11 - 2 = 8", "8 + 3 = 11", "The answer is 11"]
    assert live_steps([True, False, False, False]) == [True, True, False, False]
    position = lambda ps, ss: [[-float(k) for k in range(len(s))] for s in ss]  # noqa: E731
    report = step_report(position, [problem, problem], [right, wrong], [])
    # all steps: good at positions 0, 0, 1, 2, 3 against bad at 1, 2, 3: 10.5 of 15 pairs
    assert report["within_problem_step_auc_mean"] == 0.7
    # live steps: good at 0, 0, 1, 2, 3 against the first error at 1: 2.5 of 5
    assert report["within_problem_live_step_auc_mean"] == 0.5
    exact = step_report(oracle_scores, [problem, problem], [right, wrong], [])
    assert exact["within_problem_live_step_auc_mean"] == 1.0
