"""Each claim's effect is the difference of its own arms: on a hand-built pool of chains, where the
right code, a flipped sign and an arm compared with itself all give different numbers."""
from __future__ import annotations

import numpy as np
import pytest

from bench.claims_lib import search_claims
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


@pytest.fixture()
def ctx(tmp_path):
    sizes = Sizes(name="hand", test_problems=5, val_problems=1, n_max=4, budget=2, co_problems=1, mcts_iterations=1,
                  mcts_problems=1, rstar_problems=1, rstar_iterations=1, sft_steps=1, star_rounds=1, star_problems=1,
                  star_steps=1, label_problems=1, label_rollouts=1, prm_steps=1, grpo_steps=1, grpo_prompts=1,
                  grpo_generations=2, stage_eval=1, n_boot=200)
    context = Context(sizes, tmp_path / "out", tmp_path / "work", preset="hand", loaded={})
    context.cache["pool"] = search_claims.Pool([None] * 5, [[["s"]] * 4] * 5, ANSWERS, CORRECT, np.ones((5, 4)),
                                               PRM, ORM, GREEDY)
    return context


def test_the_hand_built_pool_reads_as_designed(ctx):
    pool = ctx.cache["pool"]
    assert pool.best_of(pool.prm, 4).tolist() == [True, True, True, True, False]
    assert pool.best_of(pool.orm, 4).tolist() == [True, False, False, False, False]
    assert pool.majority(4).tolist() == [True, True, True, False, False]


def test_verifier_claim_effects_are_orm_minus_greedy_and_orm_minus_majority(ctx):
    vs_greedy, vs_majority = search_claims.claim_verifier(ctx)
    assert vs_greedy.effect == pytest.approx(0.2 - 0.4)
    assert vs_majority.effect == pytest.approx(0.2 - 0.6)
    assert vs_greedy.ci_low <= vs_greedy.effect <= vs_greedy.ci_high


def test_prm_vs_orm_effect_is_prm_minus_orm(ctx):
    (row,) = search_claims.claim_prm_vs_orm(ctx)
    assert row.effect == pytest.approx(0.8 - 0.2)
    assert row.n == 5 and row.holds == "yes"
