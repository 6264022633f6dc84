"""Every reward adapter takes the format settings and loading options its signature offers: each one given
explicitly reaches the adapter (over the checkpoint's stepwise.json and the adapter's defaults)."""
from __future__ import annotations

import pytest
import torch

from reasoning_core.rewards import AgreementVerifier, ChatPRM, OutcomeRM, StepTagPRM, TokenClassificationPRM

from tiny_models import (
    save_tiny_generator,
    save_tiny_orm,
    save_tiny_rlhflow_prm,
    save_tiny_step_tag_prm,
    save_tiny_token_prm,
)

COMMON = {"prompt_template": "Q: {problem}\n", "task": None}
CASES = {
    "token": (TokenClassificationPRM, save_tiny_token_prm,
              {**COMMON, "step_separator": "\n", "good_label": 0}),
    "step_tag": (StepTagPRM, save_tiny_step_tag_prm,
                 {**COMMON, "step_separator": ";", "step_tag": "#", "good_token": "y", "bad_token": "n"}),
    "orm": (OutcomeRM, save_tiny_orm, {**COMMON, "step_separator": ";", "good_label": 0}),
    "agreement": (AgreementVerifier, lambda folder: save_tiny_generator(folder, train_steps=0),
                  {**COMMON, "step_separator": ";"}),
    "chat": (ChatPRM, save_tiny_rlhflow_prm, {**COMMON, "good_token": "y", "bad_token": "n"}),
}


@pytest.mark.parametrize("name", CASES)
def test_explicit_settings_and_dtype_reach_the_adapter(name, tmp_path):
    cls, save, settings = CASES[name]
    adapter = cls(save(tmp_path / name), device="cpu", dtype=torch.float64, **settings)
    for key, value in settings.items():
        if value is not None:
            assert getattr(adapter.format, key) == value, key
    assert next(adapter.model.parameters()).dtype == torch.float64
    scores = adapter.score("1 + 2", [["1 + 2 = 3", "The answer is 3"]])
    assert len(scores[0]) == 2 and all(0.0 <= s <= 1.0 for s in scores[0])


@pytest.mark.parametrize("name", CASES)
def test_the_task_setting_poses_the_problem_as_that_task_does(name, tmp_path):
    cls, save, _ = CASES[name]
    adapter = cls(save(tmp_path / name), device="cpu", task="arith")
    assert adapter.format.task == "arith" and adapter.format.prompt("1 + 2").startswith("Question:")


def test_the_qwen_preset_is_the_base_that_settings_and_stepwise_json_refine(tmp_path):
    from reasoning_core.rewards import PRM_PRESETS

    folder = save_tiny_token_prm(tmp_path / "qwen")
    assert TokenClassificationPRM(folder, preset="qwen-prm", device="cpu").format == PRM_PRESETS["qwen-prm"]
    assert TokenClassificationPRM(folder, device="cpu").format == PRM_PRESETS["trl"]


def test_the_loading_options_reach_the_checkpoint_loaders(tmp_path, monkeypatch):
    from reasoning_core.rewards import base

    folder = save_tiny_step_tag_prm(tmp_path / "tag")
    seen: dict[str, list] = {"find_model": [], "load_tokenizer": [], "load_pretrained": []}
    def spy(name, real):
        def call(*args, **kwargs):
            seen[name].append(kwargs.get("device") if name == "load_pretrained" else args[1:])
            return real(*args, **kwargs)
        return call

    for name in seen:
        monkeypatch.setattr(base, name, spy(name, getattr(base, name)))
    StepTagPRM(folder, device="cpu")
    StepTagPRM(folder, device="cpu", trust_remote_code=True, local_files_only=False)
    assert seen == {"find_model": [(True,), (False,)],  # downloads are off unless asked for
                    "load_tokenizer": [(False,), (True,)], "load_pretrained": ["cpu", "cpu"]}
