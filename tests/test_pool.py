"""Server pools (`openai:URL1,URL2`, `vllm-server:PRESET:URL1,URL2`): a batch is split over the servers in input
order, the least loaded server gets the next request, a failed server's requests move to the others, and an eval
whose generator or reward server dies half-way gives the results of an eval on one healthy server."""
from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pandas as pd
import pytest

from reasoning_core.__main__ import main
from reasoning_core.backends import load as load_generator
from reasoning_core.backends.openai_lm import BusyServerError, OpenAIGenerator, connect
from reasoning_core.backends.pool import PooledGenerator, ServerDown, ServerPool
from reasoning_core.protocols import ModelError
from reasoning_core.rewards import load as load_reward

import fake_pooling_server
from fake_openai_server import start


class Member:
    """A stand-in server: answers each item with (its name, the item); fails or blocks on request."""

    def __init__(self, name: str, fail: Exception | None = None, gate: threading.Event | None = None) -> None:
        self.name, self.fail, self.gate = name, fail, gate
        self.chunks: list[list[int]] = []
        self.entered = threading.Event()

    def answer(self, chunk: list[int]) -> list[tuple[str, int]]:
        self.chunks.append(chunk)
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail is not None:
            raise self.fail
        return [(self.name, x) for x in chunk]


def pool_of(*members: Member, **kw) -> ServerPool[Member]:
    return ServerPool(members, [m.name for m in members], **kw)


def ask(pool: ServerPool[Member], items) -> list[tuple[str, int]]:
    return pool.map(list(items), Member.answer)


def test_a_batch_is_split_over_the_servers_and_answered_in_input_order():
    a, b = Member("a"), Member("b")
    pool = pool_of(a, b)
    assert ask(pool, range(5)) == [("a", 0), ("a", 1), ("b", 2), ("b", 3), ("b", 4)]
    assert (a.chunks, b.chunks) == ([[0, 1]], [[2, 3, 4]])
    assert [(s["server"], s["requests"], s["prompts"], s["outstanding"], s["up"]) for s in pool.load()] == \
        [("a", 1, 2, 0, True), ("b", 1, 3, 0, True)]
    assert ask(pool, []) == []


def test_the_least_loaded_server_gets_the_next_request():
    gate = threading.Event()
    a, b = Member("a", gate=gate), Member("b")
    pool = pool_of(a, b)
    first = threading.Thread(target=ask, args=(pool, [1]))
    first.start()
    assert a.entered.wait(10)  # a holds one request in flight ...
    assert [s["outstanding"] for s in pool.load()] == [1, 0]
    assert ask(pool, [2]) == [("b", 2)]  # ... so the next one goes to b
    gate.set()
    first.join(10)
    assert [s["outstanding"] for s in pool.load()] == [0, 0]
    # nothing in flight: the server sent fewer prompts so far, then the first listed
    assert [ask(pool, [x])[0][0] for x in range(4)] == ["a", "b", "a", "b"]


def test_a_failed_servers_requests_move_to_the_others():
    a, b, c = Member("a"), Member("b", fail=ServerDown("connection refused")), Member("c")
    pool = pool_of(a, b, c)
    out = ask(pool, range(6))
    assert [x for _, x in out] == list(range(6)) and {name for name, _ in out[2:4]} <= {"a", "c"}
    assert out[:2] == [("a", 0), ("a", 1)] and out[4:] == [("c", 4), ("c", 5)] and b.chunks == [[2, 3]]
    down = pool.load()[1]
    assert (down["up"], down["failures"], down["requests"], down["error"]) == (False, 1, 1, "connection refused")
    ask(pool, range(4))
    assert len(b.chunks) == 1  # a server that is down gets nothing more


def test_every_server_down_is_one_clear_error():
    pool = pool_of(Member("a", fail=ServerDown("refused")), Member("b", fail=ServerDown("timed out")))
    with pytest.raises(ModelError, match=r"all 2 servers of the pool are down: a: refused; b: timed out"):
        ask(pool, range(3))
    with pytest.raises(ModelError, match="all 2 servers"):
        ask(pool, [1])


def test_other_errors_are_not_a_server_failure():
    pool = pool_of(Member("a", fail=ModelError("returned no log-probs")), Member("b"))
    with pytest.raises(ModelError, match="no log-probs"):
        ask(pool, range(2))
    assert [(s["up"], s["failures"], s["outstanding"]) for s in pool.load()] == [(True, 0, 0), (True, 0, 0)]


def test_a_down_server_is_tried_again_after_a_while():
    b = Member("b", fail=ServerDown("refused"))
    pool = pool_of(Member("a"), b, retry_down_s=0.0)
    assert ask(pool, range(2)) == [("a", 0), ("a", 1)]  # a failover never revives the server that just failed
    b.fail = None
    assert {name for name, _ in ask(pool, range(2))} == {"a", "b"}  # the next call tries it again
    assert pool.load()[1]["up"] and pool.load()[1]["failures"] == 1


