"""The `Search` context every strategy grows its tree through: what it sends the generator, how it
builds chains from node kinds, when a step ends a chain, what it scores and what it reports."""
from __future__ import annotations

import pytest

from reasoning_core.budget import Budget
from reasoning_core.fakes import FakeArithPRM, ScriptedReward
from reasoning_core.protocols import Continuation, InputError
from reasoning_core.search import STRATEGIES, Problem, Search, make_config
from reasoning_core.search.base import (
    MAX_PROBLEM_CHARS,
    SearchConfig,
    Strategy,
    best_scored,
    majority,
    scored_choice,
    verifier_choice,
)
from reasoning_core.tasks import get_task

TASK = get_task("arith")
PROBLEM = "Compute left to right: 2 + 3 * 4"


class Script:
    """A generator answering each call with the next list of step texts (one per prefix and sample)."""

    def __init__(self, *calls: list[str], finished: bool = False) -> None:
        self.calls, self.seen, self.finished = list(calls), [], finished

    def propose(self, prefixes, n, *, stop, max_new_tokens, temperature, seed, cancel=None):
        self.seen.append({"prefixes": list(prefixes), "n": n, "stop": stop, "temperature": temperature,
                          "seed": seed})
        texts = iter(self.calls.pop(0))
        return [[Continuation(next(texts), 2, -0.5, self.finished) for _ in range(n)] for _ in prefixes]


def search(generator, reward=None, **knobs) -> Search:
    return Search(Problem(PROBLEM, TASK), generator, reward, Budget(), make_config("beam_search", None, **knobs))


def test_the_problem_is_checked_in_words():
    with pytest.raises(InputError, match=r"^the problem is empty: type a question to solve$"):
        Search(Problem("  \n", TASK), Script(), None, Budget(), make_config("greedy"))
    assert Search(Problem("1" * MAX_PROBLEM_CHARS, TASK), Script(), None, Budget(), make_config("greedy"))
    with pytest.raises(InputError, match=r"^the problem is 20,001 characters long; the limit is 20,000$"):
        Search(Problem("1" * (MAX_PROBLEM_CHARS + 1), TASK), Script(), None, Budget(), make_config("greedy"))
    with pytest.raises(InputError, match=r"^the problem contains a control character \(U\+0000\) at character 4: "):
        Search(Problem("3 +\x00 4", TASK), Script(), None, Budget(), make_config("greedy"))
    # line breaks and tabs are text, not control characters a user would have to remove
    assert Search(Problem("3 +\n\t4", TASK), Script(), None, Budget(), make_config("greedy"))


def test_expand_sends_one_call_and_adds_the_steps_below_their_parents():
    gen = Script(["2 + 3 = 5"], ["5 * 4 = 20"])
    s = search(gen, temperature=0.6, seed=2)
    (first,) = s.expand([0], 1)
    assert gen.seen[0] == {"prefixes": [TASK.prompt(PROBLEM)], "n": 1, "stop": "\n", "temperature": 0.6,
                           "seed": 2 * 1_000_003}
    (second,) = s.expand([first.node_id], 1, temperature=0.0)
    assert gen.seen[1]["prefixes"] == [TASK.prompt(PROBLEM) + "2 + 3 = 5\n"]
    assert (gen.seen[1]["temperature"], gen.seen[1]["seed"]) == (0.0, 2 * 1_000_003 + 1)
    node = s.tree[second.node_id]
    assert (node.parent, node.depth, node.logprob, node.num_tokens, node.terminal) == (first.node_id, 2, -0.5, 2, False)
    assert s.meter.stats.nodes == 2 == len(s.tree) - 1


@pytest.mark.parametrize("text, finished, max_steps, terminal, answer", [
    ("The answer is 20", False, 12, True, "20"),   # an answer line ends the chain
    ("5 * 4 = 20", True, 12, True, None),          # so does the model's end of sequence
    ("5 * 4 = 20", False, 1, True, None),          # and the depth cap
    ("5 * 4 = 20", False, 2, False, None),
])
def test_a_step_ends_its_chain_by_answer_end_of_sequence_or_depth(text, finished, max_steps, terminal, answer):
    s = search(Script([text], finished=finished), max_steps=max_steps)
    (added,) = s.expand([0], 1)
    assert (added.terminal, added.answer) == (terminal, answer)


