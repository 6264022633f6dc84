"""Propose reasoning steps through any OpenAI-compatible `/v1/completions` server: `vllm serve`, SGLang,
llama.cpp's server or llama-cpp-python's, TGI. The same strategies then run against a model that lives
in another process or on another machine.

One `propose` is one HTTP request when the server takes a list of prompts and `n` (vLLM, SGLang);
servers that take one prompt, or ignore `n`, get one request per prefix or per sample, sent
concurrently. Which of the three a server supports is learned from its answers on first use.

Servers differ in how they say *why* a completion stopped; `finished` (the model ended the chain with
EOS, not just the step) is read, in order, from:
  1. `finish_reason == "length"`: not finished;
  2. vLLM's `stop_reason` (the stop string, or None for EOS);
  3. SGLang's `matched_stop` (the stop string, or the EOS token id);
  4. llama.cpp server's `stop_type` ("word" / "eos") or `stopping_word`, where it sends them;
  5. otherwise (llama-cpp-python, TGI, older vLLM) the sampled tokens: when they spell out the stop
     string, the step ended there; when they do not, the model stopped by itself (EOS). This is how
     llama-cpp-python is read (tested here); llama.cpp's own server may trim the stop word's tokens, so
     for it, and wherever no tokens came back, a step is taken as unfinished and the chain ends by
     its answer or the depth cap instead.
Token counts are the tokens the server reports (llama.cpp leaves out the EOS token, vLLM keeps it),
or `usage.completion_tokens` when no log-probs came back. Servers that reuse cached prefixes
(llama.cpp) may move log-probs in the last float digits from one call to the next.
`connect` takes several URLs of servers of one model and spreads the calls over them (`pool.py`).
Log-probs come from `logprobs.token_logprobs` (legacy format) or `logprobs.content[*].logprob`;
servers report the raw model log-probs (vLLM's default, llama.cpp's only mode), as the other backends do.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from ..protocols import Continuation, Generator, ModelError, nothing_to_propose
from .http_client import BusyServerError, JsonClient, ServerError
from .pool import PooledGenerator, pool_members

__all__ = ["BusyServerError", "OpenAIGenerator", "ServerError", "connect"]

log = logging.getLogger(__name__)

PLAIN_SAMPLING: dict[str, dict[str, Any]] = {
    "vllm": {"top_p": 1.0, "top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0},
    "sglang": {"top_p": 1.0, "top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0},
    "llamacpp": {"top_p": 1.0, "top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0},
    "llama-cpp-python": {"top_p": 1.0, "top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0},
    "other": {"top_p": 1.0},
}
"""Fields sent with every request so a server samples from the plain softmax at `temperature`, as the other
backends do (llama.cpp would otherwise apply top-k 40, top-p 0.95, min-p 0.05 and a repeat penalty; vLLM
the model's generation_config). Servers disagree on spelling ("top_k": -1 vs 0 for "off"), so the set is
picked by the server family, told by the `owned_by` of its /v1/models entries; `extra_body` replaces it."""
FAMILIES = {"vllm": "vllm", "sglang": "sglang", "llamacpp": "llamacpp", "me": "llama-cpp-python"}


@dataclass(frozen=True)
class _Job:
    """One HTTP request: `prompts` (sent as a list when batched), `n` samples each, one seed."""

    prompts: tuple[str, ...]
    n: int
    seed: int
    as_list: bool


def connect(urls: Sequence[str], model: str | None = None, *, retry_down_s: float = 60.0,
            **kw: Any) -> Generator:
    """One server's `OpenAIGenerator`, or for several a `PooledGenerator` over one per URL (they must all serve
    the same model from the same kind of server, or samples would depend on which one answered). In a pool an
    unreachable server is not retried: its requests move to the others at once."""
    if len(urls) == 1:
        return OpenAIGenerator(urls[0], model, **kw)
    members = pool_members(urls, lambda url, retry: OpenAIGenerator(url, model, **{"retry_unreachable": retry, **kw}),
                           lambda m: (m.base, m.served.removeprefix("openai:")), "one model from one kind of server")
    return PooledGenerator(members, [m.base for m in members], retry_down_s=retry_down_s)


class OpenAIGenerator:
    """A `Generator` over an OpenAI-compatible completions endpoint.

    `base_url` is the server's root or its `/v1` (e.g. "http://localhost:8000/v1"); `model` is the name the
    server serves (None: the one model it lists at /v1/models). `api_key` defaults to $STEPWISE_API_KEY,
    then $OPENAI_API_KEY. `batching` is "auto" (learn from the server), "list" (all prompts and `n` in one request),
    "prompt" (one request per prefix, with `n`) or "sample" (one request per sample, seeds seed, seed+1, ...).
    `extra_body` replaces the plain-sampling fields sent with each request (see `PLAIN_SAMPLING`).
    `require_logprobs=False` accepts servers that return no log-probs (every step's logprob is then 0).
    `retry_unreachable=False` gives up on an unreachable server at once (a pool has other servers to try).
    Construction asks the server for /v1/models, so a server that is down fails here, clearly."""

    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None, *,
                 timeout: float = 60.0,
                 max_retries: int = 3, backoff_s: float = 0.5, batching: str = "auto", max_concurrency: int = 16,
                 extra_body: dict[str, Any] | None = None, require_logprobs: bool = True,
                 retry_unreachable: bool = True, transport: httpx.BaseTransport | None = None) -> None:
        if batching not in ("auto", "list", "prompt", "sample"):
            raise ValueError(f"unknown batching {batching!r}; valid: auto, list, prompt, sample")
        self.http = JsonClient(base_url, "OpenAI-compatible server", "vllm serve MODEL", api_key=api_key,
                               timeout=timeout, max_retries=max_retries, backoff_s=backoff_s,
                               retry_unreachable=retry_unreachable, max_connections=max_concurrency,
                               transport=transport)
        self.base = self.http.base
        self.url = self.base + "/completions"
        self.require_logprobs = require_logprobs
        self.max_concurrency = max_concurrency
        # what the server is known to accept: None = not yet seen, learned from the first informative answer
        self._list: bool | None = {"list": True, "auto": None}.get(batching, False)
        self._n: bool | None = {"sample": False, "auto": None}.get(batching, True)
        self._lock = threading.Lock()
        # this first request also tells at once whether the server is up; without the endpoint, a named model will do
        entries = self.http.models(required=model is None)
        owners = {m.get("owned_by") for m in entries}
        self.family = next((FAMILIES[o] for o in owners if o in FAMILIES), "other")
        self.model = model if model is not None else self.http.only_model(entries, "openai:URL#MODEL")
        self.served = f"openai:{self.family}:{self.model}"  # what answers, whatever the address (a run's identity)
        self.extra_body = dict(PLAIN_SAMPLING[self.family] if extra_body is None else extra_body)
        log.info("OpenAI-compatible server at %s (%s), model %s", self.base, self.family, self.model)

    def close(self) -> None:
        self.http.close()

    @property
    def batching(self) -> str:
        """What this generator does now: "list", "prompt", "sample", or "auto" while the server is untried."""
        if self._n is False:
            return "sample"
        if self._list is not None:
            return "list" if self._list else "prompt"
        return "auto"

    def propose(self, prefixes: Sequence[str], n: int, *, stop: str, max_new_tokens: int,
                temperature: float, seed: int,
                cancel: threading.Event | None = None) -> list[list[Continuation]]:
        if nothing_to_propose(prefixes, n, max_new_tokens, stop, temperature):
            return []
        per = n if temperature > 0 else 1  # greedy: one decode per prefix, repeated n times
        body = {"model": self.model, "max_tokens": max_new_tokens, "temperature": temperature, "stop": [stop],
                "logprobs": 1, **self.extra_body}
        rows = self._generate(list(prefixes), per, seed, body, cancel)
        conts = [[self._continuation(c, stop) for c in row] for row in rows]
        return [row * n for row in conts] if per == 1 and n > 1 else conts

    # ----- requests -----

    def _generate(self, prefixes: list[str], per: int, seed: int, body: dict[str, Any],
                  cancel: threading.Event | None) -> list[list[dict[str, Any]]]:
        """`per` choices for each prefix, in order, trying the most batched request the server may take:
        all prefixes in one request, then one request per prefix (with n), then one per sample."""
        if len(prefixes) > 1 and self._list is not False and self._n is not False:
            job = _Job(tuple(prefixes), per, seed, as_list=True)
            choices = self._try(job, body, learning=self._list is None or (self._n is None and per > 1))
            if choices is not None:
                self._learn(list_ok=True, n_ok=per > 1 or None)
                return [choices[i * per:(i + 1) * per] for i in range(len(prefixes))]
            if self._list:  # lists are known to work, so it was n that failed
                self._learn(n_ok=False)
            else:
                self._learn(list_ok=False)
                log.info("%s takes one prompt per request; sending one request per prefix", self.url)
        if self._n is not False:
            jobs = [_Job((p,), per, seed, as_list=False) for p in prefixes]
            if self._n is not None or per == 1:
                return self._run(jobs, body, cancel)
            first = self._try(jobs[0], body, learning=True)  # learn from one prefix before fanning out
            if first is not None:
                self._learn(n_ok=True)
                return [first] + self._run(jobs[1:], body, cancel)
            self._learn(n_ok=False)
        if self._n is False:
            log.info("%s ignores n; sending one request per sample", self.url)
        jobs = [_Job((p,), 1, seed + j, as_list=False) for p in prefixes for j in range(per)]
        flat = [c for row in self._run(jobs, body, cancel) for c in row]
        return [flat[i * per:(i + 1) * per] for i in range(len(prefixes))]

    def _learn(self, list_ok: bool | None = None, n_ok: bool | None = None) -> None:
        with self._lock:
            if list_ok is not None and self._list is None:
                self._list = list_ok
            if n_ok is not None and self._n is None:
                self._n = n_ok

    def _try(self, job: _Job, body: dict[str, Any], learning: bool) -> list[dict[str, Any]] | None:
        """Send `job`; while still learning what the server takes, a refusal or a wrong number of
        choices returns None (the caller falls back) instead of raising."""
        try:
            return self._request(job, body, retry_status=not learning, check_count=not learning)
        except _WrongCount:
            return None
        except ServerError as e:
            if not learning or e.status in (401, 403, 404, 429):
                raise
            log.info("server refused a batched request (%s); falling back", e)
            return None

    def _run(self, jobs: list[_Job], body: dict[str, Any], cancel: threading.Event | None) -> list[list[dict]]:
        """Send single-prompt requests concurrently; jobs not yet sent when `cancel` is set come back empty."""
        def one(job: _Job) -> list[dict[str, Any]]:
            if cancel is not None and cancel.is_set():
                return [_CANCELLED] * job.n
            return self._request(job, body)

        if len(jobs) <= 1:
            return [one(job) for job in jobs]
        with ThreadPoolExecutor(min(self.max_concurrency, len(jobs))) as pool:
            return list(pool.map(one, jobs))

    def _request(self, job: _Job, body: dict[str, Any], retry_status: bool = True,
                 check_count: bool = True) -> list[dict[str, Any]]:
        payload = {**body, "prompt": list(job.prompts) if job.as_list else job.prompts[0], "seed": job.seed}
        if job.n > 1:
            payload["n"] = job.n
        data = self.http.post(self.url, payload, retry_status)
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list):
            raise ModelError(f"the server at {self.url} answered without a 'choices' list: {str(data)[:200]}")
        want = len(job.prompts) * job.n
        if len(choices) != want:
            if not check_count:
                raise _WrongCount()
            raise ModelError(f"the server at {self.url} returned {len(choices)} completions, expected {want}; "
                             "set batching='sample' if it ignores n or prompt lists")
        choices = sorted(choices, key=lambda c: c.get("index", 0))
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        if isinstance(usage.get("completion_tokens"), int):  # a total: exact for one choice, a mean otherwise
            share = round(usage["completion_tokens"] / len(choices))
            choices = [{**c, "_usage_tokens": share} for c in choices]
        return choices

    # ----- answers -----

    def _continuation(self, choice: dict[str, Any], stop: str) -> Continuation:
        if choice is _CANCELLED:
            return Continuation(text="", num_tokens=0, logprob=0.0, finished=False)
        text = choice.get("text") or ""
        tokens, logprobs = _token_logprobs(choice.get("logprobs"))
        if logprobs is None:
            if self.require_logprobs:
                raise ModelError(f"the server at {self.url} returned no log-probs; it must support `logprobs` on "
                                 "/v1/completions (vLLM, SGLang and llama.cpp do; `transformers serve` does not), "
                                 "or pass require_logprobs=False to treat every step as equally likely")
            logprobs = []
        # the tokens the server sampled (llama.cpp leaves out EOS, vLLM keeps it); else what usage says
        num_tokens = len(logprobs) if logprobs or tokens else choice.get("_usage_tokens") or 0
        finished = _finished(choice, stop, tokens, self.family)
        return Continuation(text=text.split(stop, 1)[0], num_tokens=int(num_tokens),
                            logprob=float(sum(lp for lp in logprobs if lp is not None)), finished=finished)


_CANCELLED: dict[str, Any] = {"text": "", "finish_reason": "length"}
"""Stands in for the choices of requests a cancelled call never sent (their output is discarded)."""


class _WrongCount(Exception):
    """A batched request came back with the wrong number of choices (the server ignored n or the list)."""


def _token_logprobs(logprobs: Any) -> tuple[list[str] | None, list[float | None] | None]:
    """(token strings, log-probs) from either the legacy completions format or the chat-style `content` list."""
    if not isinstance(logprobs, dict):
        return None, None
    if isinstance(logprobs.get("token_logprobs"), list):
        return logprobs.get("tokens"), logprobs["token_logprobs"]
    if isinstance(logprobs.get("content"), list):
        content = logprobs["content"]
        return [c.get("token", "") for c in content], [c.get("logprob") for c in content]
    return None, None


def _finished(choice: dict[str, Any], stop: str, tokens: list[str] | None, family: str) -> bool:
    """Did the model end the chain (EOS) rather than the step? See the module docstring for the order."""
    if choice.get("finish_reason") != "stop":
        return False
    if "stop_reason" in choice:  # vLLM
        return choice["stop_reason"] is None
    if "matched_stop" in choice:  # SGLang: the stop string, or the EOS token id
        return not isinstance(choice["matched_stop"], str)
    if choice.get("stop_type") in ("word", "eos"):  # llama.cpp server
        return choice["stop_type"] == "eos"
    if choice.get("stopping_word"):
        return False
    if tokens and family != "llamacpp":  # llama.cpp's server drops the stop word's tokens: no evidence there
        return stop not in "".join(tokens)
    return False
