"""Supervised fine-tuning of the generator: a tiny Llama-architecture LM from scratch, trained with
TRL's `SFTTrainer` on prompt -> gold steps -> answer line + EOS (loss on the completion only).

    python -m training sft --out runs/tiny/sft --preset tiny
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import torch
from datasets import Dataset
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback

from .tokenizer import build_tokenizer

logger = logging.getLogger(__name__)


@dataclass
class ModelConfig:
    """Shape of the from-scratch generator (about 1M parameters at the defaults)."""

    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 512
    max_positions: int = 256


@dataclass
class TrainConfig:
    """Optimisation settings shared by the SFT-style stages."""

    max_steps: int = 1500
    batch_size: int = 64
    learning_rate: float = 3e-3
    warmup_ratio: float = 0.05
    weight_decay: float = 0.01
    seed: int = 0
    max_length: int = 192
    group_by_length: bool = False  # batches of similar lengths: less padding when tasks' lengths differ
    # stop after this long; the learning rate then follows time as well as steps, so a run the cap stops
    # early has still annealed to zero (a step-only cosine cut at 74% left the third default SFT under-trained)
    max_wall_s: float | None = None


def build_generator(cfg: ModelConfig) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A fresh LlamaForCausalLM sized by `cfg` and its character tokenizer."""
    tok = build_tokenizer(cfg.max_positions)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads, max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=True, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id, rope_theta=10000.0)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    return model, tok


def sft_args(out_dir: str, tc: TrainConfig, **overrides):
    from trl import SFTConfig

    return SFTConfig(
        output_dir=out_dir, max_steps=tc.max_steps, per_device_train_batch_size=tc.batch_size,
        learning_rate=tc.learning_rate, lr_scheduler_type="cosine", warmup_steps=int(tc.warmup_ratio * tc.max_steps),
        weight_decay=tc.weight_decay, seed=tc.seed, max_length=tc.max_length,
        completion_only_loss=True, packing=False, use_cpu=True, report_to=[], save_strategy="no",
        logging_steps=max(1, tc.max_steps // 10), dataloader_num_workers=0,
        bf16=False, fp16=False, eos_token="<eos>",
        train_sampling_strategy="group_by_length" if tc.group_by_length else "random",
        **({"disable_tqdm": False} | overrides))


def train_sft(model: PreTrainedModel, tok: PreTrainedTokenizerBase, dataset: Dataset, tc: TrainConfig,
              work_dir: str) -> dict:
    """Fine-tune `model` in place on a prompt/completion dataset; returns the final train metrics."""
    from trl import SFTTrainer

    torch.manual_seed(tc.seed)
    tok.padding_side = "right"
    dataset = dataset.select_columns(["prompt", "completion"])
    clock = WallClock(tc.max_wall_s) if tc.max_wall_s else None
    trainer = SFTTrainer(model=model, args=sft_args(work_dir, tc), train_dataset=dataset, processing_class=tok,
                         callbacks=[clock] if clock else None)
    if clock:
        trainer.create_scheduler = clock.scheduler_factory(trainer, tc)
    result = trainer.train()
    model.eval()
    logged = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    # the mean over the run hides where it ended: the last logged loss is that of its last tenth of steps
    return {"train_loss": round(float(result.training_loss), 4), "steps": result.global_step,
            "final_loss": round(float(logged[-1]), 4) if logged else None,
            "final_learning_rate": float(f"{trainer.lr_scheduler.get_last_lr()[0]:.3g}")}


class WallClock(TrainerCallback):
    """Ends training after `seconds` of wall time, at the end of a step, and drives a warmup + cosine
    schedule by progress = the larger of the step fraction and the time fraction, so the learning rate
    reaches zero when either budget runs out (with time to spare it is the usual step cosine)."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.started = seconds, time.monotonic()

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return min(1.0, (time.monotonic() - self.started) / self.seconds)

    def on_step_end(self, args, state, control, **kwargs):
        control.should_training_stop = control.should_training_stop or self.elapsed() >= 1.0

    def factor(self, step: int, warmup: int, total: int) -> float:
        # The warmup is a fraction of the same progress, so a clock that cuts the run short also
        # shortens the warmup, instead of stopping a slow machine half-way up the ramp.
        progress = max(step / max(1, total), self.elapsed())
        ramp = warmup / max(1, total)
        if progress < ramp:
            return progress / ramp
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (progress - ramp) / (1.0 - ramp))))

    def scheduler_factory(self, trainer, tc: TrainConfig):
        """A replacement for `trainer.create_scheduler` that installs this clock's schedule."""
        from torch.optim.lr_scheduler import LambdaLR

        warmup = int(tc.warmup_ratio * tc.max_steps)

        def create_scheduler(num_training_steps: int, optimizer=None):
            if trainer.lr_scheduler is None:
                trainer.lr_scheduler = LambdaLR(optimizer or trainer.optimizer,
                                                lambda step: self.factor(step, warmup, num_training_steps))
            return trainer.lr_scheduler
        return create_scheduler
