"""Automatic process labels from Monte-Carlo rollouts of the generator.

* **Math-Shepherd** (Wang et al., 2024): for every step prefix of a sampled chain, roll out `k`
  completions; the step's hard label is "some rollout reaches the gold answer", its soft label the
  fraction that do.
* **OmegaPRM** (Luo et al., 2024): binary-search the first wrong step of each incorrect chain, using
  the MC estimate of a prefix (zero = no rollout recovers) to decide which half holds the error;
  steps before it are good, it and all after it bad. Correct chains are all-good without rollouts.

Both write the stepwise dataset form (see `training.data`) and report agreement with the exact
checker `check_steps`.

    python -m training label --parent runs/tiny/star --out runs/tiny/labels --preset tiny
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from datasets import Dataset
from tqdm.auto import tqdm

from reasoning_core.tasks import check_steps, recognised

from .data import TASK, stepwise_row
from .sampling import Chain, chain_answer, complete_chains, make_generator, sample_chains, solved_counts

logger = logging.getLogger(__name__)


@dataclass
class LabelConfig:
    problems: int = 300          # train problems whose sampled chains get labelled
    samples: int = 2             # chains sampled per problem
    rollouts: int = 4            # MC completions per step prefix
    temperature: float = 0.7     # chains and rollouts; at 1.0 a small model's rollouts fail from good
                                 # prefixes too often, which turns good steps into false negatives
    chain_temperature: float | None = None  # sampling the chains to label (None: `temperature`);
                                            # 1.0 matches the chains search and evaluation sample
    batch_size: int = 256        # rollouts per generator call
    seed: int = 1234
    drop_unsolvable: bool = False  # drop problems the generator never solves (no sampled chain and no
                                   # rollout from the bare question reaches gold): every step of theirs
                                   # gets MC value 0, so their labels mark good steps bad and teach the
                                   # PRM problem difficulty rather than step validity (OmegaPRM assumes
                                   # MC(question) > 0 too)


def mc_values(gen, items: list[tuple[str, list[str], str]], cfg: LabelConfig, seed: int,
              desc: str) -> list[float]:
    """Fraction of `cfg.rollouts` completions of each (problem, prefix, reference) reaching gold."""
    out: list[float] = []
    step = max(1, cfg.batch_size // cfg.rollouts)
    for i in tqdm(range(0, len(items), step), desc=desc, leave=False):
        chunk = items[i:i + step]
        groups = complete_chains(gen, [p for p, _, _ in chunk], [pre for _, pre, _ in chunk], cfg.rollouts,
                                 temperature=cfg.temperature, seed=seed + i)
        out += [k / cfg.rollouts for k in solved_counts(groups, [ref for _, _, ref in chunk])]
    return out


def _terminal_value(chain: Chain, ref: str, upto: int) -> float | None:
    """A prefix ending in an answer line needs no rollout: its value is its correctness."""
    answer = TASK.extract_answer(chain.steps[upto - 1]) if upto else None
    return None if answer is None else float(TASK.is_correct(answer, ref))


def math_shepherd(gen, chains: list[Chain], refs: list[str], cfg: LabelConfig) -> list[dict]:
    items, where, values = [], [], {}
    for ci, (c, ref) in enumerate(zip(chains, refs)):
        for j in range(1, len(c.steps) + 1):
            v = _terminal_value(c, ref, j)
            if v is None:
                where.append((ci, j))
                items.append((c.problem, c.steps[:j], ref))
            else:
                values[ci, j] = v
    for key, v in zip(where, mc_values(gen, items, cfg, cfg.seed, "Math-Shepherd rollouts")):
        values[key] = v
    rows = []
    for ci, (c, ref) in enumerate(zip(chains, refs)):
        soft = [values[ci, j] for j in range(1, len(c.steps) + 1)]
        rows.append(stepwise_row(c.problem, c.steps, [s > 0 for s in soft], soft=soft, reference=ref))
    return rows


def omega_prm(gen, chains: list[Chain], refs: list[str], cfg: LabelConfig) -> tuple[list[dict], int]:
    """Binary search in lockstep over all incorrect chains (one batched rollout call per round).
    Returns the rows and the number of prefixes whose value had to be estimated."""
    # search state per chain: the first error lies in steps (lo, hi] (1-indexed prefix lengths);
    # MC(prefix lo) > 0 is assumed (the question itself is solvable), MC(prefix hi) == 0.
    state = {}
    for ci, (c, ref) in enumerate(zip(chains, refs)):
        if c.steps and not TASK.is_correct(chain_answer(c), ref):
            state[ci] = [0, len(c.steps)]
    estimated, round_ = 0, 0
    while any(hi - lo > 1 for lo, hi in state.values()):
        todo = [(ci, (lo + hi) // 2) for ci, (lo, hi) in state.items() if hi - lo > 1]
        items = [(chains[ci].problem, chains[ci].steps[:mid], refs[ci]) for ci, mid in todo]
        estimated += len(items)
        for (ci, mid), v in zip(todo, mc_values(gen, items, cfg, cfg.seed + 7919 * (round_ + 1),
                                                 f"OmegaPRM search round {round_ + 1}")):
            state[ci][0 if v > 0 else 1] = mid
        round_ += 1
    rows = []
    for ci, (c, ref) in enumerate(zip(chains, refs)):
        first_bad = state[ci][1] if ci in state else len(c.steps) + 1
        labels = [j < first_bad for j in range(1, len(c.steps) + 1)]
        rows.append(stepwise_row(c.problem, c.steps, labels, reference=ref))
    return rows, estimated


def agreement(rows: list[dict]) -> dict:
    """Step-level agreement of the rows' labels with the exact checker, and the first-error match (all
    rows, then `by_task` when they mix tasks)."""
    by_task: dict[str, list[dict]] = {}
    for r in rows:
        by_task.setdefault(recognised(r["prompt"]) or "unread", []).append(r)
    overall = _agreement(rows)
    if len(by_task) < 2:
        return overall
    return overall | {"by_task": {t: _agreement(by_task[t]) for t in sorted(by_task)}}


def _agreement(rows: list[dict]) -> dict:
    steps = same = chains_same = 0
    for r in rows:
        gold = check_steps(r["prompt"], r["completions"])
        steps += len(gold)
        same += sum(a == b for a, b in zip(gold, r["labels"]))
        chains_same += gold == list(r["labels"])
    return {"steps": steps, "step_agreement": round(same / max(1, steps), 4),
            "chain_exact_match": round(chains_same / max(1, len(rows)), 4),
            "good_fraction": round(sum(sum(r["labels"]) for r in rows) / max(1, steps), 4)}


def label_chains(model, tok, problems: list[str], refs: list[str], cfg: LabelConfig,
                 ) -> tuple[Dataset, Dataset, dict]:
    """Sample chains, label them both ways; returns (shepherd, omega, metrics)."""
    chain_t = cfg.temperature if cfg.chain_temperature is None else cfg.chain_temperature
    groups = sample_chains(model, tok, problems, cfg.samples, temperature=chain_t, seed=cfg.seed,
                           batch_size=cfg.batch_size, desc="sampling chains to label")
    gen = make_generator(model, tok)
    dropped = 0
    if cfg.drop_unsolvable:
        unsolved = [i for i, (g, r) in enumerate(zip(groups, refs))
                    if not any(TASK.is_correct(chain_answer(c), r) for c in g)]
        roots = mc_values(gen, [(problems[i], [], refs[i]) for i in unsolved], cfg, cfg.seed + 31,
                          "question MC values")
        drop = {i for i, v in zip(unsolved, roots) if v == 0}
        if len(drop) == len(problems):  # an untrained generator: nothing would be left to label
            logger.warning("the generator solves none of the %d label problems; keeping them all", len(problems))
            drop = set()
        dropped = len(drop)
        groups = [g for i, g in enumerate(groups) if i not in drop]
        refs = [r for i, r in enumerate(refs) if i not in drop]
    chains = [c for g in groups for c in g if c.steps]
    chain_refs = [r for g, r in zip(groups, refs) for c in g if c.steps]
    shepherd = math_shepherd(gen, chains, chain_refs, cfg)
    omega, estimated = omega_prm(gen, chains, chain_refs, cfg)
    rollouts_ms = sum(len(c.steps) for c in chains)  # upper bound on prefixes valued by Math-Shepherd
    metrics = {"chains": len(chains), "problems_dropped_unsolvable": dropped,
               "chain_accuracy": round(sum(TASK.is_correct(chain_answer(c), r) for c, r in zip(chains, chain_refs))
                                       / max(1, len(chains)), 4),
               "math_shepherd": agreement(shepherd) | {"prefixes_valued": rollouts_ms},
               "omega_prm": agreement(omega) | {"prefixes_valued": estimated}}
    return Dataset.from_list(shepherd), Dataset.from_list(omega), metrics
