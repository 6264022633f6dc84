"""Running searches for many clients at once: the slots that bound them, the worker thread that bridges a
search's events to the event loop, and the lock that lets a local model serve one call at a time."""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ..budget import Cancelled
from ..protocols import InputError, ModelError
from ..tree import Event, SearchFinished
from .parse import ApiError, bad_input

log = logging.getLogger(__name__)


class OneCallAtATime:
    """A model behind a lock, so concurrent searches take turns calling it: a search waiting for its turn
    gives up (Cancelled) as soon as it is cancelled. Everything but the calls passes through."""

    def __init__(self, model: Any) -> None:
        self._model, self._lock = model, threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def _take(self, cancel: threading.Event | None) -> None:
        while not self._lock.acquire(timeout=0.05):
            if cancel is not None and cancel.is_set():
                raise Cancelled()

    def propose(self, prefixes, n, *, cancel: threading.Event | None = None, **kw):
        self._take(cancel)
        try:
            return self._model.propose(prefixes, n, cancel=cancel, **kw)
        finally:
            self._lock.release()

    def score(self, problem, paths):
        self._take(None)
        try:
            return self._model.score(problem, paths)
        finally:
            self._lock.release()


class Slots:
    """At most `size` searches at once; `take` refuses rather than waits."""

    def __init__(self, size: int) -> None:
        self.size, self.active, self._lock = size, 0, threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.active >= self.size:
                return False
            self.active += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.active -= 1


class SearchRun:
    """One search in a worker thread, its events handed to the event loop as they come; `stop` cancels it.
    The slot it holds is given back when the search ends, so a cancelled search frees it only once it stopped."""

    def __init__(self, events: Iterator[Event], cancel: threading.Event, slots: Slots) -> None:
        self.events, self.cancel, self.slots = events, cancel, slots
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Event | BaseException] = asyncio.Queue()
        self.freed = False
        threading.Thread(target=self._work, name="search", daemon=True).start()

    def _put(self, item: Event | BaseException) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the event loop has closed: the server is shutting down
            self.cancel.set()

    def _work(self) -> None:
        try:
            for event in self.events:
                if isinstance(event, SearchFinished):
                    self._free()  # before the answer goes out, so a client that got it finds the slot free
                self._put(event)
        except Exception as err:
            if not isinstance(err, (InputError, ModelError)):
                log.exception("search failed")
            self._free()
            self._put(err)
        finally:
            self._free()

    def _free(self) -> None:
        if not self.freed:
            self.freed = True
            self.slots.give_back()

    def stop(self) -> None:
        self.cancel.set()

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            item = await self.queue.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if isinstance(item, SearchFinished):
                return


def search_error(err: BaseException) -> ApiError:
    if isinstance(err, InputError):
        return bad_input(err, "model")
    if isinstance(err, ModelError):
        return ApiError(500, str(err), type="server_error", code="model_error")
    return ApiError(500, "the search failed; the server log says why", type="server_error")
