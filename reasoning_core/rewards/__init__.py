"""Reward adapters: token-classification PRMs (TRL / Qwen-PRM), step-tag LMs (Math-Shepherd), chat PRMs
(RLHFlow), any causal LM as an agreement verifier, outcome RMs, and the exact arith oracle. All score many paths per call, one score in [0, 1]
per step. `REWARD_PRESETS` names the public formats (`load_reward("qwen-prm:PATH")`)."""
from .agreement import AgreementVerifier
from .chat_prm import ChatPRM
from .oracle import ArithOracle
from .outcome import OutcomeRM
from .presets import REWARD_PRESETS, RewardPreset, get_preset
from .step_tag import StepTagPRM
from .token_classification import PRM_PRESETS, TokenClassificationPRM

__all__ = ["AgreementVerifier", "PRM_PRESETS", "REWARD_PRESETS", "ArithOracle", "ChatPRM", "OutcomeRM", "RewardPreset", "StepTagPRM",
           "TokenClassificationPRM", "get_preset"]
