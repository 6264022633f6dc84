"""Claims tab: the latest report of `python -m bench.claims` (the papers' claims reproduced on the default
models) with its plotly figures, and a button that runs the quick version as a separate process - the same
command line a person would type - streaming its progress here. Nothing is computed inside the web worker."""
from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import plotly.io

REPO = Path(__file__).resolve().parents[1]
OUT = "runs/claims"                                   # where the button's run writes (git-ignored runs/)
COMMITTED = ("bench/results/claims-full", "bench/results/claims-quick")   # reports committed with the code
COMMAND = [sys.executable, "-u", "-m", "bench.claims", "--quick", "--out", OUT]
TAIL_LINES = 30
_lock = threading.Lock()  # one reproduction at a time per server: it uses every core


def report_folder() -> Path | None:
    """The committed full report (the quick one where a clone has no full one), or the button's own report
    where that was generated later (by the time each says: a file's mtime is only when a clone wrote it);
    None before any report exists."""
    committed = [REPO / d for d in COMMITTED if (REPO / d / "REPORT.md").is_file()][:1]
    found = committed + ([REPO / OUT] if (REPO / OUT / "REPORT.md").is_file() else [])
    return max(found, key=generated) if found else None


def generated(folder: Path) -> str:
    """When the folder's report was generated, as its header writes it ("" for a report without one)."""
    found = re.search(r"^- \*\*generated\*\*: (.+)$", (folder / "REPORT.md").read_text(), re.MULTILINE)
    return found.group(1) if found else ""


def latest_report() -> str:
    """The shown REPORT.md (`report_folder`), with where it came from."""
    folder = report_folder()
    if folder is None:
        return ("No report yet. Press **Run quick reproduction** (under 10 minutes on 2 CPU cores) or run "
                f"`python -m bench.claims --quick --out {OUT}` in a terminal.")
    return f"*From `{(folder / 'REPORT.md').relative_to(REPO)}`.*\n\n" + (folder / "REPORT.md").read_text()


def figure_names() -> list[str]:
    """The claims whose figure the shown report saved (claim1_cot_vs_direct, ...)."""
    folder = report_folder()
    return sorted(p.stem for p in folder.glob("claim*.json")) if folder else []


def figure(name: str | None):
    """One claim's plotly figure from the shown report, or None."""
    folder = report_folder()
    if not name or folder is None or not (folder / f"{name}.json").is_file():
        return None
    return plotly.io.read_json(folder / f"{name}.json")


def refreshed() -> tuple[str, dict, object]:
    """Report, figure choices and the first figure, after a run or on request."""
    names = figure_names()
    first = names[0] if names else None
    return latest_report(), gr.update(choices=names, value=first), figure(first)


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
    gr.Markdown("Each claim of the papers this lab rests on, measured on the default models with a 95% "
                "bootstrap interval over problems. The button runs "
                f"`python -m bench.claims --quick --out {OUT}` as a separate process, under 10 minutes on 2 CPU "
                "cores (the report's header gives each claim's time); the full run, `python -m bench.claims`, takes "
                "under an hour. A row that does not hold is explained under *Why the other rows do not hold*.")
    with gr.Row():
        run = gr.Button("Run quick reproduction", variant="primary")
        stop = gr.Button("Stop")
        refresh = gr.Button("Reload report")
    log = gr.Textbox(label="progress", lines=8, max_lines=TAIL_LINES, autoscroll=True, interactive=False)
    names = figure_names()
    first = names[0] if names else None
    pick = gr.Dropdown(names, value=first, label="figure of the report", elem_id="claims-figure")
    plot = gr.Plot(figure(first), show_label=False, elem_id="claims-plot")
    report = gr.Markdown(latest_report(), elem_id="claims-report")
    pick.change(figure, pick, plot)
    started = run.click(run_quick, None, [log, report], concurrency_limit=1).then(refreshed, None, [report, pick, plot])
    stop.click(None, None, None, cancels=[started])
    refresh.click(refreshed, None, [report, pick, plot])

