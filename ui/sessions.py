"""The searches each browser session (or API client) has running, per tab, so that Stop can cancel
them and one session cannot fill the machine."""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

import gradio as gr

from .errors import user_error
from .limits import LIMITS


class RunRegistry:
    """Cancel events of the searches each session has running, per tab."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, str], list[threading.Event]] = {}

    @contextlib.contextmanager
    def run(self, request: gr.Request | None, tab: str) -> Iterator[threading.Event]:
        key = (session_id(request), tab)
        cancel = threading.Event()
        with self._lock:
            live = self._runs.setdefault(key, [])
            if len(live) >= LIMITS.runs_per_session:
                raise user_error(f"You already have {len(live)} searches running here; press Stop or wait.")
            live.append(cancel)
        try:
            yield cancel
        finally:
            cancel.set()  # a handler closed early (client gone) also stops its search
            with self._lock:
                self._runs[key].remove(cancel)
                if not self._runs[key]:
                    del self._runs[key]

    def stop(self, request: gr.Request | None, tab: str) -> int:
        """Cancel this session's searches in `tab`; returns how many were running."""
        with self._lock:
            live = list(self._runs.get((session_id(request), tab), []))
        for cancel in live:
            cancel.set()
        return len(live)

    def stopper(self, tab: str) -> Callable[..., None]:
        """A Stop-button handler for `tab`: cancels the caller's searches there and says so in a toast."""

        def stop(request: gr.Request | None = None) -> None:
            n = self.stop(request, tab)
            gr.Info(f"Stopping {n} search{'es' if n != 1 else ''}…" if n else "Nothing is running here.")

        return stop


def session_id(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


RUNS = RunRegistry()
