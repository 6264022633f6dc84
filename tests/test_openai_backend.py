"""The OpenAI-compatible generator against a real server process: llama-cpp-python's `/v1/completions`
server running the tiny imprinted Llama (written to GGUF locally), plus the reply dialects of servers
that cannot run here (vLLM, SGLang, llama.cpp's own server), replayed through httpx's mock transport."""
from __future__ import annotations

import importlib.util
import json
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import torch

from reasoning_core.__main__ import main
from reasoning_core.backends import TransformersGenerator
from reasoning_core.backends import load as load_generator
from reasoning_core.backends.openai_lm import OpenAIGenerator
from reasoning_core.protocols import Generator, ModelError
from reasoning_core.tasks.arith import TASK as ARITH

from optional import missing, needs
from tiny_models import one_thread, save_tiny_generator, save_tiny_gguf

TASK = ARITH
PREFIXES = [TASK.prompt("17 + 25 * 3"), TASK.prompt("5 - 3 + 8") + "5 - 3 = 2\n", TASK.prompt("40 * 2")]
DONE = TASK.prompt("5 - 3 + 8") + "5 - 3 = 2\n2 + 8 = 10\nThe answer is"  # only the number is left
SERVER_HINT = "pip install -r requirements-dev.txt (llama-cpp-python[server])"
needs_server = needs("llama_cpp", SERVER_HINT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(gguf: Path, port: int, log_path: Path) -> subprocess.Popen:
    """llama-cpp-python's OpenAI-compatible server on loopback; log-probs need logits_all."""
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "tiny",
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "512", "--n_threads", "1",
           "--logits_all", "true", "--type_k", "0", "--type_v", "0", "--verbose", "false"]  # f32 KV cache
    return subprocess.Popen(cmd, stdout=log_path.open("w"), stderr=subprocess.STDOUT)


