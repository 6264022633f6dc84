"""PRMs behind vLLM servers (`vllm-server:PRESET:URL[,URL...]`): the texts sent are the in-process adapter's,
the per-step scores are read from the pooled rows as it reads them, errors are said in words, and a pool splits
the texts and scores as one server (a reward server killed mid-eval: test_pool.py)."""
from __future__ import annotations

import json
import re

import httpx
import pytest

from reasoning_core import rewards
from reasoning_core.backends.http_client import BusyServerError, ServerError
from reasoning_core.backends.pool import ServerDown
from reasoning_core.protocols import ModelError
from reasoning_core.rewards.step_tag import tagged_text
from reasoning_core.rewards.token_classification import separated_text
from reasoning_core.rewards.vllm_prm import VLLM_PRESETS
from reasoning_core.rewards.vllm_server import VLLMServerPRM

import fake_pooling_server
from fake_openai_server import free_port

PROBLEM = "17 + 25 * 3 - 40"
PATHS = [["17 + 25 = 42", "42 * 3 = 126"], ["17 + 25 = 43", "The answer is 86"], []]


def fake(sent: list | None = None, answer=fake_pooling_server.answer, models: dict | None = None):
    """A transport to `fake_pooling_server.answer`, recording each POST as (host, path, body, authorization);
    `models` names what each host lists (default: fake_pooling_server.MODEL)."""
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            model = (models or {}).get(request.url.host, fake_pooling_server.MODEL)
            return httpx.Response(200, json={"data": [{"id": model, "owned_by": "vllm"}]})
        body = json.loads(request.content)
        if sent is not None:
            sent.append((request.url.host, request.url.path, body, request.headers.get("authorization")))
        data, status = answer(request.url.path, body)
        return httpx.Response(status, json=data) if isinstance(data, dict) else httpx.Response(status, text=data)

    return httpx.MockTransport(handle)


def test_qwen_prm_sends_the_adapters_texts_and_reads_the_good_class(monkeypatch):
    monkeypatch.setenv("STEPWISE_API_KEY", "KEY")
    sent = []
    prm = VLLMServerPRM("http://prm.test/v1", preset="qwen-prm", transport=fake(sent))
    assert prm.score(PROBLEM, PATHS + [PATHS[0]]) == [[1.0, 1.0], [0.5, 0.5], [], [1.0, 1.0]]
    fmt = VLLM_PRESETS["qwen-prm"][0]
    [(host, path, body, key)] = sent  # one request for the call's distinct non-empty paths
    assert (host, path, key) == ("prm.test", "/pooling", "Bearer KEY")  # the root's /pooling, not /v1's
    assert body == {"model": "fake-prm", "input": [separated_text(fmt, PROBLEM, p)[0] for p in PATHS[:2]],
                    "encoding_format": "float", "task": "token_classify"}
    assert body["input"] == [prm.text(PROBLEM, p) for p in PATHS[:2]]
    assert prm.served == "vllm-server:qwen-prm:fake-prm" and prm.server_load() == []


def test_math_shepherd_reads_the_plus_column_at_each_tag():
    sent = []
    prm = VLLMServerPRM("http://prm.test", preset="math-shepherd", transport=fake(sent))
    steps = ["17 + 25 = 40", "40 * 3 = 120", "120 - 40 = 81"]  # off by 2, right, off by 1
    assert prm.score(PROBLEM, [steps]) == [pytest.approx([1 / 3, 1.0, 0.5])]
    assert sent[0][2]["input"] == [tagged_text(VLLM_PRESETS["math-shepherd"][0], PROBLEM, steps)[0]]


def test_a_step_holding_the_step_tag_is_named_in_the_count_error():
    prm = VLLMServerPRM("http://prm.test", transport=fake())
    message = ("vLLM returned 3 step scores for a path of 2 steps; does a step's text contain the step tag itself? "
               "(step 1 holds '<extra_0>')")
    with pytest.raises(ModelError, match=re.escape(message)):
        prm.score(PROBLEM, [["17 + 25 = 42<extra_0>", "42 * 3 = 126"]])


def test_a_server_that_refuses_the_task_field_is_asked_without_it():
    sent = []

    def strict(path, body):  # a release whose request model types `task` without "token_classify"
        if "task" in body:
            return {"object": "error", "message": "1 validation error: task: Input should be 'encode', 'embed', "
                    "'classify' or 'score'", "code": 400}, 400
        return fake_pooling_server.answer(path, body)

    prm = VLLMServerPRM("http://prm.test", transport=fake(sent, strict))
    assert prm.score(PROBLEM, PATHS[:1]) == [[1.0, 1.0]]
    assert prm.score(PROBLEM, PATHS[1:2]) == [[0.5, 0.5]]
    assert [body.get("task") for _, _, body, _ in sent] == ["token_classify", None, None]


