"""The numbers a person reads off a search, pinned by their meaning on scripted cases where the right
code and a one-line break of it give different numbers (Q values, votes, subtrees, caps, replay)."""
from __future__ import annotations

import math
import time

import pytest

from reasoning_core.budget import Budget
from reasoning_core.fakes import FakeArithGenerator, FakeArithPRM, ScriptedGenerator, ScriptedReward
from reasoning_core.run import solve
from reasoning_core.search import STRATEGIES, InputError, Problem, Search, make_config
from reasoning_core.search.puct import most_visited_leaf, priors, puct_child, rollout_values
from reasoning_core.tasks import arith, get_task
from reasoning_core.tree import NodeAdded, NodeScored, NodeUpdated, SearchTree

TASK = get_task("arith")
EXAMPLES = arith.problems("test", 40, min_ops=3, max_ops=5, digits=2)
ORACLE = FakeArithPRM(noise=0.0, high=1.0, low=0.0)  # the exact step checker


def problem(i: int) -> Problem:
    return Problem(EXAMPLES[i].problem, TASK, EXAMPLES[i].reference)


def run(name: str, i: int = 1, generator=None, reward=None, budget: Budget | None = None, **knobs):
    return solve(name, problem(i), generator or FakeArithGenerator(0.75), reward or FakeArithPRM(),
                 budget or Budget(), make_config(name, None, **knobs))


def accuracy(name: str, count: int, accuracy_of_steps: float, **knobs) -> float:
    gen = FakeArithGenerator(accuracy_of_steps)
    return sum(bool(run(name, i, gen, ORACLE, **knobs).correct) for i in range(count)) / count


# ----- MCTS ------------------------------------------------------------------------------------


def test_mcts_q_is_the_mean_of_the_values_backed_up_through_each_node():
    result = run("mcts", iterations=20, expansion_width=3)
    iterations = backups(result.events)
    assert len(iterations) == 20
    through: dict[int, list[float]] = {}
    for path, value in iterations:
        for node_id in path:
            through.setdefault(node_id, []).append(value)
    spread = {round(v, 6) for _, v in iterations}
    assert len(spread) > 2, "the scripted case must back up different values, or the mean proves nothing"
    for node_id, values in through.items():
        node = result.tree[node_id]
        assert node.visits == len(values)
        assert node.value == pytest.approx(sum(values) / len(values))


def backups(events) -> list[tuple[list[int], float]]:
    """(path, backed-up value) of each MCTS iteration, recomputed from the event stream alone: the
    value is the best value among the children that iteration added, or, when the selected leaf had
    ended, that leaf's value just before its own backup (plain MCTS, no rollouts)."""
    tree, out, fresh, pending = SearchTree(), [], [], []

    def close() -> None:
        if pending:
            leaf = tree[pending[-1].node_id]
            out.append(([u.node_id for u in pending], max(fresh) if fresh else leaf.value))
            for update in pending:
                tree.apply(update)
            pending.clear()
            fresh.clear()

    for event in events:
        if isinstance(event, NodeUpdated):
            if event.node_id == 0:  # a backup starts at the root
                close()
            pending.append(event)
            continue
        close()
        if isinstance(event, NodeScored):
            fresh.append(event.value)
        tree.apply(event)
    close()
    return out


def test_mcts_backs_up_the_best_new_child_not_the_worst():
    result = run("mcts", iterations=1, expansion_width=4)
    children = result.tree.children(0)
    assert len({c.score for c in children}) > 1
    best = max(c.score for c in children)
    root_q = result.tree.root.value
    assert root_q == pytest.approx(best)


def puct_search(children: list[tuple[float | None, int, float]], parent_visits: int) -> Search:
    """A one-level tree: (value, visits, logprob per token) per child of the root."""
    search = Search(problem(0), FakeArithGenerator(), None, Budget(), make_config("mcts"))
    search.tree.update(0, value=None, visits=parent_visits)
    for value, visits, logprob in children:
        added = search.tree.add(0, "step", logprob=logprob, num_tokens=1)
        search.tree.update(added.node_id, value=value, visits=visits)
    return search


def test_puct_prefers_the_higher_q_at_equal_priors():
    search = puct_search([(0.2, 1, -1.0), (0.8, 1, -1.0), (0.5, 1, -1.0)], parent_visits=3)
    assert puct_child(search, search.tree.root, c_puct=1.0).id == 2


def test_puct_explores_a_likely_unvisited_child_over_a_visited_one():
    # equal Q; the unvisited child has the larger prior and no visits, so its bonus wins
    search = puct_search([(0.5, 9, -3.0), (0.5, 0, -0.1)], parent_visits=9)
    assert puct_child(search, search.tree.root, c_puct=1.0).id == 2
    # with no exploration only Q counts, and ties go to the first child
    assert puct_child(search, search.tree.root, c_puct=0.0).id == 1


