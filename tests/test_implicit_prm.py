"""The implicit PRM: a causal LM and its reference score a prefix by beta * their summed log-ratio."""
from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoModelForCausalLM

from reasoning_core.protocols import ModelError
from reasoning_core.rewards import ImplicitPRM
from reasoning_core.rewards import load as load_reward
from reasoning_core.rewards.implicit import REFERENCE_FILE

from tiny_models import save_tiny_generator, save_tiny_implicit_prm

PROBLEM = "Compute left to right: 17 + 25 * 3"
PATHS = [["17 + 25 = 42", "42 * 3 = 126", "The answer is 126"], ["17 + 25 = 43", "43 * 3 = 129"], ["17 + 25 = 42"]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return save_tiny_generator(tmp_path_factory.mktemp("reference"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, reference):
    return save_tiny_implicit_prm(tmp_path_factory.mktemp("implicit"), reference,
                                  stepwise={"kind": "implicit", "task": "steps", "beta": 0.5})


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_a_model_scored_against_itself_rates_every_step_one_half(reference):
    model = AutoModelForCausalLM.from_pretrained(reference)
    prm = ImplicitPRM.from_models(model, AutoModelForCausalLM.from_pretrained(reference),
                                  ImplicitPRM(reference, reference=reference, task="arith").tokenizer, task="arith")
    for row in prm.score(PROBLEM, PATHS):
        assert row == pytest.approx([0.5] * len(row))


def test_the_folder_loads_by_its_kind_with_its_reference_and_beta(trained):
    prm = load_reward(str(trained), device="cpu")
    assert isinstance(prm, ImplicitPRM) and prm.format.beta == 0.5
    scores = prm.score(PROBLEM, PATHS)
    # distinct to 6 significant digits: the moved weights put these scores near 0 (1e-5 to 1e-11 on an AMD
    # EPYC, where rounding to 6 decimals read three of them as 0), and how near depends on the CPU's kernels
    assert [len(r) for r in scores] == [3, 2, 1] and len({f"{s:.6g}" for r in scores for s in r}) > 3
    assert scores[2] == pytest.approx(scores[0][:1])  # a step's score depends on nothing after it


def test_a_prefix_score_sums_the_log_ratios_of_its_steps(trained):
    prm = load_reward(str(trained), device="cpu")
    for row, local in zip(prm.score(PROBLEM, PATHS), prm.local_scores(PROBLEM, PATHS)):
        sums = [sum(logit(p) for p in local[:k + 1]) for k in range(len(local))]
        assert [logit(p) for p in row] == pytest.approx(sums, abs=1e-6)


def test_the_adapter_reads_the_log_ratio_that_training_optimises(trained, reference):
    from training.prm import pad_spans, prefix_log_ratios, step_spans

    prm = load_reward(str(trained), device="cpu")
    model, ref = AutoModelForCausalLM.from_pretrained(trained), AutoModelForCausalLM.from_pretrained(reference)
    special = prm.tokenizer("")["input_ids"]  # the adapter reads the BOS this tokenizer adds; training's has none
    feats = [(special + ids, [-1] * len(special) + of) for ids, of in (step_spans(prm.tokenizer, PROBLEM, p)
                                                                       for p in PATHS)]
    with torch.no_grad():
        q = prefix_log_ratios(model, ref, pad_spans(feats, prm.tokenizer.pad_token_id), 3)
    for row, scores in enumerate(prm.score(PROBLEM, PATHS)):
        assert [logit(p) for p in scores] == pytest.approx((0.5 * q[row, :len(scores)]).tolist(), abs=1e-4)


def test_a_reference_named_by_path_is_the_stored_one(trained, reference):
    stored = load_reward(str(trained), device="cpu")
    named = load_reward(f"implicit:{trained}", reference=str(reference), device="cpu")
    for a, b in zip(named.score(PROBLEM, PATHS), stored.score(PROBLEM, PATHS)):
        assert a == pytest.approx(b)


def test_an_implicit_prm_without_its_reference_says_how_to_give_one(trained, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in trained.iterdir():
        if f.name != REFERENCE_FILE:
            (bare / f.name).write_bytes(f.read_bytes())
    with pytest.raises(ModelError, match="reference=PATH"):
        ImplicitPRM(bare, device="cpu")
