"""Every knob as a person meets it (label, help, range, choices, default), for every strategy config and
the budget, against the table committed with the code: the CLI's --help, the app's inputs and every range
error are written from it. When a change is meant, regenerate with `python tests/test_golden_knobs.py`."""
from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from reasoning_core.budget import Budget
from reasoning_core.knobs import knobs
from reasoning_core.search import STRATEGIES

GOLDEN = Path(__file__).parent / "golden" / "knobs.json"


def table() -> dict[str, list[dict]]:
    configs = {name: s.config_cls for name, s in STRATEGIES.items()} | {"budget": Budget}
    return {name: [asdict(k) | {"type": k.type.__name__, "aliases": list(k.aliases),
                                "choices": list(k.choices) if k.choices else None} for k in knobs(cls)]
            for name, cls in configs.items()}


def test_every_knob_reads_as_committed():
    assert table() == json.loads(GOLDEN.read_text())


def test_every_size_knob_is_a_knob():
    for name, s in STRATEGIES.items():
        field = s.config_cls.size_field
        assert field is None or field in {k.name for k in knobs(s.config_cls)}, name


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(table(), indent=1) + "\n")
    sys.stdout.write(f"wrote {GOLDEN}\n")
