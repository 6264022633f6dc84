"""The app through its public API (gradio_client), launched by `app.py` with the fake models: answers,
8 concurrent clients, readable errors, Stop, race, eval, replay."""
from __future__ import annotations

import json
import time
import urllib.request

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from reasoning_core.fakes import FakeArithGenerator, FakeArithPRM
from reasoning_core.film import film
from reasoning_core.run import solve
from reasoning_core.search import Problem, make_config
from reasoning_core.tasks import arith, get_task, held_out_examples

from app_server import run_together, running_app

EXAMPLES = held_out_examples("arith", 8)
KNOBS = {"n": 8, "width": 2, "iterations": 16, "expansion_width": 3, "c_puct": 1.0}


@pytest.fixture(scope="module")
def app_url():
    with running_app("api") as (url, startup_s):
        print(f"\napp ready in {startup_s:.2f} s")
        yield url


def solve_args(**over) -> dict:
    """Keyword arguments of /solve (API parameters are named after the handler's); the rest keep
    the app's defaults."""
    return {"problem_text": EXAMPLES[0].problem, **over}


def plot_node_ids(plot: dict) -> set[int]:
    fig = json.loads(plot["plot"])
    return {int(i) for trace in fig["data"] if trace.get("name", "").endswith("nodes")
            for i in trace.get("customdata", [])}


def test_solve_answers_and_draws_the_tree(app_url):
    client = Client(app_url, verbose=False)
    plot, summary_md, summary, table, *_ = client.predict(**solve_args(), api_name="/solve")
    assert summary["answer"] == EXAMPLES[0].reference and summary["correct"] is True and summary["status"] == "done"
    assert "correct" in summary_md and summary["generated_tokens"] > 0
    ids = plot_node_ids(plot)
    assert len(ids) == summary["nodes"] + 1 == len(table["data"]) + 1


def test_eight_concurrent_clients_get_their_own_results(app_url):
    jobs = [(i, ["beam_search", "mcts", "best_of_n", "dvts"][i % 4], i) for i in range(8)]
    expected = {}
    for i, strategy, seed in jobs:  # the same searches straight through the core
        p = EXAMPLES[i]
        r = solve(strategy, Problem(p.problem, get_task("arith"), p.reference), FakeArithGenerator(), FakeArithPRM(),
                  None, make_config(strategy, None, seed=seed, **KNOBS))
        expected[i] = (r.answer, r.stats["generated_tokens"], r.stats["nodes"])
    got = {}

    def one(i, strategy, seed):
        client = Client(app_url, verbose=False)
        out = client.predict(**solve_args(problem_text=EXAMPLES[i].problem, strategy=strategy, seed=seed),
                             api_name="/solve")
        got[i] = (out[2]["answer"], out[2]["generated_tokens"], out[2]["nodes"], out[2]["reference"])

    errors = run_together(one, jobs)
    assert not errors
    for i, _, _ in jobs:
        assert got[i][:3] == expected[i], f"client {i} got another search's result"
        assert got[i][3] == EXAMPLES[i].reference


@pytest.mark.parametrize("over, message", [
    ({"problem_text": "   "}, "problem is empty"),
    ({"n": 500}, "N must be between 1 and 64"),
    ({"n": 4, "width": 8}, "beam width (8) cannot exceed"),
    ({"temperature": "hot"}, "temperature must be a number"),
    ({"problem_text": "1 + 2 " * 400}, "the limit here is"),
    ({"max_tokens": -5}, "max tokens must be between"),
    ({"max_step_tokens": 300}, "max step tokens must be between 1 and 256"),  # an input only the knob declares
])
def test_bad_input_gives_a_readable_error(app_url, over, message):
    client = Client(app_url, verbose=False)
    with pytest.raises(AppError) as info:
        client.predict(**solve_args(**over), api_name="/solve")
    assert message in str(info.value) and "Traceback" not in str(info.value)


