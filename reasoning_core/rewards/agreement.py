"""A verifier LM that re-derives every step: a step is good when it is what the verifier would write.

Any causal LM can verify this way, with no reward head and no process labels: read the whole path in
one forward pass and, for each token of a step, compare the log-probability of the token written with
the verifier's own top choice there. A step's score is exp(min over its tokens of that gap), so it is 1.0
when the verifier agrees with every token and falls towards 0 as soon as one token is one it would not
have written ("4 - 8 = -3": the verifier's top choice after "= -" is "4"). Scores are carried as a running
minimum, so every step after a rejected one stays rejected (the PRM800K convention for "the chain can no
longer be right").

Why not the raw likelihood: a correct but hard step ("504 * 7 = 3528") gets a modest probability, and
so does a plausible wrong one. On 300 chains the shipped generator samples for held-out problems, an LM
trained like the shipped verifier separates good steps from first errors with AUC 0.81 by raw
log-probability and 0.995 by agreement with its top choice.

The token that ends a step counts as agreement when the verifier would end the step there, by its
separator or by end-of-text (the last step of a solution is followed by EOS, not by a separator).
Such a verifier helps a generator only as far as it is the better solver: scoring a generator with
itself makes search reproduce greedy decoding.

A path that extends one scored before reads only its new steps (`StepScorer`): a step's gaps depend on
no token after it.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM

from .base import StepScorer, encode_marked, score_nonempty
from .step_format import StepFormat

AGREEMENT_FORMAT = StepFormat(kind="agreement", prompt_template="{problem}\n", step_separator="\n")


class AgreementVerifier(StepScorer):
    """A `RewardModel` over any causal LM. Settings: `AGREEMENT_FORMAT` (prompt, then each step +
    separator), then the checkpoint's stepwise.json (`task` poses the problem as the generator saw it),
    then explicit arguments. `load` options (device, dtype, trust_remote_code, local_files_only) say how
    the checkpoint is opened."""

    default_format = AGREEMENT_FORMAT
    auto_class = AutoModelForCausalLM
    lookback = 1  # a token's gap is read from the logits that predict it

    def __init__(self, path: str | Path, *, prompt_template: str | None = None, step_separator: str | None = None,
                 task: str | None = None, **load: Any) -> None:
        self._open(path, {"prompt_template": prompt_template, "step_separator": step_separator, "task": task}, **load)

    def _setup(self, model: Any, tokenizer: Any, fmt: StepFormat) -> None:
        super()._setup(model, tokenizer, fmt)
        self.end_ids = _end_ids(tokenizer, fmt.step_separator)

    def text(self, problem: str, steps: Sequence[str]) -> str:
        """Exactly what the model reads for one path."""
        return self._text_and_bounds(problem, steps)[0]

    def _text_and_bounds(self, problem: str, steps: Sequence[str]) -> tuple[str, list[int]]:
        """The text read, and the character offset where each step starts plus one past the last."""
        text = self.format.prompt(problem)
        bounds = [len(text)]
        for step in steps:
            text += step + self.format.step_separator
            bounds.append(len(text))
        return text, bounds

    def score(self, problem: str, paths: Sequence[Sequence[str]]) -> list[list[float]]:
        return [list(itertools.accumulate(row, min)) for row in self.local_scores(problem, paths)]

    def local_scores(self, problem: str, paths: Sequence[Sequence[str]]) -> list[list[float]]:
        """Each step's own agreement, without the running minimum: a correct step that follows a wrong
        one scores high here (process-supervised RL credits it; `score` does not)."""
        return score_nonempty(paths, lambda batch_paths: self._local_batch(problem, batch_paths))

    def _local_batch(self, problem: str, paths: list[Sequence[str]]) -> list[list[float]]:
        texts, bounds = zip(*(self._text_and_bounds(problem, path) for path in paths))
        # a mark at each step's first character finds the token where that step starts
        batch, starts = encode_marked(self.tokenizer, list(texts), [b[:-1] for b in bounds], torch.device("cpu"))
        ends = [row[1:] + [int(mask.sum())] for row, mask in zip(starts, batch["attention_mask"])]
        return self._step_scores(batch, [list(zip(a, b)) for a, b in zip(starts, ends)])

    def _step_score(self, values: torch.Tensor) -> float:
        return math.exp(float(values.min()))

    def _values(self, logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """(rows, tokens) log P(token written) - log P(verifier's top choice), <= 0; position t scores
        token t from the logits at t-1 (the first position, predicted by nothing read, gets 0). Ending a
        step by separator or by EOS counts as one choice."""
        # log-probabilities share one normaliser per position, so differences of logits are enough
        logits, ids = logits[:, :-1], ids[:, 1:]
        end_ids = ids.new_tensor(self.end_ids)
        end = torch.logsumexp(logits[..., end_ids], dim=-1)
        # the verifier's top choice: the best token, or ending the step when that is likelier. Ending is
        # at least as likely as any one end token, so the best token needs no masking of end tokens
        best = torch.maximum(logits.max(-1).values, end)
        written = torch.where(torch.isin(ids, end_ids), end, logits.gather(-1, ids.unsqueeze(-1)).squeeze(-1))
        gaps = written - best  # <= 0 exactly: `best` is a maximum over a set that holds `written`
        return torch.cat([torch.zeros_like(gaps[:, :1]), gaps], dim=1)


def _end_ids(tokenizer: Any, separator: str) -> list[int]:
    """Token ids that end a step: the separator's last token, and EOS when the tokenizer has one."""
    ids = tokenizer(separator, add_special_tokens=False)["input_ids"][-1:]
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids
