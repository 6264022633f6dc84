"""Models: pick the generator and the PRM (per browser session), see what is loaded and where.

Specs are those of `reasoning_core.backends.load` and `reasoning_core.rewards.load` ("default" = assets/,
"prm-default", "orm-default", "oracle", "fake", "none", a local HF folder or a cached hub id), which also
cache each model once per process; "fake" imports no torch, so a demo or test app starts in a second.
"fake@SECONDS" (the fake models, slowed down) is added here.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from reasoning_core import backends, rewards
from reasoning_core.protocols import ModelError
from reasoning_core.search import Problem
from reasoning_core.tasks import get_task

from .errors import readable_errors, user_error
from .limits import LIMITS

log = logging.getLogger(__name__)
GENERATOR_CHOICES = ["default", "fake"]
PRM_CHOICES = ["default", "prm-default", "orm-default", "oracle", "fake", "none"]
FALLBACK_SPECS = {"default", "prm-default", "orm-default"}  # missing default assets -> fake, with a notice


@dataclass(frozen=True)
class ModelChoice:
    """What one session searches with (kept in a gr.State)."""

    generator: str = "default"
    prm: str = "default"
    trust_remote_code: bool = False
    notice: str = ""

    @classmethod
    def from_env(cls) -> ModelChoice:
        return cls(os.environ.get("STEPWISE_GENERATOR", "default").strip() or "default",
                   os.environ.get("STEPWISE_PRM", "default").strip() or "default",
                   os.environ.get("STEPWISE_TRUST_REMOTE_CODE", "") in ("1", "true", "yes"))


class Slowed:
    """A model with a fixed latency per call: "fake@0.2" makes the scripted models feel like real ones,
    so the tree visibly grows (demos) and Stop can be tried on a long search (tests)."""

    def __init__(self, model: Any, delay: float) -> None:
        self.model, self.delay = model, delay
        self.kind = getattr(model, "kind", None)
        self.tasks = getattr(model, "tasks", None)

    def propose(self, *args: Any, **kw: Any):
        cancel = kw.get("cancel")
        if cancel is not None:
            cancel.wait(self.delay)  # a stopped search does not sit out the delay
        else:
            time.sleep(self.delay)
        return self.model.propose(*args, **kw)

    def score(self, *args: Any, **kw: Any):
        time.sleep(self.delay)
        return self.model.score(*args, **kw)


def fake_delay(spec: str) -> float | None:
    """None unless `spec` is "fake" or "fake@SECONDS" (0 <= SECONDS <= 5)."""
    name, _, delay = spec.partition("@")
    if name != "fake":
        return None
    try:
        seconds = float(delay or 0)
    except ValueError:
        raise ModelError(f"'fake@SECONDS' wants a number of seconds per call, got {spec!r}") from None
    if not 0 <= seconds <= 5:
        raise ModelError(f"the fake models' delay must be between 0 and 5 s, got {seconds}")
    return seconds


def check_shared_host(spec: str, role: str, choices: list[str]) -> None:
    """On a shared host (`LIMITS.public`) a session may load only the app's own models: a local path would
    read the host's disk, a hub id would download gigabytes, remote code would run on the host."""
    if LIMITS.public and spec not in choices and fake_delay(spec) is None:
        raise user_error(f"This shared app runs only its own {role}s: {', '.join(choices)} (or fake@SECONDS). "
                         f"Run stepwise on your own machine to load {spec!r}.")


def load_generator(spec: str, trust_remote_code: bool = False) -> Any:
    return _load(backends.load, spec, trust_remote_code)


def load_reward(spec: str, trust_remote_code: bool = False) -> Any:
    return _load(rewards.load, spec, trust_remote_code)


def _load(loader: Callable[..., Any], spec: str, trust_remote_code: bool) -> Any:
    """`loader(spec)` (the core's, which caches each model once per process); "fake@SECONDS" wraps the
    fake model in its delay."""
    delay = fake_delay(spec)
    if delay is None:
        return loader(spec, trust_remote_code=trust_remote_code)
    return Slowed(loader("fake"), delay) if delay else loader("fake")


def load(choice: ModelChoice):
    """(generator, reward) for a session's choice; each spec is loaded once per process."""
    with readable_errors():
        return (load_generator(choice.generator, choice.trust_remote_code),
                load_reward(choice.prm, choice.trust_remote_code))


def startup_choice(choice: ModelChoice | None = None) -> ModelChoice:
    """Load the env's models now (so the first search is quick). A missing default checkpoint falls
    back to the fake models with a notice the app shows; any other failure is raised."""
    choice = choice or ModelChoice.from_env()
    notes: list[str] = []

    def usable(role: str, spec: str, loader) -> str:
        try:
            loader(spec, choice.trust_remote_code)
        except (ModelError, ImportError) as err:
            if spec not in FALLBACK_SPECS:
                raise
            notes.append(f"{role} {spec!r} unavailable ({err})")
            return "fake"
        return spec

    gen = usable("generator", choice.generator, load_generator)
    prm = usable("PRM", choice.prm, load_reward)
    notice = ""
    if notes:
        notice = ("⚠️ Using the scripted **fake** models instead: " + "; ".join(notes) + ". "
                  "Answers come from a seeded stand-in, not a trained network.")
        log.warning("falling back to fake models: %s", "; ".join(notes))
    return ModelChoice(gen, prm, choice.trust_remote_code, notice)


