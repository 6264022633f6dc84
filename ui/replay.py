"""Saved searches and the replay film: any finished search downloads as JSON (SearchResult.to_dict, event
log included); loading one back rebuilds the tree from its events alone, and the Explorer's last search or a
loaded one plays again frame by frame (`reasoning_core.film`), with a slider to stop on any frame."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import gradio as gr

from reasoning_core.film import Frame, film
from reasoning_core.run import SearchResult, collect
from reasoning_core.search import Problem
from reasoning_core.tasks import TASKS, get_task
from reasoning_core.tree import SearchFinished, SearchTree, event_from_dict

from . import inspector
from .errors import readable_errors, user_error
from .files import scratch_file, uploaded
from .summary import summary_markdown
from .tree_figure import tree_figure

MAX_JSON_BYTES = 20_000_000


def save_result(result: SearchResult | None) -> str:
    """The search as JSON (SearchResult.to_dict, events included) in a scratch file for download."""
    if result is None:
        raise user_error("Run a search first; then save it.")
    path = scratch_file(f"search-{result.strategy}.json")
    path.write_text(json.dumps(result.to_dict(), indent=1))
    return str(path)


def result_from_dict(data: Any) -> SearchResult:
    """Rebuild a SearchResult (tree from the events alone) from what `save_result` wrote."""
    if not isinstance(data, dict) or "events" not in data or "problem" not in data:
        raise user_error("This is not a saved stepwise search: expected a JSON object with 'problem' and 'events' "
                         "(export one from the Explorer).")
    task = data.get("task", "arith")
    if task not in TASKS:
        raise user_error(f"The file's task {task!r} is unknown; valid: {', '.join(TASKS)}")
    try:
        events = [event_from_dict(e) for e in data["events"]]
    except (TypeError, KeyError, ValueError) as err:
        raise user_error(f"The file's event log is damaged: {err}") from None
    if not events or not isinstance(events[-1], SearchFinished):
        raise user_error("The file's event log does not end with a finished search.")
    problem = Problem(str(data["problem"]), get_task(task), data.get("reference"))
    try:
        return collect(str(data.get("strategy", "?")), problem, iter(events))
    except (KeyError, IndexError, AttributeError) as err:
        raise user_error(f"The file's events do not form a tree ({type(err).__name__}: {err}).") from None


def load_result(path: str | None) -> SearchResult:
    p = uploaded(path, "a saved search (.json)", MAX_JSON_BYTES)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise user_error(f"The file is not valid JSON: {err}") from None
    return result_from_dict(data)


FILM_SECONDS = 8.0  # a whole film plays in about this long, however many frames it has


def frame_caption(frames: list[Frame], k: int) -> str:
    return f"**frame {k + 1} of {len(frames)}** · {frames[k].text}"


def play(result: SearchResult, start: int = 0, seconds: float = FILM_SECONDS,
         frames: list[Frame] | None = None) -> Iterator[tuple[int, SearchTree, str]]:
    """(frame index, tree, caption) for every frame from `start` on, paced to last about `seconds`
    (`frames`: the result's film, when the caller has it already)."""
    frames = film(result.events) if frames is None else frames
    tree = SearchTree.from_events(result.events[:frames[start].start]) if frames else SearchTree()
    pause = seconds / max(1, len(frames))
    for k in range(start, len(frames)):
        for event in result.events[frames[k].start:frames[k].end]:
            tree.apply(event)
        yield k, tree, frame_caption(frames, k)
        if k < len(frames) - 1:
            time.sleep(pause)


def build(last_search: gr.State) -> None:
    """Watch any search again as a film (the Explorer's last one, or a saved file): a slider and a Play
    button step through its frames, each told in words; then inspect it."""
    gr.Markdown("### Replay a search, frame by frame\nEvery Explorer run can be downloaded as JSON (answer, "
                "stats and the whole event log). Watch the Explorer's last search or load a saved one: each "
                "frame is one move of the strategy (an expansion, a round of scoring, a pruning, a backup).")
    with gr.Row():
        upload = gr.File(label="saved search (.json)", file_types=[".json"], type="filepath")
        with gr.Column():
            replay_btn = gr.Button("Load the file and play", variant="secondary", elem_id="replay-load")
            last_btn = gr.Button("Play the Explorer's last search", variant="secondary", elem_id="replay-last")
    with gr.Row():
        slider = gr.Slider(1, 2, value=1, step=1, label="frame", interactive=True, scale=4, elem_id="replay-slider")
        play_btn = gr.Button("▶ Play from here", scale=1, elem_id="replay-play")
    caption = gr.Markdown(elem_id="replay-caption")
    replay_plot = gr.Plot(label="replayed tree", elem_id="replay-tree")
    replay_md = gr.Markdown()
    result_state = gr.State(None)
    insp = inspector.build(result_state, prefix="replay")

    def film_of(result: SearchResult, start: int = 0):
        frames = film(result.events)
        title, last = f"{result.strategy} (replay)", max(2, len(frames))
        for k, tree, text in play(result, start, frames=frames):
            if k < len(frames) - 1:
                yield tree_figure(tree, title), text, gr.update(maximum=last, value=k + 1), *([gr.skip()] * 3)
        yield (tree_figure(result.tree, f"{result.strategy}: answer {result.answer}"),
               frame_caption(frames, len(frames) - 1), gr.update(maximum=last, value=len(frames)),
               summary_markdown(result), result, inspector.node_table(result.tree))

    def from_file(path: str | None):
        with readable_errors():
            result = load_result(path)
        yield from film_of(result)

    def from_explorer(result: SearchResult | None):
        if result is None:
            raise user_error("Run a search in the Explorer first; then play it here.")
        yield from film_of(result)

    def from_slider(result: SearchResult | None, k: float):
        if result is None:
            raise user_error("Load a search first.")
        yield from film_of(result, int(k) - 1)

    def show_frame(result: SearchResult | None, k: float):
        if result is None:
            return gr.skip(), gr.skip()
        frames = film(result.events)
        k = min(max(int(k) - 1, 0), len(frames) - 1)
        tree = SearchTree.from_events(result.events[:frames[k].end])
        return tree_figure(tree, f"{result.strategy} (replay)"), frame_caption(frames, k)

    outputs = [replay_plot, caption, slider, replay_md, result_state, insp.node_table]
    replay_btn.click(from_file, [upload], outputs, api_name="replay", concurrency_limit=4)
    last_btn.click(from_explorer, [last_search], outputs, api_name="replay_last", concurrency_limit=4)
    play_btn.click(from_slider, [result_state, slider], outputs, api_name="replay_play", concurrency_limit=4)
    slider.input(show_frame, [result_state, slider], [replay_plot, caption], api_visibility="private")