def test_mcts_with_the_exact_checker_beats_greedy():
    greedy = accuracy("greedy", 30, 0.6)
    mcts = accuracy("mcts", 30, 0.6, iterations=24, expansion_width=3)
    assert mcts >= greedy + 0.2, (greedy, mcts)


# ----- voting and subtrees ---------------------------------------------------------------------


def test_weighted_vote_and_argmax_disagree_where_they_should():
    # two chains answer 5 with value 0.6 each, one answers 7 with value 0.9:
    # the argmax takes 7, the weighted vote 5 (1.2 against 0.9)
    answers = {0: "5", 1: "5", 2: "7"}
    gen = ScriptedGenerator(lambda prefix, k, seed: f"The answer is {answers[k]}")
    reward = ScriptedReward(lambda p, steps: [0.9 if steps[-1].endswith("7") else 0.6] * len(steps))
    plain = run("best_of_n", generator=gen, reward=reward, n=3)
    weighted = run("best_of_n", generator=gen, reward=reward, n=3, weighted=True)
    assert (plain.answer, weighted.answer) == ("7", "5")


def first_steps(result) -> set[int]:
    """The depth-1 ancestors of the chains a search ended with."""
    return {result.tree.path(leaf.id)[0].id for leaf in result.tree.terminals() if leaf.status != "pruned"}


def test_dvts_subtrees_follow_distinct_heads():
    result = run("dvts", n=8, width=2)
    assert len(first_steps(result)) == 4  # 8 / 2 independent subtrees
    for head in first_steps(result):
        kept = [n for n in result.tree.terminals() if n.status != "pruned" and result.tree.path(n.id)[0].id == head]
        assert len(kept) == 1


# ----- caps and replay -------------------------------------------------------------------------


class SlowGenerator(FakeArithGenerator):
    """The fake generator, taking `delay` seconds per call like a real model."""

    delay: float = 0.05

    def propose(self, *args, **kw):
        time.sleep(self.delay)
        return super().propose(*args, **kw)


def test_a_slow_model_stops_at_the_wall_clock_cap():
    free = run("beam_search", generator=SlowGenerator(0.75), n=4, width=2)
    capped = run("beam_search", generator=SlowGenerator(0.75), n=4, width=2, budget=Budget(max_wall_s=0.12))
    assert free.status == "done" and capped.status == "budget"
    assert capped.stats["generator_calls"] < free.stats["generator_calls"]


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_the_live_tree_equals_the_tree_replayed_from_events(name, monkeypatch):
    live: list[Search] = []
    init = Search.__post_init__

    def keep(self):
        init(self)
        live.append(self)

    monkeypatch.setattr(Search, "__post_init__", keep)
    result = run(name, n=4, iterations=6)
    assert live, "the strategy must run through a Search"
    assert SearchTree.from_events(result.events).to_dict() == live[0].tree.to_dict()


def test_compute_optimal_hands_over_without_changing_its_own_config(monkeypatch):
    live: list[Search] = []
    init = Search.__post_init__
    monkeypatch.setattr(Search, "__post_init__", lambda self: (init(self), live.append(self))[0])
    config = make_config("compute_optimal", 6)
    result = solve("compute_optimal", problem(1), FakeArithGenerator(0.75), FakeArithPRM(), Budget(), config)
    assert result.info["chosen"] in STRATEGIES and live[0].config is config
    assert result.stats["generated_tokens"] == sum(n.num_tokens for n in result.tree.nodes.values())


# ----- compute_optimal: the bin, the hand-over and what it carries over ---------------------------------


def constant(value: float) -> ScriptedReward:
    return ScriptedReward(lambda p, steps: [value] * len(steps))


@pytest.mark.parametrize("value, level, chosen", [
    (0.7, "easy", "revise"), (0.69, "medium", "best_of_n"), (0.3, "medium", "best_of_n"), (0.29, "hard", "beam_search"),
    (0.0, "hard", "beam_search"),  # a probe scored 0 counts as 0, not as a missing score
])
def test_compute_optimal_bins_the_probe_value_at_its_thresholds(value, level, chosen):
    result = run("compute_optimal", reward=constant(value), n=6)
    assert result.info == {"difficulty": level, "probe_value": value, "chosen": chosen, "chosen_budget": 4}


def test_compute_optimal_hands_its_shared_knobs_to_the_chosen_strategy(monkeypatch):
    handed = []
    handover = Search.handover
    monkeypatch.setattr(Search, "handover", lambda self, config: handed.append(config) or handover(self, config))
    policy = {"easy": "beam_search", "medium": "beam_search", "hard": "beam_search"}
    result = run("compute_optimal", n=7, probe=3, width=3, seed=5, temperature=0.4, max_step_tokens=20, max_steps=9,
                 aggregation="last", policy=policy)
    first = handed[0]
    assert type(first).__name__ == "BeamSearchConfig"
    assert (first.n, first.width, first.seed, first.temperature, first.max_step_tokens, first.max_steps,
            first.aggregation) == (4, 3, 5, 0.4, 20, 9, "last")
    assert all(vars(c) == vars(first) for c in handed)  # choose() rebuilds the same config
    assert result.leaf_id == max((n for n in result.tree.terminals() if n.status != "pruned"),
                                 key=lambda n: (n.value, n.logprob, -n.id)).id


