"""The OpenAI-compatible server through the official `openai` client, live on a free port: answers equal to the
core's own searches, streaming, auth, 429 beyond the cap, a disconnect cancelling its search, 32 concurrent
clients, and one readable OpenAI-shaped error per bad request."""
from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
import uvicorn

from reasoning_core import backends, rewards
from reasoning_core.budget import Budget
from reasoning_core.fakes import FakeArithGenerator, FakeArithPRM, nan_reward
from reasoning_core.film import film
from reasoning_core.run import solve
from reasoning_core.search import STRATEGIES, Problem, make_config
from reasoning_core.serve import DEFAULT_CAPS, ApiError, ServeConfig, build_app, clamp, parse_model
from reasoning_core.tasks import get_task, held_out_examples

from app_server import REPO, free_port, run_together

KEY = "test-key"
EXAMPLES = held_out_examples("arith", 32)


@contextlib.contextmanager
def live(generator, reward, **settings) -> Iterator[tuple[str, object]]:
    """(base URL, the app's Server) of uvicorn running the app in a thread on a free port."""
    app = build_app(generator, reward, ServeConfig(**settings))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1", app.state.server
    finally:
        server.should_exit = True
        thread.join(10)


def client(url: str, key: str | None = KEY, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=key or "none", max_retries=0, **kw)


