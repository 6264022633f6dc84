"""experiments/compare_generators.py: each checkpoint's accuracy per task, and its paired test against the first."""
from __future__ import annotations

import pytest

from experiments.compare_generators import main, table
from training.pipeline import paired_vs_parent


def test_the_table_reads_accuracies_and_the_paired_test_against_the_first():
    base = {"arith": [1, 0, 0, 0], "word": [0, 0, 1, 1]}
    new = {"arith": [1, 1, 1, 0], "word": [0, 0, 1, 0]}
    result = {"solved": {"old": base, "new": new}, "paired_vs_first": {"new": paired_vs_parent(base, new)}}
    rows = table(result).set_index("generator")
    assert rows.loc["old", "arith"] == 0.25 and rows.loc["new", "arith"] == 0.75
    assert rows.loc["old", "all"] == 0.375 and rows.loc["new", "all"] == 0.5
    assert rows.loc["new", "gained / lost"] == "2 / 1" and rows.loc["old", "gained / lost"] == ""
    assert rows.loc["new", "p"] == pytest.approx(1.0)   # 2 gained against 1 lost shows nothing


def test_one_checkpoint_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--generators", "assets/generator", "--out", str(tmp_path)])
    assert "at least two checkpoints" in capsys.readouterr().err
