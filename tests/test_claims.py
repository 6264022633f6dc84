"""Tests for bench/claims.py and bench/claims_lib: the statistics, the report, every claim function's
row, and the command line wired end to end on micro-sized models. The real run is a benchmark
(`python -m bench.claims --quick`), not a test."""
from __future__ import annotations

import math
import os
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts its thread pool (shared CPUs)

from bench.claims_lib import report, runner, search_claims, stats, train_claims
from bench.claims_lib.context import SIZES, Context, Sizes
from reasoning_core.fakes import FakeArithGenerator, FakeArithPRM
from reasoning_core.protocols import Continuation

MICRO = Sizes(name="micro", test_problems=4, val_problems=3, n_max=4, size=3, co_problems=3, mcts_iterations=2,
              mcts_problems=3, rstar_problems=2, rstar_iterations=2, sft_steps=4, star_rounds=1, star_problems=3,
              star_steps=1, label_problems=2, label_rollouts=2, prm_steps=1, grpo_steps=1, grpo_prompts=2,
              grpo_generations=2, stage_eval=2, n_boot=200, orm_samples=2, orm_problems=6, orm_steps=2)
ROW_KEYS = set(report.ROW_FIELDS)


# ---------------------------------------------------------------------------------------- stats
def test_bootstrap_ci_of_a_fair_coin_matches_the_normal_interval():
    x = np.array([0, 1] * 200, dtype=float)          # mean 0.5, standard error 0.025
    point, lo, hi = stats.mean_ci(x, n_boot=2000, seed=1)
    assert point == 0.5
    assert lo == pytest.approx(0.5 - 1.96 * 0.025, abs=0.01) and hi == pytest.approx(0.5 + 1.96 * 0.025, abs=0.01)
    assert stats.mean_ci(x, n_boot=2000, seed=1) == (point, lo, hi)   # seeded: identical on a rerun


@pytest.mark.parametrize("low, high, margin, expected", [
    (0.01, 0.2, 0.0, "yes"), (-0.2, -0.01, 0.0, "no"), (-0.1, 0.1, 0.0, "not shown"), (0.0, 0.0, 0.0, "not shown"),
    (-0.04, 0.1, 0.05, "yes"), (-0.3, -0.06, 0.05, "no"), (math.nan, math.nan, 0.0, "not shown")])
def test_verdict(low, high, margin, expected):
    assert stats.verdict(low, high, margin) == expected


# ---------------------------------------------------------------------------------------- report
def test_report_is_generated_from_the_rows(tmp_path):
    rows = [report.Row("9 made up", "Nobody 2099", "A > B", "accuracy, A - B", "detail one", 0.123, 0.05, 0.2, 40),
            report.Row("10 other", "Somebody 2100", "C ~ D", "AUC, C - D", "two", -0.01, -0.04, 0.02, 30, margin=0.05,
                       by_task={"arith": (0.1, 0.02, 0.2, 20), "word": (-0.2, -0.3, -0.1, 10)}),
            report.Row("11 missed", "Anyone 2101", "E > F", "accuracy, E - F", "three", 0.02, -0.03, 0.07, 50,
                       diagnosis="E ranks at chance within problems (AUC 0.51).")]
    path = report.write_report(rows, tmp_path, {"run": "test"}, {"broken": "ValueError: boom"})
    text = path.read_text()
    assert "| 9 made up | Nobody 2099 | A > B | accuracy, A - B | +0.123 [+0.050, +0.200] | 40 | yes |" in text
    assert "| 10 other |" in text and text.count("| yes |") == 2          # within the margin: holds
    # a row that does not hold gets its paragraph: the interval's reading, then the claim's own diagnosis
    why = text.split("## Why the other rows do not hold")[1]
    assert "**11 missed** (not shown): The interval [-0.030, +0.070] straddles 0" in why
    assert why.index("about 313 problems") < why.index("E ranks at chance within problems (AUC 0.51).")
    rows[2].by_task = {"arith": (0.1, 0.02, 0.2, 25), "word": (0.0, -0.1, 0.1, 25)}
    assert "Within one task's problems it holds for arith." in rows[2].why_not()
    assert "9 made up" not in why and "10 other" not in why
    # a row that holds shows its diagnosis (claim 1's convergence check, say) among the details instead
    rows[0].diagnosis = "Both arms converged."
    held = report.report_markdown(rows, {})
    assert "- **9 made up** (accuracy, A - B): detail one Both arms converged." in held
    assert held.count("converged") == 1
    rows[0].diagnosis = ""
    assert "| broken |" in text and "ValueError: boom" in text
    assert "- **run**: test" in text
    # per task: the row's own verdict within each task, blank where a row has no per-task figures
    assert "| 10 other | +0.100 [+0.020, +0.200], 20, yes | -0.200 [-0.300, -0.100], 10, no |" in text
    assert "| 9 made up |  |  |" in text
    by_task = pd.read_csv(tmp_path / "claims_by_task.csv")
    assert list(by_task.task) == ["arith", "word"] and list(by_task.holds) == ["yes", "no"]
    table = pd.read_csv(tmp_path / "claims.csv")
    assert list(table.columns) == report.ROW_FIELDS and list(table.holds) == ["yes", "yes", "not shown"]
    rows[0].effect, rows[0].ci_low = -0.5, -0.6                          # the report follows the rows
    rows[0].holds = stats.verdict(rows[0].ci_low, rows[0].ci_high)
    assert "-0.500 [-0.600, +0.200]" in report.report_markdown(rows, {})


