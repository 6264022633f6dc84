"""The command line as a user runs it: JSON shape, readable trees, clean errors with exit code 2."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from reasoning_core.__main__ import main
from reasoning_core.budget import Budget
from reasoning_core.cli_options import search_knobs
from reasoning_core.knobs import knobs
from reasoning_core.search import STRATEGIES

FAKE = ["--generator", "fake", "--reward", "fake"]


def cli(*args: str, capsys) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def small(strategy: str) -> list[str]:
    """A small size for `strategy` on the command line (N 4 or 6 iterations; greedy has none)."""
    field = STRATEGIES[strategy].config_cls.size_field
    return [] if field is None else [f"--{field}", "6" if field == "iterations" else "4"]


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_solve_json_for_every_strategy(strategy, capsys):
    code, out, _ = cli("solve", "--task", "arith", "--example", "2", "--strategy", strategy, *small(strategy),
                       "--json", *FAKE, capsys=capsys)
    assert code == 0
    d = json.loads(out)
    assert d["answer"] is not None and d["correct"] in (True, False)
    assert d["best_path"] and all({"text", "score"} <= set(step) for step in d["best_path"])
    assert {"id", "parent", "text", "score", "value", "visits", "status"} <= set(d["tree"]["nodes"][0])
    assert set(d["stats"]) >= {"generated_tokens", "generator_calls", "reward_calls", "nodes", "wall_s"}
    assert d["stats"]["nodes"] == len(d["tree"]["nodes"]) - 1


def test_solve_typed_problem_prints_a_readable_tree(capsys):
    code, out, _ = cli("solve", "--problem", "17 + 25 * 3 - 40", "--reference", "86", "--strategy", "beam_search",
                       *FAKE, capsys=capsys)
    assert code == 0
    assert "Answer:" in out and "Used:" in out and "* " in out and "prm=" in out


def test_a_problem_the_generator_never_learned_gets_a_notice_and_a_worked_out_reference(capsys):
    code, out, err = cli("solve", "--problem", "How many r's are in strawberry?", "--strategy", "greedy", "--json",
                         *FAKE, capsys=capsys)  # the fake generator records only arith
    assert code == 0
    d = json.loads(out)
    assert err.startswith("note: This generator was trained only on arith") and "letters problem" in err
    assert d["notice"] in err and d["reference"] == "3" and d["correct"] is False
    code, out, err = cli("solve", "--problem", "3 + 4", "--strategy", "greedy", "--json", *FAKE, capsys=capsys)
    assert err == "" and "notice" not in json.loads(out) and json.loads(out)["reference"] == "7"


@pytest.mark.parametrize("args, message", [
    (["--problem", ""], "empty"),
    (["--problem", "1 + 1 " * 20_000], "limit"),
    (["--problem", "1 + 2", "--strategy", "astar"], "greedy, self_consistency"),
    (["--problem", "1 + 2", "--n", "0", "--strategy", "best_of_n"], "at least 1"),
    (["--problem", "1 + 2", "--generator", "/no/such/model"], "/no/such/model"),
    (["--problem", "1 + 2", "--reward", "/no/such/prm"], "/no/such/prm"),
    (["--problem", "1 + 2", "--strategy", "greedy", "--iterations", "5"], "--iterations is not a knob of greedy"),
    (["--problem", "1 + 2", "--max-tokens", "0"], "max tokens must be at least 1"),
    (["--problem", "1 + 2", "--temperature", "-1"], "temperature must be at least 0"),
    (["--example", "99999"], "between 0 and"),
    ([], "give a problem"),
])
def test_bad_input_is_a_clear_error_not_a_traceback(args, message, capsys):
    code, _, err = cli("solve", *FAKE, *args, capsys=capsys)  # a later --generator/--prm overrides FAKE
    assert code == 2
    assert err.startswith("error:") and message in err
    assert "Traceback" not in err


def test_a_problem_comes_from_a_file_or_standard_input(tmp_path: Path, capsys, monkeypatch):
    import io

    (tmp_path / "p.txt").write_text("3 + 4\n", encoding="utf-8")
    code, out, _ = cli("solve", "--problem-file", str(tmp_path / "p.txt"), "--strategy", "greedy", "--json", *FAKE,
                       capsys=capsys)
    assert code == 0 and json.loads(out)["problem"] == "3 + 4" and json.loads(out)["reference"] == "7"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"5 * 2")))
    code, out, _ = cli("solve", "--problem-file", "-", "--strategy", "greedy", "--json", *FAKE, capsys=capsys)
    assert code == 0 and json.loads(out)["reference"] == "10"


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe 3 + 4", "is not UTF-8 text (byte 0)"),
    (b"3 + \x00 4", "control character (U+0000) at character 5"),
    (b"1 + 1 " * 40_000, "239,999 characters long; the limit is 20,000"),
    (None, "cannot read the problem file"),
])
def test_a_problem_file_that_cannot_be_solved_says_why(content, message, tmp_path: Path, capsys):
    path = tmp_path / "p.txt"
    if content is not None:
        path.write_bytes(content)
    code, _, err = cli("solve", "--problem-file", str(path), *FAKE, capsys=capsys)
    assert code == 2 and err.startswith("error:") and message in err and "Traceback" not in err


def test_a_prm_returning_nan_exits_2_with_a_message(capsys, monkeypatch):
    from reasoning_core import fakes, rewards

    monkeypatch.setattr(rewards, "load", lambda spec, **kw: fakes.nan_reward())
    code, _, err = cli("solve", "--problem", "1 + 2 * 3", "--strategy", "beam_search", "--generator", "fake",
                       capsys=capsys)
    assert code == 2 and "invalid step score" in err


def test_eval_writes_results_csv_and_plot(tmp_path: Path, capsys):
    code, _, _ = cli("eval", "--task", "arith", "--strategies", "greedy,best_of_n,beam_search", "--sizes",
                       "1,4", "--limit", "6", "--seed", "1", "--out", str(tmp_path), *FAKE, capsys=capsys)
    assert code == 0
    df = pd.read_csv(tmp_path / "results.csv")
    assert list(df.columns) == ["strategy", "size", "accuracy", "reached", "mean_generated_tokens", "mean_wall_s", "n",
                                "pooled"]
    assert not df["pooled"].any()
    assert len(df) == 6 and (df["n"] == 6).all() and df["accuracy"].between(0, 1).all()
    runs = pd.read_csv(tmp_path / "runs.csv")
    by_arm = runs.groupby(["strategy", "size"])["correct"].mean()
    assert df.set_index(["strategy", "size"])["accuracy"].to_dict() == pytest.approx(by_arm.to_dict())
    four = df[df["size"] == 4].set_index("strategy")
    assert four.loc["best_of_n", "mean_generated_tokens"] > four.loc["greedy", "mean_generated_tokens"]
    assert "plotly" in (tmp_path / "accuracy_vs_tokens.html").read_text()[:100_000]


def test_eval_seed_picks_the_problems(tmp_path: Path, capsys):
    for seed in ("1", "2"):
        cli("eval", "--strategies", "greedy", "--sizes", "1", "--limit", "5", "--seed", seed,
            "--out", str(tmp_path / seed), *FAKE, capsys=capsys)
    a, b = (pd.read_csv(tmp_path / s / "runs.csv") for s in ("1", "2"))
    assert list(a.reference) != list(b.reference)


def test_help_reads_well():
    for sub in ("solve", "eval"):
        out = subprocess.run([sys.executable, "-m", "reasoning_core", sub, "--help"], capture_output=True,
                             text=True, check=True).stdout
        assert "--strateg" in out and "budget" in out.lower() and "Traceback" not in out


def test_every_knob_of_every_strategy_and_every_budget_cap_is_an_option():
    out = subprocess.run([sys.executable, "-m", "reasoning_core", "solve", "--help"], capture_output=True,
                         text=True, check=True).stdout
    flags = {k.flag for s in STRATEGIES.values() for k in knobs(s.config_cls)} | {k.flag for k in knobs(Budget)}
    assert all(f"{flag} " in out or f"{flag}\n" in out for flag in flags), flags
    assert "--max-calls" in out and set(search_knobs()) >= {"n", "iterations", "rounds", "mask_ratio"}


def test_eval_takes_the_budget_caps_of_solve(tmp_path: Path, capsys):
    code, _, _ = cli("eval", "--strategies", "best_of_n", "--sizes", "8", "--limit", "3", "--max-tokens", "40",
                     "--out", str(tmp_path), *FAKE, capsys=capsys)
    assert code == 0
    assert (pd.read_csv(tmp_path / "runs.csv")["generated_tokens"] <= 40).all()


def test_old_spellings_still_work(tmp_path: Path, capsys):
    """--budgets and --prm, from before sizes and rewards had their names, give the same results."""
    args = ["eval", "--strategies", "best_of_n", "--limit", "3", "--generator", "fake"]
    cli(*args, "--sizes", "2", "--reward", "fake", "--out", str(tmp_path / "new"), capsys=capsys)
    cli(*args, "--budgets", "2", "--prm", "fake", "--out", str(tmp_path / "old"), capsys=capsys)
    new, old = (pd.read_csv(tmp_path / d / "runs.csv").drop(columns="wall_s") for d in ("new", "old"))
    pd.testing.assert_frame_equal(new, old)


@pytest.mark.parametrize("args, message", [
    (["--strategies", "greedy,best_of_n", "--iterations", "3"], "--iterations is not a knob of greedy, best_of_n"),
    (["--strategies", "greedy", "--sizes", "1,x"], "--sizes must be comma-separated integers"),
    (["--strategies", "nope"], "unknown strategy 'nope'"),
    (["--strategies", "greedy", "--limit", "0"], "--limit must be at least 1"),
    (["--strategies", "greedy", "--max-nodes", "0"], "max nodes must be at least 1"),
    (["--strategies", "compute_optimal", "--sizes", "2,8"], "the probe (2 chains) must be smaller"),
    (["--strategies", "best_of_n", "--n", "5"], "--n is the size of best_of_n, which eval sweeps: use --sizes"),
])
def test_eval_bad_input_exits_2_before_any_model_loads(args, message, capsys):
    code, _, err = cli("eval", "--generator", "/no/such/model", *args, capsys=capsys)
    assert code == 2 and message in err and "/no/such/model" not in err
