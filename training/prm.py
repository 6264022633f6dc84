"""Reward models on top of the generator's backbone, trained with the transformers `Trainer`.

* **PRM**: `AutoModelForTokenClassification` (2 labels). The input is the task prompt followed by
  every step plus "\\n"; the label sits on each step's closing "\\n" (class 1 = good step) and is
  -100 elsewhere. At inference P(class 1) at those positions is the step score.
* **Implicit PRM** (`format="implicit"`, Yuan et al. 2024; PRIME): the generator's causal LM itself,
  trained so that beta * log(pi / pi_ref) summed over a prefix's tokens (pi_ref: the generator, frozen)
  is the logit that the prefix is right, with binary cross-entropy against the same step labels. A wrong
  result is judged where the LM predicts it, which the classifier above cannot learn on this backbone
  (docs/findings.md). Read by `reasoning_core.rewards.implicit.ImplicitPRM`.
* **ORM**: `AutoModelForSequenceClassification` (2 labels) on the same text, labelled by whether the
  chain's final answer is correct.

All start from the generator's weights (the classifiers under a fresh head), as PRMs usually do.

    python -m training prm --parent runs/tiny/star --labels runs/tiny/labels --out runs/tiny/prm
    python -m training orm --parent runs/tiny/star --labels runs/tiny/labels --out runs/tiny/orm
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from datasets import Dataset
from sklearn.metrics import roc_auc_score
from transformers import (
    AutoModelForCausalLM,
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


PRM_FORMATS = ("token_classification", "implicit")


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
    format: str = "token_classification"  # or "implicit" (PRM only): see the module docstring
    beta: float = 0.1                     # implicit PRM: log-ratio -> logit; PRIME's 0.05 is for steps of a few
                                          # hundred sub-word tokens, these are 15-40 characters
    # ORM only. samples 0: train on the label stage's chains. samples > 0: Cobbe et al. 2021's recipe, that many
    # chains sampled at T=1 on each of `problems` train problems, each labelled by its final answer, and the
    # checkpoint (judged every `select_every` steps) that ranks a held-back tenth of the problems' chains best
    samples: int = 0
    problems: int = 400
    select_every: int = 50

    def __post_init__(self) -> None:
        if self.format not in PRM_FORMATS:
            raise ValueError(f"unknown PRM format {self.format!r}; valid: {', '.join(PRM_FORMATS)}")


def encode_path(tok, problem: str, steps: list[str]) -> tuple[list[int], list[int]]:
    """Token ids of prompt + steps (each + "\\n"), and the index of each step's closing token."""
    ids, step_of = step_spans(tok, problem, steps)
    ends = [i for i, k in enumerate(step_of) if k >= 0 and (i + 1 == len(ids) or step_of[i + 1] != k)]
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


def step_spans(tok, problem: str, steps: list[str]) -> tuple[list[int], list[int]]:
    """Token ids of prompt + steps (each + "\\n", as `encode_path` writes them) and, per token, the index of
    the step it belongs to (-1 for the prompt)."""
    ids = tok(TASK.prompt(problem), add_special_tokens=False)["input_ids"]
    step_of = [-1] * len(ids)
    for k, step in enumerate(steps):
        piece = tok(step + TASK.step_delimiter, add_special_tokens=False)["input_ids"]
        ids, step_of = ids + piece, step_of + [k] * len(piece)
    return ids, step_of


def pad_spans(feats: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """`step_spans` rows as one right-padded batch (padding belongs to no step)."""
    width = max(len(ids) for ids, _ in feats)
    return {"input_ids": torch.tensor([ids + [pad_id] * (width - len(ids)) for ids, _ in feats]),
            "attention_mask": torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in feats]),
            "step_of": torch.tensor([of + [-1] * (width - len(of)) for _, of in feats])}


def step_span_rows(tok, rows: Dataset) -> Dataset:
    def one(r):
        ids, step_of = step_spans(tok, r["prompt"], r["completions"])
        return {"input_ids": ids, "step_of": step_of, "step_labels": [float(x) for x in r["labels"]]}
    return rows.map(one, remove_columns=rows.column_names)