def test_compute_optimal_width_never_exceeds_what_is_left():
    policy = {"easy": "beam_search", "medium": "beam_search", "hard": "beam_search"}
    result = run("compute_optimal", n=4, probe=3, width=2, policy=policy)  # one chain left: a beam of one
    assert result.status == "done" and result.info["chosen_budget"] == 1


def test_compute_optimal_stopped_while_probing_answers_with_its_best_probe():
    result = run("compute_optimal", n=6, budget=Budget(max_generator_calls=3))
    assert result.status == "budget" and "chosen" not in result.info


@pytest.mark.parametrize("knobs, message", [
    ({"n": 4, "probe": 4}, r"the probe \(4 chains\) must be smaller than the budget n \(4\)"),
    ({"policy": {"trivial": "greedy"}}, "policy bins must be easy, medium, hard"),
    ({"easy_above": 0.2, "hard_below": 0.5}, "0 <= hard_below <= easy_above <= 1"),
    ({"policy": {"easy": "compute_optimal"}}, r"policy\['easy'\] = 'compute_optimal' is not a strategy to hand over to"
                                              "; valid: greedy, self_consistency, best_of_n"),
])
def test_compute_optimal_refuses_impossible_settings_in_words(knobs, message):
    with pytest.raises(InputError, match=message):
        make_config("compute_optimal", None, **knobs)


# ----- the smaller strategies, each on the number it reports ---------------------------------------


def test_greedy_shows_the_verifier_score_of_every_step_it_took():
    result = run("greedy")
    path = result.tree.path(result.leaf_id)
    assert len(path) > 2 and all(n.score is not None for n in path)
    assert path[-1].value == pytest.approx(min(n.score for n in path))


def test_a_search_whose_chains_state_no_answer_reports_none():
    gen = ScriptedGenerator(lambda prefix, k, seed: f"step {prefix.count(chr(10))}")  # never an answer line
    for name in ("mcts", "best_of_n", "greedy"):
        result = run(name, generator=gen, max_steps=3, iterations=4, n=2)
        assert result.status == "done" and result.answer is None, name
    # MCTS names no leaf rather than an unanswered one; best-of-N still shows its best-scored chain
    assert run("mcts", generator=gen, max_steps=3, iterations=4).leaf_id is None


