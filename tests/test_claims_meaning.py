"""Each claim's effect is the difference of its own arms: on a hand-built pool of chains, where the
right code, a flipped sign and an arm compared with itself all give different numbers."""
from __future__ import annotations

import numpy as np
import pytest

from bench.claims_lib import search_claims, stats, train_claims
from bench.claims_lib.context import Context, Sizes

# 5 problems x 4 chains. The PRM ranks a right chain first on problems 0-3, the ORM only on problem 0;
# greedy is right on problems 0 and 4; majority vote at N=4 is right on problems 0-2.
CORRECT = np.array([[1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]], bool)
PRM = np.array([[0.9, 0.1, 0.2, 0.3], [0.1, 0.8, 0.2, 0.3], [0.7, 0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.9],
                [0.5, 0.1, 0.1, 0.1]])
ORM = np.array([[0.9, 0.1, 0.2, 0.3], [0.9, 0.1, 0.2, 0.3], [0.1, 0.2, 0.9, 0.3], [0.9, 0.2, 0.3, 0.1],
                [0.5, 0.1, 0.1, 0.1]])
ANSWERS = [["3", "1", "2", "3"], ["4", "5", "5", "6"], ["7", "7", "8", "9"], ["1", "1", "2", "4"],
           ["1", "2", "3", "4"]]
GREEDY = np.array([True, False, False, False, True])
TASKS = ["arith", "arith", "word", "word", "letters"]
TOKENS = np.arange(1, 21).reshape(5, 4)


@pytest.fixture()
def ctx(tmp_path):
    sizes = Sizes(name="hand", test_problems=5, val_problems=1, n_max=4, size=2, co_problems=1, mcts_iterations=1,
                  mcts_problems=1, rstar_problems=1, rstar_iterations=1, sft_steps=1, star_rounds=1, star_problems=1,
                  star_steps=1, label_problems=1, label_rollouts=1, prm_steps=1, grpo_steps=1, grpo_prompts=1,
                  grpo_generations=2, stage_eval=1, n_boot=200)
    context = Context(sizes, tmp_path / "out", tmp_path / "work", preset="hand", loaded={})
    context.cache["pool"] = search_claims.Pool([None] * 5, [[["s"]] * 4] * 5, ANSWERS, CORRECT, TOKENS,
                                               PRM, ORM, GREEDY, TASKS)
    context.cache["cobbe_orm"] = (ORM, {"train_chains": 8, "selected_step": 2, "selection_chains": 4})
    return context


def test_the_hand_built_pool_reads_as_designed(ctx):
    pool = ctx.cache["pool"]
    assert pool.best_of(pool.prm, 4).tolist() == [True, True, True, True, False]
    assert pool.best_of(pool.orm, 4).tolist() == [True, False, False, False, False]
    assert pool.majority(4).tolist() == [True, True, True, False, False]


def test_verifier_claim_effects_are_orm_minus_greedy_and_orm_minus_majority(ctx):
    vs_greedy, vs_majority = train_claims.claim_verifier(ctx)
    assert vs_greedy.effect == pytest.approx(0.2 - 0.4)
    assert vs_majority.effect == pytest.approx(0.2 - 0.6)
    assert vs_greedy.ci_low <= vs_greedy.effect <= vs_greedy.ci_high


def test_the_orm_diagnosis_frames_it_between_a_random_pick_and_the_oracle(ctx):
    pool = ctx.cache["pool"]
    table = search_claims.curve_rows(pool, 50, 0).set_index(["n", "arm"])["accuracy"]
    assert table[4, "random pick"] == pytest.approx((0.5 + 0.5 + 0.5 + 0.25 + 0) / 5)
    assert table[4, "oracle (pass@n)"] == pytest.approx(0.8) and table[1, "oracle (pass@n)"] == pytest.approx(0.4)
    # right chains rank first on problem 0 only; problem 4 has no right chain, so it does not count
    assert search_claims.ranking(pool, pool.orm)["within_problem_auc"] == 0.25
    assert search_claims.ranking(pool, pool.prm)["within_problem_auc"] == (1 + 0.75 + 0.5 + 1) / 4
    wrong = search_claims.wrong_picks(pool, pool.orm)   # problems 1, 2 and 3 picked chains 0, 2 and 0
    assert wrong["problems"] == 3 and wrong["pick_no_answer"] == 0
    assert wrong["pick_tokens"] == round((5 + 11 + 13) / 3, 1)
    assert wrong["right_tokens"] == round((6.5 + 9.5 + 16) / 3, 1)
    (vs_greedy, _) = train_claims.claim_verifier(ctx)
    assert "a random pick 0.350; oracle pass@4 0.800" in vs_greedy.detail
    assert "0.25 within problems" in vs_greedy.diagnosis and "the random pick (0.350)" in vs_greedy.diagnosis
    assert "checkpoint of step 2 chosen on 4 held-back chains" in vs_greedy.detail


