"""Reward models on top of the generator's backbone, trained with the transformers `Trainer`.

* **PRM**: `AutoModelForTokenClassification` (2 labels). The input is the task prompt followed by
  every step plus "\\n"; the label sits on each step's closing "\\n" (class 1 = good step) and is
  -100 elsewhere. At inference P(class 1) at those positions is the step score.
* **ORM**: `AutoModelForSequenceClassification` (2 labels) on the same text, labelled by whether the
  chain's final answer is correct.

Both start from the generator's weights (a fresh classification head), as PRMs usually do.

    python -m training prm --parent runs/tiny/star --labels runs/tiny/labels --out runs/tiny/prm
    python -m training orm --parent runs/tiny/star --labels runs/tiny/labels --out runs/tiny/orm
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from datasets import Dataset
from sklearn.metrics import roc_auc_score
from transformers import (
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    DataCollatorWithPadding,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from reasoning_core.protocols import RewardModel

from .data import TASK

logger = logging.getLogger(__name__)


@dataclass
class RewardConfig:
    max_steps: int = 300
    batch_size: int = 32
    learning_rate: float = 1e-3
    seed: int = 0
    label_source: str = "math_shepherd"   # or "omega_prm" or "both"
    eval_problems: int = 150              # validation problems whose sampled chains measure AUC
    target: str = "hard"                  # "hard": the rows' boolean labels; "soft": their MC estimates
                                          # (Math-Shepherd soft labels; OmegaPRM rows are 0/1 either way)
    pos_weight: float = 1.0               # loss weight of good-step targets (class balancing)
    weight_decay: float = 0.01


def encode_path(tok, problem: str, steps: list[str]) -> tuple[list[int], list[int]]:
    """Token ids of prompt + steps (each + "\\n"), and the index of each step's closing token."""
    ids = tok(TASK.prompt(problem), add_special_tokens=False)["input_ids"]
    ends = []
    for s in steps:
        ids = ids + tok(s + TASK.step_delimiter, add_special_tokens=False)["input_ids"]
        ends.append(len(ids) - 1)
    return ids, ends


def prm_features(tok, rows: Dataset, target: str = "hard") -> Dataset:
    """Token features; `labels` holds each step's target P(good) at its closing token, -100 elsewhere."""
    if target not in ("hard", "soft"):
        raise ValueError(f"unknown PRM target {target!r}; valid: hard, soft")

    def one(r):
        ids, ends = encode_path(tok, r["prompt"], r["completions"])
        labels = [-100.0] * len(ids)
        values = r["soft_labels"] if target == "soft" and r.get("soft_labels") else r["labels"]
        for e, v in zip(ends, values):
            labels[e] = float(v)
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}
    return rows.map(one, remove_columns=rows.column_names)


class _PadCollator:
    """Right-pads input ids, attention masks and float step targets (-100 = no target)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, feats: list[dict]) -> dict:
        width = max(len(f["input_ids"]) for f in feats)
        pad = lambda xs, v: [list(x) + [v] * (width - len(x)) for x in xs]  # noqa: E731
        return {"input_ids": torch.tensor(pad([f["input_ids"] for f in feats], self.pad_id)),
                "attention_mask": torch.tensor(pad([f["attention_mask"] for f in feats], 0)),
                "labels": torch.tensor(pad([f["labels"] for f in feats], -100.0), dtype=torch.float32)}


class _StepTrainer(Trainer):
    """Cross-entropy of the 2-class head against (possibly soft) step targets, good targets weighted."""

    pos_weight = 1.0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        out = model(**inputs)
        mask = labels >= 0
        t = labels[mask]
        logp = out.logits.float().log_softmax(-1)[mask]
        w = 1.0 + (self.pos_weight - 1.0) * t
        loss = (-(t * logp[:, 1] + (1 - t) * logp[:, 0]) * w).sum() / w.sum().clamp_min(1e-8)
        return (loss, out) if return_outputs else loss


def orm_features(tok, rows: list[dict]) -> Dataset:
    def one(r):
        ids, _ = encode_path(tok, r["prompt"], r["completions"])
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": int(r["correct"])}
    return Dataset.from_list(rows).map(one, remove_columns=list(rows[0]))


def _args(out_dir: str, cfg: RewardConfig) -> TrainingArguments:
    return TrainingArguments(
        output_dir=out_dir, max_steps=cfg.max_steps, per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate, lr_scheduler_type="cosine", warmup_steps=max(1, cfg.max_steps // 20),
        weight_decay=getattr(cfg, "weight_decay", 0.01), seed=cfg.seed, use_cpu=True, report_to=[], save_strategy="no",
        logging_steps=max(1, cfg.max_steps // 10), dataloader_num_workers=0, remove_unused_columns=False)


def with_new_head(auto_cls, parent: str, seed: int):
    """`parent` under a fresh 2-class head (`auto_cls`), its weights drawn from `seed`: else whatever the
    process ran before (earlier stages, a resumed run's fewer) would draw them."""
    torch.manual_seed(seed)
    return auto_cls.from_pretrained(parent, num_labels=2)


def train_prm(parent: str, tok, rows: Dataset, cfg: RewardConfig, work_dir: str,
              callbacks: list[TrainerCallback] | None = None):
    model = with_new_head(AutoModelForTokenClassification, parent, cfg.seed)
    model.config.pad_token_id = tok.pad_token_id
    tok.padding_side = "right"
    trainer = _StepTrainer(model=model, args=_args(work_dir, cfg),
                           train_dataset=prm_features(tok, rows, cfg.target),
                           data_collator=_PadCollator(tok.pad_token_id), callbacks=callbacks)
    trainer.pos_weight = cfg.pos_weight
    loss = trainer.train().training_loss
    return model.eval(), {"train_loss": round(float(loss), 4), "train_chains": len(rows)}


def train_orm(parent: str, tok, rows: list[dict], cfg: RewardConfig, work_dir: str):
    model = with_new_head(AutoModelForSequenceClassification, parent, cfg.seed)
    model.config.pad_token_id = tok.pad_token_id
    tok.padding_side = "right"
    trainer = Trainer(model=model, args=_args(work_dir, cfg), train_dataset=orm_features(tok, rows),
                      data_collator=DataCollatorWithPadding(tok))
    loss = trainer.train().training_loss
    return model.eval(), {"train_loss": round(float(loss), 4), "train_chains": len(rows)}


def score_by_problem(reward: RewardModel, problems: list[str], paths: list[list[str]]) -> list[list[float]]:
    """Step scores from a core `RewardModel` (a checkpoint, or a model in memory through an adapter's
    `from_model`) for paths of many problems: one batched call per problem (the adapters score many
    paths of one problem at a time)."""
    rows: dict[str, list[int]] = {}
    for i, p in enumerate(problems):
        rows.setdefault(p, []).append(i)
    out: list[list[float]] = [[] for _ in paths]
    for p, idx in rows.items():
        for i, row in zip(idx, reward.score(p, [paths[i] for i in idx])):
            out[i] = row
    return out


def auc(labels: list[bool], scores: list[float]) -> float | None:
    """ROC AUC, or None when only one class is present."""
    return round(float(roc_auc_score(np.array(labels, int), np.array(scores))), 4) if len(set(labels)) == 2 else None
