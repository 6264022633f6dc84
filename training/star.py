"""STaR (Zelikman et al., 2022): sample chains, keep the correct ones, fine-tune, repeat.

A correct final answer does not make a correct chain: the tiny generator often reaches the right answer
through two wrong steps that cancel ("3 + 6 = 8", ..., right total), and about one kept chain in five is
such a chain; training on them teaches wrong arithmetic, and STaR then lowers accuracy. With a step
`verifier` (any `RewardModel`, e.g. the pipeline's agreement verifier), a chain is kept only when every
step also scores at least `min_step_score` (process-filtered STaR; the false positives are what Let's
Verify Step by Step warns outcome supervision rewards).

Where no sampled chain of a problem is correct, *rationalise*: sample again with the answer as a
hint in the prompt (`... (answer: N)`), keep the correct chains and train on them *without* the hint.

Each round trains the current model further for `train.max_steps` steps on the round's kept chains
plus `replay_rows` rows replayed from the SFT dataset. STaR's problems come with answers only (a
fresh seed each round), so the kept chains are the only supervision they get; the replayed rows keep
the easy-skewed kept set (the model solves the short problems) from making it forget the long ones.
What the self-generated chains add beyond replay alone is measured by `python -m experiments.star_ablation`.

    python -m training star --parent runs/tiny/sft --out runs/tiny/star --preset tiny
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from datasets import Dataset

from .data import TASK, completion_text
from .sampling import chain_answer, sample_chains
from .sft import TrainConfig, train_sft

logger = logging.getLogger(__name__)


@dataclass
class StarConfig:
    rounds: int = 2
    problems: int = 400          # train problems sampled per round (fresh seed each round)
    samples: int = 4             # chains per problem
    temperature: float = 1.0
    rationalize: bool = True
    max_per_problem: int = 2     # distinct correct chains kept per problem
    replay_rows: int = 0         # SFT rows replayed in every round's training data
    self_chains: bool = True     # False: train on the replayed rows only (the control run of the ablation)
    min_step_score: float = 0.5  # with a verifier: the lowest step score a kept chain may have
    train: TrainConfig = field(default_factory=lambda: TrainConfig(max_steps=150, batch_size=32,
                                                                  learning_rate=1e-3))  # per round


def hinted(problem: str, answer: str) -> str:
    """The rationalisation prompt's problem text: the problem with its answer as a hint."""
    return f"{problem} (answer: {answer})"


def _sound(chains, problem: str, ref: str, verifier, min_step_score: float) -> tuple[list, int]:
    """The chains that reach `ref` and, with a verifier, whose every step scores `min_step_score` or
    more (read against the plain problem, as they will be trained); also how many the verifier refused."""
    right = [c for c in chains if c.steps and TASK.is_correct(chain_answer(c), ref)]
    if verifier is None or not right:
        return right, 0
    scores = verifier.score(problem, [c.steps for c in right])
    sound = [c for c, row in zip(right, scores) if min(row) >= min_step_score]
    return sound, len(right) - len(sound)


def collect(model, tok, problems: list[str], refs: list[str], cfg: StarConfig, seed: int,
            verifier=None) -> tuple[Dataset, dict]:
    """Correct self-generated chains as a prompt/completion dataset, plus yield statistics."""
    chains = sample_chains(model, tok, problems, cfg.samples, temperature=cfg.temperature, seed=seed,
                           desc="STaR sampling")
    kept: dict[int, set[tuple[str, ...]]] = {}
    refused = 0

    def keep(i: int, group) -> None:
        nonlocal refused
        sound, n = _sound(group, problems[i], refs[i], verifier, cfg.min_step_score)
        refused += n
        for c in sound:
            kept.setdefault(i, set()).add(tuple(c.steps))

    for i, group in enumerate(chains):
        keep(i, group)
    solved = len(kept)
    rationalised = 0
    missing = [i for i in range(len(problems)) if i not in kept]
    if cfg.rationalize and missing:
        hint_chains = sample_chains(model, tok, [hinted(problems[i], refs[i]) for i in missing], cfg.samples,
                                    temperature=cfg.temperature, seed=seed + 1, desc="STaR rationalising")
        for i, group in zip(missing, hint_chains):
            keep(i, group)
            rationalised += i in kept
    rows = [{"prompt": TASK.prompt(problems[i]), "completion": completion_text(list(steps))}
            for i, chains_i in sorted(kept.items()) for steps in sorted(chains_i)[: cfg.max_per_problem]]
    stats = {"problems": len(problems), "solved_by_sampling": solved, "rationalised": rationalised,
             "refused_by_verifier": refused, "train_rows": len(rows)}
    return Dataset.from_list(rows or [{"prompt": "", "completion": ""}]), stats


def star_round(model, tok, problems: list[str], refs: list[str], cfg: StarConfig, seed: int,
               work_dir: str, *, replay: Dataset | None = None, verifier=None) -> dict:
    """One STaR round: sample with `model`, keep the sound chains (see `collect`), then train `model`
    in place on them plus `replay` (prompt/completion rows). Returns the round's statistics."""
    from datasets import concatenate_datasets

    stats, parts = {"train_rows": 0}, []
    if cfg.self_chains:
        dataset, stats = collect(model, tok, problems, refs, cfg, seed, verifier)
        logger.info("STaR round data: %s", stats)
        parts = [dataset] if stats["train_rows"] else []
    if replay is not None and len(replay):
        parts.append(replay.select_columns(["prompt", "completion"]))
    stats["trained_on"] = sum(len(p) for p in parts)
    if parts:
        stats.update(train_sft(model, tok, concatenate_datasets(parts).shuffle(seed=seed),
                               cfg.train, work_dir))
    return stats
