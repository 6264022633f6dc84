"""Strategy invariants with seeded fake models: exact, fast, no weights."""
from __future__ import annotations

import math
import re
import threading
from collections import Counter

import pytest

from reasoning_core.budget import Budget
from reasoning_core.fakes import FakeArithGenerator, FakeArithPRM, ScriptedReward, nan_reward
from reasoning_core.protocols import ModelError, aggregate
from reasoning_core.run import collect, solve, stream
from reasoning_core.search import STRATEGIES, InputError, Problem, make_config
from reasoning_core.tasks import arith, get_task
from reasoning_core.tree import NodeAdded, NodePruned, SearchFinished, SearchTree

TASK = get_task("arith")
EXAMPLES = arith.problems("test", 12, min_ops=2, max_ops=5, digits=2)  # long enough chains to search


def problem(i: int = 1) -> Problem:
    return Problem(EXAMPLES[i].problem, TASK, EXAMPLES[i].reference)


def run(name: str, p: Problem | None = None, budget: Budget | None = None, reward=None, **knobs):
    return solve(name, p or problem(), FakeArithGenerator(0.75), reward or FakeArithPRM(), budget or Budget(),
                 make_config(name, None, **knobs))


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_strategy_finishes_with_an_answer_and_stats(name):
    result = run(name, n=4)
    assert result.status == "done"
    assert result.answer is not None
    assert isinstance(result.events[-1], SearchFinished)
    assert result.stats["nodes"] == len(result.tree) - 1
    in_tree = sum(n.num_tokens * n.count for n in result.tree.nodes.values())  # a merged step was generated count times
    if name == "rstar":  # rollouts and the discriminator generate outside the tree
        assert result.stats["generated_tokens"] > in_tree
    else:
        assert result.stats["generated_tokens"] == in_tree
    chosen = [n for n in result.tree.nodes.values() if n.status == "chosen"]
    assert chosen and chosen[-1].answer == result.answer


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_strategy_explains_itself_and_names_its_paper(name):
    summary = STRATEGIES[name].summary  # shown beside the app's strategy picker
    assert re.search(r"et al\. (19|20)\d\d", summary), summary
    assert 40 < len(summary) < 400 and "\n" not in summary and "  " not in summary


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_same_seed_same_tree_and_other_seed_differs(name):
    a, b = run(name, seed=3), run(name, seed=3)
    assert a.tree.to_dict() == b.tree.to_dict()
    if name != "greedy":
        c = run(name, seed=4)
        assert [n["text"] for n in c.tree.to_dict()["nodes"]] != [n["text"] for n in a.tree.to_dict()["nodes"]]


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_event_stream_rebuilds_the_tree(name):
    result = run(name)
    replay = SearchTree.from_events(result.events)
    assert replay.to_dict() == result.tree.to_dict()


@pytest.mark.parametrize("name", list(STRATEGIES))
@pytest.mark.parametrize("cap", [{"max_tokens": 60}, {"max_generator_calls": 2}, {"max_nodes": 5}])
def test_budgets_are_never_exceeded(name, cap):
    budget = Budget(**cap)
    result = run(name, budget=budget)
    s = result.stats
    assert s["generated_tokens"] <= (budget.max_tokens or math.inf)
    assert s["generator_calls"] <= (budget.max_generator_calls or math.inf)
    assert s["nodes"] <= (budget.max_nodes or math.inf)
    assert result.status in ("done", "budget")


def test_best_of_n_returns_argmax_of_the_aggregate():
    for agg in ("min", "last", "prod", "mean"):
        result = run("best_of_n", n=8, aggregation=agg)
        leaves = result.tree.terminals()
        assert len(leaves) == 8
        best = max(leaves, key=lambda n: n.value)
        for leaf in leaves:  # value is the aggregate of the path's step scores
            assert leaf.value == pytest.approx(aggregate([n.score for n in result.tree.path(leaf.id)], agg))
        assert result.leaf_id == best.id


