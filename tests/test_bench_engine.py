"""bench/engine.py's arithmetic: the pooled ratio weighs each problem by its own time, and the two raw
baselines sample exactly the tokens they are credited with."""
from __future__ import annotations

import pytest

from bench import engine
from reasoning_core.backends import TransformersGenerator
from reasoning_core.tasks.arith import TASK as ARITH

from tiny_models import save_tiny_generator


def row(task, problems, wall, tokens, raw, own):
    return {"strategy": "beam_search", "size": 16, "task": task, "problems": problems, "model_share": 1.0,
            "wall_s_per_problem": wall, "tokens_per_problem": tokens, "raw_generate_tok_s": raw,
            "raw_decode_tok_s": own}


def test_the_pooled_ratio_is_total_raw_time_over_total_search_time():
    # task a: 2 problems of 1 s, 100 tokens each, raw 200 tok/s (0.5 s a problem); task b: 1 problem of 4 s,
    # 400 tokens, raw 400 tok/s (1 s): 5 s of raw time against 6 s of search
    [pooled] = engine.pooled_rows([row("a", 2, 1.0, 100, 200.0, 400.0), row("b", 1, 4.0, 400, 400.0, 800.0)])
    assert pooled["problems"] == 3 and pooled["wall_s_per_problem"] == pytest.approx(2.0)
    assert pooled["search_tok_s"] == pytest.approx(600 / 6)
    assert pooled["search_vs_raw"] == pytest.approx(2.0 / 6)
    assert pooled["search_vs_own_sampler"] == pytest.approx(1.0 / 6)


def test_without_the_own_sampler_the_pooled_row_says_so():
    [pooled] = engine.pooled_rows([row("a", 1, 1.0, 100, 200.0, None)])
    assert pooled["search_vs_own_sampler"] is None and pooled["search_vs_raw"] == pytest.approx(0.5)


def test_the_raw_baselines_sample_the_tokens_they_are_credited_with(tmp_path, monkeypatch):
    gen = TransformersGenerator(save_tiny_generator(tmp_path / "g"), device="cpu")
    written = []
    sample = engine.sample_steps

    def counting(*args, leave, **kw):
        sample(*args, leave=lambda r, c, tokens, lp, stopped: written.append(len(tokens)), **kw)

    monkeypatch.setattr(engine, "sample_steps", counting)
    assert engine.raw_decode_tok_s(gen, ARITH.prompt("17 + 25"), 4, 40) > 0
    assert written == [10] * 4  # every row the full 10 tokens: no delimiter and no EOS ends one early
    assert engine.raw_generate_tok_s(gen, ARITH.prompt("17 + 25"), 4, 40) > 0
