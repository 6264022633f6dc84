"""How well a step scorer tells right steps from wrong ones, measured against the exact checker.

A pooled AUC over many problems rewards predicting how hard a problem is (its steps fail more often)
as much as reading the step; search only ever compares the chains of one problem. So the figures that
count are **within problems**:

* `within_auc`: among the steps of one problem's own sampled chains, the AUC of the scores against
  `tasks.check_steps`, averaged over the problems whose steps hold both classes;
* the same over *live* steps only (`live_steps`: those whose earlier steps are all right). The labels
  follow PRM800K (every step after the first error is bad), so over all steps a score that reads nothing
  but minus the step's index already reaches a within-problem AUC of about 0.82 on the default generator's
  chains (`experiments/step_position.py`); among live steps a step is bad only as the first error, which is
  what a search extending a right chain must judge, and position says much less (0.64);
* `pair_preference`: a gold chain against the same chain with one step's result changed (the rest left
  as it was): the share of pairs where the gold chain's weakest step scores higher (ties count half).

Both per task (`recognised`) and pooled, with the pooled AUC beside them for comparison.
"""
from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np

from reasoning_core.tasks import Example, check_steps, recognised

from .prm import auc

Scorer = Callable[[list[str], list[list[str]]], list[list[float]]]  # (problems, paths) -> step scores
_LAST_INT = re.compile(r"(-?\d+)(?!.*\d)")


def per_problem_auc(labels: Sequence[Sequence[bool]], scores: Sequence[Sequence[float]]) -> np.ndarray:
    """Each problem's AUC of its own items' scores against their labels (one list of each per problem), NaN
    where a problem holds one class only."""
    from sklearn.metrics import roc_auc_score

    return np.array([roc_auc_score(np.asarray(ls, int), ss) if len(set(ls)) == 2 else np.nan
                     for ls, ss in zip(labels, scores)], dtype=float)


def within_auc(problems: Sequence[str], labels: Sequence[Sequence[bool]], scores: Sequence[Sequence[float]]
               ) -> tuple[float | None, int]:
    """Mean per-problem step AUC and the number of problems that had both right and wrong steps."""
    by_problem: dict[str, tuple[list[bool], list[float]]] = defaultdict(lambda: ([], []))
    for p, ls, ss in zip(problems, labels, scores):
        by_problem[p][0].extend(ls)
        by_problem[p][1].extend(ss)
    aucs = per_problem_auc(*zip(*by_problem.values())) if by_problem else np.array([])
    aucs = aucs[~np.isnan(aucs)]
    return (round(float(aucs.mean()), 4) if len(aucs) else None), len(aucs)


def live_steps(labels: Sequence[bool]) -> list[bool]:
    """Per step, whether every step before it is right."""
    out, alive = [], True
    for label in labels:
        out.append(alive)
        alive = alive and label
    return out


def corrupt_one_result(steps: Sequence[str], rng: random.Random) -> tuple[list[str], int] | None:
    """The chain with the last number of one calculation step (not the answer line) changed, and that
    step's index; None when no step holds a number."""
    candidates = [i for i, s in enumerate(steps[:-1]) if _LAST_INT.search(s)]
    if not candidates:
        return None
    k = rng.choice(candidates)
    value = int(_LAST_INT.search(steps[k]).group(1))
    wrong = value + rng.choice([d for d in (-2, -1, 1, 2, 10) if value + d >= 0] or [1])
    out = list(steps)
    out[k] = _LAST_INT.sub(str(wrong), steps[k], count=1)
    return out, k


def pair_preference(score: Scorer, examples: Sequence[Example], seed: int = 0) -> float | None:
    """Share of (gold, one result changed) pairs where the gold chain's minimum step score is higher."""
    rng = random.Random(seed)
    pairs = [(ex, bad) for ex in examples if (bad := corrupt_one_result(ex.steps, rng)) is not None]
    if not pairs:
        return None
    problems = [ex.problem for ex, _ in pairs for _ in range(2)]
    paths = [path for ex, (bad, _) in pairs for path in (list(ex.steps), bad)]
    scores = score(problems, paths)
    wins = [float(min(g) > min(b)) + 0.5 * float(min(g) == min(b)) for g, b in zip(scores[::2], scores[1::2])]
    return round(float(np.mean(wins)), 4)


def step_report(score: Scorer, problems: Sequence[str], paths: Sequence[list[str]],
                gold_examples: Sequence[Example]) -> dict:
    """Pooled and within-problem step AUC of sampled `paths`, and the pair preference on gold chains,
    per task and over all (`*_mean` is the mean over tasks: each task counts the same)."""
    labels = [check_steps(p, list(s)) for p, s in zip(problems, paths)]
    scores = score(list(problems), [list(s) for s in paths])
    task_of = [recognised(p) or "unread" for p in problems]
    out: dict = {"per_task": {}}
    for task in sorted(set(task_of)):
        idx = [i for i, t in enumerate(task_of) if t == task]
        within, used = within_auc([problems[i] for i in idx], [labels[i] for i in idx], [scores[i] for i in idx])
        live = [live_steps(labels[i]) for i in idx]
        within_live, _ = within_auc([problems[i] for i in idx],
                                    [[x for x, k in zip(labels[i], keep) if k] for i, keep in zip(idx, live)],
                                    [[x for x, k in zip(scores[i], keep) if k] for i, keep in zip(idx, live)])
        gold = [ex for ex in gold_examples if recognised(ex.problem) == task]
        out["per_task"][task] = {
            "within_problem_step_auc": within, "problems_with_both_classes": used,
            "within_problem_live_step_auc": within_live,
            "pooled_step_auc": auc([g for i in idx for g in labels[i]], [x for i in idx for x in scores[i]]),
            "gold_vs_one_result_changed": pair_preference(score, gold),
            "steps": sum(len(labels[i]) for i in idx)}
    for key in ("within_problem_step_auc", "within_problem_live_step_auc", "pooled_step_auc",
                "gold_vs_one_result_changed"):
        values = [t[key] for t in out["per_task"].values() if t[key] is not None]
        out[f"{key}_mean"] = round(float(np.mean(values)), 4) if values else None
    return out