def test_weighted_best_of_n_votes_by_value():
    # every chain's steps score 1.0 except chains answering the reference, which score 0.01:
    # plain argmax and the weighted vote must both avoid the reference answer
    ref = EXAMPLES[1].reference
    reward = ScriptedReward(lambda p, steps: [0.01 if TASK.extract_answer(steps[-1]) == ref else 1.0] * len(steps))
    result = run("best_of_n", reward=reward, n=8, weighted=True)
    assert result.answer != ref


def test_self_consistency_returns_the_majority_answer():
    result = run("self_consistency", n=9)
    votes = Counter(n.answer for n in result.tree.terminals())
    assert result.answer == votes.most_common(1)[0][0]
    assert result.stats["reward_calls"] == 0


def test_beam_search_never_keeps_more_than_its_width_per_depth():
    result = run("beam_search", n=8, width=3)
    by_depth = Counter(n.depth for n in result.tree.nodes.values() if n.status != "pruned" and n.id != 0)
    assert max(by_depth.values()) <= 3
    assert any(isinstance(e, NodePruned) for e in result.events)
    for depth in by_depth:  # every depth saw the full candidate set before pruning
        assert sum(1 for n in result.tree.nodes.values() if n.depth == depth) >= 3


def test_beam_width_larger_than_n_is_refused():
    with pytest.raises(InputError, match="beam width"):
        make_config("beam_search", None, n=2, width=4)


def test_dvts_keeps_one_node_per_subtree_per_depth():
    result = run("dvts", n=8, width=2)
    kept = Counter(n.depth for n in result.tree.nodes.values() if n.status != "pruned" and n.id != 0)
    assert max(kept.values()) <= 4  # 8 / 2 subtrees
    assert len(result.tree.children(0)) == 8


def test_mcts_visits_add_up_to_iterations():
    result = run("mcts", iterations=12, expansion_width=3)
    tree = result.tree
    assert tree.root.visits == 12
    for node in tree.nodes.values():  # a node is visited once per backup through it
        if node.children:
            assert node.visits >= sum(c.visits for c in tree.children(node.id))
            assert node.visits - sum(c.visits for c in tree.children(node.id)) <= 1
    visited = [n for n in tree.nodes.values() if n.visits]
    assert all(0.0 <= n.value <= 1.0 for n in visited)


def test_mcts_with_rollouts_uses_more_tokens_and_stays_valid():
    plain, rolled = run("mcts", iterations=6), run("mcts", iterations=6, rollout_depth=3)
    assert rolled.stats["generated_tokens"] > plain.stats["generated_tokens"]
    assert rolled.tree.root.visits == 6


def test_verifier_search_beats_greedy_with_a_good_prm():
    wins = dict.fromkeys(("greedy", "beam_search", "best_of_n"), 0)
    for i in range(len(EXAMPLES)):
        for name in wins:
            wins[name] += bool(run(name, problem(i), n=8).correct)
    assert wins["beam_search"] > wins["greedy"] and wins["best_of_n"] > wins["greedy"]


def test_cancel_stops_with_cancelled_status():
    cancel = threading.Event()
    events = stream("beam_search", problem(), FakeArithGenerator(), FakeArithPRM(), Budget(),
                    make_config("beam_search"), cancel)
    seen = []
    for e in events:
        seen.append(e)
        if isinstance(e, NodeAdded):
            cancel.set()
    assert isinstance(seen[-1], SearchFinished) and seen[-1].status == "cancelled"
    assert sum(isinstance(e, NodeAdded) for e in seen) <= 8


@pytest.mark.parametrize("text", ["", "   ", "1 + 2" * 30_000])
def test_bad_problem_text_is_refused_before_any_model_call(text):
    with pytest.raises(InputError):
        run("greedy", Problem(text, TASK))


def test_unknown_strategy_lists_the_valid_ones():
    with pytest.raises(InputError, match="beam_search"):
        make_config("astar")