def test_one_session_runs_two_searches_at_most_and_stop_frees_them_within_a_second(app_url):
    client = Client(app_url, verbose=False)
    client.predict(gen_spec="fake@0.2", prm_spec="fake@0.2", api_name="/load_models")  # this session only: slow models
    long = arith.problems("test", 1, min_ops=6, max_ops=6, digits=2)[0].problem  # ~25 slowed calls: ~10 s
    jobs = [client.submit(**solve_args(problem_text=long, strategy="mcts", iterations=200, seed=s), api_name="/solve")
            for s in (0, 1)]
    time.sleep(1.5)
    assert not any(job.done() for job in jobs)
    with pytest.raises(AppError, match="already have 2 searches running"):
        client.predict(**solve_args(), api_name="/solve")
    t0 = time.perf_counter()
    client.predict(api_name="/stop")
    outs = [job.result(timeout=10) for job in jobs]
    stopped_in = time.perf_counter() - t0
    print(f"\nStop -> both searches finished in {stopped_in:.2f} s")
    assert stopped_in < 1.0
    assert all(out[2]["status"] == "cancelled" for out in outs)
    fast = Client(app_url, verbose=False).predict(**solve_args(), api_name="/solve")  # others keep the fast models
    assert fast[2]["wall_s"] < 1.0


def test_race_compares_strategies_on_one_budget(app_url):
    client = Client(app_url, verbose=False)
    out = client.predict(problem_text=EXAMPLES[1].problem, strategies=["greedy", "beam_search", "mcts"], size=8,
                         max_tokens=2000, api_name="/race")
    table = out[-1]
    assert [row[0] for row in table["data"]] == ["greedy", "beam_search", "mcts"]
    assert all(row[4] <= 2000 for row in table["data"])  # nobody passed the shared token cap
    status = out[-2]  # each strategy's token meter against that cap, with its final count
    for row in table["data"]:
        assert f"**{row[0]}** {row[4]:,} / 2,000 tokens ✓" in status
    with pytest.raises(AppError, match="Pick 2 to 4 strategies"):
        client.predict(problem_text=EXAMPLES[1].problem, strategies=["mcts"], api_name="/race")


def test_eval_runs_and_writes_results(app_url):
    client = Client(app_url, verbose=False)
    _, summary, csv_path, status = client.predict(strategies=["greedy", "best_of_n"], sizes_text="1,4", limit=3,
                                                  api_name="/eval")
    assert len(summary["data"]) == 4 and "3 held-out" in status
    replot = client.predict(handle_file(csv_path), api_name="/plot_csv")
    assert len(replot[1]["data"]) == 4
    with pytest.raises(AppError, match="Sizes are comma-separated"):
        client.predict(strategies=["greedy"], sizes_text="1,lots", api_name="/eval")


def test_a_saved_search_replays(app_url, tmp_path):
    p = EXAMPLES[2]
    result = solve("beam_search", Problem(p.problem, get_task("arith"), p.reference), FakeArithGenerator(),
                   FakeArithPRM())
    path = tmp_path / "search.json"
    path.write_text(json.dumps(result.to_dict()))
    plot, caption, frame, summary_md, _ = Client(app_url, verbose=False).predict(handle_file(str(path)),
                                                                                 api_name="/replay")
    assert len(plot_node_ids(plot)) == len(result.tree) and f"Answer: {result.answer}" in summary_md
    frames = film(result.events)  # the film played to its last frame: the finished search, in words
    n = len(frames)
    assert frame["value"] == frame["maximum"] == n
    assert caption == f"**frame {n} of {n}** · finished: answer {result.answer}"
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(AppError, match="not a saved stepwise search"):
        Client(app_url, verbose=False).predict(handle_file(str(bad)), api_name="/replay")


def test_a_shared_host_refuses_a_local_model_path_and_shows_its_limits():
    with running_app("public", env={"STEPWISE_PUBLIC": "1"}) as (url, _):
        client = Client(url, verbose=False)
        with pytest.raises(AppError, match="This shared app runs only its own generators"):
            client.predict(gen_spec="/etc", prm_spec="fake", trust_code=True, api_name="/load_models")
        status = client.predict(gen_spec="fake@0.1", prm_spec="fake", trust_code=True, api_name="/load_models")
        assert "fake@0.1" in str(status)
        with urllib.request.urlopen(url + "/config", timeout=10) as r:
            page = r.read().decode()
        assert "limits of this shared app" in page and "no local paths" in page
