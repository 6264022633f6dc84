"""The Gradio app, one file per tab. `build_app()` assembles the tabs; `app.py` launches it.

ui/ renders what `reasoning_core` emits (search events, results, eval tables) and holds no search
logic: deleting this folder leaves the engine, the CLI and training untouched.
"""
from __future__ import annotations

import gradio as gr

from . import claims, explorer, models, race, replay, scaling
from .inspector import CLICK_JS
from .limits import LIMITS

TITLE = "stepwise: generator + PRM test-time search"
INTRO = ("# stepwise\nA **generator** proposes reasoning steps, a **process reward model** scores each one, and a "
         "**search strategy** spends a compute budget to find the best chain. Watch the tree grow, inspect any "
         "step, race strategies on one budget, and plot accuracy against compute.")
# the claims report's tables break words only at spaces: by default a cell may split "150" into "15" / "0"
CSS = (".gradio-container {max-width: 1500px !important}\n"
       "#claims-report td, #claims-report th {word-break: normal !important; overflow-wrap: normal !important}")


def build_app(choice: models.ModelChoice | None = None) -> gr.Blocks:
    """The whole app. `choice` is what new sessions search with (default: STEPWISE_GENERATOR /
    STEPWISE_PRM, loaded now; a missing default checkpoint falls back to the fake models)."""
    choice = models.startup_choice(choice)
    models.warm_up(choice)
    with gr.Blocks(title=TITLE, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO)
        if choice.notice:
            gr.Markdown(choice.notice, elem_id="model-notice")
        models_state = gr.State(choice)
        last_search = gr.State(None)  # the Explorer's last finished search, which the Replay tab plays
        with gr.Tabs():
            with gr.Tab("Explorer", id="explorer"):
                explorer.build(models_state, last_search)
            with gr.Tab("Race", id="race"):
                race.build(models_state)
            with gr.Tab("Scaling", id="scaling"):
                scaling.build(models_state)
            with gr.Tab("Models & replay", id="models"):
                models.build(models_state, choice)
                replay.build(last_search)
            with gr.Tab("Claims", id="claims"):
                claims.build()
    demo.queue(default_concurrency_limit=LIMITS.concurrency, max_size=64)
    return demo


LAUNCH_KW = {"js": CLICK_JS, "css": CSS}