def test_n_zero_is_refused():
    with pytest.raises(InputError, match="N must be at least 1"):
        make_config("best_of_n", None, n=0)


def test_prm_returning_nan_is_a_readable_error():
    with pytest.raises(ModelError, match="invalid step score"):
        run("beam_search", reward=nan_reward())


def test_verifier_strategies_refuse_to_run_without_a_reward_model():
    for name in ("best_of_n", "beam_search", "dvts", "mcts"):
        with pytest.raises(InputError, match="needs a reward model"):
            solve(name, problem(), FakeArithGenerator(), None, Budget(), make_config(name))


def test_result_json_has_what_the_cli_promises():
    result = run("mcts", iterations=4)
    d = result.to_dict()
    assert {"answer", "correct", "best_path", "tree", "stats"} <= set(d)
    assert {"id", "parent", "text", "score", "value", "visits", "status"} <= set(d["tree"]["nodes"][1])
    assert {"generated_tokens", "generator_calls", "reward_calls", "nodes", "wall_s"} <= set(d["stats"])
    assert collect("mcts", result.problem, iter(result.events)).tree.to_dict() == d["tree"]


# ----- rstar, revise, compute_optimal ------------------------------------------------------------

def math_generator():
    """An 'instruct model' for the math format that answers every rStar action prompt."""
    from reasoning_core.fakes import ScriptedGenerator

    def fn(prefix: str, k: int, seed: int) -> str:
        if prefix.endswith("Rephrased problem:"):
            return f" What is two plus three (version {k})?"
        if prefix.endswith("Sub-question: "):
            return f"what is 2 + {3 + (k + seed) % 2}? Answer: {5 + (k + seed) % 2}"
        if prefix.endswith("Answer:"):
            return " 5"
        steps = prefix.split("Solution:\n", 1)[-1].count("\n\n")
        if steps >= 2:
            return "The answer is \\boxed{5}"
        return f"Step {steps + 1}: add the numbers ({(k + seed) % 3})"

    return ScriptedGenerator(fn)


def math_problem():
    return Problem("What is 2 + 3?", get_task("math"), "5")


def test_rstar_reaches_every_action_type_on_an_instruct_format():
    result = solve("rstar", math_problem(), math_generator(), ScriptedReward(lambda p, s: [0.8] * len(s)),
                   Budget(), make_config("rstar", 8, per_action=1))
    kinds = {n.kind for n in result.tree.nodes.values()}
    assert {"step", "complete", "subquestion", "reanswer", "rephrase"} <= kinds
    assert result.answer == "5" and result.correct
    rephrased = next(n for n in result.tree.nodes.values() if n.kind == "rephrase")
    assert not rephrased.terminal
    assert result.info["trajectories"] >= 1 and result.tree.root.visits == 8


def test_rstar_expands_several_leaves_per_call_each_by_its_own_moves():
    from reasoning_core.search.rstar import ACTION_FORMATS, question_part

    def rstar(k: int):
        return solve("rstar", math_problem(), math_generator(), ScriptedReward(lambda p, s: [0.8] * len(s)),
                     Budget(), make_config("rstar", 16, leaves_per_call=k))

    one, four = rstar(1), rstar(4)
    assert four.stats["generator_calls"] * 2 < one.stats["generator_calls"]
    assert four.answer == "5" and four.tree.root.visits == 16
    tree, fmt = four.tree, ACTION_FORMATS["math"]
    assert {n.kind for n in tree.nodes.values()} >= {"step", "complete", "subquestion", "reanswer", "rephrase"}
    assert [n.parent for n in tree.nodes.values() if n.kind == "rephrase"] == [0]  # the root was expanded once
    # one call re-answers several leaves, each from its own question (a run of re-answers is one call)
    calls: list[list[str | None]] = [[]]
    for e in four.events:
        if isinstance(e, NodeAdded) and e.kind == "reanswer":
            calls[-1].append(question_part(e.text, fmt))
        elif calls[-1]:
            calls.append([])
    assert any(len(set(questions)) > 1 for questions in calls)


