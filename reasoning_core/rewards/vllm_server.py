"""Score steps through vLLM's OpenAI-compatible server, one server or a pool of servers of one PRM
(`vllm-server:PRESET:URL[,URL...][#MODEL]`, presets as `vllm_prm.VLLM_PRESETS`):

    rewards.load("vllm-server:qwen-prm:http://gpu1:8000")
    rewards.load("vllm-server:math-shepherd:http://gpu1:8000,http://gpu2:8000")

served by (recent vLLM; older releases say `--task reward` for `--runner pooling --convert reward` and
`--override-pooler-config` for `--pooler-config`, the spellings `VLLMPRM` tries for its engine)

    vllm serve Qwen/Qwen2.5-Math-PRM-7B --runner pooling
    vllm serve peiyi9979/math-shepherd-mistral-7b-prm --runner pooling --convert reward \\
        --pooler-config '{"pooling_type": "STEP", "step_tag_id": 12902, "returned_token_ids": [648, 387]}'

(the ids of "ки", "+" and "-" in that model's tokenizer, the ones `VLLMPRM` asks its engine for). The texts
sent are `PoolingPRM.text`'s and the rows are read at its `good_column`, so a server scores as the in-process
engine does.

The request is vLLM's pooling API, at the server's root (not under /v1):

    POST ROOT/pooling  {"model": M, "input": [text, ...], "encoding_format": "float", "task": "token_classify"}
    -> {"data": [{"index": i, "object": "pooling", "data": [[p_class0, p_class1], ...]}, ...], "usage": ...}

one row per step tag of each text. The `task` field is where releases differ (vllm-project/vllm):
  - up to v0.10 (`PoolingCompletionRequest` in vllm/entrypoints/openai/protocol.py, serving_pooling.py): the
    server pools for "encode" and knows no "token_classify"; vLLM's request models ignore fields they do not
    declare, and a release that refuses the field is asked again without it (below);
  - v0.11 on (vllm/entrypoints/openai/serving_pooling.py, then vllm/entrypoints/pooling/pooling/protocol.py and
    serving.py): `task` names one of the model's pooling tasks, "token_classify" for process reward models
    (docs/models/pooling_models/reward.md); without it the server picks one (token_embed first, in v0.11;
    the model's default pooling task, later, where naming any other is deprecated).
So "token_classify" is sent; a server that refuses the field (HTTP 400/422 that names the task) is asked again
without it, and from then on gets none. `/classify` is no use here: it pools one row per text.

Several servers: a `backends.pool.ServerPool` spreads each call's texts over the servers (least outstanding
requests first), moves a failed server's texts to the others and reports per-server load (`server_load`).
Scores do not depend on the split: every text is pooled on its own.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ..backends.http_client import JsonClient, ServerError
from ..backends.pool import ServerPool, pool_members
from ..protocols import ModelError
from .vllm_prm import PoolingPRM

log = logging.getLogger(__name__)

POOLING_TASK = "token_classify"


class PoolingClient:
    """One vLLM server's pooling endpoint, serving `model` (None: the one model it lists at /v1/models);
    `http` goes to its `JsonClient` (api_key, timeout, max_retries, backoff_s, retry_unreachable, transport).
    Construction asks the server for /v1/models, so a server that is down fails here, clearly."""

    def __init__(self, base_url: str, model: str | None = None, *, task: str | None = POOLING_TASK,
                 **http: Any) -> None:
        self.http = JsonClient(base_url, "vLLM pooling server", "vllm serve MODEL --runner pooling", **http)
        self.url = self.http.root + "/pooling"
        entries = self.http.models(required=model is None)
        self.model = model if model is not None else self.http.only_model(entries, "vllm-server:PRESET:URL#MODEL")
        self.task = task

    def rows(self, texts: list[str]) -> list[list[list[float]]]:
        """The pooled rows of each text, in order (one per step tag, one column per class)."""
        payload = {"model": self.model, "input": list(texts), "encoding_format": "float"}
        task = self.task
        if task is not None:
            try:
                return self._rows(self.http.post(self.url, {**payload, "task": task}), len(texts))
            except ServerError as e:
                if e.status not in (400, 422) or "task" not in str(e).lower():
                    raise
                log.info("%s refused task=%s (%s); asking without a task from now on", self.url, task, e)
                self.task = None
        return self._rows(self.http.post(self.url, payload), len(texts))

    def _rows(self, answer: Any, count: int) -> list[list[list[float]]]:
        items = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ModelError(f"the server at {self.url} answered without a 'data' list: {str(answer)[:200]}")
        if len(items) != count:
            raise ModelError(f"the server at {self.url} pooled {len(items)} outputs for {count} texts")
        rows = [item.get("data") for item in sorted(items, key=lambda item: item.get("index", 0))]
        for data in rows:
            if not isinstance(data, list) or not all(isinstance(row, list) and row and all(
                    isinstance(x, int | float) for x in row) for row in data):
                raise ModelError(f"the server at {self.url} did not pool one row of class probabilities per step "
                                 f"(got {str(data)[:120]}); is it serving a process reward model with the STEP "
                                 "pooler (`vllm serve MODEL --runner pooling`, see rewards/vllm_server.py)?")
        return rows

    def close(self) -> None:
        self.http.close()


class VLLMServerPRM(PoolingPRM):
    """A `RewardModel` over vLLM servers of one PRM at `urls` (one, or several as a pool), read in `preset`.
    `model` is the name they serve (None: the one each lists); `retry_down_s` is how long a pool leaves a failed
    server alone; `http` goes to each server's `JsonClient` (api_key, default $STEPWISE_API_KEY then
    $OPENAI_API_KEY; timeout, max_retries, backoff_s). In a pool an unreachable server is not retried: its texts
    move to the others at once."""

    def __init__(self, urls: str | Sequence[str], *, preset: str = "qwen-prm", model: str | None = None,
                 retry_down_s: float = 60.0, task: str | None = POOLING_TASK, **http: Any) -> None:
        super().__init__(preset)
        urls = [urls] if isinstance(urls, str) else list(urls)
        if not urls:
            raise ModelError("a vLLM reward server spec needs at least one URL: vllm-server:PRESET:URL[,URL...]")
        pooled = len(urls) > 1
        self.clients = pool_members(
            urls, lambda url, retry: PoolingClient(url, model, task=task, **{"retry_unreachable": retry, **http}),
            lambda c: (c.http.base, c.model), "one model")
        self.model = self.clients[0].model
        self.served = f"vllm-server:{preset}:{self.model}"  # what scores, whatever the address (a run's identity)
        self.pool = ServerPool(self.clients, [c.url for c in self.clients], retry_down_s=retry_down_s) \
            if pooled else None
        log.info("vLLM pooling server%s %s, model %s", "s" if pooled else "", ", ".join(urls), self.model)

    def _rows(self, texts: list[str]) -> list[Any]:
        if self.pool is None:
            return self.clients[0].rows(texts)
        return self.pool.map(texts, PoolingClient.rows)

    def server_load(self) -> list[dict[str, Any]]:
        """Per-server load of a pool (`ServerPool.load`); none for one server."""
        return self.pool.load() if self.pool is not None else []

    def close(self) -> None:
        for client in self.clients:
            client.close()