class StepSpanCollator:
    """`step_spans` rows and their step labels (-100: no step) as a batch."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        batch = pad_spans([(r["input_ids"], r["step_of"]) for r in rows], self.pad_id)
        steps = max(len(r["step_labels"]) for r in rows)
        batch["step_labels"] = torch.tensor([r["step_labels"] + [-100.0] * (steps - len(r["step_labels"]))
                                             for r in rows])
        return batch


def prefix_log_ratios(model, ref, batch: dict[str, torch.Tensor], steps: int) -> torch.Tensor:
    """Per (row, step): the sum of log pi(token) - log pi_ref(token) over every token of the steps up to it,
    each token read from the logits that predict it (the implicit PRM's Q-value of the prefix; its
    gradient reaches `model` only)."""
    ids, mask, step_of = batch["input_ids"], batch["attention_mask"], batch["step_of"]

    def token_logp(m):
        logits = m(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        return logits.log_softmax(-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    with torch.no_grad():
        ref_logp = token_logp(ref)
    ratio = token_logp(model) - ref_logp
    member = step_of[:, 1:].unsqueeze(1) == torch.arange(steps, device=ids.device).view(1, steps, 1)
    return (ratio.unsqueeze(1) * member).sum(-1).cumsum(-1)


class _ImplicitTrainer(Trainer):
    ref = None
    beta = 0.1

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("step_labels")
        logit = self.beta * prefix_log_ratios(model, self.ref, inputs, labels.shape[1])
        valid = labels >= 0
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logit[valid], labels[valid])
        return (loss, None) if return_outputs else loss


def train_implicit_prm(parent: str, tok, rows: Dataset, cfg: RewardConfig, work_dir: str,
                       callbacks: list[TrainerCallback] | None = None):
    """The implicit PRM trained from `parent` (also its frozen reference): (model, reference, stats)."""
    model = AutoModelForCausalLM.from_pretrained(parent)
    ref = AutoModelForCausalLM.from_pretrained(parent).eval()
    trainer = _ImplicitTrainer(model=model, args=_args(work_dir, cfg), train_dataset=step_span_rows(tok, rows),
                               data_collator=StepSpanCollator(tok.pad_token_id), callbacks=callbacks)
    trainer.ref, trainer.beta = ref, cfg.beta
    loss = trainer.train().training_loss
    return model.eval(), ref, {"train_loss": round(float(loss), 4), "train_chains": len(rows)}


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


class KeepBest(TrainerCallback):
    """Model selection in training: every `every` steps and at the last, `judge(model)` scores the model
    (higher is better; None: not measurable); the best weights are put back when training ends. `history`
    keeps each (step, score)."""

    def __init__(self, every: int, judge: Callable[[torch.nn.Module], float | None]) -> None:
        self.every, self.judge = max(1, every), judge
        self.best, self.best_step, self.weights, self.history = float("-inf"), 0, None, []

    def on_step_end(self, args, state, control, model=None, **kw):
        if state.global_step % self.every and state.global_step != state.max_steps:
            return
        model.eval()
        score = self.judge(model)
        model.train()
        self.history.append((state.global_step, score))
        if score is not None and score > self.best:
            self.best, self.best_step = score, state.global_step
            self.weights = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def on_train_end(self, args, state, control, model=None, **kw):
        if self.weights is not None:
            model.load_state_dict(self.weights)


def orm_model(parent: str, tok, seed: int):
    """`parent` under a fresh outcome head (`with_new_head`), reading right-padded batches of `tok`."""
    model = with_new_head(AutoModelForSequenceClassification, parent, seed)
    model.config.pad_token_id = tok.pad_token_id
    tok.padding_side = "right"
    return model


def train_orm(parent: str, tok, rows: list[dict], cfg: RewardConfig, work_dir: str,
              callbacks: list[TrainerCallback] | None = None):
    model = orm_model(parent, tok, cfg.seed)
    trainer = Trainer(model=model, args=_args(work_dir, cfg), train_dataset=orm_features(tok, rows),
                      data_collator=DataCollatorWithPadding(tok), callbacks=callbacks)
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
