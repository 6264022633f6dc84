"""GRPO (Shao et al., 2024) on the generator with TRL's `GRPOTrainer`; the reward is chosen by name.

Rewards are plain functions `(prompts, completions, **dataset_columns) -> list[float]`:
  correct  1.0 when the completion states the reference answer (exact, rule-based)
  orm      the outcome RM's P(correct) for the whole chain
  prm      the step verifier's minimum step score (aggregation "min"): a PRM, or an agreement
           verifier (any spec `reasoning_core.rewards.load` reads)
  process  process supervision (Shao et al. 2024, section 4.1.3): no single reward per chain; every
           token's advantage is the score of the step it belongs to, normalised over the steps of its
           group, from the same step verifier (an agreement verifier's `local_scores`: a step is judged
           on its own, so a correct step after a wrong one is credited). The reward logged is `correct`.

Why process: with one reward per chain, a wrong chain pushes down every token, including the correct
steps after its first error ("8 + 6 = 14" after "3 + 6 = 8"), and GRPO on outcome rewards lowered
greedy accuracy here (see the README); per-step advantages blame only the wrong step.

    python -m training grpo --parent runs/tiny/star --out runs/tiny/grpo --reward correct
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
from datasets import Dataset

from reasoning_core import rewards
from reasoning_core.protocols import aggregate

from .data import TASK
from .prm import score_by_problem

logger = logging.getLogger(__name__)
REWARDS = ("correct", "orm", "prm", "process")


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
    optim: str = "adamw_torch_fused"   # any transformers optimizer name ("sgd" to rule Adam's scaling out)
    problems: int = 400
    seed: int = 0


def _steps(completion: str) -> list[str]:
    return [s.strip() for s in completion.split(TASK.step_delimiter) if s.strip()]


def grpo_dataset(problems: list[str], references: list[str]) -> Dataset:
    """GRPO's training rows: the task prompt, plus the problem and reference the rewards read."""
    return Dataset.from_list([{"prompt": TASK.prompt(p), "problem": p, "reference": r}
                              for p, r in zip(problems, references)])


def reward_fn(name: str, prm_path: str | None = None, orm_path: str | None = None) -> Callable:
    """The reward function called `name` (see the module docstring)."""
    if name not in REWARDS:
        raise ValueError(f"unknown reward {name!r}; valid: {', '.join(REWARDS)}")
    if name in ("correct", "process"):
        def correct(prompts, completions, reference, **_):
            return [float(TASK.is_correct(TASK.extract_answer(c), r)) for c, r in zip(completions, reference)]
        return correct
    path = prm_path if name == "prm" else orm_path
    if not path:
        raise ValueError(f"reward {name!r} needs a checkpoint path (--{name})")
    scorer = rewards.load(str(path), device="cpu")
    empty = [""] if name == "orm" else []  # an ORM scores an empty chain as written; a PRM finds no step

    def score(prompts, completions, problem, **_):
        rows = score_by_problem(scorer, list(problem), [_steps(c) or empty for c in completions])
        return [aggregate(row, "min") if row else 0.0 for row in rows]  # an ORM's row repeats one score
    score.__name__ = name  # TRL logs each reward under its function's name
    return score


def step_scorer(path: str) -> Callable[[str, list[list[str]]], list[list[float]]]:
    """Per-step scores for the `process` reward: an agreement verifier's own score of each step, or a
    PRM's step scores."""
    verifier = rewards.load(str(path), device="cpu")
    return getattr(verifier, "local_scores", verifier.score)


def token_steps(tok, ids: list[int], delimiter: str) -> tuple[list[str], list[int]]:
    """A completion's steps and, for each token, the index of the step it belongs to (-1 for a blank
    line); a delimiter (or EOS) belongs to the step it ends."""
    text, owner = "", []
    for j in range(len(ids)):
        owner.append(text.count(delimiter))
        text = tok.decode(ids[: j + 1], skip_special_tokens=True)
    index: dict[int, int] = {}
    steps: list[str] = []
    for k, piece in enumerate(text.split(delimiter)):
        if piece.strip():
            index[k] = len(steps)
            steps.append(piece.strip())
    return steps, [index.get(k, -1) for k in owner]


def process_advantages(tok, problems: list[str], completion_ids: torch.Tensor, completion_mask: torch.Tensor,
                       step_scores: Callable, group: int) -> torch.Tensor:
    """(completions, tokens) advantages: each token gets its step's score minus the mean over every step
    of its group (the `group` completions of one prompt, consecutive), over their standard deviation."""
    advantages = torch.zeros(completion_ids.shape, dtype=torch.float32)
    for first in range(0, len(problems), group):
        rows = range(first, first + group)
        parsed = [token_steps(tok, completion_ids[i][completion_mask[i].bool()].tolist(), TASK.step_delimiter)
                  for i in rows]
        scores = torch.nan_to_num(torch.tensor(
            [x for row in step_scores(problems[first], [steps for steps, _ in parsed]) for x in row] or [0.0]))
        norm = (scores - scores.mean()) / (scores.std(correction=0) + 1e-4)
        offset = 0
        for i, (steps, owner) in zip(rows, parsed):
            for j, k in enumerate(owner):
                if k >= 0:
                    advantages[i, j] = norm[offset + k]
            offset += len(steps)
    return advantages


def _trainer_class(step_scores: Callable | None):
    from trl import GRPOTrainer

    if step_scores is None:
        return GRPOTrainer

    class ProcessGRPOTrainer(GRPOTrainer):
        """GRPO whose advantages are per token, from step scores (see `process_advantages`)."""

        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            out["advantages"] = process_advantages(
                self.processing_class, [x["problem"] for x in inputs], out["completion_ids"].cpu(),
                out["completion_mask"].cpu(), step_scores, self.num_generations).to(out["advantages"].device)
            return out
    return ProcessGRPOTrainer


def train_grpo(model, tok, dataset: Dataset, cfg: GRPOSettings, reward: Callable, work_dir: str,
               step_scores: Callable | None = None) -> dict:
    """Run GRPO in place on `model` over a dataset with prompt/problem/reference columns; with
    `step_scores` (problem, paths -> per-step scores) the advantages are per step (the `process` reward)."""
    from trl import GRPOConfig

    args = GRPOConfig(
        output_dir=work_dir, max_steps=cfg.max_steps, learning_rate=cfg.learning_rate, beta=cfg.beta,
        per_device_train_batch_size=cfg.prompts_per_step * cfg.num_generations,
        num_generations=cfg.num_generations, max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature, top_k=0, optim=cfg.optim, seed=cfg.seed, use_cpu=True, report_to=[],
        save_strategy="no", logging_steps=max(1, cfg.max_steps // 10), dataloader_num_workers=0, bf16=False,
        lr_scheduler_type="constant", warmup_steps=0)
    tok.padding_side = "left"
    trainer = _trainer_class(step_scores)(model=model, reward_funcs=reward, args=args, train_dataset=dataset,
                                          processing_class=tok)
    result = trainer.train()
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    model.eval()
    return {"train_loss": round(float(result.training_loss), 4),
            "reward_first_log": round(rewards[0], 4) if rewards else None,
            "reward_last_log": round(rewards[-1], 4) if rewards else None}
