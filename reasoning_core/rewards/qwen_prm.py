"""Qwen2.5-Math-PRM's architecture, built in: a Qwen2 decoder whose head (Linear, ReLU, Linear -> 2 classes)
classifies every token; a step's score is P(class 1) at the `<extra_0>` that ends it.

The checkpoints ship this class as remote code (`Qwen2ForProcessRewardModel`); having it here loads
them with `trust_remote_code` off, from the same weights (`model.*`, `score.0.*`, `score.2.*`).
"""
from __future__ import annotations

import torch
from torch import nn
from transformers import Qwen2Config, Qwen2Model, Qwen2PreTrainedModel
from transformers.modeling_outputs import TokenClassifierOutput


class Qwen2ForProcessRewardModel(Qwen2PreTrainedModel):
    """Per-token 2-way logits over a Qwen2 backbone (the Qwen2.5-Math-PRM head)."""

    config_class = Qwen2Config

    def __init__(self, config: Qwen2Config) -> None:
        super().__init__(config)
        self.num_labels = 2
        self.model = Qwen2Model(config)
        self.score = nn.Sequential(nn.Linear(config.hidden_size, config.hidden_size), nn.ReLU(),
                                   nn.Linear(config.hidden_size, self.num_labels))
        self.post_init()

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                **kwargs) -> TokenClassifierOutput:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        return TokenClassifierOutput(logits=self.score(hidden))
