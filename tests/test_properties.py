"""Property-based tests (hypothesis): the tree and budget invariants hold for any event sequence,
any budget and any seed, not only for the hand-picked cases."""
from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reasoning_core.budget import Budget
from reasoning_core.fakes import FakeArithGenerator, FakeArithPRM
from reasoning_core.run import solve
from reasoning_core.search import STRATEGIES, Problem, make_config
from reasoning_core.tasks import arith, get_task
from reasoning_core.tree import SearchTree, event_from_dict, event_to_dict

TASK = get_task("arith")
EXAMPLES = arith.problems("test", 8, min_ops=2, max_ops=4, digits=2)
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
unit = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def grown_trees(draw) -> tuple[SearchTree, list]:
    """A tree grown by a random sequence of every kind of mutation, with the events it returned."""
    tree, events = SearchTree(), []
    for _ in range(draw(st.integers(1, 30))):
        node_id = draw(st.sampled_from(sorted(tree.nodes)))
        op = draw(st.sampled_from(["add", "add", "score", "update", "prune", "select"]))
        if op == "add" or node_id == 0:
            answer = draw(st.none() | st.text("0123456789", min_size=1, max_size=3))
            events.append(tree.add(node_id, draw(st.text(max_size=12)), logprob=-draw(unit), num_tokens=draw(
                st.integers(0, 40)), terminal=answer is not None, answer=answer, kind=draw(st.sampled_from(
                    ["step", "complete", "revision"]))))
        elif op == "score":
            events.append(tree.set_score(node_id, draw(unit), draw(unit)))
        elif op == "update":
            events.append(tree.update(node_id, value=draw(st.none() | unit), visits=draw(st.integers(0, 50))))
        elif op == "prune":
            events.append(tree.prune(node_id))
        else:
            events.append(tree.select(node_id))
    return tree, events


@SETTINGS
@given(grown_trees())
def test_any_event_sequence_replays_to_the_same_tree(grown):
    tree, events = grown
    assert SearchTree.from_events(events).to_dict() == tree.to_dict()
    # and through the JSON form a saved search is written in
    assert SearchTree.from_events(event_from_dict(event_to_dict(e)) for e in events).to_dict() == tree.to_dict()


caps = st.fixed_dictionaries({}, optional={
    "max_tokens": st.integers(1, 400), "max_generator_calls": st.integers(1, 12),
    "max_reward_calls": st.integers(1, 12), "max_nodes": st.integers(1, 40)})


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(STRATEGIES)), cap=caps, seed=st.integers(0, 2**16),
       example=st.integers(0, len(EXAMPLES) - 1), size=st.integers(1, 8))
def test_no_strategy_exceeds_any_cap(name, cap, seed, example, size):
    budget = Budget(**cap)
    config = make_config(name, max(size, 3) if name == "compute_optimal" else size, seed=seed)
    ex = EXAMPLES[example]
    result = solve(name, Problem(ex.problem, TASK, ex.reference), FakeArithGenerator(0.7), FakeArithPRM(),
                   budget, config)
    s = result.stats
    assert s["generated_tokens"] <= (budget.max_tokens or math.inf)
    assert s["generator_calls"] <= (budget.max_generator_calls or math.inf)
    assert s["reward_calls"] <= (budget.max_reward_calls or math.inf)
    assert s["nodes"] <= (budget.max_nodes or math.inf)
    assert s["nodes"] == len(result.tree) - 1
    assert result.status in ("done", "budget")
    if result.status == "done" and not cap:
        assert result.answer is not None
