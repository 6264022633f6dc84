"""Sampling whole chains from a generator checkpoint, and greedy accuracy.

`complete_chains` extends many prefixes step by step through the project's `Generator.propose`
contract (one batched call per step depth), so training sees chains exactly the way search does.
It uses `reasoning_core.backends.transformers_lm.TransformersGenerator` when that backend exists and
falls back to `LocalGenerator`, a small equivalent built on `model.generate`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from reasoning_core.protocols import Continuation
from reasoning_core.tasks.arith import ArithTask

logger = logging.getLogger(__name__)
TASK = ArithTask()
MAX_STEPS = 8          # a 5-op chain has 6 steps; a rambling chain is cut here
STEP_TOKENS = 24       # characters per step, generously (the longest is about 20)


class LocalGenerator:
    """`Generator.propose` over an in-memory HF causal LM (left-padded batch, sampling or greedy)."""

    def __init__(self, model, tokenizer):
        self.model, self.tok = model.eval(), tokenizer

    @torch.no_grad()
    def propose(self, prefixes, n, *, stop, max_new_tokens, temperature, seed):
        torch.manual_seed(seed)
        batch = [p for p in prefixes for _ in range(n)]
        self.tok.padding_side = "left"
        enc = self.tok(batch, return_tensors="pt", padding=True, add_special_tokens=False)
        stop_ids = self.tok(stop, add_special_tokens=False)["input_ids"]
        out = self.model.generate(
            **enc, max_new_tokens=max_new_tokens, do_sample=temperature > 0,
            temperature=temperature if temperature > 0 else None, top_k=0 if temperature > 0 else None,
            eos_token_id=[self.tok.eos_token_id] + stop_ids[-1:], pad_token_id=self.tok.pad_token_id,
            output_scores=True, return_dict_in_generate=True)
        new = out.sequences[:, enc["input_ids"].shape[1]:]
        logps = torch.stack(out.scores, 1).float().log_softmax(-1)
        chosen = logps.gather(-1, new.unsqueeze(-1)).squeeze(-1)
        conts = []
        for row, lp in zip(new.tolist(), chosen.tolist()):
            text, k, finished = "", 0, False
            for k, tid in enumerate(row):
                if tid == self.tok.eos_token_id:
                    finished = True
                    break
                text += self.tok.decode([tid])
                if text.endswith(stop):
                    text = text[: -len(stop)]
                    break
            else:
                k = len(row) - 1
            conts.append(Continuation(text, k + 1, float(sum(lp[: k + 1])), finished))
        return [conts[i * n:(i + 1) * n] for i in range(len(prefixes))]


def make_generator(model, tokenizer):
    """The shared backend when it is importable, else the local fallback (same contract)."""
    try:
        from reasoning_core.backends.transformers_lm import TransformersGenerator
    except ImportError:
        return LocalGenerator(model, tokenizer)
    return TransformersGenerator(model, tokenizer=tokenizer, device="cpu")


@dataclass
class Chain:
    """A sampled chain for one problem: its steps and whether it ended (EOS or answer line)."""

    problem: str
    steps: list[str]
    finished: bool


def complete_chains(generator, problems: list[str], prefixes: list[list[str]], n: int, *,
                    temperature: float, seed: int) -> list[list[Chain]]:
    """For each (problem, step prefix) sample `n` completions to the end of the chain.

    Returns `n` chains per input; each chain's steps include the given prefix."""
    chains = [[Chain(p, list(pre), False) for _ in range(n)] for p, pre in zip(problems, prefixes)]
    flat = [c for group in chains for c in group]
    first = True
    for depth in range(MAX_STEPS):  # one batched propose per step depth
        live = [c for c in flat if not c.finished and len(c.steps) < MAX_STEPS]
        if not live:
            break
        if first:  # one call proposes the n distinct first continuations of every prefix
            texts = [TASK.prompt(p) + "".join(s + "\n" for s in pre) for p, pre in zip(problems, prefixes)]
            props = generator.propose(texts, n, stop="\n", max_new_tokens=STEP_TOKENS,
                                      temperature=temperature, seed=seed)
            pairs = [(c, props[i][j]) for i, group in enumerate(chains) for j, c in enumerate(group)
                     if not c.finished and len(c.steps) < MAX_STEPS]
            first = False
        else:
            texts = [TASK.prompt(c.problem) + "".join(s + "\n" for s in c.steps) for c in live]
            props = generator.propose(texts, 1, stop="\n", max_new_tokens=STEP_TOKENS,
                                      temperature=temperature, seed=seed + depth)
            pairs = [(c, p[0]) for c, p in zip(live, props)]
        for c, cont in pairs:
            if cont.text.strip():
                c.steps.append(cont.text.strip())
            c.finished = cont.finished or TASK.extract_answer(cont.text) is not None or not cont.text.strip()
    return chains


def chain_answer(chain: Chain) -> str | None:
    return TASK.extract_answer("\n".join(chain.steps))


def sample_chains(model, tokenizer, problems: list[str], n: int, *, temperature: float = 1.0,
                  seed: int = 0, batch_size: int = 64, desc: str = "sampling") -> list[list[Chain]]:
    """`n` full chains per problem, in batches, with a progress bar."""
    gen = make_generator(model, tokenizer)
    out: list[list[Chain]] = []
    step = max(1, batch_size // max(1, n))
    for i in tqdm(range(0, len(problems), step), desc=desc, leave=False):
        chunk = problems[i:i + step]
        out += complete_chains(gen, chunk, [[] for _ in chunk], n, temperature=temperature, seed=seed + i)
    return out


def solved_counts(groups: list[list[Chain]], references: list[str]) -> list[int]:
    """For each problem's group of chains, how many state its reference answer."""
    return [sum(TASK.is_correct(chain_answer(c), ref) for c in group) for group, ref in zip(groups, references)]


def sample_accuracy(model, tokenizer, problems: list[str], references: list[str], *, n: int = 1,
                    temperature: float = 0.0, seed: int = 0, batch_size: int = 128, desc: str = "eval") -> float:
    """Fraction of `n` chains per problem (sampled at `temperature`; 0 is greedy) stating the reference."""
    chains = sample_chains(model, tokenizer, problems, n, temperature=temperature, seed=seed,
                           batch_size=batch_size, desc=desc)
    return sum(solved_counts(chains, references)) / max(1, n * len(problems))


def greedy_solved(model, tokenizer, problems: list[str], references: list[str], *,
                  batch_size: int = 128, desc: str = "greedy eval") -> list[int]:
    """Per problem, 1 if its greedy chain states the reference answer (what a paired comparison of two
    models needs), else 0."""
    chains = sample_chains(model, tokenizer, problems, 1, temperature=0.0, batch_size=batch_size, desc=desc)
    return solved_counts(chains, references)


def greedy_accuracy(model, tokenizer, problems: list[str], references: list[str], *,
                    batch_size: int = 128, desc: str = "greedy eval") -> float:
    """Fraction of problems whose greedy chain states the reference answer."""
    solved = greedy_solved(model, tokenizer, problems, references, batch_size=batch_size, desc=desc)
    return sum(solved) / max(1, len(solved))