# ---------------------------------------------------------------------------------------- claims
class Contrarian:
    """A discriminator that finishes every trajectory with an answer no trajectory has."""

    tasks = ("arith",)

    def propose(self, prefixes, n, **_):
        return [[Continuation("The answer is 999", 17, -1.0, True)] * n for _ in prefixes]


@pytest.fixture()
def fake_ctx(tmp_path):
    """Search claims on the seeded fake models (exact checker blurred by noise as the PRM)."""
    return Context(MICRO, tmp_path / "out", tmp_path / "work", preset="micro",
                   loaded={"generator": FakeArithGenerator(accuracy=0.7), "prm": FakeArithPRM(),
                           "orm": FakeArithPRM(kind="orm"), "discriminator": Contrarian()})


def _check_rows(rows, prefix: str, n: int | None = None):
    assert rows and all(r.claim.startswith(prefix) for r in rows)
    for r in rows:
        assert set(r.to_dict()) == ROW_KEYS and r.holds in ("yes", "no", "not shown")
        assert r.paper and r.direction and r.metric and r.detail
        assert math.isnan(r.effect) or r.ci_low - 1e-9 <= r.effect <= r.ci_high + 1e-9
        if n is not None:
            assert r.n == n


def test_search_claims_return_rows_and_files(fake_ctx):
    # claim 3 trains its own ORM from a checkpoint (the quick runner's test does that); here it reads the pool's
    fake_ctx.cache["cobbe_orm"] = (search_claims.sample_pool(fake_ctx).orm, {})
    rows = train_claims.claim_verifier(fake_ctx) + search_claims.claim_prm_vs_orm(fake_ctx)
    _check_rows(rows[:2], "3", MICRO.test_problems)
    _check_rows(rows[2:], "4", MICRO.test_problems)
    pool = fake_ctx.cache["pool"]
    assert pool.correct.shape == pool.prm.shape == pool.orm.shape == (MICRO.test_problems, MICRO.n_max)
    assert pool.n_values() == [1, 2, 4]
    # a PRM that is the exact checker picks a correct chain whenever one exists
    assert (pool.best_of(pool.prm, MICRO.n_max) == pool.correct.any(1)).all()
    _check_rows(search_claims.claim_difficulty(fake_ctx), "6", MICRO.co_problems)
    _check_rows(search_claims.claim_mcts(fake_ctx), "7")
    # rStar's verdicts by the generator itself and by the second LM, which here disagrees with every one
    trajectories = pd.read_csv(fake_ctx.out / "claim7_mcts_and_rstar.csv").query("arm == 'rstar trajectory'")
    assert len(trajectories) and trajectories.self_consistent.all() and not trajectories.consistent.any()
    for name in ("claim3_verifier_reranking", "claim4_prm_vs_orm", "claim6_compute_vs_difficulty",
                 "claim7_mcts_and_rstar"):
        assert (fake_ctx.out / f"{name}.csv").is_file() and (fake_ctx.out / f"{name}.html").is_file()


def test_pool_rerankers_pick_by_score_and_vote():
    pool = search_claims.Pool([None, None], [[], []], [["1", "2", "2"], [None, "5", "7"]],
                              np.array([[False, True, True], [False, True, False]]), np.ones((2, 3)),
                              prm=np.array([[0.9, 0.1, 0.2], [0.1, 0.2, 0.8]]), orm=np.zeros((2, 3)),
                              greedy=np.array([False, False]), tasks=["arith", "arith"])
    assert pool.best_of(pool.prm, 3).tolist() == [False, False]
    assert pool.best_of(pool.prm, 2).tolist() == [False, True]
    assert pool.best_of(pool.orm, 3).tolist() == [False, False]      # ties go to the first chain
    assert pool.majority(3).tolist() == [True, True]                  # "2" wins; "5" is seen first
    assert pool.majority(1).tolist() == [False, False]                # no answer at all: wrong