def test_lead_prefixes_and_kinds_shape_the_generator_input():
    gen = Script(["2 + 3 = 5"], [" 5"], ["Rephrased: 2 plus 3, times 4"], ["2 + 3 = 5"])
    s = search(gen)
    s.expand([0], 1)
    (again,) = s.expand([0], 1, kind="reanswer", lead="2 + 3 =")
    assert gen.seen[1]["prefixes"] == [TASK.prompt(PROBLEM) + "2 + 3 ="] and s.tree[again.node_id].text == "2 + 3 = 5"
    (rephrased,) = s.expand([0], 1, kind="rephrase", prefixes=["REPHRASE IT"])
    assert gen.seen[2]["prefixes"] == ["REPHRASE IT"]
    assert (rephrased.terminal, rephrased.answer) == (False, None)  # a rephrasing is no step of the chain
    s.expand([rephrased.node_id], 1)
    assert gen.seen[3]["prefixes"] == [TASK.prompt("Rephrased: 2 plus 3, times 4")]  # the chain restarts


def test_a_rephrasing_never_answers_or_ends_a_chain_even_when_it_states_an_answer():
    s = search(Script(["Rephrased: 2 plus 3, times 4. The answer is 20"], finished=True))
    (rephrased,) = s.expand([0], 1, kind="rephrase", prefixes=["REPHRASE IT"])
    assert (rephrased.terminal, rephrased.answer) == (False, None)
    assert s.tree[rephrased.node_id].answer is None


def test_a_step_is_one_step_even_when_its_text_holds_the_delimiter():
    s = search(Script())
    node = s.add_node(0, "2 + 3 = 5\n5 * 4 = 20", kind="step")
    assert s.steps(node.node_id) == ["2 + 3 = 5\n5 * 4 = 20"]


def test_a_complete_node_holds_several_steps_and_is_judged_on_each():
    scores = {"2 + 3 = 5": 0.9, "5 * 4 = 20": 0.4, "The answer is 20": 0.7}
    reward = ScriptedReward(lambda p, steps: [scores[x] for x in steps])
    s = search(Script(), reward, aggregation="mean")
    node = s.add_node(0, "2 + 3 = 5\n5 * 4 = 20\nThe answer is 20", terminal=True, answer="20", kind="complete")
    assert s.steps(node.node_id) == ["2 + 3 = 5", "5 * 4 = 20", "The answer is 20"]
    assert s.prefix(node.node_id) == TASK.prompt(PROBLEM) + "2 + 3 = 5\n5 * 4 = 20\nThe answer is 20\n"
    (scored,) = s.score([node.node_id])
    assert (scored.score, scored.value) == (0.4, pytest.approx(2.0 / 3))  # its worst step; the mean of all


def test_score_values_each_node_by_its_chain_and_whole_path_fills_in_its_ancestors():
    reward = FakeArithPRM(noise=0.0, high=1.0, low=0.0)
    s = search(Script(["2 + 3 = 5"], ["5 * 4 = 21"]), reward)
    (a,) = s.expand([0], 1)
    (b,) = s.expand([a.node_id], 1)
    (only,) = s.score([b.node_id])
    assert (only.node_id, only.score, only.value) == (b.node_id, 0.0, 0.0) and s.tree[a.node_id].score is None
    events = s.score([b.node_id], whole_path=True)
    assert [(e.node_id, e.score) for e in events] == [(a.node_id, 1.0), (b.node_id, 0.0)]
    assert s.score([]) == [] and search(Script(["x"])).score([1]) == []  # nothing to judge, or no judge


def test_rollout_continues_each_chain_outside_the_tree_until_an_answer():
    gen = Script(["2 + 3 = 5"], ["5 * 4 = 20"], ["The answer is 20"], ["never asked"])
    s = search(gen)
    (a,) = s.expand([0], 1)
    chains = s.rollout([a.node_id], 5, temperature=0.0)
    assert [c.text for c in chains[a.node_id]] == ["5 * 4 = 20", "The answer is 20"]
    # each rollout step stops at the delimiter and draws a fresh seed, as a step in the tree does
    assert [(call["stop"], call["seed"]) for call in gen.seen[1:3]] == [("\n", 1), ("\n", 2)]
    assert gen.seen[2]["prefixes"] == [TASK.prompt(PROBLEM) + "2 + 3 = 5\n5 * 4 = 20\n"]
    assert len(s.tree) == 2 and len(gen.calls) == 1
    assert s.rollout([a.node_id], 0) == {a.node_id: []}


