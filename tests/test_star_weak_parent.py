"""experiments/star_weak_parent.py: STaR arms from claim 1's generator, each scored against it on the same problems."""
import json

import pytest

from experiments.star_weak_parent import arm_config, main


def test_each_arm_is_scored_paired_against_the_parent_and_per_level(tmp_path):
    sizes = ["sft_steps=4", "test_problems=4", "star_problems=3", "star_steps=1", "star_rounds=1", "stage_eval=2"]
    main(["--work", str(tmp_path / "work"), "--arms", "5e-4:answer,1e-4:exact:2:1", "--jobs", "1", "--threads", "1",
          "--out", str(tmp_path / "out")] + [a for s in sizes for a in ("--size", s)])
    result = json.loads((tmp_path / "out" / "star_weak_parent.json").read_text())
    assert result["command"].startswith("python -m experiments.star_weak_parent --work")
    assert set(result["arms"]) == {"5e-4:answer", "1e-4:exact:2:1"}
    for arm in result["arms"].values():
        assert arm["before"] == result["parent_accuracy"] and arm["gained"] + arm["lost"] <= 4
        assert set(arm["by_level"]) <= {"1", "2", "3", "4"} and len(arm["rounds"]) == 2
    assert result["arms"]["1e-4:exact:2:1"]["rounds"][1]["problems"] == 2
    assert sum(r["chains"] for r in result["parent_sampled_by_level"]) == 4 * 4   # 4 samples of each test problem


def test_an_arm_is_read_as_lr_filter_and_optionally_its_size():
    from training.config import preset

    cfg = preset("micro")
    arm, verifier = arm_config(cfg, "3e-4:exact:50:7")
    assert (arm.star.train.learning_rate, arm.star.problems, arm.star.train.max_steps) == (3e-4, 50, 7)
    assert str(verifier) == "oracle" and arm_config(cfg, "1e-4:answer")[1] is None
    gold, none = arm_config(cfg, "1e-4:gold")
    assert none is None and not gold.star.self_chains and gold.star.replay_rows > 0
    with pytest.raises(ValueError, match="lr:filter"):
        arm_config(cfg, "1e-4:verifier")