def ask(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def core(strategy: str, example, **settings):
    """The same search straight through the core, under the server's default caps."""
    problem = Problem(example.problem, get_task("arith"), example.reference)
    return solve(strategy, problem, FakeArithGenerator(), FakeArithPRM(), clamp({}, DEFAULT_CAPS),
                 make_config(strategy, None, **settings))


@pytest.fixture(scope="module")
def url():
    with live(FakeArithGenerator(), FakeArithPRM(), api_key=KEY, max_concurrency=32) as (base, _):
        yield base


class Gate:
    """A fake generator whose calls wait until the test opens the gate or the search is cancelled, so a test
    holds a search slot exactly as long as it likes."""

    tasks = ("arith",)

    def __init__(self) -> None:
        self.entered, self.open, self.saw_cancel = threading.Event(), threading.Event(), threading.Event()

    def propose(self, prefixes, n, *, cancel=None, **kw):
        self.entered.set()
        while not self.open.wait(0.01):
            if cancel is not None and cancel.is_set():
                self.saw_cancel.set()
                break
        return FakeArithGenerator().propose(prefixes, n, cancel=cancel, **kw)


def test_chat_answers_with_the_search(url):
    ex = EXAMPLES[0]
    r = client(url).chat.completions.create(model="beam_search?n=4&width=2&seed=3", messages=ask(ex.problem))
    want = core("beam_search", ex, n=4, width=2, seed=3)
    ext = r.model_extra["stepwise"]
    assert r.object == "chat.completion" and r.model == "beam_search?n=4&width=2&seed=3"
    assert r.choices[0].message.content == "\n".join(step["text"] for step in want.best_path())
    assert r.choices[0].finish_reason == "stop"
    assert ext["answer"] == want.answer and ext["correct"] == want.correct and ext["reference"] == ex.reference
    assert ext["best_path"] == want.best_path() and all(step["score"] is not None for step in ext["best_path"])
    assert ext["tree"] == want.tree.to_dict() and len(ext["tree"]["nodes"]) == ext["stats"]["nodes"] + 1
    assert ext["settings"]["n"] == 4 and ext["settings"]["seed"] == 3 and ext["budget"]["max_tokens"] == 50_000
    assert r.usage.completion_tokens == want.stats["generated_tokens"] == ext["stats"]["generated_tokens"]


def test_completions_answer_and_the_request_fields(url):
    ex = EXAMPLES[1]
    r = client(url).completions.create(model="mcts?iterations=8", prompt=ex.problem, seed=5, max_tokens=10_000)
    want = core("mcts", ex, iterations=8, seed=5)
    assert r.object == "text_completion"
    assert r.choices[0].text == "\n".join(step["text"] for step in want.best_path())
    ext = r.model_extra["stepwise"]
    assert ext["answer"] == want.answer and ext["settings"]["seed"] == 5 and ext["budget"]["max_tokens"] == 10_000


def test_budget_caps_clamp_the_request():
    caps = Budget(max_tokens=100, max_wall_s=5.0)
    assert clamp({"max_tokens": 10**6, "max_nodes": 7}, caps) == Budget(max_tokens=100, max_nodes=7, max_wall_s=5.0)
    assert parse_model("mcts?iterations=32&max_tokens=500&c_puct=0.5") == (
        "mcts", {"iterations": 32, "c_puct": 0.5}, {"max_tokens": 500})
    assert parse_model("best_of_n?weighted=true")[1] == {"weighted": True}


def test_a_request_past_the_token_cap_stops_with_length(url):
    r = client(url).chat.completions.create(model="best_of_n?n=16", messages=ask(EXAMPLES[2].problem), max_tokens=40)
    ext = r.model_extra["stepwise"]
    assert r.choices[0].finish_reason == "length" and ext["status"] == "budget"
    assert ext["stats"]["generated_tokens"] <= 40 == ext["budget"]["max_tokens"]


def test_stream_sends_frames_then_the_chosen_steps_then_done(url):
    ex = EXAMPLES[3]
    body = {"model": "beam_search?n=4", "messages": ask(ex.problem), "stream": True}
    with httpx.stream("POST", f"{url}/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    want = core("beam_search", ex, n=4)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    frames = [c["stepwise"] for c in chunks if "frame" in c.get("stepwise", {})]
    assert [f["frame"] for f in frames] == [f.text for f in film(want.events)][:-2]  # selection and finish
    assert [e for f in frames for e in f["events"]] == [e for e in want.to_dict()["events"]
                                                     if e["type"] not in ("node_selected", "search_finished")]
    steps = [c for c in chunks if "step" in c.get("stepwise", {})]
    assert [c["stepwise"]["step"]["id"] for c in steps] == [s["id"] for s in want.best_path()]
    assert "".join(c["choices"][0]["delta"]["content"] for c in steps) == "\n".join(s["text"] for s in want.best_path())
    last = chunks[-1]
    assert chunks.index(steps[-1]) == len(chunks) - 2 and last["choices"][0]["finish_reason"] == "stop"
    assert last["stepwise"]["answer"] == want.answer and last["usage"]["completion_tokens"] == \
        want.stats["generated_tokens"]


def test_stream_through_the_openai_client(url):
    ex = EXAMPLES[4]
    text, finish = "", None
    for chunk in client(url).completions.create(model="greedy", prompt=ex.problem, stream=True):
        text += chunk.choices[0].text
        finish = chunk.choices[0].finish_reason or finish
    want = core("greedy", ex)
    assert text == "\n".join(s["text"] for s in want.best_path()) and finish == "stop"


def test_models_lists_the_strategies_with_their_settings(url):
    c = client(url)
    assert [m.id for m in c.models.list()] == list(STRATEGIES)
    mcts = c.models.retrieve("mcts").model_extra["stepwise"]
    assert mcts["size"] == "iterations" and "iterations" in [k["name"] for k in mcts["settings"]]
    assert {k["name"]: k["high"] for k in mcts["budget"]}["max_tokens"] == 50_000


def test_auth_refuses_without_the_key(url):
    for headers in ({}, {"Authorization": KEY}, {"Authorization": "Basic " + KEY}):  # none, no scheme, another
        for method, path in (("GET", "/models"), ("POST", "/chat/completions")):
            r = httpx.request(method, url + path, headers=headers, json={"model": "greedy", "messages": ask("1 + 2")})
            assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    c = client(url, key="wrong")
    for call in (lambda: c.models.list(), lambda: c.chat.completions.create(model="greedy", messages=ask("1 + 2"))):
        with pytest.raises(openai.AuthenticationError) as err:
            call()
        assert set(err.value.body) == {"message", "type", "param", "code"}
        assert err.value.body["message"] == "the API key is not valid: send 'Authorization: Bearer KEY'"
    assert httpx.get(url.removesuffix("/v1") + "/health").json()["status"] == "ok"


def test_429_when_every_slot_is_busy():
    gate = Gate()
    with live(gate, FakeArithPRM(), max_concurrency=1) as (url, server):
        held = {}
        first = threading.Thread(target=lambda: held.update(r=client(url).chat.completions.create(
            model="greedy", messages=ask(EXAMPLES[0].problem))))
        first.start()
        assert gate.entered.wait(10)
        with pytest.raises(openai.RateLimitError) as err:
            client(url).chat.completions.create(model="greedy", messages=ask(EXAMPLES[1].problem))
        assert err.value.body["code"] == "rate_limit_exceeded" and err.value.response.headers["retry-after"] == "1"
        gate.open.set()
        first.join(10)
        assert held["r"].model_extra["stepwise"]["answer"] == core("greedy", EXAMPLES[0]).answer
        assert server.slots.active == 0


@pytest.mark.parametrize("streaming", [False, True])
def test_a_disconnect_frees_the_search_within_a_second(streaming):
    gate = Gate()
    with live(gate, FakeArithPRM(), max_concurrency=1) as (url, server):
        if streaming:
            stream = client(url).chat.completions.create(model="mcts", messages=ask(EXAMPLES[0].problem), stream=True)
            next(iter(stream))  # the opening chunk: the search is running
            assert gate.entered.wait(10)
            stream.close()
        else:
            def wait_then_hang_up() -> None:
                with contextlib.suppress(openai.APITimeoutError):
                    client(url, timeout=10).with_options(timeout=0.5).chat.completions.create(
                        model="mcts", messages=ask(EXAMPLES[0].problem))
            hang_up = threading.Thread(target=wait_then_hang_up)
            hang_up.start()
            assert gate.entered.wait(10)
            hang_up.join(10)
        gone = time.perf_counter()
        while server.slots.active and time.perf_counter() - gone < 1.0:
            time.sleep(0.01)
        assert server.slots.active == 0 and gate.saw_cancel.is_set()
        gate.open.set()  # the freed slot takes the next request
        r = client(url).chat.completions.create(model="greedy", messages=ask(EXAMPLES[1].problem))
        assert r.model_extra["stepwise"]["answer"] == core("greedy", EXAMPLES[1]).answer


def test_32_concurrent_clients_each_get_their_own_result(url):
    strategies = ["beam_search", "mcts", "best_of_n", "dvts"]
    jobs = [(i, strategies[i % 4]) for i in range(32)]
    want = {i: core(s, EXAMPLES[i], seed=i) for i, s in jobs}
    got, start = {}, threading.Barrier(32)

    def one(i: int, strategy: str) -> None:
        c = client(url)
        start.wait(10)
        got[i] = c.chat.completions.create(model=strategy, messages=ask(EXAMPLES[i].problem), seed=i)

    errors = run_together(one, jobs)
    assert not errors and len(got) == 32
    for i, _ in jobs:
        ext = got[i].model_extra["stepwise"]
        assert ext["problem"] == EXAMPLES[i].problem, f"client {i} got another problem's answer"
        assert (ext["answer"], ext["stats"]["generated_tokens"], ext["tree"]) == \
            (want[i].answer, want[i].stats["generated_tokens"], want[i].tree.to_dict()), f"client {i}"


BAD = [
    (dict(model="greedy", messages=ask("   ")), 400, "invalid_value", "the problem is empty"),
    (dict(model="greedy", messages=[{"role": "system", "content": "1 + 2"}]), 400, None, "no user message"),
    (dict(model="beem", messages=ask("1 + 2")), 404, "model_not_found",
     "unknown strategy 'beem'; valid: greedy, self_consistency, best_of_n"),
    (dict(model="mcts?iterations=0", messages=ask("1 + 2")), 400, "invalid_value", "iterations must be at least 1"),
    (dict(model="mcts?iterations=2.5", messages=ask("1 + 2")), 400, "invalid_value", "must be a whole number"),
    (dict(model="mcts?width=2", messages=ask("1 + 2")), 400, "unknown_setting",
     "mcts has no setting 'width'; its settings: seed, .*iterations.*; budget caps: max_tokens"),
    (dict(model="mcts?iterations=2&iterations=3", messages=ask("1 + 2")), 400, None, "given twice"),
    (dict(model="beam_search?n=2&width=4", messages=ask("1 + 2")), 400, "invalid_value", "cannot exceed"),
    (dict(model="greedy", messages=ask("1 + 2"), n=2), 400, None, "n must be 1"),
    (dict(model="greedy", messages=ask("How many r's are in strawberry?")), 400, "unreadable_problem",
     "trained only on arith .* reads as a letters problem, so it cannot solve it"),
    (dict(model="greedy", messages=ask("What is the capital of France?")), 400, "unreadable_problem",
     "reads as none of them"),
    (dict(model="greedy", messages=ask("1 + 2" * 5_000)), 400, "invalid_value", "the limit is 20,000"),
    (dict(model="greedy", messages=ask("1 + 2\x00")), 400, "invalid_value", "control character"),
]


@pytest.mark.parametrize(("request_", "status", "code", "message"), BAD, ids=[b[3][:24] for b in BAD])
def test_bad_input_is_one_readable_openai_error(url, request_, status, code, message):
    with pytest.raises(openai.APIStatusError) as err:
        client(url).chat.completions.create(**request_)
    assert err.value.status_code == status
    body = err.value.body
    assert set(body) == {"message", "type", "param", "code"} and body["code"] == code
    assert body["type"] == "invalid_request_error"
    assert re.search(message, body["message"]), body["message"]


def test_malformed_bodies_get_openai_errors(url):
    headers = {"Authorization": f"Bearer {KEY}"}
    cases = [(b"{not json", 400, "the body is not JSON"), (b'{"model": "greedy"}', 400, "prompt: Field required"),
             (b'{"model": "greedy", "prompt": "' + b"1" * 1_100_000 + b'"}', 413, "over 1,000,000 bytes")]
    for raw, status, message in cases:
        r = httpx.post(f"{url}/completions", content=raw, headers=headers)
        assert r.status_code == status and message in r.json()["error"]["message"]
    r = httpx.get(f"{url}/nowhere", headers=headers)
    assert r.status_code == 404 and r.json()["error"]["message"] == "Not Found (GET /v1/nowhere)"


def test_a_model_error_mid_search_is_a_server_error():
    with live(FakeArithGenerator(), nan_reward()) as (url, server):
        with pytest.raises(openai.InternalServerError) as err:
            client(url, key=None).chat.completions.create(model="best_of_n", messages=ask(EXAMPLES[0].problem))
        assert err.value.body["code"] == "model_error" and "invalid step score" in err.value.body["message"]
        with pytest.raises(openai.APIError, match="invalid step score"):
            list(client(url, key=None).chat.completions.create(model="best_of_n", messages=ask(EXAMPLES[0].problem),
                                                               stream=True))
        assert server.slots.active == 0


def test_a_strategy_that_needs_a_verifier_on_a_server_without_one():
    with live(FakeArithGenerator(), None) as (url, _), pytest.raises(openai.BadRequestError, match="needs a reward"):
        client(url, key=None).chat.completions.create(model="beam_search", messages=ask(EXAMPLES[0].problem))


def test_api_error_shape():
    assert ApiError(429, "busy", type="requests").body() == {
        "error": {"message": "busy", "type": "requests", "param": None, "code": None}}


def tree_difference(got: dict, want: dict) -> str | None:
    """The first node that differs, floats compared up to rounding (the backend's prefix cache may read a
    prefix from states another search left, which changes the last bits of the log-probs); None if none."""
    def close(a, b):
        return a == pytest.approx(b, rel=1e-4, abs=1e-6) if isinstance(b, float) else a == b

    for g, w in zip(got["nodes"], want["nodes"]):
        if g.keys() != w.keys() or not all(close(g[k], w[k]) for k in w):
            return f"node {w['id']}: got {g}, want {w}"
    return None if len(got["nodes"]) == len(want["nodes"]) else f"{len(got['nodes'])} nodes, want {len(want['nodes'])}"


def test_default_models_concurrent_requests_match_the_core():
    """The checkpoints in assets/: four concurrent searches answer exactly as the core does one at a time,
    since the server lets one search at a time into a local model (torch samples from one global RNG)."""
    generator, reward = backends.load("default"), rewards.load("default")
    jobs = [(0, "beam_search?n=4"), (1, "mcts?iterations=4"), (2, "best_of_n?n=4"), (3, "greedy")]
    want = {}
    for i, model in jobs:
        name, settings, _ = parse_model(model)
        problem = Problem(EXAMPLES[i].problem, get_task("arith"), EXAMPLES[i].reference)
        want[i] = solve(name, problem, generator, reward, clamp({}, DEFAULT_CAPS), make_config(name, None, **settings))
    got = {}
    with live(generator, reward) as (url, _):
        c = client(url, key=None)
        threads = [threading.Thread(target=lambda i=i, m=m: got.update(
            {i: c.chat.completions.create(model=m, messages=ask(EXAMPLES[i].problem))})) for i, m in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    for i, _ in jobs:
        ext = got[i].model_extra["stepwise"]
        assert ext["answer"] == want[i].answer
        assert tree_difference(ext["tree"], want[i].tree.to_dict()) is None
        assert ext["answer"] is not None and got[i].choices[0].message.content.endswith(ext["answer"])
        assert got[i].usage.prompt_tokens > 0


def test_the_serve_command(tmp_path):
    port = free_port()
    env = {**os.environ, "STEPWISE_SERVE_API_KEY": KEY, "NO_PROXY": "127.0.0.1"}
    with open(tmp_path / "serve.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "reasoning_core", "serve", "--generator", "fake", "--reward",
                                 "fake", "--port", str(port), "--max-tokens", "300"], cwd=REPO, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/health")
                break
            time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/v1"
        r = client(url).chat.completions.create(model="best_of_n?n=4", messages=ask(EXAMPLES[0].problem))
        ext = r.model_extra["stepwise"]
        assert ext["answer"] is not None and ext["budget"]["max_tokens"] == 300
        with pytest.raises(openai.AuthenticationError):
            client(url, key="wrong").models.list()
    finally:
        proc.terminate()
        proc.wait(10)
