"""experiments/prm_data.py: the rows each arm trains on and the least-P(good) reading of a step."""
from __future__ import annotations

import math

import pytest
import torch
from datasets import Dataset

from experiments.prm_data import exact_rows, pair_chains, spelling_pair_chains, step_log_probs
from reasoning_core.tasks import check_steps, letters
from training.config import preset


def test_each_pair_is_a_gold_chain_and_its_twin_with_one_result_wrong():
    pairs = pair_chains(preset("default"), 30)
    assert len(pairs) >= 40 and len(pairs) % 2 == 0
    for (p, gold, ref), (q, bad, ref2) in zip(pairs[::2], pairs[1::2]):
        assert (p, ref) == (q, ref2) and len(gold) == len(bad)
        assert all(check_steps(p, gold))
        changed = [i for i, (a, b) in enumerate(zip(gold, bad)) if a != b]
        assert len(changed) == 1 and not check_steps(p, bad)[changed[0]]


def test_each_spelling_twin_misspells_one_chunk_and_keeps_every_count():
    pairs = spelling_pair_chains(30)
    assert len(pairs) >= 50 and len(pairs) % 2 == 0
    for (p, gold, _), (q, bad, _) in zip(pairs[::2], pairs[1::2]):
        assert p == q and all(check_steps(p, gold)) and len(gold) == len(bad)
        [k] = [i for i, (a, b) in enumerate(zip(gold, bad)) if a != b]
        (spelled, count), (misspelled, same_count) = gold[k].split(" -> "), bad[k].split(" -> ")
        assert count == same_count and abs(len(spelled.split()) - len(misspelled.split())) == 1
        assert spelled.count(letters.parse(p).letter) == misspelled.count(letters.parse(p).letter)
        assert not check_steps(p, bad)[k]


def test_exact_rows_keep_each_chain_once_with_the_checkers_labels():
    problem = "Compute left to right: 4 + 7"
    right, wrong = ["4 + 7 = 11", "The answer is 11"], ["4 + 7 = 12", "The answer is 12"]
    rows = Dataset.from_list([{"prompt": problem, "completions": c, "labels": [True] * 2}
                              for c in (right, wrong, right)])  # one chain twice, as both methods write it
    out = exact_rows(rows)
    assert [r["completions"] for r in out] == [right, wrong]
    assert [r["labels"] for r in out] == [[True, True], [False, False]]


def test_a_step_reads_as_its_least_good_token():
    # one row, a prompt token then step 0 (two tokens) and step 1 (one token); P(good) 0.9, 0.2 | 0.7
    p_good = torch.tensor([[0.5, 0.9, 0.2, 0.7]])
    logits = torch.stack([torch.log(1 - p_good), torch.log(p_good)], dim=-1)
    good, bad = step_log_probs(logits, torch.tensor([[-1, 0, 0, 1]]), steps=3)
    assert good[0, :2].tolist() == pytest.approx([(math.log(0.9) + math.log(0.2)) / 2, math.log(0.7)])
    assert bad[0, :2].exp().tolist() == pytest.approx([0.8, 0.3])  # 1 - the least P(good) of each step
    assert bad[0, 2] < -1e3  # no third step


def test_a_step_tag_lm_learns_the_tag_after_each_step_and_the_good_steps_tokens():
    from experiments.prm_data import BAD, GOOD, TAG, _TagCollator, tagged_features
    from training.tokenizer import build_tokenizer

    tok = build_tokenizer()
    problem, steps = "Compute left to right: 4 + 7", ["4 + 7 = 12", "The answer is 12"]
    ids, tags, step_of = tagged_features(tok, problem, steps)
    text = tok.decode(ids)
    assert text.endswith("4 + 7 = 12 #\nThe answer is 12 #") and [text[t] for t in tags] == [TAG, TAG]
    batch = _TagCollator(tok)([{"input_ids": ids, "tags": tags, "step_of": step_of, "step_labels": [True, False]}])
    targets = batch["tag_target"][0]
    assert [tok.decode([int(targets[t])]) for t in tags] == [GOOD, BAD]
    assert int((targets >= 0).sum()) == 2
    lm = batch["lm_target"][0]
    learned = tok.decode([int(t) for t in lm if t >= 0])
    assert learned == steps[0]  # the good step's tokens, each predicted from the one before; not the bad one


def test_a_learning_curve_judges_the_model_at_the_chosen_steps_and_keeps_each_point():
    from types import SimpleNamespace

    from experiments.prm_data import LearningCurve

    modes, saved = [], []

    class Model:
        training = True

        def train(self):
            self.training = True

    model = Model()

    def judge(m):
        m.training = False  # a judge puts the model in eval mode, as `from_model` does
        modes.append(m.training)
        return {"gold_vs_one_result_changed": len(modes) / 10}

    curve = LearningCurve({2, 4}, judge, lambda points: saved.append(list(points)))
    for step in range(1, 6):
        curve.on_step_end(None, SimpleNamespace(global_step=step), None, model=model)
    assert [p["step"] for p in curve.curve] == [2, 4]
    assert [p["gold_vs_one_result_changed"] for p in curve.curve] == [0.1, 0.2]
    assert saved == [curve.curve[:1], curve.curve]  # each point written as it is taken
    assert model.training  # training goes on in training mode