@pytest.mark.parametrize(("answer", "error", "message"), [
    (lambda path, body: ("<html>busy</html>", 200), ModelError, "did not answer with JSON: '<html>busy</html>'"),
    (lambda path, body: ({"error": {"message": "This model's maximum context length is 4096"}}, 400), ServerError,
     "HTTP 400: This model's maximum context length is 4096"),
    (lambda path, body: ({"detail": "Not Found"}, 404), ServerError, r"HTTP 404.*check the URL"),
    (lambda path, body: ({"error": {"message": "Unauthorized"}}, 401), ServerError, r"HTTP 401.*STEPWISE_API_KEY"),
    (lambda path, body: ({"data": [{"index": 0, "data": [0.1, 0.9]}]}, 200), ModelError,
     r"did not pool one row of class probabilities per step .*--runner pooling"),
    (lambda path, body: ({"data": []}, 200), ModelError, "pooled 0 outputs for 1 texts"),
    (lambda path, body: ({"choices": []}, 200), ModelError, "answered without a 'data' list"),
])
def test_bad_answers_are_errors_in_words(answer, error, message):
    prm = VLLMServerPRM("http://prm.test", transport=fake(answer=answer), backoff_s=0.0)
    with pytest.raises(error, match=message) as caught:
        prm.score(PROBLEM, PATHS[:1])
    assert not isinstance(caught.value, ServerDown)  # the server answered: no other server would do better


def test_an_unreachable_or_busy_server_is_down_after_its_retries():
    with pytest.raises(ServerDown, match=r"cannot reach the vLLM pooling server at http://127\.0\.0\.1:\d+/v1: .*"
                                         r"vllm serve MODEL --runner pooling"):
        VLLMServerPRM(f"http://127.0.0.1:{free_port()}")
    tries = []

    def refuse(path, body):
        tries.append(1)
        raise httpx.ConnectError("connection refused")

    prm = VLLMServerPRM("http://prm.test", transport=fake(answer=refuse), max_retries=1, backoff_s=0.0)
    with pytest.raises(ServerDown, match=r"cannot reach the vLLM pooling server at http://prm\.test/pooling: "
                                         r"the request failed .* after 2 tries"):
        prm.score(PROBLEM, PATHS[:1])
    assert len(tries) == 2
    busy = VLLMServerPRM("http://prm.test", transport=fake(answer=lambda path, body: ({"error": {
        "message": "overloaded"}}, 503)), max_retries=1, backoff_s=0.0)
    with pytest.raises(BusyServerError, match="HTTP 503: overloaded"):
        busy.score(PROBLEM, PATHS[:1])


# ----- several servers ------------------------------------------------------------------------------

def test_a_pool_splits_the_texts_and_scores_as_one_server():
    sent = []
    pool = VLLMServerPRM(["http://a.test", "http://b.test"], transport=fake(sent))
    paths = [[f"{a} + 1 = {a + 1 + a % 2}"] for a in range(4)]  # right, off by 1, right, off by 1
    assert pool.score(PROBLEM, paths) == [[1.0], [0.5], [1.0], [0.5]]
    assert [(host, len(body["input"])) for host, _, body, _ in sent] == [("a.test", 2), ("b.test", 2)]
    assert [(s["server"], s["requests"], s["prompts"], s["up"]) for s in pool.server_load()] == \
        [("http://a.test/pooling", 1, 2, True), ("http://b.test/pooling", 1, 2, True)]


def test_a_pool_must_serve_one_model_and_list_each_server_once():
    with pytest.raises(ModelError, match=r"one model; got http://a.test/v1: fake-prm, http://b.test/v1: other"):
        VLLMServerPRM(["http://a.test", "http://b.test"], transport=fake(models={"b.test": "other"}))
    with pytest.raises(ModelError, match="listed twice"):
        VLLMServerPRM(["http://a.test", "http://a.test"], transport=fake())


def test_specs_name_a_preset_and_servers():
    try:
        pool = rewards.load("vllm-server:math-shepherd:http://a.test, http://b.test#fake-prm", transport=fake(),
                            trust_remote_code=False, device="cpu")
        assert isinstance(pool, VLLMServerPRM) and pool.layout == "tagged" and len(pool.server_load()) == 2
        with pytest.raises(ValueError, match="unknown vLLM reward preset 'trl'; valid: qwen-prm, math-shepherd"):
            rewards.load("vllm-server:trl:http://a.test", transport=fake())
        with pytest.raises(ValueError, match=r"vllm-server:<preset>:<url>\[,<url>\.\.\.\]\[#<model>\]"):
            rewards.load("vllm-server:qwen-prm:")
    finally:
        rewards.load.cache_clear()