def wait_until_up(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the llama.cpp server exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/v1/models", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the llama.cpp server did not come up in {timeout} s: {log_path.read_text()[-2000:]}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    with one_thread():
        return save_tiny_generator(tmp_path_factory.mktemp("generator"))


@pytest.fixture(scope="module")
def gguf(folder, tmp_path_factory):
    return save_tiny_gguf(folder, tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture(scope="module")
def server(gguf, tmp_path_factory):
    if importlib.util.find_spec("llama_cpp") is None:
        missing("llama-cpp-python[server]", SERVER_HINT)
    port, log_path = free_port(), tmp_path_factory.mktemp("server") / "server.log"
    proc = start_server(gguf, port, log_path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, proc, log_path)
        yield url
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def gen(server):
    generator = OpenAIGenerator(server + "/v1", timeout=30)
    yield generator
    generator.close()


@pytest.fixture(scope="module")
def hf(folder):
    return TransformersGenerator(folder, device="cpu")


def propose(gen, prefixes=PREFIXES, n=4, **kw):
    args = dict(stop="\n", max_new_tokens=24, temperature=1.0, seed=0) | kw
    return gen.propose(prefixes, n, **args)


# ----- against the real server ----------------------------------------------------------------------

@needs_server
def test_finds_the_served_model_and_its_family(gen):
    assert isinstance(gen, Generator)
    assert gen.model == "tiny" and gen.family == "llama-cpp-python"
    assert gen.extra_body["top_k"] == 0 and gen.extra_body["repeat_penalty"] == 1.0


@needs_server
def test_greedy_steps_match_the_transformers_backend(gen, hf):
    """The same weights behind the server: same steps, same log-probs, same stop/EOS decisions."""
    prefixes = PREFIXES + [DONE]
    with one_thread():
        local = propose(hf, prefixes, n=1, temperature=0.0)
    remote = propose(gen, prefixes, n=1, temperature=0.0)
    for [a], [b] in zip(local, remote):
        assert (b.text, b.finished) == (a.text, a.finished)
        if a.finished:  # llama.cpp leaves the EOS token (and its log-prob) out of what it reports
            assert b.num_tokens == a.num_tokens - 1 and b.logprob > a.logprob
        else:
            assert b.num_tokens == a.num_tokens and b.logprob == pytest.approx(a.logprob, abs=1e-3)
    assert remote[-1][0].finished and not remote[0][0].finished


@needs_server
def test_one_list_of_n_per_prefix_learning_what_the_server_takes(server):
    gen = OpenAIGenerator(server)
    assert gen.batching == "auto"
    out = propose(gen, n=3)
    assert [len(row) for row in out] == [3, 3, 3]
    assert gen.batching == "sample"  # llama-cpp-python takes one prompt per request and ignores n
    assert propose(gen, prefixes=[]) == []
    conts = [c for row in out for c in row]
    assert all("\n" not in c.text and 0 < c.num_tokens <= 24 and c.logprob < 0 for c in conts)
    assert len({c.text for c in out[0]}) > 1  # the n samples of one prefix are not copies


def same(a, b) -> bool:
    """Equal samples; log-probs to float noise (llama.cpp reuses cached prefixes, which moves the last digits)."""
    flat_a, flat_b = [c for row in a for c in row], [c for row in b for c in row]
    samples = [[(c.text, c.num_tokens, c.finished) for c in flat] for flat in (flat_a, flat_b)]
    return samples[0] == samples[1] and [c.logprob for c in flat_a] == pytest.approx([c.logprob for c in flat_b],
                                                                                    abs=1e-4)


@needs_server
def test_same_seed_same_output_other_seed_differs(gen):
    assert same(propose(gen, seed=7), propose(gen, seed=7))
    assert not same(propose(gen, seed=7), propose(gen, seed=8))


@needs_server
def test_sampled_logprobs_are_the_models_raw_logprobs(gen, hf):
    """At temperature 0.5 the server must still report log-probs under the unscaled model."""
    tok = hf.tokenizer
    for prefix, row in zip(PREFIXES, propose(gen, n=2, temperature=0.5, seed=3)):
        for c in row:
            tail = [] if c.finished else [tok.convert_tokens_to_ids("\n")]  # llama.cpp reports no EOS token
            new = (tok(c.text, add_special_tokens=False).input_ids + tail)[:c.num_tokens]
            ids = torch.tensor([tok(prefix).input_ids + new])
            with torch.no_grad(), one_thread():
                logits = hf.model(ids).logits[0, -len(new) - 1:-1].log_softmax(-1)
            assert c.logprob == pytest.approx(float(logits.gather(1, torch.tensor(new)[:, None]).sum()), abs=1e-3)


@needs_server
def test_max_new_tokens_caps_a_step_without_ending_the_chain(gen):
    conts = [c for row in propose(gen, n=2, max_new_tokens=3, stop="@") for c in row]
    assert all(c.num_tokens == 3 and not c.finished for c in conts)


@needs_server
def test_greedy_repeats_one_decode(gen):
    [row] = propose(gen, prefixes=PREFIXES[:1], n=4, temperature=0.0)
    assert len(row) == 4 and len(set(row)) == 1


@needs_server
def test_search_runs_through_the_cli(server, capsys):
    code = main(["solve", "--problem", "17 + 25 * 3", "--strategy", "beam_search", "--n", "4", "--max-steps", "3",
                 "--generator", f"openai:{server}/v1#tiny", "--reward", "fake", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["stats"]["generator_calls"] >= 1 and out["stats"]["generated_tokens"] > 0


def test_server_down_is_a_clear_error():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ModelError, match=f"cannot reach the OpenAI-compatible server at {url}/v1"):
        OpenAIGenerator(url, "tiny")
    load_generator.cache_clear()
    with pytest.raises(ModelError, match="cannot reach"):
        load_generator(f"openai:{url}#tiny")


@needs_server
def test_a_killed_server_is_retried_then_a_clear_error(gguf, tmp_path, caplog):
    port, log_path = free_port(), tmp_path / "server.log"
    url = f"http://127.0.0.1:{port}"
    proc = start_server(gguf, port, log_path)
    try:
        wait_until_up(url, proc, log_path)
        gen = OpenAIGenerator(url, max_retries=2, backoff_s=0.05)
        assert propose(gen, prefixes=PREFIXES[:1], n=1)
    finally:
        stop(proc)
    caplog.set_level(logging.WARNING, logger="reasoning_core.backends.openai_lm")
    with pytest.raises(ModelError, match=r"cannot reach the OpenAI-compatible server at .*after 3 tries"):
        propose(gen, prefixes=PREFIXES[:1], n=1)
    assert "retry 2 of 2" in caplog.text


@needs_server
def test_retries_ride_out_a_server_restart(gguf, tmp_path):
    port, log_path = free_port(), tmp_path / "server.log"
    url = f"http://127.0.0.1:{port}"
    proc = start_server(gguf, port, log_path)
    try:
        wait_until_up(url, proc, log_path)
        gen = OpenAIGenerator(url, max_retries=8, backoff_s=0.25)
        before = propose(gen, temperature=0.0, n=1)
        stop(proc)
        proc = start_server(gguf, port, log_path)  # back within the retries' backoff
        assert same(propose(gen, temperature=0.0, n=1), before)
    finally:
        stop(proc)


# ----- the dialects of servers that cannot run here, replayed through a mock transport -------------

class Dialect:
    """Answers /v1/completions the way one server family does; counts requests."""

    def __init__(self, owner: str, lists: bool = True, n: bool = True, logprobs: str = "legacy",
                 fail_first: int = 0, status: int = 503) -> None:
        self.owner, self.lists, self.n, self.logprobs = owner, lists, n, logprobs
        self.fail_first, self.status, self.requests = fail_first, status, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "m", "owned_by": self.owner}]})
        body = json.loads(request.content)
        self.requests.append(body)
        if self.fail_first > 0:
            self.fail_first -= 1
            return httpx.Response(self.status, json={"error": {"message": "busy"}}, headers={"retry-after": "0"})
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        if len(prompts) > 1 and not self.lists:
            return httpx.Response(400, json={"error": {"message": "prompt must be a string"}})
        n = body.get("n", 1) if self.n else 1
        choices = []
        for i, prompt in enumerate(prompts):
            for j in range(n):
                eos = prompt.endswith("is")
                choices.append({"index": i * n + j, "text": f"{len(prompt)} {j}", "finish_reason": "stop",
                                "logprobs": self._logprobs(["a", "b"] + ([] if eos else ["\n"])), **self._why(eos)})
        choices.reverse()  # order must come from `index`
        return httpx.Response(200, json={"choices": choices, "usage": {"completion_tokens": 3 * len(choices)}})

    def _logprobs(self, tokens):
        if self.logprobs == "none":
            return None
        if self.logprobs == "content":
            return {"content": [{"token": t, "logprob": -0.5} for t in tokens]}
        return {"tokens": tokens, "token_logprobs": [-0.5] * len(tokens)}

    def _why(self, eos: bool) -> dict:
        if self.owner == "vllm":
            return {"stop_reason": None if eos else "\n"}
        if self.owner == "sglang":
            return {"matched_stop": 2 if eos else "\n"}
        if self.owner == "llamacpp":
            return {"stop_type": "eos" if eos else "word"}
        return {}