def test_rstar_on_arith_uses_the_moves_the_format_supports():
    result = run("rstar", iterations=6, per_action=2)
    kinds = {n.kind for n in result.tree.nodes.values() if n.id}
    assert kinds <= {"step", "complete", "reanswer"} and {"step", "complete"} <= kinds
    assert result.tree.root.visits == 6


def test_rstar_discriminator_rejects_a_trajectory_whose_masked_completion_disagrees():
    import importlib

    from reasoning_core.fakes import ScriptedGenerator

    rstar_module = importlib.import_module("reasoning_core.search.rstar")

    ex = EXAMPLES[1]
    gold = ex.steps
    good = FakeArithGenerator(accuracy=1.0)
    search = rstar_module.Search(problem(), good, FakeArithPRM(), Budget(), make_config("rstar", 2))
    # two finished trajectories: the gold chain, and one whose last answer line is wrong
    node = 0
    for step in gold[:-1]:
        node = search.tree.add(node, step).node_id
    right = search.tree.add(node, gold[-1], terminal=True, answer=ex.reference).node_id
    wrong = search.tree.add(node, "The answer is 12345", terminal=True, answer="12345").node_id
    verdict = rstar_module.discriminate(search, [search.tree[right], search.tree[wrong]])
    assert verdict == {right: True, wrong: False}
    # a discriminator that always disagrees rejects both
    contrary = ScriptedGenerator(lambda prefix, k, seed: "The answer is -1")
    search.config.discriminator = contrary
    assert not any(rstar_module.discriminate(search, [search.tree[right], search.tree[wrong]]).values())


def test_revise_rounds_never_exceed_the_budget_and_branch_off_the_weakest_step():
    result = run("revise", rounds=5, candidates=3)
    attempts = [n for n in result.tree.nodes.values() if n.kind == "revision" and n.status != "pruned"]
    assert len(attempts) == 4  # the first attempt plus four revisions
    assert len([n for n in result.tree.terminals() if n.status != "pruned"]) == 5
    first = attempts[0]  # it replaces the first attempt's weakest step with a different one
    greedy_chain = result.tree.path(min(n.id for n in result.tree.terminals()))
    weakest = min(greedy_chain, key=lambda n: (n.score, n.depth))
    assert first.parent == weakest.parent and first.text != weakest.text
    capped = run("revise", rounds=50, budget=Budget(max_tokens=200))
    assert capped.stats["generated_tokens"] <= 200 and capped.status == "budget"


def test_compute_optimal_picks_by_probe_difficulty():
    easy = ScriptedReward(lambda p, s: [0.95] * len(s))
    hard = ScriptedReward(lambda p, s: [0.05] * len(s))
    a = run("compute_optimal", reward=easy, n=6)
    b = run("compute_optimal", reward=hard, n=6)
    assert (a.info["difficulty"], a.info["chosen"]) == ("easy", "revise")
    assert (b.info["difficulty"], b.info["chosen"]) == ("hard", "beam_search")
    assert a.answer is not None and b.answer is not None


def test_compute_optimal_refuses_a_bad_policy():
    with pytest.raises(InputError, match="policy"):
        make_config("compute_optimal", None, policy={"easy": "astar"})


def test_beam_search_keeps_distinct_beams_when_it_can():
    from reasoning_core.fakes import ScriptedGenerator

    def fn(prefix, k, seed):  # most samples repeat one step; a few differ
        depth = prefix.count("\n") - 2
        return "The answer is 1" if depth >= 2 else f"1 + 1 = {2 if k % 4 else 3}"

    result = solve("beam_search", Problem("1 + 1 + 1", TASK, "3"), ScriptedGenerator(fn), FakeArithPRM(),
                   Budget(), make_config("beam_search", None, n=8, width=2))
    first = [n for n in result.tree.children(0) if n.status != "pruned"]
    assert sorted(n.text for n in first) == ["1 + 1 = 2", "1 + 1 = 3"]
