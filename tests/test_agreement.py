"""The agreement verifier: any causal LM scores a step by how close it is to what the LM would write."""
from __future__ import annotations

import json

import pytest
import torch

from reasoning_core.rewards import AgreementVerifier
from reasoning_core.rewards import load as load_reward
from reasoning_core.rewards.agreement import _end_ids
from reasoning_core.tasks.arith import TASK as ARITH

from tiny_models import save_tiny_generator

PROBLEM = "Compute left to right: 17 + 25 * 3"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_generator(tmp_path_factory.mktemp("verifier"))


@pytest.fixture(scope="module")
def verifier(folder):
    return AgreementVerifier(folder, task="arith", device="cpu")


@pytest.fixture(scope="module")
def own_chain(verifier):
    """The verifier's own greedy solution, split into steps (it ends with EOS, not a newline)."""
    tok = verifier.tokenizer
    ids = tok(ARITH.prompt(PROBLEM), return_tensors="pt")["input_ids"]  # as the verifier reads it
    with torch.no_grad():
        out = verifier.model.generate(ids, max_new_tokens=60, do_sample=False, eos_token_id=tok.eos_token_id,
                                      pad_token_id=tok.eos_token_id)
    text = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    steps = text.split("\n")
    assert len(steps) >= 2 and all(steps), text
    return steps


def test_the_text_read_is_the_tasks_prompt_then_each_step_and_its_separator(verifier):
    assert verifier.text(PROBLEM, ["17 + 25 = 42", "x"]) == ARITH.prompt(PROBLEM) + "17 + 25 = 42\nx\n"


class CharTokenizer:
    """One id per character; with special tokens it appends EOS, as some tokenizers do."""

    def __init__(self, eos: int | None) -> None:
        self.eos_token_id = eos

    def __call__(self, text, add_special_tokens=True):
        eos = [self.eos_token_id] if add_special_tokens and self.eos_token_id is not None else []
        return {"input_ids": [ord(c) for c in text] + eos}


def test_a_step_ends_at_the_separators_last_token_or_at_eos():
    assert _end_ids(CharTokenizer(eos=2), "\n\n") == [10, 2]
    assert _end_ids(CharTokenizer(eos=None), "\n") == [10]
    assert _end_ids(CharTokenizer(eos=10), "\n") == [10]  # the separator is EOS: one choice, counted once


def test_its_own_greedy_solution_scores_one_everywhere(verifier, own_chain):
    assert verifier.score(PROBLEM, [own_chain]) == [[pytest.approx(1.0)] * len(own_chain)]


def test_a_changed_token_is_rejected_and_so_is_every_later_step(verifier, own_chain):
    scores = verifier.score(PROBLEM, [["91 - 25 = 42"] + own_chain[1:]])[0]  # the problem starts with 17
    assert scores[0] < 0.5
    assert all(later <= scores[0] for later in scores[1:])


def test_an_early_answer_line_is_rejected(verifier, own_chain):
    """Ending the chain (EOS) or stopping a step where the verifier would go on both count as tokens."""
    assert verifier.score(PROBLEM, [own_chain[:1] + ["The answer is 0"]])[0][1] < 1.0
    assert verifier.score(PROBLEM, [[own_chain[0][:-1]]])[0][0] < 1.0


def test_scores_do_not_depend_on_the_batch(verifier, own_chain):
    paths = [own_chain, own_chain[:1], [], ["17 + 25 = 40", "The answer is 40"]]
    together = verifier.score(PROBLEM, paths)
    assert [len(r) for r in together] == [len(p) for p in paths]
    for path, row in zip(paths, together):
        assert verifier.score(PROBLEM, [path])[0] == pytest.approx(row, abs=1e-5)


def test_scores_do_not_depend_on_the_tokenizers_own_padding_side(verifier, own_chain, monkeypatch):
    paths = [own_chain, own_chain[:1], ["17 + 25 = 40", "The answer is 40"]]
    right = verifier.score(PROBLEM, paths)
    monkeypatch.setattr(verifier.tokenizer, "padding_side", "left")  # a step's tokens are found from the left
    assert verifier.score(PROBLEM, paths) == right


def test_load_reward_reads_a_verifier_folder_and_the_preset(folder, tmp_path):
    assert isinstance(load_reward(f"agreement:{folder}", task="arith", device="cpu"), AgreementVerifier)
    marked = save_tiny_generator(tmp_path / "marked", train_steps=0)
    (marked / "stepwise.json").write_text(json.dumps({"kind": "agreement", "task": "arith"}))
    assert isinstance(load_reward(str(marked), device="cpu"), AgreementVerifier)
