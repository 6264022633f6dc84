"""Compute budgets and the metered access to models that enforces them.

Strategies never call a model directly: they go through a `Meter`, which counts what was used,
shrinks a call so it cannot overshoot the token budget, and raises `BudgetExhausted` (or
`Cancelled`) before a call that would break a cap. Wall time is checked between calls.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from .knobs import check_knobs, knob
from .protocols import Continuation, Generator, ModelError, RewardModel, check_scores


class BudgetExhausted(Exception):
    """A budget cap was reached; the strategy should finish with what it has."""


class Cancelled(Exception):
    """The caller asked the search to stop."""


@dataclass
class Budget:
    """Caps on one search run; None means unlimited. A search stops cleanly at the first cap reached."""

    max_tokens: int | None = knob(None, "max tokens", "generated tokens", low=1)
    max_generator_calls: int | None = knob(None, "max generator calls", "generator calls", low=1,
                                           aliases=("--max-calls",))
    max_reward_calls: int | None = knob(None, "max reward calls", "reward-model calls", low=1)
    max_nodes: int | None = knob(None, "max nodes", "tree nodes (the root does not count)", low=1)
    max_wall_s: float | None = knob(None, "max wall s", "wall-clock seconds", low=0.001)

    def __post_init__(self) -> None:
        check_knobs(self)


@dataclass
class Stats:
    """What one search run used."""

    generated_tokens: int = 0
    generator_calls: int = 0
    reward_calls: int = 0
    nodes: int = 0
    wall_s: float = 0.0
    model_s: float = 0.0  # time inside generator and reward calls (the rest is engine overhead)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


class Meter:
    """Budget-enforcing, counting proxy in front of a generator and a reward model."""

    def __init__(self, generator: Generator, reward: RewardModel | None, budget: Budget,
                 cancel: threading.Event | None = None) -> None:
        self.generator, self.reward, self.budget = generator, reward, budget
        self.cancel = cancel or threading.Event()
        self.stats = Stats()
        self._start = time.perf_counter()

    # --- checks ------------------------------------------------------------------------------
    def check(self) -> None:
        """Raise if the search must stop now (cancelled, or out of time)."""
        self.stats.wall_s = time.perf_counter() - self._start
        if self.cancel.is_set():
            raise Cancelled()
        if self.budget.max_wall_s is not None and self.stats.wall_s >= self.budget.max_wall_s:
            raise BudgetExhausted("wall time")

    def require_nodes(self, k: int) -> None:
        """Raise before work whose `k` new tree nodes would break the node cap (the root does not count)."""
        if self.budget.max_nodes is not None and self.stats.nodes + k > self.budget.max_nodes:
            raise BudgetExhausted("nodes")

    def count_nodes(self, k: int) -> None:
        """Count `k` nodes the tree is about to gain; the only place nodes are counted."""
        self.require_nodes(k)
        self.stats.nodes += k

    @property
    def tokens_left(self) -> int | None:
        if self.budget.max_tokens is None:
            return None
        return self.budget.max_tokens - self.stats.generated_tokens

    # --- metered calls -----------------------------------------------------------------------
    def propose(self, prefixes: Sequence[str], n: int, *, stop: str, max_new_tokens: int,
                temperature: float, seed: int, model: Generator | None = None) -> list[list[Continuation]]:
        """Generate `n` continuations per prefix without ever passing the token or call caps:
        `max_new_tokens` is shrunk so that even if every sequence runs to the limit the token
        budget holds. `model` (default: the search's generator) lets a second model, such as a
        discriminator, draw on the same budget."""
        self.check()
        if not prefixes or n <= 0:
            return [[] for _ in prefixes]
        if self.budget.max_generator_calls is not None and \
                self.stats.generator_calls >= self.budget.max_generator_calls:
            raise BudgetExhausted("generator calls")
        left = self.tokens_left
        if left is not None:
            max_new_tokens = min(max_new_tokens, left // (len(prefixes) * n))
            if max_new_tokens <= 0:
                raise BudgetExhausted("generated tokens")
        t0 = time.perf_counter()
        out = (model or self.generator).propose(prefixes, n, stop=stop, max_new_tokens=max_new_tokens,
                                                temperature=temperature, seed=seed, cancel=self.cancel)
        self.stats.model_s += time.perf_counter() - t0
        self.stats.generator_calls += 1
        if len(out) != len(prefixes) or any(len(row) != n for row in out):
            raise ModelError("generator returned the wrong number of continuations")
        self.stats.generated_tokens += sum(c.num_tokens for row in out for c in row)
        self.check_cancel()
        return out

    def score(self, problem: str, paths: Sequence[Sequence[str]]) -> list[list[float]]:
        """Per-step scores for each path, validated (NaN or out-of-range scores raise ModelError)."""
        if self.reward is None:
            raise ModelError("this strategy needs a reward model, and none was given")
        if not paths:
            return []
        self.check_cancel()
        if self.budget.max_reward_calls is not None and self.stats.reward_calls >= self.budget.max_reward_calls:
            raise BudgetExhausted("reward calls")
        t0 = time.perf_counter()
        scores = self.reward.score(problem, [list(p) for p in paths])
        self.stats.model_s += time.perf_counter() - t0
        self.stats.reward_calls += 1
        return check_scores([list(map(float, row)) for row in scores], paths)

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled()

    def finish(self) -> Stats:
        self.stats.wall_s = time.perf_counter() - self._start
        return self.stats
