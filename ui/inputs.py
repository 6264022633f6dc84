"""The tabs' inputs, built from the configs' knob metadata, and the checks that turn what a person
typed into a core Problem, SearchConfig and Budget. A knob added to a strategy config or to Budget
shows up here with no UI edit: label, help and range come from the knob, capped by `LIMITS`."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import gradio as gr

from reasoning_core.budget import Budget
from reasoning_core.knobs import Knob, format_number, knobs
from reasoning_core.protocols import InputError
from reasoning_core.search import CONFIGS, Problem, SearchConfig, get_strategy, make_config
from reasoning_core.tasks import GENERATED, TASKS, detect, get_task

from .errors import readable_errors
from .examples import example_rows
from .limits import LIMITS

TASK_CHOICES = ["auto", *TASKS]


def space_knob(k: Knob) -> Knob:
    """`k` with this Space's cap, if it has one, on top of the knob's own range."""
    cap = LIMITS.knobs.get(k.name)
    return k if cap is None else replace(k, high=cap if k.high is None else min(k.high, cap))


def strategy_knobs(strategy: str) -> dict[str, Knob]:
    """A strategy's knobs by name, capped for this Space (an unknown name raises the core's InputError)."""
    return {k.name: space_knob(k) for k in knobs(get_strategy(strategy).config_cls)}


SHARED = [k.name for k in knobs(SearchConfig)]  # the knobs every strategy has
BUDGET_KNOBS = {k.name: space_knob(k) for k in knobs(Budget)}


def _every_knob() -> dict[str, Knob]:
    """Each strategy's own knobs once (in STRATEGIES order, as the first strategy declares them), then
    the shared ones at SearchConfig's defaults."""
    own: dict[str, Knob] = {}
    for strategy in CONFIGS:
        for name, k in strategy_knobs(strategy).items():
            if name not in SHARED:
                own.setdefault(name, k)
    return own | {k.name: space_knob(k) for k in knobs(SearchConfig)}


STRATEGY_KNOBS = _every_knob()


def _varying_defaults() -> set[str]:
    """The shared knobs strategies disagree on (greedy samples at temperature 0, the others at 0.8).
    Each gets a text box where blank means the strategy's own default, so that one box serves every
    strategy of a race and blank stays distinct from 0."""
    return {name for name in SHARED if len({strategy_knobs(s)[name].default for s in CONFIGS}) > 1}


VARYING_DEFAULTS = _varying_defaults()


def range_hint(k: Knob) -> str:
    """A number knob's range here in short: `1–64`, `≥ 0`, or blank where it has none."""
    low, high = (None if b is None else format_number(b) for b in (k.low, k.high))
    return f"{low}–{high}" if low and high else f"≥ {low}" if low else f"≤ {high}" if high else ""


def knob_info(k: Knob, blank: bool = False) -> str:
    """The knob's help, its range, and what blank means where it may be blank."""
    span = range_hint(k) if k.type in (int, float) else ""
    return (f"{k.help} · {span}" if span else k.help) + ("; blank: the strategy's default" if blank else "")


def default_hint(k: Knob) -> str:
    return f"{k.default:g} (default)"


def knob_input(k: Knob, elem_id: str, visible: bool = True, blank_hint: str | None = None) -> gr.Component:
    """An input for one knob: a checkbox, a dropdown of its choices, a number box, or (with
    `blank_hint`) a text box where blank means the default."""
    kw = {"label": k.label, "info": knob_info(k, blank_hint is not None), "visible": visible, "elem_id": elem_id,
          "min_width": 110}
    if k.type is bool:
        return gr.Checkbox(k.default, **kw)
    if k.choices is not None:
        return gr.Dropdown(list(k.choices), value=k.default, **kw)
    if blank_hint is not None:
        return gr.Textbox("", placeholder=blank_hint, max_lines=1, **kw)
    return gr.Number(k.default, **kw)


def knob_inputs(names: Iterable[str], prefix: str, strategy: str | None = None) -> dict[str, gr.Component]:
    """Inputs for the named strategy knobs. With `strategy`, each starts at that strategy's default
    and shows only if its config has the knob; without, each shows, and a default that varies reads
    "each strategy's default"."""
    own = strategy_knobs(strategy) if strategy else STRATEGY_KNOBS
    inputs = {}
    for name in names:
        k = own.get(name, STRATEGY_KNOBS[name])
        hint = (default_hint(k) if strategy else "each strategy's default") if name in VARYING_DEFAULTS else None
        inputs[name] = knob_input(k, f"{prefix}-{name}", visible=name in own, blank_hint=hint)
    return inputs


