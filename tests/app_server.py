"""Launch `app.py` in a subprocess on a free localhost port (for the API and browser tests)."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(name: str, env: dict[str, str] | None = None, timeout: float = 60.0) -> Iterator[tuple[str, float]]:
    """Yields (url, seconds from process start to the app answering HTTP); the app's log goes to
    test-artifacts/app-<name>.log."""
    port = free_port()
    full_env = {**os.environ, "STEPWISE_GENERATOR": "fake", "STEPWISE_PRM": "fake", "GRADIO_ANALYTICS_ENABLED": "False",
                "NO_PROXY": "127.0.0.1,localhost", **(env or {})}
    (REPO / "test-artifacts").mkdir(exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    with open(REPO / "test-artifacts" / f"app-{name}.log", "w") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), "--port", str(port)], cwd=REPO, env=full_env,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            yield url, wait_ready(proc, url, t0, timeout)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_ready(proc: subprocess.Popen, url: str, t0: float, timeout: float) -> float:
    """Seconds from `t0` until the app answers its API info route."""
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with code {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url + "/gradio_api/info", timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - t0
        except OSError:
            pass
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"app.py did not answer on {url} within {timeout:.0f} s")
        time.sleep(0.1)


def run_together(one: Callable[..., None], jobs: list[tuple], timeout: float = 60.0) -> list[str]:
    """`one(*job)` for every job, each in its own thread, all at once: the errors, as 'first arg: repr'."""
    errors: list[str] = []

    def guarded(*job) -> None:
        try:
            one(*job)
        except Exception as err:
            errors.append(f"{job[0]}: {err!r}")

    threads = [threading.Thread(target=guarded, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return errors