def mock(dialect: Dialect, **kw) -> OpenAIGenerator:
    return OpenAIGenerator("http://server.test/v1", transport=httpx.MockTransport(dialect), backoff_s=0.0, **kw)


@pytest.mark.parametrize("owner", ["vllm", "sglang", "llamacpp", "other"])
def test_each_dialect_tells_eos_from_the_stop_string(owner):
    gen = mock(Dialect(owner))
    [[step], [end]] = gen.propose(["x", "the answer is"], 1, stop="\n", max_new_tokens=8, temperature=0.0, seed=0)
    assert not step.finished and end.finished
    assert step.logprob == pytest.approx(-1.5) and step.num_tokens == 3 and end.num_tokens == 2


def test_vllm_gets_everything_in_one_request_in_index_order():
    dialect = Dialect("vllm")
    gen = mock(dialect)
    out = gen.propose(["a", "bb", "ccc"], 2, stop="\n", max_new_tokens=8, temperature=1.0, seed=5)
    assert len(dialect.requests) == 1 and gen.batching == "list"
    assert [[c.text for c in row] for row in out] == [["1 0", "1 1"], ["2 0", "2 1"], ["3 0", "3 1"]]
    body = dialect.requests[0]
    assert body["n"] == 2 and body["seed"] == 5 and body["stop"] == ["\n"] and body["logprobs"] == 1
    assert body["top_k"] == -1 and body["top_p"] == 1.0 and body["model"] == "m"


