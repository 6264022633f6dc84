"""ui/ without a server: the tree figure (layout, colours, sizes, fading, chosen path), the throttle,
input checking, the inspector's stepwise labels and saved-search round trips."""
from __future__ import annotations

import itertools

import gradio as gr
import pytest

from reasoning_core.fakes import FakeArithGenerator, FakeArithPRM
from reasoning_core.run import solve
from reasoning_core.search import Problem, make_config
from reasoning_core.tasks import arith, get_task, held_out_examples
from reasoning_core.tree import SearchTree
from ui import inspector, models, replay
from ui.decisions import decision_figure
from ui.inputs import build_budget, build_config, build_problem
from ui.limits import LIMITS
from ui.tree_figure import MAX_SIZE, MIN_SIZE, UNSCORED, Throttle, figure_nodes, layout, tree_figure

EX = held_out_examples("arith", 3)[1]


def run(strategy: str, **knobs):
    problem = Problem(EX.problem, get_task("arith"), EX.reference)
    return solve(strategy, problem, FakeArithGenerator(0.7), FakeArithPRM(), None, make_config(strategy, None, **knobs))


@pytest.fixture(scope="module")
def beam():
    return run("beam_search", n=8, width=2)


@pytest.fixture(scope="module")
def mcts():
    return run("mcts", iterations=24)


def test_the_decision_timeline_shows_what_each_depth_kept_and_pruned(beam):
    fig = decision_figure(beam.tree)
    traces = {t.name.split(" (")[0]: t for t in fig.data}
    chosen, kept, pruned = traces["on the chosen path"], traces["kept"], traces["pruned"]
    depth = len(beam.tree.path(beam.leaf_id))
    # a beam of 2 out of 8 candidates: per depth 1 chosen, 1 kept, 6 pruned
    assert len(chosen.x) == depth and len(kept.x) == depth and len(pruned.x) == 6 * depth
    assert chosen.name == f"on the chosen path ({depth})" and pruned.name == f"pruned ({6 * depth})"
    assert sorted(chosen.customdata) == sorted(n.id for n in beam.tree.path(beam.leaf_id))
    for trace in (chosen, kept, pruned):
        for x, y, node_id in zip(trace.x, trace.y, trace.customdata):
            node = beam.tree[node_id]
            assert y == node.value and abs(x - node.depth) < 0.5  # drawn over its own depth, at its value
    # a pruned candidate ranked below every kept one of its depth, or repeated a kept step (beam search
    # keeps the best distinct steps): the figure shows both reasons
    for d in range(1, depth + 1):
        survivors = [beam.tree[i] for t in (chosen, kept) for x, i in zip(t.x, t.customdata) if round(x) == d]
        for x, i in zip(pruned.x, pruned.customdata):
            node = beam.tree[i]
            if round(x) == d:
                assert node.value <= min(n.value for n in survivors) or any(
                    (n.parent, n.text) == (node.parent, node.text) for n in survivors)
    assert len(decision_figure(SearchTree()).data) == 3  # an empty search draws empty traces, no error


def test_the_path_scores_chart_shows_each_step_of_the_chosen_path(beam):
    fig = inspector.path_scores_figure(beam.tree, beam.leaf_id)
    path = beam.tree.path(beam.leaf_id)
    bars, line = fig.data
    assert list(bars.y) == [n.score for n in path] and list(bars.customdata) == [n.id for n in path]
    assert list(line.y) == [n.value for n in path] and list(bars.hovertext) == [n.text for n in path]
    assert fig.layout.title.text == f"step scores to node {beam.leaf_id}"
    assert len(inspector.path_scores_figure(None, None).data[0].y) == 0


def test_race_token_meters_fill_against_the_cap_or_the_hungriest_strategy():
    from ui.race import METER_CELLS, token_meters

    lines = token_meters({"greedy": 500, "mcts": 2000}, 2000, done={"greedy"}).split("  \n")
    assert lines[0].count("█") == METER_CELLS // 4 and lines[0].endswith("**greedy** 500 / 2,000 tokens ✓")
    assert lines[1].count("█") == METER_CELLS and lines[1].endswith("**mcts** 2,000 / 2,000 tokens")
    uncapped = token_meters({"a": 30, "b": 120}, None).split("  \n")
    assert uncapped[1].count("█") == METER_CELLS and uncapped[0].count("█") == METER_CELLS // 4
    assert uncapped[0].endswith("**a** 30 tokens")


