"""experiments/pick_rules.py: every aggregation and vote of a reward's step scores, beside greedy and pass@N."""
from __future__ import annotations

import json

from experiments.pick_rules import SAME, main
from reasoning_core.protocols import AGGREGATIONS


def test_the_exact_checker_picks_a_right_chain_whenever_one_was_sampled(tmp_path, capsys):
    main(["--generator", "fake", "--rewards", "oracle", "--preset", "tiny", "--problems", "12", "--n", "4",
          "--out", str(tmp_path)])
    result = json.loads((tmp_path / "pick_rules.json").read_text())
    table = result["table"]
    assert result["command"].startswith("python -m experiments.pick_rules --generator fake")
    assert {"greedy", "majority", "random pick", "pass@n"} < set(table)
    assert {f"oracle: {kind} {how}" for kind in ("best", "vote") for how in AGGREGATIONS} < set(table)
    reach = table["pass@n"]["all"]
    assert table["random pick"]["all"] < reach < 1.0       # some problems have right and wrong chains, some none
    # a step checker's min is 1 only on a chain right step by step, so its pick beats greedy and the vote; it
    # stays below pass@N where the only right answer came from wrong steps that cancel ("2 * 7 = 15", ...)
    best = table["oracle: best min"]["all"]
    assert max(table["greedy"]["all"], table["majority"]["all"]) + 0.2 < best < reach
    for rule, row in table.items():
        assert 0.0 <= row["all"] <= reach or rule == "greedy", rule
        assert (SAME in row) == rule.startswith("oracle:"), rule
    assert (table["greedy"]["rescued"], table["greedy"]["lost"]) == (0.0, 0.0)
    assert table["pass@n"]["rescued"] == 1.0
    assert table["oracle: best min"]["rescued"] > table["majority"]["rescued"]
    assert "| oracle: best min |" in capsys.readouterr().out
