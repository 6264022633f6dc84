"""Seeded bootstrap over problems: every effect in the report carries a 95% interval from here."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

N_BOOT = 1000


def bootstrap(stat: Callable[[np.ndarray], float], n: int, *, n_boot: int = N_BOOT, seed: int = 0,
              level: float = 0.95) -> tuple[float, float, float]:
    """(point estimate, low, high): `stat` maps an array of problem indices to a number; the interval is
    the percentile interval of `stat` over `n_boot` resamples of the n problems with replacement.
    Resamples where `stat` is undefined (NaN, e.g. an AUC with one class) are dropped."""
    if n < 1:
        return np.nan, np.nan, np.nan
    point = float(stat(np.arange(n)))
    rng = np.random.default_rng(seed)
    draws = np.array([stat(rng.integers(0, n, n)) for _ in range(n_boot)], dtype=float)
    draws = draws[~np.isnan(draws)]
    if not len(draws):
        return point, np.nan, np.nan
    tail = (1 - level) / 2 * 100
    return point, float(np.percentile(draws, tail)), float(np.percentile(draws, 100 - tail))


def mean_ci(values: Sequence[float], **kw) -> tuple[float, float, float]:
    """Bootstrap CI of a mean (e.g. accuracy over problems)."""
    x = np.asarray(values, dtype=float)
    return bootstrap(lambda idx: float(x[idx].mean()), len(x), **kw)


def paired_diff(a: Sequence[float], b: Sequence[float]) -> Callable[[np.ndarray], float]:
    """mean(a) - mean(b) over the drawn problems, where a[i] and b[i] are measured on the same problem i."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) != len(y):
        raise ValueError(f"paired arms differ in length: {len(x)} vs {len(y)}")
    return lambda idx: float(x[idx].mean() - y[idx].mean())


def ratio_diff(num_a, den_a, num_b, den_b) -> Callable[[np.ndarray], float]:
    """sum(num_a)/sum(den_a) - sum(num_b)/sum(den_b) over the drawn problems (a problem's trajectories
    stay together: a cluster bootstrap); undefined when a denominator is 0."""
    arrays = [np.asarray(v, dtype=float) for v in (num_a, den_a, num_b, den_b)]

    def stat(idx: np.ndarray) -> float:
        na, da, nb, db = (v[idx].sum() for v in arrays)
        return float(na / da - nb / db) if da > 0 and db > 0 else np.nan
    return stat


def nanmean(values: np.ndarray) -> float:
    """The mean of the defined values; NaN (not a warning) when none is."""
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if len(kept) else float("nan")


def effect(stat: Callable[[np.ndarray], float], tasks: Sequence[str], **kw) -> dict:
    """A row's measured fields: `stat` (which reads problem indices) bootstrapped over all the problems,
    and again within each task's problems (`tasks[i]` names problem i's task), each with its own n."""
    point, low, high = bootstrap(stat, len(tasks), **kw)
    labels = np.asarray(tasks)
    by_task = {}
    for name in sorted(set(tasks)):
        members = np.flatnonzero(labels == name)
        by_task[name] = (*bootstrap(lambda idx, m=members: stat(m[idx]), len(members), **kw), len(members))
    return {"effect": point, "ci_low": low, "ci_high": high, "n": len(tasks), "by_task": by_task}


def verdict(low: float, high: float, margin: float = 0.0) -> str:
    """Whether the paper's direction holds: "yes" when the whole interval is above -margin (margin 0:
    strictly better; margin > 0: not worse by more than the margin), "no" when the whole interval is
    below -margin, otherwise "not shown" (the interval straddles the line)."""
    if np.isnan(low) or np.isnan(high):
        return "not shown"
    if low > -margin:
        return "yes"
    if high < -margin:
        return "no"
    return "not shown"


def problems_to_show(effect: float, low: float, high: float, n: int, margin: float = 0.0) -> int | None:
    """About how many problems would put the whole interval on the paper's side, were the effect really
    the one measured (an interval's half-width shrinks as 1/sqrt(n)); None when the point estimate itself
    is not on that side, so no number of problems would show it."""
    distance = effect + margin
    if n < 1 or any(np.isnan(v) for v in (effect, low, high)) or distance <= 1e-9:   # on the line: rounding
        return None
    return int(np.ceil(n * ((high - low) / 2 / distance) ** 2))


def why_not(effect: float, low: float, high: float, n: int, margin: float = 0.0) -> str:
    """What the interval of a row that does not hold says, in numbers: how far from the line it lies,
    and how many problems an effect of the measured size would need."""
    line = f"-{margin}" if margin else "0"
    if np.isnan(low) or np.isnan(high):
        return f"The interval is undefined at n = {n} (too few problems where the statistic exists)."
    if high < -margin:
        return (f"The whole interval [{low:+.3f}, {high:+.3f}] lies on the other side of {line}: "
                "more problems would not change the direction.")
    needed = problems_to_show(effect, low, high, n, margin)
    if needed is None:
        return (f"The measured effect ({effect:+.3f}) is itself on the other side of {line} or on it; at n = {n} "
                f"the interval still admits effects up to {high:+.3f}.")
    return (f"The interval [{low:+.3f}, {high:+.3f}] straddles {line}; were the effect really {effect:+.3f}, "
            f"about {needed} problems ({needed / n:.1f}x this run's {n}) would show it.")
