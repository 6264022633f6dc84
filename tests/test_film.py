"""The replay film: frames cover the event log once, in order, the last frame leaves the finished tree,
and each sentence states the numbers the tree shows at that point."""
from __future__ import annotations

import re

import pytest

from reasoning_core.budget import Budget
from reasoning_core.fakes import FakeArithGenerator, FakeArithPRM
from reasoning_core.film import film
from reasoning_core.run import solve
from reasoning_core.search import STRATEGIES, Problem, make_config
from reasoning_core.tasks import get_task
from reasoning_core.tree import NodeUpdated, SearchTree

PROBLEM = Problem("Compute left to right: 3 + 4 * 2 - 5", get_task("arith"), "9")


def run(strategy: str, **knobs):
    return solve(strategy, PROBLEM, FakeArithGenerator(0.7), FakeArithPRM(), Budget(),
                 make_config(strategy, **knobs))


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_frames_cover_every_event_once_and_end_on_the_finished_tree(strategy):
    result = run(strategy)
    frames = film(result.events)
    assert [f.start for f in frames] == [0] + [f.end for f in frames[:-1]] and frames[-1].end == len(result.events)
    assert all(f.end > f.start and f.text for f in frames)
    assert SearchTree.from_events(result.events[:frames[-1].end]).to_dict() == result.tree.to_dict()
    assert frames[-1].text == f"finished: answer {result.answer}"
    assert len(frames) < len(result.events)  # a frame is a step of the strategy, not one event


def test_beam_search_frames_say_what_each_depth_kept():
    result = run("beam_search", n=8, width=2)
    pruned = [f.text for f in film(result.events) if "pruned" in f.text]
    assert pruned and all(re.match(r"depth \d: kept 2 of 8, pruned 6 ", t) for t in pruned)
    assert [int(t.split()[1][0]) for t in pruned] == list(range(1, len(pruned) + 1))
    proposed = next(f for f in film(result.events) if f.text.startswith("proposed"))
    first_step = result.tree[result.tree.root.children[0]].text
    assert proposed.text.startswith("proposed 8 steps under node 0: ") and f'"{first_step}"' in proposed.text


def test_mcts_backup_frames_show_the_root_value_the_tree_holds_then():
    result = run("mcts", iterations=5)
    for frame in film(result.events):
        if frame.text.startswith("backed up"):
            root = SearchTree.from_events(result.events[:frame.end]).root
            assert frame.text.endswith(f"node 0 now Q {root.value:.2f} after {root.visits} visit"
                                       + ("" if root.visits == 1 else "s"))
    assert sum(isinstance(e, NodeUpdated) for e in result.events) > 0


def test_scoring_frames_name_the_best_and_worst_step():
    result = run("best_of_n", n=4)
    frame = next(f for f in film(result.events) if f.text.startswith("scored"))
    tree = SearchTree.from_events(result.events[:frame.end])
    scored = sorted((n for n in tree.nodes.values() if n.score is not None), key=lambda n: (-n.score, n.id))
    assert frame.text == (f"scored {len(scored)} steps: best node {scored[0].id} ({scored[0].score:.2f}), "
                          f"worst node {scored[-1].id} ({scored[-1].score:.2f})")
