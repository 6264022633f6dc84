"""The outcome RM, checked against its family's own recipe (Cobbe et al.; a sequence classifier read at
the last token of problem + whole solution), as the PRM families are in test_reward_presets.py."""
from __future__ import annotations

import pytest
import torch

from reasoning_core.rewards import OutcomeRM

from tiny_models import save_tiny_orm

PROBLEM = "17 + 25 * 3"
PATHS = [["17 + 25 = 42", "42 * 3 = 126", "The answer is 126"], ["17 + 25 = 40", "40 * 3 = 120"], ["The answer is 7"]]


@pytest.fixture(scope="module", params=[1, 2], ids=["sigmoid", "softmax"])
def orm(request, tmp_path_factory):
    folder = save_tiny_orm(tmp_path_factory.mktemp(f"orm{request.param}"), num_labels=request.param)
    return OutcomeRM(folder, device="cpu")


def recipe(orm: OutcomeRM, problem: str, steps: list[str]) -> float:
    """P(correct) of the whole written solution, computed by hand from the model's logits."""
    text = orm.format.prompt(problem) + "".join(s + orm.format.step_separator for s in steps)
    ids = orm.tokenizer(text, return_tensors="pt").input_ids
    with torch.no_grad():
        logits = orm.model(input_ids=ids).logits[0]
    if logits.numel() == 1:
        return float(torch.sigmoid(logits[0]))
    return float(logits.softmax(-1)[orm.format.good_label])


def test_orm_scores_the_whole_solution_by_its_recipe(orm):
    scores = orm.score(PROBLEM, PATHS)
    for path, row in zip(PATHS, scores):
        assert row == pytest.approx([recipe(orm, PROBLEM, path)] * len(path), abs=1e-5)


def test_orm_reads_the_solution_not_only_the_prompt(orm):
    scores = [row[0] for row in orm.score(PROBLEM, PATHS)]
    assert len({round(s, 6) for s in scores}) == len(PATHS), "different solutions must score differently"
    assert scores[0] != pytest.approx(recipe(orm, PROBLEM, []), abs=1e-6)