@pytest.fixture(scope="module")
def micro_models(tmp_path_factory):
    """A micro generator, PRM and ORM from training/'s own stages (a few seconds)."""
    import torch

    from training import pipeline as pl
    from training.config import preset

    torch.set_num_threads(1)  # tiny models: more threads only wait on each other
    out = tmp_path_factory.mktemp("claims_micro")
    cfg = preset("micro")
    pl.run_sft(cfg, out / "generator")
    pl.run_label(cfg, out / "generator", out / "labels")
    pl.run_prm(cfg, out / "generator", out / "labels", out / "prm")
    pl.run_orm(cfg, out / "generator", out / "labels", out / "orm")
    return {role: out / role for role in ("generator", "prm", "orm")} | {"discriminator": out / "generator"}


def test_quick_runner_wiring_on_micro_models(micro_models, tmp_path, monkeypatch):
    """`python -m bench.claims --quick` end to end, every claim, with the quick sizes stubbed to micro."""
    from bench import claims as cli

    monkeypatch.setitem(SIZES, "quick", replace(MICRO, name="quick", test_problems=3, n_max=2, co_problems=2,
                                                val_problems=2, mcts_problems=2, rstar_problems=1))
    out = tmp_path / "report"
    args = ["--quick", "--out", str(out), "--threads", "1"] + [
        a for role, path in micro_models.items() for a in (f"--{role}", str(path))]
    assert cli.main(args) == 0
    table = pd.read_csv(out / "claims.csv")
    assert list(table.columns) == report.ROW_FIELDS
    assert {c.split()[0].rstrip("abc") for c in table.claim} == {str(k) for k in range(1, 9)}
    assert set(table.holds) <= {"yes", "no", "not shown"}
    text = (out / "REPORT.md").read_text()
    assert all(f"| {c} |" in text for c in table.claim) and "run failed" not in text
    assert len(list(out.glob("claim[1-8]_*.csv"))) == len(list(out.glob("claim[1-8]_*.html"))) == 8
    # claim 1 at equal training compute: the direct arm's shorter rows buy it more steps, at both budgets
    arms = pd.read_csv(out / "claim1_cot_vs_direct.csv")
    assert set(arms.budget) == {"half", "full"} and set(arms.bin) >= {"all", "arith 1"}
    for _, budget in arms[arms.bin == "all"].groupby("budget"):
        cot, direct = (budget.set_index("arm").loc[a] for a in ("step by step (CoT)", "direct answer"))
        assert direct.train_steps > cot.train_steps
        assert direct.train_tokens == pytest.approx(cot.train_tokens, rel=0.2)
    assert "Convergence (full minus half budget, paired)" in (out / "claims.csv").read_text()


def _fake_row(name: str, detail: str) -> list[report.Row]:
    return [report.Row(name, "paper", "direction", "metric", detail, 0.1, 0.05, 0.2, 10)]


def _claim_pid(ctx, progress):
    """A fake claim that says which process ran it, and (for the pool's readers) which process built the pool."""
    pool = ctx.cache.setdefault("pool", os.getpid())
    return _fake_row("pid", f"{os.getpid()} {pool}")


def _claim_slow(ctx, progress):
    import time
    time.sleep(1.5)   # ends after the jobs started beside it, so results arrive out of order
    return _fake_row("slow", str(os.getpid()))


def _claim_raises(ctx, progress):
    raise RuntimeError("broken claim")


def _claim_dies(ctx, progress):
    os._exit(3)   # a killed or out-of-memory process: no result, no exception


def test_claims_sharing_what_one_builds_form_one_job():
    assert runner.job_list(list(runner.CLAIMS)) == [["cot", "star"], ["verifier", "prm_vs_orm", "labels", "mcts"],
                                                   ["difficulty"], ["grpo"]]
    assert runner.job_list(["mcts", "cot", "labels"]) == [["labels", "mcts"], ["cot"]]
    # claim 2 starts from the generator claim 1 trains, so claim 1 runs first whichever order they were asked in
    assert runner.job_list(["star", "grpo", "cot"]) == [["cot", "star"], ["grpo"]]
    assert runner.job_list(["grpo", "cot"]) == [["grpo"], ["cot"]]