def test_a_server_without_prompt_lists_gets_one_request_per_prefix():
    dialect = Dialect("other", lists=False)
    gen = mock(dialect)
    out = gen.propose(["a", "bb"], 2, stop="\n", max_new_tokens=8, temperature=1.0, seed=0)
    assert [[c.text for c in row] for row in out] == [["1 0", "1 1"], ["2 0", "2 1"]]
    assert gen.batching == "prompt" and len(dialect.requests) == 3  # the refused list, then one per prefix


def test_a_server_ignoring_n_gets_one_request_per_sample_with_its_own_seed():
    dialect = Dialect("other", lists=False, n=False)
    gen = mock(dialect)
    gen.propose(["a", "bb"], 3, stop="\n", max_new_tokens=8, temperature=1.0, seed=10)
    assert gen.batching == "sample"
    singles = [r for r in dialect.requests if "n" not in r]
    assert sorted((r["prompt"], r["seed"]) for r in singles) == [(p, s) for p in ("a", "bb") for s in (10, 11, 12)]


def test_chat_style_logprobs_are_read_too():
    [[c]] = mock(Dialect("other", logprobs="content")).propose(["x"], 1, stop="\n", max_new_tokens=8,
                                                               temperature=0.0, seed=0)
    assert c.logprob == pytest.approx(-1.5) and c.num_tokens == 3


def test_no_logprobs_is_a_clear_error_unless_allowed():
    with pytest.raises(ModelError, match="returned no log-probs"):
        mock(Dialect("other", logprobs="none")).propose(["x"], 1, stop="\n", max_new_tokens=8, temperature=0.0, seed=0)
    [[c]] = mock(Dialect("other", logprobs="none"), require_logprobs=False).propose(
        ["x"], 1, stop="\n", max_new_tokens=8, temperature=0.0, seed=0)
    assert c.logprob == 0.0 and c.num_tokens == 3  # from usage


def test_busy_server_is_retried_and_errors_are_readable(monkeypatch):
    dialect = Dialect("vllm", fail_first=2, status=429)
    [[c]] = mock(dialect).propose(["x"], 1, stop="\n", max_new_tokens=8, temperature=0.0, seed=0)
    assert c.text == "1 0" and len(dialect.requests) == 3
    with pytest.raises(ModelError, match="HTTP 503: busy"):
        mock(Dialect("vllm", fail_first=9), max_retries=2).propose(["x"], 1, stop="\n", max_new_tokens=8,
                                                                  temperature=0.0, seed=0)
    with pytest.raises(ModelError, match=r"HTTP 401.*STEPWISE_API_KEY"):
        mock(Dialect("vllm", fail_first=1, status=401)).propose(["x"], 1, stop="\n", max_new_tokens=8,
                                                               temperature=0.0, seed=0)


def test_api_key_comes_from_the_environment(monkeypatch):
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"data": [{"id": "m", "owned_by": "vllm"}]})

    monkeypatch.setenv("STEPWISE_API_KEY", "sk-test")
    OpenAIGenerator("http://server.test", transport=httpx.MockTransport(handler))
    assert seen == ["Bearer sk-test"]


def test_a_server_with_several_models_needs_one_named():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [{"id": "a"}, {"id": "b"}]})

    with pytest.raises(ModelError, match=r"serves 2 models .*openai:URL#MODEL"):
        OpenAIGenerator("http://server.test", transport=httpx.MockTransport(handler))
    assert OpenAIGenerator("http://server.test", "b", transport=httpx.MockTransport(handler)).model == "b"
