"""GRPO (Shao et al., 2024) on the generator with TRL's `GRPOTrainer`; the reward is chosen by name.

Rewards are plain functions `(prompts, completions, **dataset_columns) -> list[float]`:
  correct  1.0 when the completion states the reference answer (exact, rule-based)
  orm      the outcome RM's P(correct) for the whole chain
  prm      the step verifier's minimum step score (aggregation "min"): a PRM, or an agreement
           verifier (any folder `reasoning_core.loading.load_reward` reads)

    python -m training grpo --parent runs/tiny/star --out runs/tiny/grpo --reward correct
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from datasets import Dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from reasoning_core.protocols import aggregate

from .data import TASK
from .prm import orm_scores, score_by_problem

logger = logging.getLogger(__name__)
REWARDS = ("correct", "orm", "prm")


@dataclass
class GRPOSettings:
    reward: str = "correct"
    max_steps: int = 40
    prompts_per_step: int = 4
    num_generations: int = 8
    max_completion_length: int = 128
    learning_rate: float = 3e-5
    beta: float = 0.0            # no KL term: skips the reference model (half the compute on CPU)
    temperature: float = 0.7
    problems: int = 400
    seed: int = 0


def _steps(completion: str) -> list[str]:
    return [s.strip() for s in completion.split(TASK.step_delimiter) if s.strip()]


def reward_fn(name: str, prm_path: str | None = None, orm_path: str | None = None) -> Callable:
    """The reward function called `name` (see the module docstring)."""
    if name not in REWARDS:
        raise ValueError(f"unknown reward {name!r}; valid: {', '.join(REWARDS)}")
    if name == "correct":
        def correct(prompts, completions, reference, **_):
            return [float(TASK.is_correct(TASK.extract_answer(c), r)) for c, r in zip(completions, reference)]
        return correct
    path = prm_path if name == "prm" else orm_path
    if not path:
        raise ValueError(f"reward {name!r} needs a checkpoint path (--{name})")
    if name == "prm":
        from reasoning_core.loading import load_reward

        verifier = load_reward(str(path), device="cpu")

        def prm(prompts, completions, problem, **_):
            scores = score_by_problem(verifier, list(problem), [_steps(c) for c in completions])
            return [aggregate(row, "min") if row else 0.0 for row in scores]
        return prm
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()

    def orm(prompts, completions, problem, **_):
        return orm_scores(model, tok, list(problem), [_steps(c) or [""] for c in completions])
    return orm


def train_grpo(model, tok, dataset: Dataset, cfg: GRPOSettings, reward: Callable, work_dir: str) -> dict:
    """Run GRPO in place on `model` over a dataset with prompt/problem/reference columns."""
    from trl import GRPOConfig, GRPOTrainer

    args = GRPOConfig(
        output_dir=work_dir, max_steps=cfg.max_steps, learning_rate=cfg.learning_rate, beta=cfg.beta,
        per_device_train_batch_size=cfg.prompts_per_step * cfg.num_generations,
        num_generations=cfg.num_generations, max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature, top_k=0, seed=cfg.seed, use_cpu=True, report_to=[], save_strategy="no",
        logging_steps=max(1, cfg.max_steps // 10), dataloader_num_workers=0, bf16=False,
        lr_scheduler_type="constant", warmup_steps=0)
    tok.padding_side = "left"
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=args, train_dataset=dataset,
                          processing_class=tok)
    result = trainer.train()
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    model.eval()
    return {"train_loss": round(float(result.training_loss), 4),
            "reward_first_log": round(rewards[0], 4) if rewards else None,
            "reward_last_log": round(rewards[-1], 4) if rewards else None}