def test_every_node_is_drawn_once_with_its_score_colour(beam):
    drawn = figure_nodes(tree_figure(beam.tree))
    assert set(drawn) == set(beam.tree.nodes)
    for node_id, d in drawn.items():
        node = beam.tree[node_id]
        if node.score is None:
            assert d["trace"] == "unscored nodes" and d["color"] == UNSCORED
        else:
            assert d["trace"] == "scored nodes" and d["color"] == pytest.approx(node.score)


def test_colour_bar_spans_zero_to_one(beam):
    scored = next(t for t in tree_figure(beam.tree).data if t.name == "scored nodes")
    assert (scored.marker.cmin, scored.marker.cmax) == (0.0, 1.0) and scored.marker.colorbar.title.text


def test_pruned_nodes_fade_and_the_chosen_path_stands_out(beam):
    drawn = figure_nodes(tree_figure(beam.tree))
    statuses = {n.status for n in beam.tree.nodes.values()}
    assert {"pruned", "chosen"} <= statuses
    for node_id, d in drawn.items():
        status = beam.tree[node_id].status
        assert d["opacity"] == (0.3 if status == "pruned" else 1.0)
        assert (d["outline"] > 2) == (status == "chosen")
    chosen_edges = next(t for t in tree_figure(beam.tree).data if t.name == "chosen path")
    assert chosen_edges.line.width >= 3 and len([x for x in chosen_edges.x if x is not None]) == 2 * len(
        [n for n in beam.tree.nodes.values() if n.status == "chosen"])


def test_sizes_follow_mcts_visits_and_are_minimal_without_them(beam, mcts):
    assert {d["size"] for d in figure_nodes(tree_figure(beam.tree)).values()} == {MIN_SIZE}
    drawn = figure_nodes(tree_figure(mcts.tree))
    top = max(n.visits for n in mcts.tree.nodes.values())
    assert drawn[0]["size"] == pytest.approx(MAX_SIZE) and mcts.tree.root.visits == top == 24
    for node_id, d in drawn.items():
        for other_id, e in drawn.items():
            if mcts.tree[node_id].visits > mcts.tree[other_id].visits:
                assert d["size"] > e["size"]


def test_layout_is_a_tidy_top_down_tree(mcts):
    pos = layout(mcts.tree)
    for node in mcts.tree.nodes.values():
        assert pos[node.id][1] == -node.depth
        if node.children:
            xs = [pos[c][0] for c in node.children]
            assert min(xs) <= pos[node.id][0] <= max(xs)
    by_depth: dict[int, list[float]] = {}
    for node in mcts.tree.nodes.values():
        by_depth.setdefault(node.depth, []).append(pos[node.id][0])
    for xs in by_depth.values():
        assert len(xs) == len(set(xs)), "two nodes on one level share a place"


def test_hover_shows_step_numbers_and_kind(mcts):
    fig = tree_figure(mcts.tree)
    node = next(n for n in mcts.tree.nodes.values() if n.visits and n.parent is not None)
    trace = next(t for t in fig.data if t.customdata is not None and node.id in t.customdata)
    text = trace.hovertext[list(trace.customdata).index(node.id)]
    for piece in (node.text, f"visits {node.visits}", f"{node.score:.3f}", f"log-prob {node.logprob:.2f}", node.kind):
        assert piece in text
    assert any(t.name == "step" and t.showlegend for t in fig.data)  # node kinds have a legend entry


def test_every_tree_figure_is_valid_plotly(beam, mcts):
    # tree_figure skips plotly's validation for speed: a misspelt key must still fail here, and so must a
    # value plotly.py would have rewritten for plotly.js (a colour scale by a name only plotly.py knows)
    import plotly.graph_objects as go

    for tree in (beam.tree, mcts.tree, SearchTree()):
        for folded in (False, True):
            drawn = tree_figure(tree, "t", folded=folded).to_dict()
            assert go.Figure(drawn).to_dict() == drawn