def test_prm_vs_orm_effect_is_prm_minus_orm(ctx):
    (row,) = search_claims.claim_prm_vs_orm(ctx)
    assert row.effect == pytest.approx(0.8 - 0.2)
    assert row.n == 5 and row.holds == "yes"
    # within tasks: arith PRM 2/2 vs ORM 1/2, word 2/2 vs 0/2, letters 0/1 vs 0/1
    assert {t: (e, n) for t, (e, _, _, n) in row.by_task.items()} == {
        "arith": (0.5, 2), "word": (1.0, 2), "letters": (0.0, 1)}
    assert [r["holds"] for r in row.task_rows()] == ["not shown", "not shown", "yes"]
    # its diagnosis: how each verifier ranks within a problem, against what the oracle could pick
    assert "the PRM ranks at AUC 0.8125 and the ORM at 0.25" in row.diagnosis and "pass@4 is 0.800" in row.diagnosis


# ----- the statistics every row carries -----------------------------------------------------------


def by_hand(x: np.ndarray, n_boot: int, seed: int, level: float = 0.95) -> tuple[float, float, float]:
    """The percentile bootstrap of a mean, written out: what `stats.mean_ci` must return."""
    rng = np.random.default_rng(seed)
    draws = np.array([x[rng.integers(0, len(x), len(x))].mean() for _ in range(n_boot)])
    tail = (1 - level) / 2 * 100
    return float(x.mean()), float(np.percentile(draws, tail)), float(np.percentile(draws, 100 - tail))


def test_mean_ci_is_the_percentile_bootstrap_written_out():
    x = np.random.default_rng(7).random(12)  # continuous, so every seed draws other percentiles
    assert stats.mean_ci(x) == pytest.approx(by_hand(x, stats.N_BOOT, 0))
    assert stats.mean_ci(x, n_boot=50, seed=3) == pytest.approx(by_hand(x, 50, 3))
    assert stats.mean_ci(x, n_boot=50, seed=3) != stats.mean_ci(x, n_boot=50, seed=4)
    assert stats.bootstrap(lambda i: float(x[i].mean()), len(x), level=0.5) == pytest.approx(by_hand(x, 1000, 0, 0.5))


def test_the_point_estimate_uses_every_problem_once_and_undefined_draws_are_dropped():
    assert stats.bootstrap(lambda i: float(i.sum()), 4, n_boot=10)[0] == 6.0  # 0 + 1 + 2 + 3
    # a statistic undefined on some resamples (None or NaN, like an AUC with one class) ignores them
    point, low, high = stats.bootstrap(lambda i: None if i.min() == i.max() else float(i.mean()), 2, n_boot=100)
    assert point == 0.5 and (low, high) == (0.5, 0.5)


def test_every_problem_can_be_drawn_and_one_problem_is_enough():
    assert stats.mean_ci([1.0, 0.0], n_boot=200)[1:] == (0.0, 1.0)  # resamples of only the first, only the second
    assert stats.mean_ci([1.0]) == (1.0, 1.0, 1.0)
    assert all(np.isnan(stats.mean_ci([])))


def paired_ci(a, b, **kw):
    return stats.bootstrap(stats.paired_diff(a, b), len(a), **kw)


def ratio_ci(*arrays, **kw):
    return stats.bootstrap(stats.ratio_diff(*arrays), len(arrays[0]), **kw)


def test_bootstrap_of_identical_or_constant_arms_has_zero_width():
    a = np.array([1, 0, 1, 1, 0], float)
    assert paired_ci(a, a) == (0.0, 0.0, 0.0)
    assert stats.mean_ci([1, 1, 1]) == (1.0, 1.0, 1.0)
    assert paired_ci(np.ones(50), np.zeros(50)) == (1.0, 1.0, 1.0)


def test_ratio_bootstrap_resamples_problems_together():
    assert ratio_ci([2, 1], [2, 1], [2, 1], [4, 2]) == (0.5, 0.5, 0.5)   # 1.0 - 0.5 whatever is drawn


def test_an_effect_is_measured_over_all_problems_and_within_each_task():
    a, b = np.array([1, 1, 0, 1, 1, 0], float), np.array([0, 0, 0, 1, 1, 1], float)
    tasks = ["arith", "arith", "arith", "word", "word", "word"]
    measured = stats.effect(stats.paired_diff(a, b), tasks, n_boot=50, seed=3)
    assert (measured["effect"], measured["n"]) == (pytest.approx(1 / 6), 6)
    assert (measured["ci_low"], measured["ci_high"]) == pytest.approx(by_hand(a - b, 50, 3)[1:])
    arith, word = measured["by_task"]["arith"], measured["by_task"]["word"]
    assert arith[0] == pytest.approx(2 / 3) and word[0] == pytest.approx(-1 / 3) and arith[3] == word[3] == 3
    assert arith[1:3] == pytest.approx(by_hand((a - b)[:3], 50, 3)[1:])   # each task resamples its own problems


