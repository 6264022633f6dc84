"""What the tabs share: caps for a shared Space, input checking with readable messages, example
problems, the per-session registry of running searches (so Stop can cancel them), result summaries.

No search logic lives here: inputs become a core `Problem`, `SearchConfig` and `Budget`, and the core
does the rest.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import gradio as gr

from reasoning_core.budget import Budget
from reasoning_core.protocols import AGGREGATIONS, ModelError
from reasoning_core.search import CONFIGS, STRATEGIES, InputError, Problem, SearchConfig, make_config
from reasoning_core.search.base import MAX_PROBLEM_CHARS
from reasoning_core.tasks import get_task, held_out_examples
from reasoning_core.tasks.arith import parse_problem

log = logging.getLogger(__name__)


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass(frozen=True)
class Limits:
    """Caps that keep one user from taking a shared machine (override with STEPWISE_* env vars)."""

    problem_chars: int = min(2_000, MAX_PROBLEM_CHARS)
    n: int = 64
    iterations: int = 200
    expansion_width: int = 8
    max_steps: int = 24
    max_step_tokens: int = 256
    max_tokens: int = 50_000
    max_calls: int = 1_000
    max_wall_s: float = float(_env_int("STEPWISE_MAX_WALL_S", 120))
    eval_problems: int = 50
    eval_searches: int = 1_000
    runs_per_session: int = _env_int("STEPWISE_RUNS_PER_SESSION", 2)
    concurrency: int = _env_int("STEPWISE_CONCURRENCY", 4)


LIMITS = Limits()

# Ranges of the numeric knobs: (low, high, integer?). A knob a strategy lacks is simply ignored.
KNOB_RANGES: dict[str, tuple[float, float, bool]] = {
    "n": (1, LIMITS.n, True),
    "width": (1, LIMITS.n, True),
    "iterations": (1, LIMITS.iterations, True),
    "expansion_width": (1, LIMITS.expansion_width, True),
    "c_puct": (0.0, 10.0, False),
    "rollout_depth": (0, 16, True),
    "per_action": (1, 8, True),
    "rounds": (1, 32, True),
    "candidates": (1, 16, True),
    "temperature": (0.0, 2.0, False),
    "seed": (0, 2**31 - 1, True),
    "max_steps": (1, LIMITS.max_steps, True),
    "max_step_tokens": (1, LIMITS.max_step_tokens, True),
}
BUDGET_RANGES: dict[str, tuple[float, float, bool]] = {
    "max_tokens": (1, LIMITS.max_tokens, True),
    "max_generator_calls": (1, LIMITS.max_calls, True),
    "max_wall_s": (0.1, LIMITS.max_wall_s, False),
}
LABELS = {"n": "N", "width": "beam width", "iterations": "iterations", "expansion_width": "expansion width",
          "per_action": "samples per action", "rounds": "revision rounds", "candidates": "candidates per revision",
          "c_puct": "c_puct", "rollout_depth": "rollout depth", "temperature": "temperature", "seed": "seed",
          "max_steps": "max steps", "max_step_tokens": "max step tokens", "max_tokens": "max tokens",
          "max_generator_calls": "max model calls", "max_wall_s": "max wall s", "size": "size"}
TASK_CHOICES = ["auto", "arith", "math"]

# Word problems for models that read GSM8K / MATH prompts (the tiny default models only do arith).
WORD_EXAMPLES = [
    ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many "
     + "clips did Natalia sell altogether in April and May?", "72", "math"),
    ("Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did "
     + "she earn?", "10", "math"),
    ("What is the smallest positive integer $n$ such that $3n \\equiv 1356 \\pmod{22}$?", "12", "math"),
    ("If $x + y = 10$ and $x - y = 2$, what is the value of $x^2 - y^2$?", "20", "math"),
]


def user_error(message: str) -> gr.Error:
    """A message for the person at the screen (no traceback in the server log either)."""
    return gr.Error(message, print_exception=False)


@contextlib.contextmanager
def readable_errors() -> Iterator[None]:
    """Turn the core's user-facing exceptions into gr.Error; anything unexpected is logged with its
    traceback on the server and shown as one readable line."""
    try:
        yield
    except gr.Error:
        raise
    except (InputError, ModelError, ValueError, FileNotFoundError) as err:
        raise user_error(str(err)) from None
    except Exception as err:  # the UI must never show a stack trace (logged, then one readable line)
        log.exception("unexpected error in a UI handler")
        raise user_error(f"Something went wrong ({type(err).__name__}: {err}). "
                         "The details are in the server log.") from None


def check_number(name: str, value: Any, ranges: dict[str, tuple[float, float, bool]]) -> float | int | None:
    """None or blank stays None (strategy default); otherwise the value must be a number in its range."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    low, high, integer = ranges[name]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise user_error(f"{LABELS.get(name, name)} must be a number, got {value!r}") from None
    if math.isnan(number) or not low <= number <= high:
        raise user_error(f"{LABELS.get(name, name)} must be between {low:g} and {high:g}, got {value}")
    if integer:
        if number != int(number):
            raise user_error(f"{LABELS.get(name, name)} must be a whole number, got {value}")
        return int(number)
    return number


