"""Example problems for the tabs' gr.Examples: those the shipped models solve (assets/examples.json,
picked by `python -m training examples`), else held-out problems of each task the default generator was
trained on (easy to hard); then GSM8K / MATH problems for real models."""
from __future__ import annotations

import json

from reasoning_core.checkpoints import ASSETS, DEFAULTS, EXAMPLES_JSON, trained_tasks
from reasoning_core.tasks import GENERATED, Example, generated, levels_trained, spread_levels

# For models that read GSM8K / MATH prompts (the default models answer these with a notice).
REAL_MODEL_EXAMPLES = [
    ("What is the smallest positive integer $n$ such that $3n \\equiv 1356 \\pmod{22}$?", "12", "math"),
    ("If $x + y = 10$ and $x - y = 2$, what is the value of $x^2 - y^2$?", "20", "math"),
]


def default_tasks() -> tuple[str, ...]:
    """The tasks the shipped generator records, else every generated task."""
    folder = DEFAULTS["generator"]
    recorded = trained_tasks(folder) if (folder / "config.json").is_file() else None
    return tuple(t for t in (recorded or GENERATED) if t in GENERATED)


def default_levels(task: str) -> list[int]:
    """The levels of `task` the shipped generator was trained on (its stepwise.json), else the task's default."""
    return levels_trained(DEFAULTS["generator"], task)


def task_examples(task: str, per_task: int) -> list[Example]:
    """`per_task` distinct test problems of one task, from the easiest level the shipped generator was
    trained on to the hardest."""
    levels = default_levels(task)
    module = generated(task)
    picks = spread_levels(levels, per_task)
    out: list[Example] = []
    for level in picks:
        out += [ex for ex in module.generate("test", 20, seed=0, levels=[level]) if ex not in out][:1]
    return out


def shipped_examples() -> list[dict]:
    """The examples picked for the shipped models, each with the search that solved it; [] when none."""
    path = ASSETS / EXAMPLES_JSON
    return json.loads(path.read_text()) if path.is_file() else []


def example_rows(per_task: int = 3) -> list[list[str]]:
    """[problem, reference, task] rows: up to `per_task` problems of each default task, then real-model
    ones. The first row is one the shipped models solve at the app's starting settings (it fills the
    problem box), when there is one."""
    shipped = shipped_examples()
    if shipped:
        picked = [ex for task in default_tasks() for ex in [e for e in shipped if e["task"] == task][:per_task]]
        first = next((i for i, ex in enumerate(picked) if ex["size"] is None), 0)
        picked.insert(0, picked.pop(first))
        rows = [[ex["problem"], ex["reference"], ex["task"]] for ex in picked]
    else:
        rows = [[ex.problem, ex.reference, task] for task in default_tasks() for ex in task_examples(task, per_task)]
    return rows + [list(r) for r in REAL_MODEL_EXAMPLES]