def test_extend_chains_returns_the_final_leaves_in_input_order():
    gen = Script(["2 + 3 = 5", "2 + 3 = 6"], ["The answer is 20", "6 * 4 = 24"], ["The answer is 24"])
    s = search(gen)
    first = s.expand([0], 2)
    events = s.extend_chains([first[0].node_id, first[1].node_id])
    leaves = None
    try:
        while True:
            next(events)
    except StopIteration as stop:
        leaves = stop.value
    assert [s.tree[i].answer for i in leaves] == ["20", "24"]


def test_the_fallback_is_the_best_answer_else_the_deepest_partial_chain():
    s = search(Script(["2 + 3 = 5", "2 + 3 = 6"], ["5 * 4 = 20"]))
    a, b = s.expand([0], 2)
    s.tree.set_score(a.node_id, 0.2, 0.2)
    assert s.fallback_leaf() == a.node_id  # equal depth: the scored chain over the unscored one
    (deeper,) = s.expand([b.node_id], 1)
    assert s.fallback_leaf() == deeper.node_id
    s.add_node(deeper.node_id, "5 * 4 = 20", terminal=True)  # ended by the depth cap: no answer
    done = s.add_node(0, "The answer is 20", terminal=True, answer="20")
    assert s.fallback_leaf() == done.node_id  # an answer wins over deeper chains that state none
    assert search(Script()).fallback_leaf() is None


def test_best_ranks_an_unscored_node_below_every_scored_one():
    s = search(Script())
    unscored = s.add_node(0, "2 + 3 = 5")
    scored = s.add_node(0, "2 + 3 = 6")
    s.tree.set_score(scored.node_id, 0.1, 0.1)
    assert s.best([s.tree[unscored.node_id], s.tree[scored.node_id]]).id == scored.node_id


def test_choosers_pick_by_value_skip_pruned_chains_and_vote_by_weight():
    s = search(Script())
    a = s.add_node(0, "The answer is 1", terminal=True, answer="1")
    b = s.add_node(0, "The answer is 2", terminal=True, answer="2")
    c = s.add_node(0, "The answer is 2", terminal=True, answer="2")
    d = s.add_node(0, "The answer is 3", terminal=True, answer="3")
    s.add_node(0, "The answer is 4", terminal=True, answer="4")  # never scored: no vote
    for node, value in ((a, 0.9), (b, 0.5), (c, 0.45), (d, 0.99)):
        s.tree.set_score(node.node_id, value, value)
    s.tree.prune(d.node_id)
    assert best_scored(s) == a.node_id           # d scores higher but was pruned
    weighted = make_config("best_of_n", weighted=True)
    # "2": 0.95 > "1": 0.9 (pruned "3": 0.99 has no vote)
    assert scored_choice(s.tree.terminals(), weighted).id == b.node_id
    assert verifier_choice(s) == a.node_id       # beam search has no `weighted` knob: the best chain
    assert scored_choice([], weighted) is None
    assert majority([s.tree[i] for i in (1, 2, 3)]).answer == "2"
    assert majority([s.tree[1], s.tree[2]]).id == 1  # a tie goes to the answer seen first
    assert majority([]) is None and best_scored(search(Script())) is None


def test_a_strategy_that_uses_no_verifier_is_given_none():
    seen = []

    def explore(s):
        seen.append(s.reward)
        return
        yield

    probe = Strategy("probe", SearchConfig, explore, lambda s: None, reward="unused")
    list(probe(Problem(PROBLEM, TASK), Script(), FakeArithPRM(), Budget()))
    assert seen == [None]


@pytest.mark.parametrize("name", ["best_of_n", "beam_search", "dvts", "mcts", "rstar", "revise", "compute_optimal"])
def test_a_verifier_guided_strategy_without_a_verifier_says_so_by_name(name):
    with pytest.raises(InputError, match=f"^{name} needs a reward model \\(a PRM or an ORM\\); pick one, or use "
                                         "greedy or self_consistency, which need none$"):
        STRATEGIES[name](Problem(PROBLEM, TASK), Script(), None, Budget())


def test_an_unknown_strategy_lists_every_valid_one():
    from reasoning_core.search import get_strategy

    with pytest.raises(InputError, match=f"^unknown strategy 'astar'; valid: {', '.join(STRATEGIES)}$"):
        get_strategy("astar")
