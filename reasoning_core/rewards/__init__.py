"""Reward adapters: token-classification PRMs (TRL / Qwen-PRM), step-tag LMs (Math-Shepherd), outcome RMs,
and the exact arith oracle. All score many paths per call, one score in [0, 1] per step."""
from .oracle import ArithOracle
from .outcome import OutcomeRM
from .step_tag import StepTagPRM
from .token_classification import PRM_PRESETS, TokenClassificationPRM

__all__ = ["PRM_PRESETS", "ArithOracle", "OutcomeRM", "StepTagPRM", "TokenClassificationPRM"]