def strategy_knobs(strategy: str) -> set[str]:
    """The knob names a strategy's config understands (read from its dataclass, not hard-coded)."""
    if strategy not in CONFIGS:
        raise user_error(f"unknown strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    return {f.name for f in fields(CONFIGS[strategy])}


def build_config(strategy: str, knobs: dict[str, Any], size: Any = None) -> SearchConfig:
    """A strategy config from UI knobs; blank knobs keep the strategy's defaults. `size` sets the
    strategy's own budget knob (N, iterations or rounds: see SearchConfig.size_field)."""
    strategy_knobs(strategy)
    size = check_number("size", size, {"size": (1, LIMITS.n, True)})
    checked: dict[str, Any] = {}
    for name, value in knobs.items():
        if name == "aggregation":
            if value not in (None, "") and value not in AGGREGATIONS:
                raise user_error(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {value!r}")
            checked[name] = value or None
        elif name == "weighted":
            checked[name] = bool(value) if value is not None else None
        else:
            checked[name] = check_number(name, value, KNOB_RANGES)
    with readable_errors():
        return make_config(strategy, size, **checked)


def build_budget(max_tokens: Any, max_generator_calls: Any, max_wall_s: Any) -> Budget:
    """The user's caps (blank or 0: the Space's cap), with the Space's caps always applied."""
    values = {name: check_number(name, None if v == 0 else v, BUDGET_RANGES) for name, v in
              (("max_tokens", max_tokens), ("max_generator_calls", max_generator_calls), ("max_wall_s", max_wall_s))}
    values["max_wall_s"] = min(values["max_wall_s"] or LIMITS.max_wall_s, LIMITS.max_wall_s)
    values["max_tokens"] = values["max_tokens"] or LIMITS.max_tokens
    values["max_generator_calls"] = values["max_generator_calls"] or LIMITS.max_calls
    return Budget(max_tokens=values["max_tokens"], max_generator_calls=values["max_generator_calls"],
                  max_wall_s=values["max_wall_s"])


def build_problem(text: Any, reference: Any = "", task: str = "auto") -> Problem:
    """A core Problem from the text box. `auto` picks arith when the text parses as a left-to-right
    arithmetic problem, else math. The reference is the given one, else (arith) the computed answer."""
    if not isinstance(text, str) or not text.strip():
        raise user_error("The problem is empty: type a question or pick an example.")
    text = text.strip()
    if len(text) > LIMITS.problem_chars:
        raise user_error(f"The problem is {len(text):,} characters long; the limit here is {LIMITS.problem_chars:,}.")
    if task not in TASK_CHOICES:
        raise user_error(f"unknown task {task!r}; valid: {', '.join(TASK_CHOICES)}")
    parsed = parse_problem(text)
    if task == "auto":
        task = "arith" if parsed is not None else "math"
    reference = str(reference).strip() if reference not in (None, "") else ""
    if not reference and task == "arith" and parsed is not None:
        reference = parsed.answer
    return Problem(text, get_task(task), reference or None)


def example_rows(count: int = 6) -> list[list[str]]:
    """[problem, reference, task] rows for gr.Examples: held-out arith problems, then word problems."""
    rows = [[ex.problem, ex.reference, "arith"] for ex in held_out_examples("arith", count)]
    return rows + [list(r) for r in WORD_EXAMPLES]


# ----- running searches, per session ---------------------------------------------------------


class RunRegistry:
    """Cancel events of the searches each browser session (or API client) has running, per tab."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, str], list[threading.Event]] = {}

    @contextlib.contextmanager
    def run(self, request: gr.Request | None, tab: str) -> Iterator[threading.Event]:
        key = (session_id(request), tab)
        cancel = threading.Event()
        with self._lock:
            live = self._runs.setdefault(key, [])
            if len(live) >= LIMITS.runs_per_session:
                raise user_error(f"You already have {len(live)} searches running here; press Stop or wait.")
            live.append(cancel)
        try:
            yield cancel
        finally:
            cancel.set()  # a handler closed early (client gone) also stops its search
            with self._lock:
                self._runs[key].remove(cancel)
                if not self._runs[key]:
                    del self._runs[key]

    def stop(self, request: gr.Request | None, tab: str) -> int:
        """Cancel this session's searches in `tab`; returns how many were running."""
        with self._lock:
            live = list(self._runs.get((session_id(request), tab), []))
        for cancel in live:
            cancel.set()
        return len(live)

    def stopper(self, tab: str):
        """A Stop-button handler for `tab`: cancels the caller's searches there and says so in a toast."""

        def stop(request: gr.Request | None = None) -> None:
            n = self.stop(request, tab)
            gr.Info(f"Stopping {n} search{'es' if n != 1 else ''}…" if n else "Nothing is running here.")

        return stop

    def active(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._runs.values())


def session_id(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


RUNS = RunRegistry()


# ----- showing results -----------------------------------------------------------------------


def verdict(correct: bool | None) -> str:
    return "–" if correct is None else ("✓ correct" if correct else "✗ wrong")


def summary_dict(result) -> dict[str, Any]:
    """The machine-readable end of a search (also what API clients read)."""
    s = result.stats
    return {"strategy": result.strategy, "answer": result.answer, "reference": result.problem.reference,
            "correct": result.correct, "status": result.status,
            "generated_tokens": s.get("generated_tokens"), "generator_calls": s.get("generator_calls"),
            "reward_calls": s.get("reward_calls"), "nodes": s.get("nodes"), "wall_s": round(s.get("wall_s", 0.0), 3)}


def summary_markdown(result) -> str:
    d = summary_dict(result)
    ref = "" if d["reference"] is None else f" (reference {d['reference']})"
    status = {"done": "finished", "budget": "stopped by the budget",
              "cancelled": "stopped by you"}.get(d["status"], d["status"])
    return (f"### Answer: {d['answer'] if d['answer'] is not None else '— none —'}  {verdict(d['correct'])}{ref}\n"
            f"{d['strategy']}, {status} · used {d['generated_tokens']} tokens, {d['generator_calls']} generator calls, "
            f"{d['reward_calls']} PRM calls, {d['nodes']} nodes, {d['wall_s']:.2f} s")


# ----- files handed to the browser -----------------------------------------------------------

_SCRATCH: Path | None = None


def scratch_file(name: str, max_age_s: float = 3600.0) -> Path:
    """A path in this process's scratch folder for a download; files older than `max_age_s` are
    removed on the way, so a long-running Space does not fill its disk."""
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = Path(tempfile.mkdtemp(prefix="stepwise-ui-"))
    now = time.time()
    for old in _SCRATCH.iterdir():
        with contextlib.suppress(OSError):
            if now - old.stat().st_mtime > max_age_s:
                old.unlink()
    return _SCRATCH / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}-{name}"