def test_an_undefined_mean_is_nan_not_a_warning():
    assert stats.nanmean(np.array([1.0, np.nan, 0.0])) == 0.5 and np.isnan(stats.nanmean(np.array([np.nan])))


def test_paired_and_ratio_intervals_pass_their_settings_on():
    a, b = np.array([1, 1, 0, 1, 0, 1], float), np.array([0, 1, 0, 0, 0, 1], float)
    assert paired_ci(a, b, n_boot=50, seed=3) == pytest.approx(by_hand(a - b, 50, 3))
    args = ([1, 2, 0, 1], [2, 2, 1, 1], [0, 1, 1, 0], [1, 2, 2, 1])
    assert ratio_ci(*args, n_boot=50, seed=3) != ratio_ci(*args, n_boot=50, seed=4)
    with pytest.raises(ValueError, match="paired arms differ in length: 2 vs 1"):
        paired_ci([1, 0], [1])


def test_a_ratio_with_no_denominator_is_undefined_not_infinite():
    assert ratio_ci([1], [1], [1], [2]) == (0.5, 0.5, 0.5)  # one trajectory each is enough
    assert ratio_ci([1], [2], [1], [1]) == (-0.5, -0.5, -0.5)
    assert all(np.isnan(ratio_ci([1], [0], [1], [2])))
    assert all(np.isnan(ratio_ci([1], [2], [1], [0])))


@pytest.mark.parametrize("low, high, margin, expected", [
    (-0.5, 0.5, None, "not shown"),          # no margin unless one is given
    (np.nan, 0.1, 0.0, "not shown"), (0.1, np.nan, 0.0, "not shown"),
    (-0.3, 0.0, 0.05, "not shown"),          # below -margin at one end only
])
def test_verdict_edges(low, high, margin, expected):
    assert (stats.verdict(low, high) if margin is None else stats.verdict(low, high, margin)) == expected


def test_difficulty_bins_are_a_task_and_its_level():
    import pandas as pd

    from reasoning_core.tasks.example import Example

    examples = [Example("Compute left to right: 1 + 2", "3", difficulty=1),
                Example("How many r's are in 'strawberry'?", "3", difficulty=1)]
    runs = pd.DataFrame({"problem": [1, 0], "difficulty": [1, 1]})
    binned = search_claims._binned(runs, examples)
    assert list(binned.bin) == ["letters 1", "arith 1"] and list(binned.task) == ["letters", "arith"]


def test_the_problems_an_effect_needs_are_where_its_interval_clears_zero():
    # a paired effect of +0.1 on 40 problems straddles 0; the same problems repeated k times keep the
    # effect and shrink the interval as 1/sqrt(k), so the count `problems_to_show` names is where it clears
    diff = np.array([1, 0] * 7 + [0, -1] * 3 + [0] * 20, float)
    effect, low, high = stats.mean_ci(diff, n_boot=2000, seed=0)
    assert low < 0 < effect
    needed = stats.problems_to_show(effect, low, high, len(diff))
    assert needed > len(diff)
    k = int(np.ceil(needed / len(diff)))
    assert stats.mean_ci(np.tile(diff, k + 1), n_boot=2000, seed=0)[1] > 0
    assert stats.mean_ci(np.tile(diff, max(1, k // 3)), n_boot=2000, seed=0)[1] < 0


@pytest.mark.parametrize("effect, low, high, margin, says", [
    (0.05, -0.02, 0.12, 0.0, "about 196 problems (2.0x this run's 100)"),
    (-0.03, -0.10, 0.04, 0.0, "itself on the other side of 0"),
    (-0.30, -0.40, -0.20, 0.0, "whole interval [-0.400, -0.200] lies on the other side of 0"),
    (-0.08, -0.12, -0.06, 0.05, "on the other side of -0.05"),
    (-0.15 + 0.1, -0.175, 0.075, 0.05, "on the other side of -0.05 or on it"),   # -0.05 + 0.05 is 1e-17, not 0
    (0.01, np.nan, np.nan, 0.0, "undefined at n = 100"),
])
def test_why_a_row_does_not_hold_reads_its_interval(effect, low, high, margin, says):
    assert says in stats.why_not(effect, low, high, 100, margin)


@pytest.mark.parametrize("low, high, losses, says", [
    (0.01, 0.2, (0.5, 0.5), "still learning"), (-0.02, 0.03, (0.5, 0.49), "converged"),
    (-0.05, 0.08, (0.5, 0.49), "not shown either way"), (0.0, 0.04, (0.5, 0.5), "converged"),
    (0.0, 0.0, (1.1, 0.9), "still learning")])   # at zero accuracy both times, but the loss still falls
def test_claim_1_calls_an_arm_converged_only_when_doubling_its_tokens_adds_little(low, high, losses, says):
    assert train_claims.convergence(low, high, *losses).startswith(says)