@pytest.mark.parametrize("n, width", [(4, 3), (8, 2), (6, 4)])
def test_each_beam_proposes_n_over_width_steps_after_the_first_depth(n, width):
    result = run("beam_search", n=n, width=width)
    tree = result.tree
    assert len(tree.children(0)) == n
    for node in tree.nodes.values():
        if node.depth >= 1 and node.children:
            assert len(node.children) == max(1, n // width)
    ended = [t for t in tree.terminals() if t.status != "pruned"]
    assert len(ended) <= width  # the search stops once `width` kept chains have ended


def test_beam_search_stops_once_width_kept_chains_have_ended_even_with_a_beam_still_open():
    # depth 1 keeps an answer and "a"; "a" then proposes an answer and "d": two kept chains have ended (the
    # width), so "d" is never extended although its beam is still open
    children = {"": ["The answer is 1", "a", "b", "c"], "a": ["The answer is 2", "d"],
                "d": ["The answer is 3", "The answer is 4"]}
    scores = {"The answer is 1": 0.9, "a": 0.8, "b": 0.1, "c": 0.1, "The answer is 2": 0.9, "d": 0.8,
              "The answer is 3": 0.5, "The answer is 4": 0.5}
    prompt = TASK.prompt(problem(0).text)
    gen = ScriptedGenerator(lambda prefix, k, seed: children[prefix[len(prompt):].rstrip("\n").split("\n")[-1]][k])
    reward = ScriptedReward(lambda p, steps: [scores[s] for s in steps])
    result = run("beam_search", 0, generator=gen, reward=reward, n=4, width=2)
    tree = result.tree
    assert sorted(n.text for n in tree.nodes.values() if n.id) == sorted(children[""] + children["a"])
    assert result.status == "done"


def test_dvts_with_n_equal_to_width_is_one_subtree():
    result = run("dvts", n=2, width=2)
    assert len(result.tree.children(0)) == 2 and len(first_steps(result)) == 1


# ----- PUCT details: priors, pruned and unscored children, rollout values ---------------------------


def test_priors_are_a_softmax_of_per_token_log_probs():
    search = puct_search([(0.5, 0, -1.0), (0.5, 0, -2.0)], parent_visits=0)
    search.tree[2].num_tokens = 2  # -2.0 over 2 tokens is -1.0 per token: the same prior
    assert priors(search.tree.children(0)) == pytest.approx([0.5, 0.5])
    search.tree[2].num_tokens = 1
    expected = [math.exp(-1.0) / (math.exp(-1.0) + math.exp(-2.0)), math.exp(-2.0) / (math.exp(-1.0) + math.exp(-2.0))]
    assert priors(search.tree.children(0)) == pytest.approx(expected)
    search.tree[2].num_tokens = 0  # an empty step counts as one token
    assert priors(search.tree.children(0)) == pytest.approx(expected)


def test_priors_stay_finite_for_very_unlikely_steps():
    search = puct_search([(0.5, 0, -800.0), (0.5, 0, -801.0)], parent_visits=0)
    assert priors(search.tree.children(0)) == pytest.approx([1 / (1 + math.exp(-1.0)), 1 / (1 + math.exp(1.0))])


def test_the_most_visited_path_breaks_ties_by_value_and_counts_an_unscored_child_as_zero():
    search = puct_search([(0.3, 2, -1.0), (0.7, 2, -1.0), (None, 2, -1.0)], parent_visits=6)
    assert most_visited_leaf(search).id == 2
    search = puct_search([(0.3, 2, -1.0), (0.1, 3, -1.0)], parent_visits=5)
    assert most_visited_leaf(search).id == 2  # visits first


def test_rollout_values_keep_an_ended_nodes_own_value_and_roll_out_a_bare_rephrasing():
    reward = ScriptedReward(lambda p, steps: [0.25] * len(steps))
    s = Search(problem(0), ScriptedGenerator(lambda prefix, k, seed: "The answer is 3"), reward, Budget(),
               make_config("mcts"))
    ended = s.add_node(0, "The answer is 3", terminal=True, answer="3")
    s.tree.set_score(ended.node_id, 0.0, 0.0)
    rephrased = s.add_node(0, "Rephrased problem", kind="rephrase")  # no step of its own yet
    assert rollout_values(s, [ended.node_id, rephrased.node_id], 2) == [0.0, 0.25]


def test_mcts_backs_up_a_zero_value_as_zero_and_an_unscored_ended_chain_as_zero():
    result = run("mcts", reward=constant(0.0), iterations=3, expansion_width=2)
    assert result.tree.root.visits == 3 and result.tree.root.value == 0.0
    s = Search(problem(0), FakeArithGenerator(), ORACLE, Budget(), make_config("mcts", None, iterations=1))
    s.add_node(0, "The answer is 5", terminal=True, answer="5")  # handed over unscored: selected, not expanded
    list(STRATEGIES["mcts"].explore(s))
    assert (s.tree.root.visits, s.tree.root.value) == (1, 0.0)


def test_puct_never_selects_a_pruned_child_and_counts_an_unscored_one_as_zero():
    search = puct_search([(0.9, 0, -1.0), (0.2, 0, -1.0)], parent_visits=1)
    search.tree.prune(1)
    assert puct_child(search, search.tree.root, c_puct=1.0).id == 2
    search = puct_search([(None, 0, -1.0), (0.1, 0, -1.0)], parent_visits=1)
    assert puct_child(search, search.tree.root, c_puct=1.0).id == 2


def test_puct_exploration_of_a_fresh_parent_counts_one_visit():
    # Q 0.2 with prior ~0.98 against Q 0.6 with prior ~0.02: at c_puct 0.35 the bonus wins only if the
    # parent's visits counted as more than one
    search = puct_search([(0.2, 0, -1.0), (0.6, 0, -5.0)], parent_visits=0)
    assert puct_child(search, search.tree.root, c_puct=0.35).id == 2
    search.tree.update(0, value=None, visits=4)
    assert puct_child(search, search.tree.root, c_puct=0.35).id == 1


@pytest.mark.parametrize("depth", [1, 2])
def test_rollout_values_are_the_verifier_aggregate_of_the_path_and_its_greedy_rollout(depth):
    gen, prm = FakeArithGenerator(0.75), FakeArithPRM()
    result = solve("mcts", problem(1), gen, prm, Budget(), make_config("mcts", None, iterations=5, rollout_depth=depth,
                                                                           aggregation="mean"))
    rolled = [e for e in result.events if isinstance(e, NodeUpdated) and e.visits == 0]
    assert rolled
    tree, text = result.tree, problem(1).text
    for event in rolled:
        steps = tree.steps(event.node_id)
        rest: list[str] = []
        if not tree[event.node_id].terminal:
            for _ in range(depth):
                prefix = TASK.prompt(text) + "".join(s + "\n" for s in steps + rest)
                (cont,) = gen.propose([prefix], 1, stop="\n", max_new_tokens=48, temperature=0.0, seed=0)[0]
                rest.append(cont.text)
                if TASK.extract_answer(cont.text):
                    break
        expected = sum(prm.score(text, [steps + rest])[0]) / len(steps + rest)
        assert event.value == pytest.approx(expected), event


# ----- revise: where a revision branches off and which replacement it keeps ---------------------------


def revise_run(rounds: int, candidates: int = 3, **knobs):
    """revise with the fake generator and the exact checker, whose zero marks the weakest step exactly."""
    return run("revise", i=2, generator=FakeArithGenerator(0.5), reward=ORACLE, rounds=rounds,
               candidates=candidates, **knobs)


def attempts(result) -> list[list[int]]:
    """Each attempt's path (node ids), in the order they were written."""
    tree = result.tree
    ends = sorted((n for n in tree.terminals() if n.status != "pruned"), key=lambda n: n.id)
    return [[n.id for n in tree.path(e.id)] for e in ends]


def test_revise_writes_a_greedy_first_attempt_then_one_attempt_per_round():
    result = revise_run(3)
    chains = attempts(result)
    assert len(chains) == 3
    greedy = run("greedy", i=2, generator=FakeArithGenerator(0.5), reward=ORACLE)
    assert [result.tree[i].text for i in chains[0]] == [greedy.tree[i].text for i in attempts(greedy)[0]]
    for chain in chains:  # every attempt is scored step by step
        assert all(result.tree[i].score is not None for i in chain)


def test_each_revision_branches_off_at_the_weakest_step_and_keeps_the_likeliest_fresh_replacement():
    result = revise_run(4, candidates=3)
    tree, chains = result.tree, attempts(result)
    added = [e for e in result.events if isinstance(e, NodeAdded) and e.kind == "revision"]
    groups = [added[k:k + 3] for k in range(0, len(added), 3)]
    assert len(groups) == 3 == len(chains) - 1
    for before, group in zip(chains, groups):
        weakest = min((tree[i] for i in before), key=lambda n: (n.score, n.depth))
        parent = group[0].parent_id
        assert parent == (weakest.parent or 0) and all(e.parent_id == parent for e in group)
        tried = {c.text for c in tree.children(parent) if c.id < group[0].node_id}
        nodes = [tree[e.node_id] for e in group]
        fresh = [n for n in nodes if n.text not in tried]
        pick = max(fresh or nodes, key=lambda n: (n.logprob, -n.id))
        assert [n.status != "pruned" for n in nodes] == [n is pick for n in nodes]


def test_revise_handed_chains_starts_from_the_best_unpruned_one_and_branches_an_unscored_one_at_its_start():
    def handed(scored: bool) -> tuple[Search, list[int]]:
        s = Search(problem(2), FakeArithGenerator(0.5), constant(0.5), Budget(),
                   make_config("revise", None, rounds=1, candidates=2))
        ids = []
        for first, answer in (("a1", "1"), ("b1", "2")):
            one = s.add_node(0, first)
            two = s.add_node(one.node_id, f"The answer is {answer}", terminal=True, answer=answer)
            ids += [one.node_id, two.node_id]
        if scored:
            for node_id, score in zip(ids, (0.6, 0.5, 0.9, 0.8)):
                s.tree.set_score(node_id, score, score)
            s.tree.prune(ids[3])  # the best chain was pruned: it is no start
        list(STRATEGIES["revise"].explore(s))
        return s, ids

    def branched_at(s: Search) -> set[int | None]:
        return {n.parent for n in s.tree.nodes.values() if n.kind == "revision"}

    s, ids = handed(scored=True)
    assert branched_at(s) == {ids[0]}  # below a1: the weakest step of the a-chain is its answer
    s, ids = handed(scored=False)
    assert branched_at(s) == {0}  # unscored: the first step is the one revised


def test_revise_handed_a_finished_chain_revises_it_instead_of_starting_over():
    assert len(attempts(revise_run(1))) == 1  # one round: the greedy attempt alone
    s = Search(problem(2), FakeArithGenerator(0.5), ORACLE, Budget(), make_config("revise", None, rounds=1))
    list(STRATEGIES["greedy"].explore(s))
    list(STRATEGIES["revise"].explore(s))
    first_steps = [c for c in s.tree.children(0) if c.kind == "step"]
    assert len(first_steps) == 1 and any(n.kind == "revision" for n in s.tree.nodes.values())


# ----- rStar: its checks, the discriminator's cut, the final vote ------------------------------------


class Recording(FakeArithGenerator):
    """The fake generator, remembering every prefix it was asked to continue."""

    def __init__(self, accuracy: float) -> None:
        super().__init__(accuracy)
        self.prefixes: list[str] = []

    def propose(self, prefixes, n, **kw):
        self.prefixes += list(prefixes)
        return super().propose(prefixes, n, **kw)


@pytest.mark.parametrize("knobs, message", [
    ({"actions": ("step", "teleport")}, r"unknown rStar actions \['teleport'\]; valid: step, complete, subquestion"),
    ({"actions": ()}, r"unknown rStar actions \[\]"),
    ({"mask_ratio": 0.0}, "mask_ratio must be between 0 and 1, got 0.0"),
    ({"mask_ratio": 1.0}, "mask_ratio must be between 0 and 1, got 1.0"),
])
def test_rstar_refuses_impossible_settings_in_words(knobs, message):
    with pytest.raises(InputError, match=message):
        make_config("rstar", None, **knobs)


def test_rstar_keeps_the_question_part_of_a_step_and_picks_the_tasks_moves():
    from reasoning_core.search.rstar import ACTION_FORMATS, action_format, question_part

    arith = ACTION_FORMATS["arith"]
    assert question_part("42 * 3 = 126", arith) == "42 * 3 ="
    assert question_part("no equation", arith) is None and question_part(" = 5", arith) is None
    assert question_part("x = 3", arith) == "x ="
    s = Search(problem(0), FakeArithGenerator(), None, Budget(), make_config("rstar"))
    assert action_format(s) is arith
    assert [a for a in ("step", "complete", "subquestion", "reanswer", "rephrase") if arith.supports(a)] == \
        ["step", "complete", "reanswer"]
    math = Search(Problem("What is 2 + 2?", get_task("math")), FakeArithGenerator(), None, Budget(),
                  make_config("rstar"))
    assert action_format(math) is ACTION_FORMATS["math"] and ACTION_FORMATS["math"].supports("rephrase")
    other = Search(Problem("abc", get_task("letters")), FakeArithGenerator(), None, Budget(), make_config("rstar"))
    assert action_format(other) is ACTION_FORMATS["math"]  # a task without its own format: the free-form one


def test_rstar_rephrases_the_problem_once_at_the_root_with_the_tasks_template():
    from reasoning_core.search.rstar import ACTION_FORMATS

    text, prefixes = "What is 2 + 2?", []

    def fn(prefix, k, seed):
        prefixes.append(prefix)
        return "Restated: what is two plus two? Answer: 4" if prefix.startswith("Rephrase") else "So \\boxed{4}"

    result = solve("rstar", Problem(text, get_task("math"), "4"), ScriptedGenerator(fn), constant(0.5), Budget(),
                   make_config("rstar", None, iterations=3, actions=("rephrase", "reanswer")))
    tree = result.tree
    assert prefixes[0] == ACTION_FORMATS["math"].rephrase_template.format(problem=text)
    assert [n.parent for n in tree.nodes.values() if n.kind == "rephrase"] == [0]
    assert not [n for n in tree.nodes.values() if n.kind == "reanswer"]  # a rephrasing has no answer to redo
    # iteration 1 backs up the rephrasing's rollout value; 2 and 3 expand it to nothing and back up 0
    assert tree.root.visits == 3 and tree.root.value == pytest.approx(0.5 / 3)
    assert result.answer == "4"


def test_rstar_complete_writes_the_rest_of_the_chain_up_to_the_depth_cap_in_the_last_free_node():
    from reasoning_core.search.rstar import complete

    gen = ScriptedGenerator(lambda prefix, k, seed: f"step {prefix.count(chr(10))}")  # never an answer
    s = Search(problem(0), gen, None, Budget(max_nodes=2), make_config("rstar", None, max_steps=4))
    first = s.add_node(0, "step 0")  # depth 1; one node of room left
    (done,) = complete(s, [s.tree[first.node_id]])
    node = s.tree[done.node_id]
    assert (node.kind, node.terminal, node.answer, len(node.text.split("\n"))) == ("complete", True, None, 3)


def test_rstar_counts_an_unscored_trajectory_as_half_in_the_final_vote():
    s = Search(problem(1), FakeArithGenerator(1.0), ORACLE, Budget(), make_config("rstar", None, iterations=1))
    scored = s.add_node(0, "The answer is 1", terminal=True, answer="1")
    s.tree.set_score(scored.node_id, 0.9, 0.9)
    s.add_node(0, "The answer is 2", terminal=True, answer="2")  # handed over unscored
    explore = STRATEGIES["rstar"].explore(s)
    with pytest.raises(StopIteration) as stop:
        while True:
            next(explore)
    assert stop.value.value == scored.node_id  # 1/2 x 0.9 beats 1/2 x 0.5 (neither is consistent)


def test_the_discriminator_sees_the_first_mask_ratio_of_each_trajectory():
    from reasoning_core.search.rstar import discriminate

    judge = Recording(1.0)
    s = Search(problem(1), FakeArithGenerator(1.0), None, Budget(),
               make_config("rstar", None, mask_ratio=0.5, discriminator=judge))
    leaves = list(s.extend_chains([0]))
    leaf = s.tree[max(s.tree.nodes)]
    path = s.tree.path(leaf.id)
    assert leaves and len(path) >= 4
    wrong = s.add_node(path[-2].id, "The answer is 12345", terminal=True, answer="12345")
    verdicts = discriminate(s, [leaf, s.tree[wrong.node_id]])
    keep = max(1, min(len(path) - 1, round(len(path) * 0.5)))
    assert judge.prefixes[0] == s.prefix(path[keep - 1].id)  # the first half of the steps, then it finishes
    assert verdicts == {leaf.id: True, wrong.node_id: False}  # a right judge disagrees with the wrong answer


def test_the_discriminator_always_has_the_last_step_left_to_write():
    from reasoning_core.search.rstar import discriminate

    judge = Recording(1.0)
    s = Search(problem(1), FakeArithGenerator(1.0), None, Budget(),
               make_config("rstar", None, mask_ratio=0.95, discriminator=judge))
    first = s.add_node(0, "step one")
    last = s.add_node(first.node_id, "The answer is 1", terminal=True, answer="1")
    discriminate(s, [s.tree[last.node_id]])
    assert judge.prefixes[0] == s.prefix(first.node_id)  # 95% of two steps still leaves the last one


def test_rstar_answers_with_the_best_vote_times_value_among_consistent_trajectories():
    from reasoning_core.search.rstar import discriminate

    result = run("rstar", iterations=8)
    tree = result.tree
    leaves = [n for n in tree.terminals() if n.answer is not None]
    s = Search(problem(1), FakeArithGenerator(0.75), FakeArithPRM(), Budget(), make_config("rstar", None,
                                                                                            iterations=8))
    s.tree = tree
    consistent = discriminate(s, leaves)
    votes = {a: sum(n.answer == a for n in leaves) for a in {n.answer for n in leaves}}
    pool = [n for n in leaves if consistent[n.id]] or leaves
    best = max(pool, key=lambda n: (votes[n.answer] / len(leaves) * (n.value if n.value is not None else 0.5),
                                    n.logprob, -n.id))
    assert result.leaf_id == best.id
    assert result.info["trajectories"] == len(leaves) and result.info["consistent"] == sum(consistent.values())
    kinds = {}
    for n in tree.nodes.values():
        if n.id:
            kinds[n.kind] = kinds.get(n.kind, 0) + 1
    assert result.info["kinds"] == kinds


def test_rstar_complete_and_reanswer_moves_build_the_nodes_they_say():
    result = run("rstar", iterations=6)
    tree = result.tree
    complete = [n for n in tree.nodes.values() if n.kind == "complete"]
    assert complete and all(n.terminal for n in complete)
    for n in complete:
        last = n.text.split("\n")[-1]
        assert n.answer == TASK.extract_answer(last)
    reanswers = [n for n in tree.nodes.values() if n.kind == "reanswer"]
    assert reanswers
    from reasoning_core.search.rstar import ACTION_FORMATS, question_part

    for n in reanswers:  # a re-answer keeps the question part of a sibling step and writes its result again
        siblings = [c for c in tree.children(n.parent) if c.id < n.id and c.kind != "reanswer"]
        questions = {question_part(c.text, ACTION_FORMATS["arith"]) for c in siblings} - {None}
        assert any(n.text.startswith(q) for q in questions), (n.text, questions)


@pytest.mark.parametrize("knobs", [{"hard_below": 0.0}, {"hard_below": 0.5, "easy_above": 0.5}, {"easy_above": 1.0}])
def test_compute_optimal_thresholds_may_touch_their_bounds_and_each_other(knobs):
    assert make_config("compute_optimal", None, **knobs)


def test_compute_optimal_falls_back_to_the_default_policy_for_a_missing_bin_and_rounds_the_probe():
    result = run("compute_optimal", reward=constant(0.123456), n=6, policy={"easy": "best_of_n"})
    assert (result.info["chosen"], result.info["probe_value"]) == ("beam_search", 0.1235)


def test_compute_optimal_answers_the_way_the_chosen_strategy_does():
    # the verifier loves wrong answers; self-consistency ignores it and votes, so the answer is the majority
    ref = EXAMPLES[1].reference
    reward = ScriptedReward(lambda p, steps: [0.01 if TASK.extract_answer(steps[-1]) == ref else 1.0] * len(steps))
    policy = dict.fromkeys(("easy", "medium", "hard"), "self_consistency")
    result = run("compute_optimal", reward=reward, n=12, policy=policy)
    answers = [n.answer for n in result.tree.terminals() if n.answer is not None]
    assert result.answer == max(set(answers), key=answers.count) == ref


def test_mcts_whose_most_visited_chain_states_no_answer_answers_with_the_best_answered_one():
    # the verifier loves a first step that ends the chain (depth cap 1) without an answer, so MCTS visits it
    # most; the answer must still come from a chain that states one
    gen = ScriptedGenerator(lambda prefix, k, seed: "2 + 2 = 4" if k == 0 else "The answer is 7")
    reward = ScriptedReward(lambda p, steps: [1.0 if steps[-1] == "2 + 2 = 4" else 0.5] * len(steps))
    result = run("mcts", generator=gen, reward=reward, iterations=6, expansion_width=2, max_steps=1)
    unanswered, answered = result.tree.children(0)
    assert unanswered.visits > answered.visits and unanswered.answer is None
    assert (result.answer, result.leaf_id) == ("7", answered.id)


# ----- identical sibling steps -----------------------------------------------------------------


def test_tree_search_merges_identical_sibling_steps_and_counts_them():
    gen = ScriptedGenerator(lambda prefix, k, seed: "2 + 3 = 5" if "2 + 3 = 5" not in prefix
                            else f"The answer is {5 + k % 2}")
    result = run("mcts", generator=gen, iterations=3, expansion_width=4)
    first = [result.tree[i] for i in result.tree.root.children]
    assert [n.text for n in first] == ["2 + 3 = 5"] and first[0].count == 4  # one thought, four proposals
    answers = sorted((result.tree[i].text, result.tree[i].count) for i in first[0].children)
    assert answers == [("The answer is 5", 2), ("The answer is 6", 2)]
    # every proposal still costs its tokens: generated tokens = tokens of each node x its count
    assert result.stats["generated_tokens"] == sum(n.num_tokens * n.count for n in result.tree.nodes.values())
    assert result.stats["nodes"] == len(result.tree) - 1 == 3


def test_best_of_n_keeps_its_n_independent_chains_even_when_they_repeat():
    gen = ScriptedGenerator(lambda prefix, k, seed: "2 + 3 = 5" if "2 + 3 = 5" not in prefix else "The answer is 5")
    result = run("best_of_n", generator=gen, n=4)
    assert len(result.tree.root.children) == 4 and all(n.count == 1 for n in result.tree.nodes.values())


def test_a_repeated_step_carries_the_prior_of_all_its_proposals():
    tree = SearchTree()
    a = tree[tree.add(0, "a", logprob=-1.0, num_tokens=1).node_id]
    b = tree[tree.add(0, "b", logprob=-1.0, num_tokens=1).node_id]
    assert priors([a, b]) == pytest.approx([0.5, 0.5])
    tree.repeat(a.id)
    tree.repeat(a.id)
    assert a.count == 3 and priors([a, b]) == pytest.approx([0.75, 0.25])


# ----- batched MCTS ------------------------------------------------------------------------------


def test_mcts_with_k_leaves_per_call_needs_about_iterations_over_k_calls():
    ten = arith.problems("test", 1, min_ops=10, max_ops=10, digits=2)[0]  # deep enough to keep expanding
    gen = FakeArithGenerator(0.5)

    def mcts(k: int):
        return solve("mcts", Problem(ten.problem, TASK, ten.reference), gen, FakeArithPRM(), Budget(),
                     make_config("mcts", None, iterations=64, expansion_width=3, leaves_per_call=k))

    one, eight = mcts(1), mcts(8)
    assert one.stats["generator_calls"] >= 64  # a call per iteration
    # 8 batched expansions, then the greedy finish of the most visited path (a call per step left)
    assert eight.stats["generator_calls"] <= 64 // 8 + 5 and eight.stats["reward_calls"] <= 64 // 8 + 2
    assert eight.answer is not None and eight.tree.root.visits == 64  # every selection was backed up


def test_rstar_with_k_leaves_per_call_needs_far_fewer_calls_and_still_solves_the_problems():
    gen = FakeArithGenerator(0.75)
    one, eight = ([run("rstar", i, gen, iterations=64, leaves_per_call=k) for i in range(10)] for k in (1, 8))

    def calls(runs, kind: str) -> int:
        return sum(r.stats[f"{kind}_calls"] for r in runs)

    # every action, rollout step and scoring serves up to 8 leaves at once (about 43 generator calls a problem
    # instead of 183, 8 reward calls instead of 36)
    assert calls(eight, "generator") * 4 < calls(one, "generator")
    assert calls(eight, "reward") * 4 < calls(one, "reward")
    assert all(r.tree.root.visits == 64 for r in eight)  # every selection was backed up
    greedy = sum(bool(run("greedy", i, gen).correct) for i in range(10))
    assert sum(bool(r.correct) for r in eight) >= 3 * greedy  # 9 of 10 against greedy's 2: it still searches


def test_virtual_loss_spreads_one_batch_over_different_leaves():
    from reasoning_core.search.puct import select_batch

    search = Search(problem(1), FakeArithGenerator(0.75), FakeArithPRM(), Budget(),
                    make_config("mcts", None, leaves_per_call=3))
    for text in ("17 + 25 = 42", "17 + 25 = 41", "17 + 25 = 43"):
        node = search.add_node(0, text, logprob=-1.0, num_tokens=4)
        search.tree.set_score(node.node_id, 0.5, 0.5)
    paths = select_batch(search, 3)
    assert len({p[-1].id for p in paths}) == 3  # without virtual loss all three would pick the same child
    assert [p[-1].id for p in select_batch(search, 1)] == [paths[0][-1].id]  # K=1 is plain PUCT
