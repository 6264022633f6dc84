"""Public reward-model formats by name, so a checkpoint loads the way its authors score with it:

    rewards.load("qwen-prm:/models/Qwen2.5-Math-PRM-7B")
    rewards.load("math-shepherd:/models/math-shepherd-mistral-7b-prm")
    rewards.load("rlhflow:/models/Llama3.1-8B-PRM-Deepseek-Data")
    rewards.load("trl:/models/my-trl-prm")
    rewards.load("vllm:qwen-prm:Qwen/Qwen2.5-Math-PRM-7B")      # vLLM pooling engine (GPU)

A bare folder still works: `detect_preset` picks the preset from its config's `architectures`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checkpoints import read_stepwise_json
from ..lazy import exports
from ..protocols import ModelError, RewardModel

ADAPTERS = {"AgreementVerifier": "agreement", "ChatPRM": "chat_prm", "ImplicitPRM": "implicit", "OutcomeRM": "outcome",
            "StepTagPRM": "step_tag", "TokenClassificationPRM": "token_classification"}
"""Each adapter class and the module it lives in (imported when a preset first loads it)."""
_adapter = exports(__package__, ADAPTERS)


@dataclass(frozen=True)
class RewardPreset:
    """An adapter (a name in ADAPTERS) and the settings that read one public family of reward checkpoints."""

    adapter: str
    options: dict[str, Any] = field(default_factory=dict)
    about: str = ""

    def load(self, path: str | Path, **kw: Any) -> RewardModel:
        return _adapter(self.adapter)(path, **{**self.options, **kw})


REWARD_PRESETS: dict[str, RewardPreset] = {
    "trl": RewardPreset("TokenClassificationPRM", {"preset": "trl"},
                        "TRL PRMTrainer token classifier: P(good) at the '\\n' after each step"),
    "qwen-prm": RewardPreset("TokenClassificationPRM", {"preset": "qwen-prm"},
                             "Qwen2.5-Math-PRM: Qwen chat prompt, steps joined by <extra_0>, 2-way head"),
    "math-shepherd": RewardPreset("StepTagPRM", {},
                                  "Math-Shepherd: causal LM, 'step ки' per line, P(+) vs P(-) at each tag"),
    "rlhflow": RewardPreset("ChatPRM", {},
                            "RLHFlow chat PRM: a user turn per step, P(+) vs P(-) of the assistant reply"),
    "agreement": RewardPreset("AgreementVerifier", {},
                              "any causal LM as verifier: how close each step is to what it would write"),
    "implicit": RewardPreset("ImplicitPRM", {},
                             "implicit PRM (PRIME): beta * log(pi / pi_ref) over the prefix, an LM and its reference"),
    "orm": RewardPreset("OutcomeRM", {}, "sequence classifier: one score for the whole solution"),
}


def get_preset(name: str) -> RewardPreset:
    """The preset called `name`, or a ValueError listing the valid ones."""
    if name not in REWARD_PRESETS:
        raise ValueError(f"unknown reward preset {name!r}; valid: {', '.join(REWARD_PRESETS)}")
    return REWARD_PRESETS[name]


def detect_preset(folder: Path, spec: str) -> str:
    """The preset that reads the checkpoint in `folder` (loaded as `spec`), told by its `architectures`:
    *ForTokenClassification -> trl, *ProcessRewardModel -> qwen-prm, *ForSequenceClassification -> orm,
    *ForCausalLM -> agreement or implicit when its stepwise.json says that kind, else math-shepherd (a chat
    PRM is a causal LM too: name its preset, rlhflow:PATH)."""
    archs = json.loads((folder / "config.json").read_text()).get("architectures") or []
    for arch in archs:
        if arch.endswith("ForTokenClassification"):
            return "trl"
        if arch.endswith("ProcessRewardModel"):
            return "qwen-prm"
        if arch.endswith("ForSequenceClassification"):
            return "orm"
        if arch.endswith("ForCausalLM"):
            kind = read_stepwise_json(folder).get("kind")
            return kind if kind in ("agreement", "implicit") else "math-shepherd"
    raise ModelError(f"cannot tell what kind of reward model {spec!r} is (architectures={archs}); expected "
                     "*ForTokenClassification (PRM), *ForSequenceClassification (ORM) or *ForCausalLM "
                     "(step-tag PRM), or name its format: <preset>:PATH with a preset from "
                     f"{', '.join(REWARD_PRESETS)}; or use 'oracle' or 'none'")
