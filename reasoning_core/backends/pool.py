"""Several servers of one model used as one (`openai:URL1,URL2,...`): a batched call is split into
contiguous sub-batches, one per server that is up, each sent to the server with the fewest requests in
flight (then the fewest prompts sent so far, then the order given), and answers come back in input order.

A sub-batch whose server fails (`ServerDown`: unreachable, timed out, or busy / 5xx after its own retries)
is spread over the servers still up, and the failed server is marked down; after `retry_down_s` it is tried
again, so a restarted server rejoins. Only when every server is down is the call an error.

Results do not depend on which server answered, as long as every server runs the same model and software:
a backend sends each prompt with the call's seed whatever else shares its request (vLLM seeds each prompt
of a list on its own), so splitting a batch differently changes no sample.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar

from ..protocols import Continuation, Generator, ModelError, nothing_to_propose

log = logging.getLogger(__name__)
Member = TypeVar("Member")
Item = TypeVar("Item")
Result = TypeVar("Result")


class ServerDown(ModelError):
    """A server could not serve a request (unreachable, timed out, or busy / 5xx after its retries); a pool
    moves the request to its other servers."""


@dataclass
class ServerLoad:
    """What one server of a pool has been sent: requests (sub-batches) and the prompts in them, how many
    failed, how many are in flight now, and whether it is up (else `error` says why it went down)."""

    server: str
    requests: int = 0
    prompts: int = 0
    failures: int = 0
    outstanding: int = 0
    up: bool = True
    error: str | None = None


class ServerPool(Generic[Member]):
    """`members` (one client per server, named by `names`) behind one batched `map`."""

    def __init__(self, members: Sequence[Member], names: Sequence[str], *, retry_down_s: float = 60.0) -> None:
        if not members or len(members) != len(names):
            raise ValueError("a server pool needs one name per member and at least one member")
        self.members, self.retry_down_s = list(members), retry_down_s
        self._loads = [ServerLoad(name) for name in names]
        self._down_at: list[float] = [0.0] * len(members)
        self._lock = threading.Lock()

    def load(self) -> list[dict[str, Any]]:
        """Per-server load, one dict per server in the order given."""
        with self._lock:
            return [asdict(load) for load in self._loads]

    def map(self, items: Sequence[Item], send: Callable[[Member, list[Item]], list[Result]]) -> list[Result]:
        """`send(member, sub_batch)` for contiguous sub-batches of `items` over the servers that are up,
        concurrently; one result per item, in the order of `items`."""
        return self._map(items, send, revive=True)

    def _map(self, items: Sequence[Item], send: Callable[[Member, list[Item]], list[Result]],
             revive: bool) -> list[Result]:
        if not items:
            return []
        picks = self._acquire(list(items), revive)
        if len(picks) == 1:
            return self._send(*picks[0], send)
        with ThreadPoolExecutor(len(picks)) as threads:  # every booked sub-batch runs, even when one fails
            futures = [threads.submit(self._send, i, chunk, send) for i, chunk in picks]
        return [r for future in futures for r in future.result()]

    def _acquire(self, items: list[Item], revive: bool) -> list[tuple[int, list[Item]]]:
        """Cut `items` into one sub-batch per server that is up and book each on the least loaded server; the
        booking happens here, before any request is sent, so one caller's split is deterministic. Servers down
        long enough are tried again (`revive`) only by a new call, never by the failover of a failed one, so a
        failover ends once every server has failed."""
        with self._lock:
            now = time.monotonic()
            for i, load in enumerate(self._loads):
                if revive and not load.up and now - self._down_at[i] >= self.retry_down_s:
                    log.info("trying %s again (down for %.0f s)", load.server, now - self._down_at[i])
                    load.up = True
            up = [i for i, load in enumerate(self._loads) if load.up]
            if not up:
                raise ModelError(f"all {len(self._loads)} servers of the pool are down: "
                                 + "; ".join(f"{load.server}: {load.error}" for load in self._loads))
            k = min(len(items), len(up))
            bounds = [len(items) * j // k for j in range(k + 1)]
            picks = []
            for chunk in (items[a:b] for a, b in itertools.pairwise(bounds)):
                i = min(up, key=lambda j: (self._loads[j].outstanding, self._loads[j].prompts, j))
                load = self._loads[i]
                load.outstanding += 1
                load.requests += 1
                load.prompts += len(chunk)
                picks.append((i, chunk))
            return picks

    def _send(self, i: int, chunk: list[Item], send: Callable[[Member, list[Item]], list[Result]]) -> list[Result]:
        try:
            out = send(self.members[i], chunk)
        except ServerDown as e:
            self._release(i, e)
            log.warning("%s is down (%s); moving its %d prompts to the other servers", self._loads[i].server, e,
                        len(chunk))
            return self._map(chunk, send, revive=False)
        except BaseException:
            self._release(i)
            raise
        self._release(i)
        if len(out) != len(chunk):
            raise ModelError(f"{self._loads[i].server} answered {len(out)} results for {len(chunk)} prompts")
        return out

    def _release(self, i: int, error: ServerDown | None = None) -> None:
        with self._lock:
            load = self._loads[i]
            load.outstanding -= 1
            if error is not None:
                load.failures += 1
                load.up, load.error = False, str(error)
                self._down_at[i] = time.monotonic()


def pool_members(urls: Sequence[str], make: Callable[[str, bool], Member],
                 served: Callable[[Member], tuple[str, str]], what: str) -> list[Member]:
    """One client per URL, made by `make(url, retry_unreachable)`: with several, an unreachable server is not
    retried, its requests move to the others at once. Refuses a URL listed twice, and servers that do not all
    serve the same thing (`served(member)` = (its address, what it serves); `what` says what they must share),
    since then results would depend on which server answered."""
    if len(set(urls)) != len(urls):
        raise ModelError(f"a server is listed twice in {','.join(urls)}")
    members = [make(url, len(urls) == 1) for url in urls]
    names = [served(m) for m in members]
    if len({name for _, name in names}) > 1:
        raise ModelError(f"the servers of a pool must serve {what}; got "
                         + ", ".join(f"{address}: {name}" for address, name in names))
    return members


class PooledGenerator:
    """A `Generator` whose calls a `ServerPool` spreads over several generators of one model (one per server).
    `model` and `served` are the members' (the same on each); `server_load()` is the pool's `load()`."""

    def __init__(self, members: Sequence[Generator], names: Sequence[str], *, retry_down_s: float = 60.0) -> None:
        self.pool = ServerPool(members, names, retry_down_s=retry_down_s)
        self.model = getattr(members[0], "model", None)
        self.served = getattr(members[0], "served", None)

    def propose(self, prefixes: Sequence[str], n: int, *, stop: str, max_new_tokens: int, temperature: float,
                seed: int, cancel: threading.Event | None = None) -> list[list[Continuation]]:
        if nothing_to_propose(prefixes, n, max_new_tokens, stop, temperature):
            return []
        return self.pool.map(list(prefixes), lambda member, chunk: member.propose(
            chunk, n, stop=stop, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed, cancel=cancel))

    def server_load(self) -> list[dict[str, Any]]:
        return self.pool.load()

    def close(self) -> None:
        for member in self.pool.members:
            getattr(member, "close", lambda: None)()
