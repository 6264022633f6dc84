"""The app's example problems, chosen for the models being shipped: for each task the generator was
trained on, a few problems from easy to hard that those models really solve, by greedy decoding or else
by beam search with the default verifier, so a newcomer's first Run shows a right answer and the table
says which search it took. Hand-written candidates (e.g. bench/data/handwritten.jsonl) come first, then
held-out test problems of each trained level. Writes `examples.json` beside the models.

    python -m training examples --assets assets --candidates bench/data/handwritten.jsonl
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from reasoning_core.backends import TransformersGenerator
from reasoning_core.checkpoints import EXAMPLES_JSON, trained_tasks
from reasoning_core.protocols import Generator, RewardModel
from reasoning_core.rewards import load as load_reward
from reasoning_core.run import solve
from reasoning_core.search import Problem, make_config
from reasoning_core.tasks import GENERATED, generated, get_task, levels_trained, spread_levels

logger = logging.getLogger(__name__)
SEARCHES: tuple[tuple[str, int | None], ...] = (("greedy", None), ("beam_search", None), ("beam_search", 16))
"""Tried in this order (None: the strategy's default size, as the app starts); the first that solves a
problem is recorded, and a test reruns it."""


@dataclass(frozen=True)
class ShippedExample:
    problem: str
    reference: str
    task: str
    difficulty: int | None  # the generated level; None for a hand-written problem
    strategy: str
    size: int | None  # None: the strategy's default, which the app starts with
    seed: int = 0


def read_candidates(path: Path) -> list[dict]:
    """Rows {problem, answer, task} of a JSONL file of hand-written problems."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Picker:
    """Solves candidates with a generator and reward (the shipped ones), keeping the first solved ones."""

    def __init__(self, generator: Generator, reward: RewardModel | None, tries: int) -> None:
        self.generator, self.reward, self.tries = generator, reward, tries

    def solved_by(self, text: str, reference: str, task: str) -> tuple[str, int | None] | None:
        problem = Problem(text, get_task(task), reference)
        for strategy, size in SEARCHES:
            config = make_config(strategy, size, seed=0)
            if solve(strategy, problem, self.generator, self.reward, config=config).correct:
                return strategy, size
        return None

    def first_solved(self, rows: list[tuple[str, str, int | None]], task: str,
                     taken: set[str]) -> ShippedExample | None:
        for text, reference, level in [r for r in rows if r[0] not in taken][: self.tries]:
            found = self.solved_by(text, reference, task)
            logger.info("%s level %s: %s -> %s", task, level, text[:60], found)
            if found:
                return ShippedExample(text, reference, task, level, *found)
        return None

    def for_task(self, task: str, levels: list[int], per_task: int, hand: list[dict]) -> list[ShippedExample]:
        taken: set[str] = set()
        picks: list[ShippedExample] = []
        mine = [(r["problem"], str(r["answer"]), None) for r in hand if r["task"] == task]
        own = self.first_solved(mine, task, taken)
        if own:
            picks.append(own)
            taken.add(own.problem)
        targets = spread_levels(levels, per_task - len(picks))
        for previous, target in zip([None, *targets], targets):
            # a level the models never solve gives way to the easier ones down to the last slot's level
            floor = -1 if previous is None or previous == target else previous
            for level in [lv for lv in reversed(levels) if floor < lv <= target]:
                pick = self.first_solved(self.test_rows(task, level), task, taken)
                if pick:
                    picks.append(pick)
                    taken.add(pick.problem)
                    break
        return picks

    def test_rows(self, task: str, level: int) -> list[tuple[str, str, int | None]]:
        return [(ex.problem, ex.reference, level)
                for ex in generated(task).generate("test", 4 * self.tries, seed=0, levels=[level])]


def pick_examples(assets: Path, per_task: int = 3, candidates: Path | None = None,
                  tries: int = 10) -> list[ShippedExample]:
    """Up to `per_task` solved examples of each task the generator in `assets` records, written to
    `assets/examples.json`. A level whose first `tries` problems all fail gives way to the easier ones."""
    picker = Picker(TransformersGenerator(assets / "generator"), load_reward(f"agreement:{assets / 'verifier'}"), tries)
    tasks = [t for t in (trained_tasks(assets / "generator") or ()) if t in GENERATED]
    hand = read_candidates(candidates) if candidates else []
    examples = [ex for task in tasks
                for ex in picker.for_task(task, levels_trained(assets / "generator", task), per_task, hand)]
    (assets / EXAMPLES_JSON).write_text(json.dumps([asdict(ex) for ex in examples], indent=1) + "\n")
    return examples