def knob_updates(strategy: str) -> dict[str, dict]:
    """Updates for `knob_inputs(STRATEGY_KNOBS, ...)` when the strategy changes: show only the knobs its
    config has, each at its default with its help; a varying default shows as the text box's hint."""
    own = strategy_knobs(strategy)
    updates = {}
    for name in STRATEGY_KNOBS:
        if name not in own:
            updates[name] = gr.update(visible=False)
        elif name in VARYING_DEFAULTS:
            updates[name] = gr.update(placeholder=default_hint(own[name]))
        else:
            k = own[name]
            updates[name] = gr.update(visible=True, value=k.default, label=k.label, info=knob_info(k))
    return updates


def budget_inputs(prefix: str) -> dict[str, gr.Component]:
    """A number per Budget knob; 0 means this Space's cap, or no cap where it has none."""
    def zero(k: Knob) -> str:
        return "no cap" if k.high is None else format_number(k.high)

    return {name: gr.Number(0, label=k.label, info=f"{k.help}; 0: {zero(k)}", min_width=110, elem_id=f"{prefix}-{name}")
            for name, k in BUDGET_KNOBS.items()}


def problem_inputs(prefix: str, examples: int, lines: int = 3) -> dict[str, gr.Component]:
    """The problem box (holding the first example, so Run works before anything is typed), its optional
    reference and task, and example problems that fill them."""
    rows = example_rows(examples)
    problem = gr.Textbox(rows[0][0], label="problem", lines=lines, max_length=LIMITS.problem_chars,
                         elem_id=f"{prefix}-problem",
                         placeholder="e.g. 17 + 25 * 3 - 40 (left to right), a word problem, or: "
                                     "How many r's are in strawberry?")
    with gr.Row():
        reference = gr.Textbox("", label="reference answer (optional)", scale=2,
                               info="arith, letters and the built-in word problems are graded without one")
        task = gr.Dropdown(TASK_CHOICES, value="auto", label="task", scale=1,
                           info="auto: the built-in task that reads it, else math")
    gr.Examples(rows, [problem, reference, task], examples_per_page=6,
                label="examples (each task of the default models, easy to hard, ones they solve; then GSM8K / MATH "
                      "for real models)")
    return {"problem_text": problem, "reference": reference, "task": task}


def _blank(value: Any) -> Any:
    """None for an empty box (the default applies), else the value."""
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


@readable_errors()
def build_problem(text: Any, reference: Any = None, task: str | None = None) -> Problem:
    """A core Problem from the problem box. Task `auto` (or none) is the core's `detect`; the reference
    is the given one, else the answer a generated task works out (arith, letters, its own word problems)."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("The problem is empty: type a question or pick an example.")
    text = text.strip()
    if len(text) > LIMITS.problem_chars:
        raise InputError(f"The problem is {len(text):,} characters long; the limit here is {LIMITS.problem_chars:,}.")
    task = task or "auto"
    if task not in TASK_CHOICES:
        raise InputError(f"unknown task {task!r}; valid: {', '.join(TASK_CHOICES)}")
    if task == "auto":
        task = detect(text)
    reference = str(_blank(reference) or "").strip()
    if not reference and task in GENERATED:
        reference = GENERATED[task].solve(text) or ""
    return Problem(text, get_task(task), reference or None)


@readable_errors()
def build_config(strategy: str, values: Mapping[str, Any], size: Any = None) -> SearchConfig:
    """`strategy`'s config from a form's values by knob name: names its config lacks are ignored, blank
    ones keep its defaults. `size` sets its size knob (N, iterations or rounds: `size_field`)."""
    own = strategy_knobs(strategy)
    checked = {name: k.check(_blank(values.get(name))) for name, k in own.items()}
    size_field = CONFIGS[strategy].size_field
    if size_field is not None:
        size = own[size_field].check(_blank(size))
    return make_config(strategy, size, **checked)


@readable_errors()
def build_budget(values: Mapping[str, Any]) -> Budget:
    """The caps a form asked for, by Budget knob name; 0 or blank means this Space's cap (none where it
    has none), and no cap can pass the Space's."""
    caps = {}
    for name, k in BUDGET_KNOBS.items():
        value = _blank(values.get(name))
        caps[name] = k.high if value is None or value == 0 else k.check(value)
    return Budget(**caps)
