"""Data for every stage, as Hugging Face `datasets`.

* `mix_problems`: fixed train/validation/test problems of a `TaskMix` (the generated tasks of
  `reasoning_core.tasks`, each with its gold steps and difficulty); `split_problems` gives them as the
  parallel problem and reference lists the samplers take; `sft_dataset` as prompt/completion pairs.
* The **stepwise** form that process labels are written in and PRMs train on is TRL's:
  `{"prompt": problem, "completions": [step, ...], "labels": [bool, ...]}` (+ optional
  `"soft_labels"` in [0, 1] and `"reference"`). Loaders turn PRM800K-style and Math-Shepherd-style
  ("Step 1: ... ки" with +/- tags) files into it; GSM8K/MATH problem files go through
  `reasoning_core.tasks.loaders`.
"""
from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import TYPE_CHECKING

from datasets import Dataset

from reasoning_core.tasks import STEPS, Example, generated

if TYPE_CHECKING:  # config imports the stages, which import this module
    from .config import TaskMix

TASK = STEPS  # every generated task shares this prompt format, so one generator serves a mix
SHEPHERD_TAG = "ки"


def shares(weights: dict[str, float], count: int) -> dict[str, int]:
    """`count` split by weight, largest remainder first, so the parts add up to `count` exactly."""
    total = sum(weights.values())
    if total <= 0:
        raise ValueError(f"task weights must add up to more than 0, got {weights}")
    exact = {name: count * w / total for name, w in weights.items()}
    out = {name: int(x) for name, x in exact.items()}
    for name in sorted(exact, key=lambda n: out[n] - exact[n])[: count - sum(out.values())]:
        out[name] += 1
    return out


def mix_problems(mix: TaskMix, split: str, count: int, *, seed: int = 0, per_task: bool = False) -> list[Example]:
    """`count` problems of one split, shared among the tasks by weight (or `count` of each task with
    `per_task`), in a seeded order that interleaves the tasks (the same on every machine)."""
    counts = dict.fromkeys(mix.weights, count) if per_task else shares(mix.weights, count)
    out = [ex for name, k in counts.items()
           for ex in generated(name).generate(split, k, seed=seed, levels=mix.levels.get(name))]
    random.Random(f"mix/{split}/{seed}").shuffle(out)
    return out


def split_problems(split: str, count: int, mix: TaskMix, *, seed: int = 0,
                   per_task: bool = False) -> tuple[list[str], list[str]]:
    """The problems of one split and their reference answers, as two parallel lists."""
    exs = mix_problems(mix, split, count, seed=seed, per_task=per_task)
    return [e.problem for e in exs], [e.reference for e in exs]


def completion_text(steps: list[str] | tuple[str, ...]) -> str:
    """What the generator writes after the prompt: steps joined by the delimiter (EOS follows)."""
    return TASK.step_delimiter.join(steps)


def sft_dataset(examples: list[Example]) -> Dataset:
    """Prompt/completion pairs for SFT: `Question: ...\nAnswer:\n` -> gold steps, answer line last."""
    return Dataset.from_list([{"prompt": TASK.prompt(ex.problem), "completion": completion_text(ex.steps),
                               "problem": ex.problem, "reference": ex.reference} for ex in examples])


# ---------------------------------------------------------------- stepwise supervision formats
def stepwise_row(prompt: str, steps: list[str], labels: list[bool], *, soft: list[float] | None = None,
                 reference: str = "") -> dict:
    if len(steps) != len(labels):
        raise ValueError(f"{len(steps)} steps but {len(labels)} labels")
    return {"prompt": prompt, "completions": list(steps), "labels": [bool(x) for x in labels],
            "soft_labels": [float(x) for x in (soft if soft is not None else labels)],
            "reference": reference}


def from_trl_stepwise(row: dict) -> dict:
    """TRL stepwise supervision: {"prompt", "completions", "labels"} (already our form)."""
    return stepwise_row(row["prompt"], row["completions"], row["labels"], soft=row.get("soft_labels"),
                        reference=str(row.get("reference", "")))


def from_prm800k(row: dict) -> dict:
    """PRM800K: {"question": {"problem"}, "label": {"steps": [{"completions": [{"text", "rating"}],
    "chosen_completion"}]}}. Follows the chosen completion; rating -1 is bad, 0 and 1 are good.
    Stops at a step without a chosen completion after taking its first (rated) alternative."""
    steps, labels = [], []
    for step in row["label"]["steps"]:
        options = step.get("completions") or []
        if not options:
            break
        chosen = step.get("chosen_completion")
        pick = options[chosen if chosen is not None else 0]
        steps.append(pick["text"].strip())
        labels.append((pick.get("rating") or 0) >= 0)
        if chosen is None:
            break
    return stepwise_row(row["question"]["problem"], steps, labels,
                        reference=str(row["question"].get("ground_truth_answer", "")))


def from_math_shepherd(row: dict) -> dict:
    """Math-Shepherd: "input" is the question then steps each ending in " ки"; "label" is the same
    text with every tag replaced by "+" (good) or "-" (bad)."""
    text, tagged = row["input"], row["label"]
    pieces = text.split(SHEPHERD_TAG)[:-1]
    labels, pos = [], 0
    for i, piece in enumerate(pieces):
        pos += len(piece)
        labels.append(tagged[pos - i * (len(SHEPHERD_TAG) - 1)] == "+")
        pos += len(SHEPHERD_TAG)
    first = re.search(r"Step 1\s*:", pieces[0]) if pieces else None
    question = pieces[0][: first.start()].strip() if first else ""
    if first:
        pieces[0] = pieces[0][first.start():]
    steps = [re.sub(r"^\s*Step \d+\s*:\s*", "", p).strip() for p in pieces]
    return stepwise_row(question, steps, labels)


FORMATS = {"trl": from_trl_stepwise, "prm800k": from_prm800k, "math_shepherd": from_math_shepherd}


def detect_format(row: dict) -> str:
    if "completions" in row and "labels" in row:
        return "trl"
    if "label" in row and isinstance(row["label"], dict) and "steps" in row["label"]:
        return "prm800k"
    if "input" in row and "label" in row and SHEPHERD_TAG in row["input"]:
        return "math_shepherd"
    raise ValueError(f"unrecognised stepwise row (keys {sorted(row)}); valid formats: {', '.join(FORMATS)}")


def load_stepwise(path: str | Path, fmt: str | None = None) -> Dataset:
    """Read a JSONL file in any supported stepwise format into our stepwise `Dataset`."""
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown stepwise format {fmt!r}; valid: {', '.join(FORMATS)}")
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append(FORMATS[fmt or detect_format(row)](row))
    return Dataset.from_list(rows)
