"""Public reward-model formats by name, so a checkpoint loads the way its authors score with it:

    load_reward("qwen-prm:/models/Qwen2.5-Math-PRM-7B")
    load_reward("math-shepherd:/models/math-shepherd-mistral-7b-prm")
    load_reward("rlhflow:/models/Llama3.1-8B-PRM-Deepseek-Data")
    load_reward("trl:/models/my-trl-prm")
    load_reward("vllm:qwen-prm:Qwen/Qwen2.5-Math-PRM-7B")      # vLLM pooling engine (GPU)

A bare folder still works: its `architectures` picks the adapter (see `loading.load_reward`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..protocols import RewardModel


@dataclass(frozen=True)
class RewardPreset:
    """An adapter and the settings that read one public family of reward checkpoints."""

    adapter: Callable[..., RewardModel]
    options: dict[str, Any] = field(default_factory=dict)
    about: str = ""

    def load(self, path: str, **kw: Any) -> RewardModel:
        return self.adapter(path, **{**self.options, **kw})


def _token_prm(path: str, **kw: Any) -> RewardModel:
    from .token_classification import TokenClassificationPRM

    return TokenClassificationPRM(path, **kw)


def _step_tag_prm(path: str, **kw: Any) -> RewardModel:
    from .step_tag import StepTagPRM

    return StepTagPRM(path, **kw)


def _chat_prm(path: str, **kw: Any) -> RewardModel:
    from .chat_prm import ChatPRM

    return ChatPRM(path, **kw)


def _agreement(path: str, **kw: Any) -> RewardModel:
    from .agreement import AgreementVerifier

    return AgreementVerifier(path, **kw)


def _outcome_rm(path: str, **kw: Any) -> RewardModel:
    from .outcome import OutcomeRM

    return OutcomeRM(path, **kw)


REWARD_PRESETS: dict[str, RewardPreset] = {
    "trl": RewardPreset(_token_prm, {"preset": "trl"},
                        "TRL PRMTrainer token classifier: P(good) at the '\\n' after each step"),
    "qwen-prm": RewardPreset(_token_prm, {"preset": "qwen-prm"},
                             "Qwen2.5-Math-PRM: Qwen chat prompt, steps joined by <extra_0>, 2-way head"),
    "math-shepherd": RewardPreset(_step_tag_prm, {},
                                  "Math-Shepherd: causal LM, 'step ки' per line, P(+) vs P(-) at each tag"),
    "rlhflow": RewardPreset(_chat_prm, {},
                            "RLHFlow chat PRM: a user turn per step, P(+) vs P(-) of the assistant reply"),
    "agreement": RewardPreset(_agreement, {},
                              "any causal LM as verifier: how close each step is to what it would write"),
    "orm": RewardPreset(_outcome_rm, {}, "sequence classifier: one score for the whole solution"),
}


def get_preset(name: str) -> RewardPreset:
    if name not in REWARD_PRESETS:
        raise ValueError(f"unknown reward preset {name!r}; valid: {', '.join(REWARD_PRESETS)}")
    return REWARD_PRESETS[name]
