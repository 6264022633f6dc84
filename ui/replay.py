"""Saved searches: any finished search downloads as JSON (SearchResult.to_dict, event log included);
loading one back rebuilds the tree from its events alone and replays its growth."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import gradio as gr

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


def replay_frames(result: SearchResult, frames: int = 20, seconds: float = 1.5) -> Iterator[SearchTree]:
    """Trees after growing fractions of the event log, ending with the whole tree."""
    events = result.events
    tree, done = SearchTree(), 0
    for k in range(1, frames + 1):
        upto = len(events) * k // frames
        for event in events[done:upto]:
            tree.apply(event)
        done = upto
        yield tree
        if k < frames:
            time.sleep(seconds / frames)


def build() -> None:
    """Upload a saved search, watch it grow again, inspect it."""
    gr.Markdown("### Replay a saved search\nEvery Explorer run can be downloaded as JSON (answer, stats and "
                "the whole event log). Load one here to watch its tree grow again and inspect it.")
    with gr.Row():
        upload = gr.File(label="saved search (.json)", file_types=[".json"], type="filepath")
        replay_btn = gr.Button("Replay", variant="secondary")
    replay_md = gr.Markdown()
    replay_plot = gr.Plot(label="replayed tree", elem_id="replay-tree")
    result_state = gr.State(None)
    insp = inspector.build(result_state, prefix="replay")

    def replay(path: str | None):
        with readable_errors():
            result = load_result(path)
        title = f"{result.strategy} (replay)"
        for tree in replay_frames(result):
            yield tree_figure(tree, title), gr.skip(), gr.skip(), gr.skip()
        yield (tree_figure(result.tree, f"{result.strategy}: answer {result.answer}"), summary_markdown(result),
               result, inspector.node_table(result.tree))

    replay_btn.click(replay, [upload], [replay_plot, replay_md, result_state, insp.node_table], api_name="replay",
                     concurrency_limit=4)
