"""How a reward checkpoint expects a solution written (`StepFormat`), and how an adapter's defaults,
the checkpoint's stepwise.json and the caller's arguments combine into one (`step_format`)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..checkpoints import STEPWISE_JSON, read_stepwise_json
from ..protocols import ModelError
from ..tasks import get_task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepFormat:
    """How a reward checkpoint expects a solution written: the prompt, then each step + separator.

    `task` (a name from `reasoning_core.tasks`) wins over `prompt_template`: the problem is then posed
    exactly as that task's generator sees it (e.g. arith normalises "17 + 25" to its full question).
    `prompt_template` contains the literal `{problem}` (no other braces are special). `good_label` is
    the classifier's "step is good" class; `step_tag`, `good_token` and `bad_token` serve step-tag LMs;
    `beta` scales an implicit PRM's log-ratio into a logit."""

    kind: str = "prm"
    prompt_template: str = "{problem}\n"
    step_separator: str = "\n"
    good_label: int = 1
    task: str | None = None
    step_tag: str = "ки"
    good_token: str = "+"
    bad_token: str = "-"
    beta: float = 0.05

    def __post_init__(self) -> None:
        if self.task is not None:
            get_task(self.task)  # an unknown name fails now, listing the valid ones

    def prompt(self, problem: str) -> str:
        if self.task is not None:
            return get_task(self.task).prompt(problem)
        return self.prompt_template.replace("{problem}", problem)


def step_format(folder: Path, base: StepFormat, overrides: dict[str, Any]) -> StepFormat:
    """`base` (the adapter's defaults or preset), then the checkpoint's stepwise.json, then the
    caller's explicit overrides (None means "not given"). A stepwise.json `kind` that differs from
    the adapter's means the checkpoint is being read the wrong way, which is an error."""
    values = {f.name: getattr(base, f.name) for f in fields(StepFormat)}
    values.update(_settings(folder))
    if values["kind"] != base.kind:
        raise ModelError(f"{folder / STEPWISE_JSON} says this is a {values['kind']!r} model, "
                         f"but it is being loaded as a {base.kind!r} model")
    values.update({k: v for k, v in overrides.items() if v is not None})
    return StepFormat(**values)


METADATA = {"tasks", "levels"}  # what the model was trained on: read by the CLI and app, not a scoring setting


def _settings(folder: Path) -> dict[str, Any]:
    """The StepFormat fields of the checkpoint's stepwise.json."""
    data = read_stepwise_json(folder)
    known = {f.name for f in fields(StepFormat)}
    unknown = sorted(set(data) - known - METADATA)
    if unknown:  # metadata is welcome, but a misspelt setting should not pass silently
        log.warning("%s: ignoring unknown keys %s (settings: %s)", folder / STEPWISE_JSON, unknown,
                    ", ".join(sorted(known)))
    return {k: v for k, v in data.items() if k in known}