# ----- the OpenAI backend in a pool ------------------------------------------------------------------

def models_by_host(served: dict[str, str], completions=None):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": served[request.url.host], "owned_by": "vllm"}]})
        return completions(request)

    return httpx.MockTransport(handler)


def test_a_pool_must_serve_one_model():
    one = connect(["http://a.test"], transport=models_by_host({"a.test": "m"}))
    assert isinstance(one, OpenAIGenerator)
    pool = connect(["http://a.test", "http://b.test"], transport=models_by_host({"a.test": "m", "b.test": "m"}))
    assert isinstance(pool, PooledGenerator) and pool.model == "m" and pool.served == "openai:vllm:m"
    assert [s["server"] for s in pool.server_load()] == ["http://a.test/v1", "http://b.test/v1"]
    with pytest.raises(ModelError, match=r"one model .*http://a.test/v1: vllm:m, http://b.test/v1: vllm:other"):
        connect(["http://a.test", "http://b.test"], transport=models_by_host({"a.test": "m", "b.test": "other"}))
    with pytest.raises(ModelError, match="listed twice"):
        connect(["http://a.test", "http://a.test"], transport=models_by_host({"a.test": "m"}))


def test_in_a_pool_an_unreachable_server_is_given_up_at_once():
    tries = []

    def refuse(request: httpx.Request) -> httpx.Response:
        tries.append(1)
        raise httpx.ConnectError("connection refused")

    gen = OpenAIGenerator("http://a.test", transport=models_by_host({"a.test": "m"}, refuse), backoff_s=0.0,
                          retry_unreachable=False)
    with pytest.raises(ServerDown, match="after 1 try"):
        gen.propose(["x"], 1, stop="\n", max_new_tokens=4, temperature=0.0, seed=0)
    assert len(tries) == 1
    busy = OpenAIGenerator("http://a.test", backoff_s=0.0, max_retries=1, transport=models_by_host(
        {"a.test": "m"}, lambda request: httpx.Response(503, json={"error": {"message": "overloaded"}})))
    with pytest.raises(BusyServerError, match="HTTP 503: overloaded") as caught:
        busy.propose(["x"], 1, stop="\n", max_new_tokens=4, temperature=0.0, seed=0)
    assert isinstance(caught.value, ServerDown)  # still busy after its retries: a pool moves the request on


# ----- a server killed mid-eval ----------------------------------------------------------------------

def eval_runs(model: str, spec: str, out: Path, capsys) -> tuple[pd.DataFrame, str]:
    """An eval whose `model` ("generator" or "reward") is `spec`, the other one fake."""
    other = {"generator": "reward", "reward": "generator"}[model]
    code = main(["eval", "--task", "arith", "--strategies", "greedy,best_of_n,beam_search", "--sizes", "2,4",
                 "--limit", "5", "--width", "2", f"--{model}", spec, f"--{other}", "fake", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    return pd.read_csv(out / "runs.csv").drop(columns="wall_s"), printed


@pytest.mark.parametrize(("model", "start_server", "spec", "endpoint"), [
    ("generator", start, "openai:{}", "/v1"),
    ("reward", fake_pooling_server.start, "vllm-server:qwen-prm:{}", "/pooling"),
])
def test_a_server_killed_mid_eval_changes_no_result(model, start_server, spec, endpoint, tmp_path, capsys):
    healthy, proc_a = start_server()
    dying, proc_b = start_server(die_after=3)  # exits on its fourth POST, without answering it
    try:
        pooled, printed = eval_runs(model, spec.format(f"{healthy},{dying}"), tmp_path / "pool", capsys)
        assert proc_b.wait(10) is not None  # it did die mid-eval
        alone, _ = eval_runs(model, spec.format(healthy), tmp_path / "one", capsys)
    finally:
        for proc in (proc_a, proc_b):
            proc.kill()
            proc.wait(10)
        load_generator.cache_clear()
        load_reward.cache_clear()
    pd.testing.assert_frame_equal(pooled, alone)
    servers = pd.read_csv(tmp_path / "pool" / "servers.csv").set_index("server")
    assert set(servers["model"]) == {model}  # the other model is no pool
    a, b = servers.loc[healthy + endpoint], servers.loc[dying + endpoint]
    assert (b["requests"], b["failures"], bool(b["up"])) == (4, 1, False) and "cannot reach" in b["error"]
    assert (a["failures"], bool(a["up"]), a["outstanding"], b["outstanding"]) == (0, True, 0, 0)
    assert a["requests"] > b["requests"]
    assert "servers:" in printed and dying + endpoint in printed
    assert not (tmp_path / "one" / "servers.csv").exists()  # one server is no pool
