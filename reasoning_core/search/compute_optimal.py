"""Compute-optimal test-time scaling (Snell et al. 2024): estimate how hard the problem is from the
verifier's scores of a few first samples, then spend the rest of the budget on the strategy that
suits that difficulty: sequential revision when the model is nearly right (easy), parallel or tree
search when it is far off (hard).

The policy (difficulty bin -> strategy) is a config field, so a policy measured on validation
problems (as Snell et al. do; `bench/scaling.py` reports accuracy per difficulty) can replace the
default, which follows the paper's qualitative finding.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from ..knobs import knob
from ..tree import Event
from .base import InputError, Search, SearchConfig, Strategy, best_scored

BINS = ("easy", "medium", "hard")
# the strategies a problem can be handed over to, by name. The search package fills it in (a strategy
# module imports no other), and it is read at call time, so this strategy is plain data like the rest.
HANDOVER: dict[str, Strategy] = {}


def default_policy() -> dict[str, str]:
    """Snell et al.'s qualitative finding: revise when close, search when far."""
    return {"easy": "revise", "medium": "best_of_n", "hard": "beam_search"}


@dataclass
class ComputeOptimalConfig(SearchConfig):
    n: int = knob(8, "N", "the whole size, in chains, probes included", low=1)
    probe: int = knob(2, "probe chains", "chains sampled to judge difficulty (part of N)", low=1)
    easy_above: float = knob(0.7, "easy above", "mean probe value at or above which a problem is easy",
                             low=0.0, high=1.0)
    hard_below: float = knob(0.3, "hard below", "mean probe value below which a problem is hard", low=0.0, high=1.0)
    width: int = knob(2, "beam width", "beam width when beam search is chosen", low=1)
    policy: dict[str, str] = field(default_factory=default_policy)
    size_field: ClassVar[str] = "n"

    def validate(self) -> None:
        super().validate()
        if self.probe >= self.n:
            raise InputError(f"the probe ({self.probe} chains) must be smaller than the budget n ({self.n})")
        unknown = set(self.policy) - set(BINS)
        # the knobs' own ranges (checked above) already hold both thresholds within [0, 1]
        if unknown or self.hard_below > self.easy_above:
            raise InputError(f"policy bins must be {', '.join(BINS)} and 0 <= hard_below <= easy_above <= 1")


def check_policy(config: ComputeOptimalConfig) -> None:
    """Every bin hands over to a strategy of `HANDOVER`."""
    for level, name in config.policy.items():
        if name not in HANDOVER:
            raise InputError(f"policy[{level!r}] = {name!r} is not a strategy to hand over to; "
                             f"valid: {', '.join(HANDOVER)}")


def difficulty_bin(mean_value: float, config: ComputeOptimalConfig) -> str:
    if mean_value >= config.easy_above:
        return "easy"
    return "hard" if mean_value < config.hard_below else "medium"


def handover_config(config: ComputeOptimalConfig, name: str) -> SearchConfig:
    """The chosen strategy's config for the rest of the size, with the shared knobs carried over."""
    rest = config.n - config.probe
    return HANDOVER[name].configure(rest, seed=config.seed, temperature=config.temperature,
                                    max_step_tokens=config.max_step_tokens, max_steps=config.max_steps,
                                    aggregation=config.aggregation, width=min(config.width, rest))


def explore(search: Search) -> Iterator[Event]:
    config: ComputeOptimalConfig = search.config  # type: ignore[assignment]
    first = search.expand([0], config.probe)
    yield from first
    leaves = yield from search.extend_chains([a.node_id for a in first])
    yield from search.score(leaves, whole_path=True)
    mean_value = sum(search.tree[i].value or 0.0 for i in leaves) / len(leaves)
    level = difficulty_bin(mean_value, config)
    name = config.policy.get(level, default_policy()[level])
    search.info.update(difficulty=level, probe_value=round(mean_value, 4), chosen=name,
                       chosen_budget=config.n - config.probe)
    # the same tree and meter go on under the chosen strategy's own knobs
    return (yield from HANDOVER[name].explore(search.handover(handover_config(config, name))))


def choose(search: Search) -> int | None:
    name = search.info.get("chosen")
    if name is None:
        return best_scored(search)
    return HANDOVER[name].choose(search.handover(handover_config(search.config, name)))  # type: ignore[arg-type]


compute_optimal = Strategy("compute_optimal", ComputeOptimalConfig, explore, choose,
                           check=check_policy, doc=__doc__)  # type: ignore[arg-type]
