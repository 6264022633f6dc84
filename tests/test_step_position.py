"""experiments/step_position.py: the position baseline beside reward models, over all and over live steps."""
from __future__ import annotations

import json
import random
import sys

from experiments.step_position import main
from reasoning_core.tasks import arith, letters
from training.reward_eval import corrupt_one_result


def test_the_study_scores_the_chains_with_the_position_baseline_and_each_reward(tmp_path, monkeypatch):
    rng = random.Random(0)
    problems, paths = [], []
    for ex in arith.generate("validation", 8) + letters.generate("validation", 8):
        problems += [ex.problem, ex.problem]
        paths += [list(ex.steps), corrupt_one_result(ex.steps, rng)[0]]
    chains = tmp_path / "chains.json"
    chains.write_text(json.dumps({"problems": problems, "paths": paths, "references": [""] * len(paths)}))
    monkeypatch.setattr(sys, "argv", ["step_position.py", "--chains", str(chains), "--rewards", "oracle",
                                      "--out", str(tmp_path / "out")])
    main()
    result = json.loads((tmp_path / "out" / "step_position.json").read_text())
    assert set(result) == {"command", "position", "oracle"}
    assert result["oracle"]["all_steps_mean"] == result["oracle"]["live_steps_mean"] == 1.0
    assert set(result["position"]) >= {"arith", "letters"}
    assert result["position"]["live_steps_mean"] < 1.0  # it reads no step, so it cannot find every first error
