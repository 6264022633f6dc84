"""Sampling whole chains from a generator checkpoint, and greedy accuracy.

`complete_chains` extends many prefixes step by step through the project's `Generator.propose`
contract (one batched call per step depth) with the core's `TransformersGenerator`, so training sees
chains exactly the way search does.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from scipy.stats import binomtest
from tqdm.auto import tqdm

from reasoning_core.backends.transformers_lm import TransformersGenerator

from .data import TASK

logger = logging.getLogger(__name__)
MAX_STEPS = 8          # the longest gold chains have 6 steps; a rambling chain is cut here
STEP_TOKENS = 72       # characters per step, generously (a word-problem sentence is up to about 60)


def make_generator(model, tokenizer) -> TransformersGenerator:
    """The core's transformers backend over an in-memory model, so training samples as search does."""
    return TransformersGenerator(model, tokenizer=tokenizer)


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
            texts = [_prefix(p, pre) for p, pre in zip(problems, prefixes)]
            props = generator.propose(texts, n, stop=TASK.step_delimiter, max_new_tokens=STEP_TOKENS,
                                      temperature=temperature, seed=seed)
            pairs = [(c, props[i][j]) for i, group in enumerate(chains) for j, c in enumerate(group)
                     if not c.finished and len(c.steps) < MAX_STEPS]
            first = False
        else:
            texts = [_prefix(c.problem, c.steps) for c in live]
            props = generator.propose(texts, 1, stop=TASK.step_delimiter, max_new_tokens=STEP_TOKENS,
                                      temperature=temperature, seed=seed + depth)
            pairs = [(c, p[0]) for c, p in zip(live, props)]
        for c, cont in pairs:
            if cont.text.strip():
                c.steps.append(cont.text.strip())
            c.finished = cont.finished or TASK.extract_answer(cont.text) is not None or not cont.text.strip()
    return chains


def _prefix(problem: str, steps: list[str]) -> str:
    """What the generator reads before its next step: the task prompt, then each step and delimiter."""
    return TASK.prompt(problem) + "".join(s + TASK.step_delimiter for s in steps)


def chain_answer(chain: Chain) -> str | None:
    """The answer a chain states (None when it states none)."""
    return TASK.extract_answer(TASK.step_delimiter.join(chain.steps))


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


def paired_test(before: list[int], after: list[int]) -> dict:
    """Two models' greedy results on the same problems: accuracy before and after, the problems gained and
    lost, and the exact McNemar p-value (a two-sided binomial test on the problems that changed)."""
    if len(before) != len(after):
        raise ValueError(f"paired results differ in length: {len(before)} vs {len(after)}")
    gained = sum(a > b for b, a in zip(before, after))
    lost = sum(b > a for b, a in zip(before, after))
    n = max(1, len(before))
    return {"before": round(sum(before) / n, 4), "after": round(sum(after) / n, 4), "gained": gained, "lost": lost,
            "p": round(float(binomtest(gained, gained + lost).pvalue), 4) if gained + lost else 1.0}