def warm_up(choice: ModelChoice) -> None:
    """One tiny greedy search at start-up, so the first click does not pay for lazy imports (answer
    grading, plotting) and first-call model costs. Failures are only logged: a search will report them."""
    t0 = time.perf_counter()
    try:
        import importlib

        importlib.import_module("math_verify")  # the graders import it on first use (~0.5 s)
        from reasoning_core.budget import Budget
        from reasoning_core.run import solve
        from reasoning_core.search import make_config

        from .tree_figure import tree_figure

        generator = load_generator(choice.generator, choice.trust_remote_code)
        reward = load_reward(choice.prm, choice.trust_remote_code)
        result = solve("greedy", Problem("12 + 7 * 2", get_task("arith"), "38"), generator, reward,
                       Budget(max_wall_s=20), make_config("greedy", None, max_steps=4))
        tree_figure(result.tree)
    except Exception as err:
        log.warning("warm-up search failed: %s", err)
    log.info("warm-up took %.2f s", time.perf_counter() - t0)


def device_of(model: Any) -> str:
    for obj in (model, getattr(model, "model", None)):
        device = getattr(obj, "device", None)
        if device is not None:
            return str(device)
    return "cpu"


def describe(choice: ModelChoice) -> str:
    """A readable line per loaded model: spec, class, device."""
    lines = []
    for role, spec, loader in (("Generator", choice.generator, load_generator), ("PRM", choice.prm, load_reward)):
        try:
            model = loader(spec, choice.trust_remote_code)
        except Exception as err:
            lines.append(f"- **{role}** `{spec}`: not loaded ({err})")
            continue
        if model is None:
            lines.append(f"- **{role}** `{spec}`: none (only greedy and self_consistency can run)")
        elif fake_delay(spec) is not None:
            lag = f", {fake_delay(spec):g} s per call" if fake_delay(spec) else ""
            lines.append(f"- **{role}** `{spec}`: {type(getattr(model, 'model', model)).__name__}, a seeded "
                         f"scripted stand-in (no weights, cpu{lag})")
        else:
            kind = getattr(model, "kind", "")
            kind = f" ({kind})" if kind else ""
            lines.append(f"- **{role}** `{spec}`: {type(model).__name__}{kind} on **{device_of(model)}**")
    notice = f"\n\n{choice.notice}" if choice.notice else ""
    return "\n".join(lines) + notice


# ----- the tab --------------------------------------------------------------------------------


def build(models: gr.State, initial: ModelChoice) -> None:
    """The model picker. `models` is the session's ModelChoice, shared with the other tabs; `initial`
    is what every new session starts with."""
    own = "" if LIMITS.public else ", or a local Hugging Face folder / a hub id in the local cache"
    gr.Markdown("Pick what searches run with. `default` = the tiny checkpoints in `assets/` "
                f"(trained by `python -m training pipeline`), `fake` = seeded scripted models (no weights){own}. "
                "Choices apply to your session only.")
    status = gr.Markdown(describe(initial), elem_id="models-status")
    with gr.Row():
        # typed specs stay allowed on a shared host, so a refused one gets `check_shared_host`'s reason
        gen = gr.Dropdown(GENERATOR_CHOICES, value=initial.generator, label="generator", allow_custom_value=True,
                          elem_id="models-generator",
                          info="default | fake | folder | hub id")
        prm = gr.Dropdown(PRM_CHOICES, value=initial.prm, label="reward model (PRM / ORM)", allow_custom_value=True,
                          info="default (verifier) | prm-default | orm-default | oracle | fake | none | folder | "
                               "hub id")
        trust = gr.Checkbox(initial.trust_remote_code, label="trust_remote_code", visible=not LIMITS.public,
                            info="run model code from the checkpoint (only for models you trust)")
    load_btn = gr.Button("Load models", variant="primary", elem_id="models-load")
    title = "limits of this shared app" if LIMITS.public else "limits of this app (a shared host adds model limits)"
    with gr.Accordion(title, open=LIMITS.public):
        gr.Markdown(LIMITS.describe(), elem_id="limits")

    def pick(gen_spec: str, prm_spec: str, trust_code: bool):
        gen_spec, prm_spec = (gen_spec or "").strip(), (prm_spec or "").strip()
        if not gen_spec or not prm_spec:
            raise user_error("Give both a generator and a reward model spec.")
        check_shared_host(gen_spec, "generator", GENERATOR_CHOICES)
        check_shared_host(prm_spec, "reward model", PRM_CHOICES)
        choice = ModelChoice(gen_spec, prm_spec, bool(trust_code) and not LIMITS.public)
        load(choice)  # raises a readable gr.Error when a model cannot be loaded
        gr.Info(f"Loaded generator {gen_spec!r} and reward model {prm_spec!r}.")
        return choice, describe(choice)

    load_btn.click(pick, [gen, prm, trust], [models, status], api_name="load_models", concurrency_limit=1)