def test_empty_and_partial_trees_draw():
    assert set(figure_nodes(tree_figure(SearchTree()))) == {0}
    tree = SearchTree()
    tree.add(0, "1 + 2 = 3")
    assert figure_nodes(tree_figure(tree))[1]["color"] == UNSCORED


def test_throttle_lets_the_first_frame_through_then_waits():
    throttle = Throttle(10.0)
    assert throttle.ready() and not throttle.ready()
    assert Throttle(0.0).ready() and Throttle(0.0).ready()


def test_inputs_become_core_objects_or_readable_errors():
    problem = build_problem("17 + 25 * 3 - 40")
    assert problem.task.name == "arith" and problem.reference == "86"
    assert build_problem("How many legs do 3 cats have?", "12").task.name == "word"
    letters = build_problem("How many r's are in strawberry?")
    assert letters.task.name == "letters" and letters.reference == "3"  # worked out, not typed
    assert build_problem("What is $\\sqrt{16}$?", "4").task.name == "math"
    assert build_config("mcts", {"iterations": 5, "temperature": None}).iterations == 5
    assert build_config("beam_search", {"width": 2}, size=4).n == 4
    budget = build_budget({"max_tokens": 0})
    assert budget.max_wall_s == LIMITS.knobs["max_wall_s"] and budget.max_tokens == LIMITS.knobs["max_tokens"]
    assert build_budget({"max_tokens": 100, "max_generator_calls": 3, "max_wall_s": 2.5}).max_wall_s == 2.5
    for bad in (lambda: build_problem(""), lambda: build_config("mcts", {"iterations": 10_000}),
                lambda: build_config("beam_search", {"n": 2, "width": 4}), lambda: build_config("nope", {}),
                lambda: build_budget({"max_tokens": "many"}), lambda: build_budget({"max_wall_s": 10_000}),
                lambda: build_config("mcts", {"seed": 1.5})):
        with pytest.raises(gr.Error):
            bad()


def test_marked_path_is_trl_stepwise_and_training_reads_it(beam, tmp_path):
    leaf = beam.leaf_id
    table = inspector.path_table(beam.tree, leaf)
    table.loc[0, "good"] = False
    row = inspector.stepwise_row(beam, leaf, table)
    assert row["prompt"] == EX.problem and row["completions"] == beam.tree.steps(leaf)
    assert row["labels"][0] is False and len(row["labels"]) == len(row["completions"])
    path = inspector.write_jsonl([row])
    data = pytest.importorskip("training.data")
    loaded = data.load_stepwise(path)
    assert loaded[0]["completions"] == row["completions"] and loaded[0]["labels"] == row["labels"]
    with pytest.raises(gr.Error):
        inspector.stepwise_row(beam, leaf, table.iloc[:1])


def test_saved_search_round_trips(mcts):
    path = replay.save_result(mcts)
    again = replay.load_result(path)
    assert again.tree.to_dict() == mcts.tree.to_dict() and again.answer == mcts.answer
    played = list(replay.play(again, seconds=0))
    assert [k for k, _, _ in played] == list(range(len(played))) and len(played[-1][1]) == len(mcts.tree)
    assert played[0][2].startswith(f"**frame 1 of {len(played)}** · proposed ")
    assert len(list(replay.play(again, start=len(played) - 1, seconds=0))) == 1  # Play from the last frame
    with pytest.raises(gr.Error):
        replay.result_from_dict({"problem": "1 + 1", "events": [{"type": "bogus"}]})


def test_fake_specs_and_readable_model_errors():
    assert type(models.load_generator("fake")).__name__ == "FakeArithGenerator"
    slow = models.load_reward("fake@0.01")
    assert slow.kind == "prm" and slow.score("1 + 1", [["1 + 1 = 2"]])[0][0] > 0.5
    with pytest.raises(gr.Error, match="between 0 and 5"):
        models.load(models.ModelChoice("fake@99", "fake"))
    assert "fake" in models.describe(models.ModelChoice("fake", "fake"))