def test_parallel_jobs_report_in_claim_order_and_survive_a_failing_or_dying_claim(tmp_path):
    claims = {"cot": _claim_slow, "star": _claim_raises, "verifier": _claim_pid, "labels": _claim_pid,
              "difficulty": _claim_dies, "grpo": _claim_pid}
    ctx = Context(MICRO, tmp_path / "out", tmp_path / "work", preset="micro")
    rows, failures, walls = runner.run_claims(ctx, list(claims), claims=claims, show_progress=False, jobs=2)
    # rows come in the order the claims were asked for, whichever job finished first
    assert [r.claim for r in rows] == ["slow", "pid", "pid", "pid"]
    slow, verifier, labels, grpo = (r.detail.split() for r in rows)
    # the pool's readers share one process (the pool is built once); every job gets a fresh process
    assert verifier == labels and verifier[0] == verifier[1]
    assert len({slow[0], verifier[0], grpo[0]}) == 3 and str(os.getpid()) not in (slow[0], verifier[0], grpo[0])
    assert failures == {"star": "RuntimeError: broken claim",
                        "difficulty": "the claim's process ended with exit code 3 and no result"}
    assert list(walls) == ["cot", "star", "verifier", "labels", "grpo"]
    text = (ctx.out / "REPORT.md").read_text()
    assert "in 2 parallel jobs" in text and "broken claim" in text and "exit code 3" in text


def _claim_unpicklable(ctx, progress):
    rows = _fake_row("unpicklable", "")
    rows[0].by_task = {"arith": lambda: None}   # cannot travel back to the run's process
    return rows


def test_a_job_whose_result_cannot_travel_back_fails_instead_of_hanging(tmp_path):
    claims = {"difficulty": _claim_unpicklable, "grpo": _claim_pid}
    ctx = Context(MICRO, tmp_path / "out", tmp_path / "work", preset="micro")
    rows, failures, _ = runner.run_claims(ctx, list(claims), claims=claims, show_progress=False, jobs=2)
    assert [r.claim for r in rows] == ["pid"]
    assert failures == {"difficulty": "the claim's process ended with exit code 0 and no result"}


def _claim_waits(ctx, progress):
    (ctx.work / "claim.pid").write_text(str(os.getpid()))
    import time
    time.sleep(120)
    return []


