"""What the clients of model servers share (`openai_lm.OpenAIGenerator`, `rewards/vllm_server.VLLMServerPRM`):
one httpx client per server with the bearer key ($STEPWISE_API_KEY, then $OPENAI_API_KEY) and a timeout, the
models it lists at /v1/models, and JSON POSTs retried with exponential backoff on connection errors, timeouts,
429 and 5xx. A server that cannot serve (unreachable, timed out, or still busy after the retries) raises
`ServerDown`, which a `ServerPool` reads as "move this request to the other servers"; any other HTTP error
is a `ServerError`."""
from __future__ import annotations

import logging
import os
import random
import time
from typing import Any

import httpx

from ..protocols import ModelError
from .pool import ServerDown

log = logging.getLogger(__name__)

RETRY_STATUS = {429, 500, 502, 503, 504}
_JITTER = random.Random(0)


class ServerError(ModelError):
    """The server answered with an HTTP error (`status`); raised after retries for 5xx / 429."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class BusyServerError(ServerError, ServerDown):
    """429 or 5xx after the retries: the server cannot serve now, so a pool moves the request elsewhere."""


class JsonClient:
    """One server at `base_url` (its root or its /v1): `root` and `base` (the /v1) are its addresses.
    `what` names the server in errors ("OpenAI-compatible server") and `example` how one starts it.
    `retry_unreachable=False` gives up on an unreachable server at once (a pool has other servers to try)."""

    def __init__(self, base_url: str, what: str, example: str, *, api_key: str | None = None,
                 timeout: float = 60.0, max_retries: int = 3, backoff_s: float = 0.5, retry_unreachable: bool = True,
                 max_connections: int = 16, transport: httpx.BaseTransport | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ModelError(f"the server URL must start with http:// or https://, got {base_url!r}")
        self.root = base_url.rstrip("/").removesuffix("/v1")
        self.base = self.root + "/v1"
        self.what, self.example = what, example
        self.max_retries, self.backoff_s, self.retry_unreachable = max_retries, backoff_s, retry_unreachable
        api_key = api_key or os.environ.get("STEPWISE_API_KEY") or os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout), transport=transport,
                                   limits=httpx.Limits(max_connections=max_connections))

    def close(self) -> None:
        self.client.close()

    def models(self, required: bool) -> list[dict[str, Any]]:
        """The entries the server lists at /v1/models. This first request also tells at once whether the server
        is up. A server without the endpoint gives none, unless `required`."""
        url = self.base + "/models"
        try:
            response = self.client.get(url)
        except (httpx.TransportError, httpx.TimeoutException) as e:
            raise ServerDown(f"cannot reach the {self.what} at {self.base}: {type(e).__name__}: {e}; "
                             f"is the server running (e.g. `{self.example}`) and is the URL right?") from e
        if response.status_code >= 400:
            if required or response.status_code in (401, 403):
                raise server_error(url, response)
            return []
        try:
            data = response.json()
        except ValueError:
            data = None
        entries = data.get("data", []) if isinstance(data, dict) else None
        if not isinstance(entries, list) or not all(isinstance(m, dict) and "id" in m for m in entries):
            raise ModelError(f"the server at {url} did not list its models as OpenAI's API does")
        return entries

    def only_model(self, entries: list[dict[str, Any]], spec: str) -> str:
        """The one model among `entries` (what `models` listed), or an error that says how to name one (`spec`)."""
        ids = [m["id"] for m in entries]
        if len(ids) != 1:
            raise ModelError(f"the server at {self.base} serves {len(ids)} models ({', '.join(ids) or 'none'}); "
                             f"name one: {spec}")
        return ids[0]

    def post(self, url: str, payload: dict[str, Any], retry_status: bool = True) -> Any:
        """POST `payload` to `url` and return the JSON answer, with retries and exponential backoff on
        connection errors and timeouts (unless `retry_unreachable` is off) and, when `retry_status`, 429 and 5xx."""
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = self.client.post(url, json=payload)
            except (httpx.TransportError, httpx.TimeoutException) as e:
                if last or not self.retry_unreachable:
                    what = "timed out" if isinstance(e, httpx.TimeoutException) else "failed"
                    tries = f"{attempt + 1} tries" if attempt else "1 try"
                    raise ServerDown(f"cannot reach the {self.what} at {url}: the request {what} "
                                     f"({type(e).__name__}: {e}) after {tries}; is the server running "
                                     f"(e.g. `{self.example}`) and is the URL right?") from e
                self._sleep(attempt, None, f"{type(e).__name__}: {e}")
                continue
            if response.status_code < 400:
                try:
                    return response.json()
                except ValueError as e:
                    raise ModelError(f"the server at {url} did not answer with JSON: "
                                     f"{response.text[:200]!r}") from e
            error = server_error(url, response)
            if last or not retry_status or response.status_code not in RETRY_STATUS:
                raise error
            self._sleep(attempt, response.headers.get("retry-after"), str(error))
        raise AssertionError("unreachable")

    def _sleep(self, attempt: int, retry_after: str | None, why: str) -> None:
        delay = self.backoff_s * 2 ** attempt * (1 + 0.25 * _JITTER.random())
        if retry_after and retry_after.replace(".", "", 1).isdigit():
            delay = max(delay, min(float(retry_after), 60.0))
        log.warning("%s; retry %d of %d in %.1f s", why, attempt + 1, self.max_retries, delay)
        time.sleep(delay)


def server_error(url: str, response: httpx.Response) -> ServerError:
    """The error for an HTTP error answer, with the server's own message and a hint for 401/403/404."""
    try:
        detail = response.json()
        detail = detail.get("error", detail) if isinstance(detail, dict) else detail
        detail = detail.get("message", detail) if isinstance(detail, dict) else detail
    except ValueError:
        detail = response.text
    hint = ""
    if response.status_code in (401, 403):
        hint = " (set STEPWISE_API_KEY or OPENAI_API_KEY, or pass api_key)"
    elif response.status_code == 404:
        hint = " (check the URL and the model name the server serves: GET /v1/models)"
    error = BusyServerError if response.status_code in RETRY_STATUS else ServerError
    return error(f"the server at {url} answered HTTP {response.status_code}: {str(detail)[:300]}{hint}",
                 response.status_code)