def test_a_shared_host_loads_only_the_apps_own_models_and_says_its_limits(monkeypatch):
    import dataclasses

    from ui import limits

    models.check_shared_host("/home/me/model", "generator", models.GENERATOR_CHOICES)  # your machine: anything
    assert "any spec" in LIMITS.describe()
    monkeypatch.setattr(models, "LIMITS", dataclasses.replace(LIMITS, public=True))
    for spec in ("/home/me/model", "Qwen/Qwen2.5-0.5B-Instruct", "vllm:meta-llama/Llama-3.1-8B"):
        with pytest.raises(gr.Error, match=f"This shared app runs only its own generators: default, fake .*{spec}"):
            models.check_shared_host(spec, "generator", models.GENERATOR_CHOICES)
    for spec in ("default", "fake", "fake@0.5", "prm-default", "oracle"):
        models.check_shared_host(spec, "reward model", models.PRM_CHOICES)
    text = models.LIMITS.describe()
    assert f"up to **{LIMITS.problem_chars:,}** characters" in text and "no local paths" in text
    assert f"**{LIMITS.runs_per_session}** searches at once per browser session" in text
    for env, public in (({"SPACE_ID": "me/stepwise"}, True), ({"STEPWISE_PUBLIC": "1"}, True), ({}, False)):
        monkeypatch.delenv("SPACE_ID", raising=False)
        monkeypatch.delenv("STEPWISE_PUBLIC", raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        assert limits.Limits().public is public


def test_missing_default_assets_fall_back_to_fake(monkeypatch):
    from reasoning_core.protocols import ModelError

    def missing(spec, trust_remote_code=False):
        if spec == "fake":
            return object()
        raise ModelError("default checkpoint not found at assets/generator")

    monkeypatch.setattr(models, "load_generator", missing)
    monkeypatch.setattr(models, "load_reward", missing)
    choice = models.startup_choice(models.ModelChoice("default", "default"))
    assert (choice.generator, choice.prm) == ("fake", "fake") and "not found" in choice.notice
    with pytest.raises(ModelError):
        models.startup_choice(models.ModelChoice("/no/such/model", "fake"))


def test_a_model_failing_mid_search_reaches_the_user_as_one_line(monkeypatch):
    from reasoning_core.fakes import nan_reward
    from ui import explorer

    monkeypatch.setattr(models, "load", lambda choice: (FakeArithGenerator(), nan_reward()))
    run = explorer.run_search(problem_text=EX.problem, strategy="beam_search", n=4, width=2)
    with pytest.raises(gr.Error, match="invalid step score") as info:
        list(run)
    assert "Traceback" not in str(info.value)


def test_unexpected_errors_become_readable(caplog):
    from ui.errors import readable_errors

    with pytest.raises(gr.Error, match=r"Something went wrong \(KeyError: 'x'\)"), readable_errors():
        {}["x"]
    assert "unexpected error" in caplog.text


def test_every_knob_has_an_input_and_the_explorer_shows_a_strategy_its_own():
    from reasoning_core.budget import Budget
    from reasoning_core.knobs import knobs
    from reasoning_core.search import CONFIGS, SearchConfig
    from ui import explorer, race
    from ui.inputs import knob_updates

    with gr.Blocks():
        solve_inputs = explorer.build(gr.State(None))
        race_inputs = race.build(gr.State(None))
    for cls in [*CONFIGS.values(), Budget]:
        assert {k.name for k in knobs(cls)} <= set(solve_inputs), cls.__name__
    assert {k.name for k in [*knobs(SearchConfig), *knobs(Budget)]} <= set(race_inputs)
    shown = {name for name, update in knob_updates("mcts").items() if update.get("visible", True)}
    assert {k.name for k in knobs(CONFIGS["mcts"])} == shown
    assert knob_updates("greedy")["temperature"]["placeholder"] == "0 (default)"


def test_answer_labels_never_overlap_and_the_chosen_answer_is_always_shown():
    from ui.tree_figure import LABEL_CHAR_PX, LABEL_GAP_PX, PLOT_PX, answer_labels

    tree = SearchTree()
    parent = tree.add(0, "2 + 3 = 5").node_id
    leaves = [tree.add(parent, "The answer is 155", terminal=True, answer="155").node_id for _ in range(60)]
    tree.select(leaves[37])
    pos = layout(tree)
    labels = answer_labels(tree, pos)
    assert leaves[37] in labels and 1 < len(labels) < 60  # the chosen one, and only as many as fit
    px = PLOT_PX / (max(x for x, _ in pos.values()) - min(x for x, _ in pos.values()) + 1)
    shown = sorted(pos[i][0] * px for i in labels)
    assert all(b - a >= 3 * LABEL_CHAR_PX + LABEL_GAP_PX for a, b in itertools.pairwise(shown))  # not "155155155"
    text = {i: t for trace in tree_figure(tree).data if trace.customdata is not None and trace.text is not None
            for i, t in zip(trace.customdata, trace.text)}
    assert {i for i, t in text.items() if t} == set(labels)
    few = SearchTree()
    a = few.add(0, "The answer is 5", terminal=True, answer="5").node_id
    b = few.add(0, "The answer is 6", terminal=True, answer="6").node_id
    assert answer_labels(few, layout(few)) == {a: "5", b: "6"}  # room for both: both shown


def test_a_big_mcts_tree_is_drawn_folded_keeping_its_chosen_path_and_counting_what_it_hides():
    from ui.tree_figure import COMPACT_ABOVE, RARE_VISITS, compact

    ex = arith.problems("test", 1, min_ops=6, max_ops=6, digits=2)[0]
    big = solve("mcts", Problem(ex.problem, get_task("arith"), ex.reference), FakeArithGenerator(0.3), FakeArithPRM(),
                None, make_config("mcts", iterations=200, expansion_width=6, temperature=1.5))
    assert len(big.tree) > COMPACT_ABOVE
    small = compact(big.tree)
    real = [n for n in small.nodes.values() if n.kind != "folded"]
    folds = [n for n in small.nodes.values() if n.kind == "folded"]
    assert len(real) < len(big.tree) / 3 and folds
    hidden = sum(int(n.text.split()[0]) for n in folds)
    assert len(real) + hidden == len(big.tree)  # every node is drawn or counted in a fold
    chosen = {n.id for n in big.tree.nodes.values() if n.status == "chosen"}
    assert chosen <= {n.id for n in real}
    for n in real[1:]:
        assert n.status == "chosen" or (n.status != "pruned" and n.visits >= RARE_VISITS * big.tree.root.visits)
    assert set(figure_nodes(tree_figure(big.tree))) == set(small.nodes)  # folded by default at this size
    assert set(figure_nodes(tree_figure(big.tree, folded=False))) == set(big.tree.nodes)


def test_step_text_shows_on_the_plot_where_its_row_has_room(beam):
    from ui.tree_figure import STEP_CHARS, step_labels

    few = SearchTree()
    a = few.add(0, "17 + 25 = 42").node_id
    b = few.add(a, "42 * 3 = 126 and then a long remark that cannot fit").node_id
    labels = step_labels(few, layout(few))
    assert labels[a] == "17 + 25 = 42" and len(labels[b]) == STEP_CHARS and labels[b].endswith("…")
    drawn = next(t for t in tree_figure(few).data if t.name == "step text")
    assert sorted(drawn.text) == sorted(labels.values())
    crowded = step_labels(beam.tree, layout(beam.tree))  # 8 candidates a row: some texts, never all
    chosen = [n.id for n in beam.tree.path(beam.leaf_id)]
    assert set(chosen) <= set(crowded) and len(crowded) < len(beam.tree) - 1


def test_a_deep_tree_gets_a_taller_canvas_so_its_rows_stay_apart(beam):
    from ui.tree_figure import MAX_HEIGHT, ROW_PX

    assert tree_figure(beam.tree).layout.height == 520  # four steps fit the default
    deep = SearchTree()
    node = 0
    for k in range(14):
        node = deep.add(node, f"step {k}").node_id
    assert tree_figure(deep).layout.height == 120 + ROW_PX * 14 > 520
    for k in range(20):
        node = deep.add(node, f"more {k}").node_id
    assert tree_figure(deep).layout.height == MAX_HEIGHT
