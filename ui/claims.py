"""Claims tab: the latest report of `python -m bench.claims` (the papers' claims reproduced on the tiny
models), and a button that runs the quick version as a separate process - the same command line a
person would type - streaming its progress here. Nothing is computed inside the web worker."""
from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import gradio as gr

REPO = Path(__file__).resolve().parents[1]
OUT = "runs/claims"                                   # where the button's run writes (git-ignored runs/)
COMMITTED = "bench/results/claims-full"               # the full report committed with the code
COMMAND = [sys.executable, "-u", "-m", "bench.claims", "--quick", "--out", OUT]
TAIL_LINES = 30
_lock = threading.Lock()  # one reproduction at a time per server: it uses every core


def latest_report() -> str:
    """The newest REPORT.md of the button's folder and the committed one, with where it came from."""
    found = [REPO / d / "REPORT.md" for d in (OUT, COMMITTED) if (REPO / d / "REPORT.md").is_file()]
    if not found:
        return ("No report yet. Press **Run quick reproduction** (about 10 minutes on 2 CPU cores) or run "
                f"`python -m bench.claims --quick --out {OUT}` in a terminal.")
    path = max(found, key=lambda p: p.stat().st_mtime)
    return f"*From `{path.relative_to(REPO)}`.*\n\n" + path.read_text()


def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last lines of a progress log, where a carriage return (a tqdm redraw) replaces the line."""
    shown = [line.rstrip("\r").rsplit("\r", 1)[-1] for line in _strip_ansi(text).split("\n")]
    return "\n".join([line for line in shown if line.strip()][-lines:])


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


def run_quick(command: list[str] | None = None) -> Iterator[tuple[str, str]]:
    """Start the quick reproduction as its own process and stream (log tail, report) until it ends."""
    command = command or COMMAND
    shown = "$ " + " ".join(["python"] + command[2:]) + "\n"
    if not _lock.acquire(blocking=False):
        yield shown + "A reproduction is already running on this server; wait for it to finish.", latest_report()
        return
    proc = None
    try:
        proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        log = ""
        assert proc.stdout is not None
        for chunk in iter(lambda: proc.stdout.read1(4096), b""):  # type: ignore[union-attr]
            log = (log + chunk.decode("utf-8", "replace"))[-200_000:]
            yield shown + tail(log), gr.update()
        code = proc.wait()
        status = "finished" if code == 0 else f"exited with status {code} (see the log)"
        yield shown + tail(log) + f"\n\n[{status}]", latest_report()
    finally:  # a stopped or closed page must not leave the run behind
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        _lock.release()


def build() -> None:
    gr.Markdown("Each claim of the papers this lab rests on, measured on the tiny default models with a 95% "
                "bootstrap interval over problems. The button runs "
                f"`python -m bench.claims --quick --out {OUT}` as a separate process (about 10 minutes on 2 CPU "
                "cores); the full run is `python -m bench.claims` (under an hour).")
    with gr.Row():
        run = gr.Button("Run quick reproduction", variant="primary")
        stop = gr.Button("Stop")
        refresh = gr.Button("Reload report")
    log = gr.Textbox(label="progress", lines=8, max_lines=TAIL_LINES, autoscroll=True, interactive=False)
    report = gr.Markdown(latest_report())
    started = run.click(run_quick, None, [log, report], concurrency_limit=1)
    stop.click(None, None, None, cancels=[started])
    refresh.click(latest_report, None, report)

