"""`python -m training`: every subcommand answers bad input with one readable line and exit status 2,
before anything trains."""
from __future__ import annotations

import re

import pytest

from training import __main__ as cli
from training import config

CHECKPOINT = "assets/generator"


@pytest.mark.parametrize("argv, message", [
    (["sft", "--out", "{tmp}/o", "--preset", "huge"], "invalid choice: 'huge'"),
    (["sft", "--out", "{tmp}/o", "--threads", "0"], "--threads must be at least 1"),
    (["sft", "--out", "{file}"], "is a file"),
    (["verifier", "--out", "{tmp}/o"], "required: --parent"),
    (["verifier", "--out", "{tmp}/o", "--parent", "{tmp}/nowhere"], "--parent .*nowhere: no such folder"),
    (["star", "--out", "{tmp}/o", "--parent", "{tmp}"], "not a checkpoint folder"),
    (["star", "--out", "{tmp}/o", "--parent", CHECKPOINT, "--rounds", "0"], "--rounds must be at least 1"),
    (["star", "--out", "{tmp}/o", "--parent", CHECKPOINT, "--problems", "0"], "--problems must be at least 1"),
    (["star", "--out", "{tmp}/o", "--parent", CHECKPOINT, "--samples", "0"], "--samples must be at least 1"),
    (["star", "--out", "{tmp}/o", "--parent", CHECKPOINT, "--verifier", "{tmp}/v"], "--verifier .*no such folder"),
    (["label", "--out", "{tmp}/o", "--parent", "{tmp}/nowhere"], "no such folder"),
    (["prm", "--out", "{tmp}/o", "--parent", CHECKPOINT, "--labels", "{tmp}"], "missing math_shepherd.jsonl"),
    (["orm", "--out", "{tmp}/o", "--parent", CHECKPOINT], "needs --labels FOLDER .* or --samples N"),
    (["orm", "--out", "{tmp}/o", "--parent", CHECKPOINT, "--samples", "0"], "--samples must be at least 1"),
    (["grpo", "--out", "{tmp}/o", "--parent", CHECKPOINT, "--reward", "process"], "needs --prm"),
    (["grpo", "--out", "{tmp}/o", "--parent", CHECKPOINT, "--reward", "orm"], "needs --orm"),
    (["grpo", "--out", "{tmp}/o", "--parent", CHECKPOINT, "--max-steps", "0"], "--max-steps must be at least 1"),
    (["pipeline", "--out", "{tmp}/o", "--reward", "vibes"], "invalid choice: 'vibes'"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    (tmp_path / "a-file").write_text("x")
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{file}", str(tmp_path / "a-file")) for a in argv]
    try:
        code = cli.main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert re.search(message, err), err
    assert not (tmp_path / "o").exists(), "nothing may be written on bad input"


def test_the_cli_preset_list_matches_the_config():
    assert tuple(config.PRESETS) == cli.PRESETS