def test_killing_a_parallel_run_leaves_no_claim_running(tmp_path):
    """The Claims tab stops a run by signalling its process; kill -9 gives it no chance to stop its jobs."""
    import signal
    import subprocess
    import sys
    import time

    out, work = tmp_path / "out", tmp_path / "work"
    work.mkdir()
    script = ("from pathlib import Path; from bench.claims_lib import runner; from bench.claims_lib.context import "
              "Context; import test_claims as t; "
              f"runner.run_claims(Context(t.MICRO, Path({str(out)!r}), Path({str(work)!r})), ['cot'], "
              "claims={'cot': t._claim_waits}, show_progress=False, jobs=2)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.path.dirname(__file__)]))
    parent = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.time() + 60
        while not (work / "claim.pid").is_file() and time.time() < deadline:
            time.sleep(0.2)
        child = int((work / "claim.pid").read_text())
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.time() + 10
        while _alive(child) and time.time() < deadline:
            time.sleep(0.2)
        assert not _alive(child)
    finally:
        parent.kill()


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its reaper counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_report_names_the_shipped_checkpoints_relative_to_the_repository(tmp_path):
    from reasoning_core.checkpoints import ASSETS
    assert runner._shown(ASSETS / "prm") == "assets/prm"  # the committed report reads the same on any clone
    assert runner._shown(tmp_path / "prm") == str(tmp_path / "prm")


def test_unknown_claim_names_are_listed():
    with pytest.raises(ValueError, match="valid: cot, star"):
        runner.check_names(["cot", "nope"])


def test_a_run_can_change_one_size_and_says_so(capsys):
    from bench import claims as cli

    sizes = cli.resized(SIZES["full"], ["sft_steps=1600", "test_problems=300"])
    assert (sizes.sft_steps, sizes.test_problems, sizes.n_max) == (1600, 300, SIZES["full"].n_max)
    assert sizes.name == "full with sft_steps=1600, test_problems=300"
    assert cli.resized(SIZES["quick"], []) is SIZES["quick"]
    for bad in ("sft_step=5", "sft_steps=lots", "sft_steps"):
        assert cli.main(["--size", bad, "--claims", "cot"]) == 2
        assert "expected FIELD=N" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------- UI tab
def test_claims_tab_streams_a_separate_process_and_shows_the_report(tmp_path, monkeypatch):
    import sys

    import gradio as gr
    import plotly.graph_objects as go

    from ui import claims as tab

    assert tab.tail("a\nclaims:  10%\rclaims:  50%\r\nlast\n") == "a\nclaims:  50%\nlast"
    monkeypatch.setattr(tab, "REPO", tmp_path)
    assert "No report yet" in tab.latest_report()
    script = ("import pathlib, sys; sys.stderr.write('claims: 1/2\\r'); sys.stderr.flush(); print('step two'); "
              f"p = pathlib.Path({tab.OUT!r}); p.mkdir(parents=True); (p / 'REPORT.md').write_text('| 1 CoT |')")
    updates = list(tab.run_quick([sys.executable, "-u", "-c", script]))
    assert "step two" in updates[-1][0] and "[finished]" in updates[-1][0]
    assert "| 1 CoT |" in updates[-1][1] and "runs/claims/REPORT.md" in updates[-1][1]
    assert "status 3" in list(tab.run_quick([sys.executable, "-c", "raise SystemExit(3)"]))[-1][0]
    # the report's figures, as the claims save them, drawn in the tab
    assert tab.figure_names() == [] and tab.figure("claim1_cot_vs_direct") is None
    report.save_claim(tmp_path / tab.OUT, "claim9_made_up", pd.DataFrame({"a": [1]}),
                      go.Figure(layout_title_text="nine"))
    assert tab.figure_names() == ["claim9_made_up"]
    text, choices, shown = tab.refreshed()
    assert "| 1 CoT |" in text and choices["value"] == "claim9_made_up" and shown.layout.title.text == "nine"
    # the committed full report is shown, though the quick one is newer, unless the button's run is newer still
    def write(folder: str, when: str) -> None:
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "REPORT.md").write_text(f"# r\n\n- **generated**: {when}\n\n| {folder} |")

    write(tab.COMMITTED[1], "2026-12-07 10:00 UTC")
    assert tab.report_folder() == tmp_path / tab.COMMITTED[1]          # a clone with the quick report only
    write(tab.COMMITTED[0], "2026-12-06 10:00 UTC")
    assert tab.report_folder() == tmp_path / tab.COMMITTED[0] and tab.COMMITTED[0] in tab.latest_report()
    write(tab.OUT, "2026-12-06 11:00 UTC")
    assert tab.report_folder() == tmp_path / tab.OUT
    with gr.Blocks():
        tab.build()


def test_claims_train_with_the_shipped_preset_evaluated_at_the_runs_size(tmp_path):
    """The STaR and GRPO stages' own evaluations (and their 2,100-problem paired set under the default preset)
    shrink to the run's size: the claims compare their arms on the run's test problems."""
    ctx = Context(MICRO, tmp_path / "out", tmp_path / "work", preset="default")
    cfg = ctx.pipeline_config()
    assert cfg.preset == "default" and cfg.eval_problems == cfg.paired_problems == MICRO.stage_eval
    assert cfg.prm.eval_problems == cfg.orm.eval_problems == MICRO.stage_eval
    # STaR at the run's size trains on the model's own chains alone: the preset's replayed gold rows would teach
    # what the claim credits to STaR
    from bench.claims_lib.context import FULL
    from bench.claims_lib.train_claims import star_config

    star = star_config(cfg.star, FULL)
    assert (star.problems, star.rounds, star.train.max_steps) == (FULL.star_problems, FULL.star_rounds, FULL.star_steps)
    assert cfg.star.replay_rows > 0 and star.replay_rows == 0 and star.self_chains


def test_star_starts_from_claim_1s_generator_trained_once_per_size(tmp_path):
    """Claim 2's parent is the step-by-step generator claim 1 saved in the run's work folder; a folder left by a
    run of other sizes is not taken for it."""
    from training.checkpoint import read_meta

    ctx = Context(MICRO, tmp_path / "out", tmp_path / "work", preset="micro")
    path = train_claims.cot_generator(ctx)
    weights = path / "model.safetensors"
    first = weights.stat().st_mtime_ns
    assert train_claims.cot_generator(ctx) == path and weights.stat().st_mtime_ns == first
    assert read_meta(path)["config"]["mix"]["weights"] == {"arith": 1.0}
    train_claims.cot_generator(replace(ctx, sizes=replace(MICRO, sft_steps=6)))
    assert read_meta(path)["metrics"]["steps"] == 6 and weights.stat().st_mtime_ns != first
