"""Sharded evaluation: the merge of the K parts of a run is the single run's tables, exactly, and parts that
do not make up one run are refused with one clear error."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from reasoning_core import eval as ev
from reasoning_core.__main__ import main
from reasoning_core.fakes import FakeArithGenerator, FakeArithPRM
from reasoning_core.protocols import InputError
from reasoning_core.shards import Shard, merge_parts, run_identity, write_part

SPEC = ev.EvalSpec(["greedy", "best_of_n", "self_consistency", "beam_search"], [1, 2, 4], seed=3, pool=True)
MODELS = {"generator": "fake", "reward": "fake", "chat_template": "auto"}


@pytest.fixture(scope="module")
def task():
    from reasoning_core.tasks import get_task

    return get_task("arith")


@pytest.fixture(scope="module")
def examples():
    return ev.draw_problems("arith", 7, seed=1)


@pytest.fixture(scope="module")
def single(examples, task):
    return ev.evaluate(SPEC, examples, task, FakeArithGenerator(0.6), FakeArithPRM())


def without_wall(summary: pd.DataFrame, per_run: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return summary.drop(columns="mean_wall_s"), per_run.drop(columns="wall_s")


def write_parts(tmp_path: Path, examples, parts: dict[int, pd.DataFrame], count: int, spec=SPEC,
                models=MODELS) -> list[Path]:
    run = run_identity(spec, examples, "arith", models)
    return [write_part(tmp_path / f"machine-{i}", run, Shard(i, count), rows, ev.server_load(None))
            for i, rows in parts.items()]


def test_shards_interleave_the_problems():
    assert list(Shard(1, 3).problems(8)) == [1, 4, 7] and list(Shard(0, 1).problems(3)) == [0, 1, 2]
    assert Shard.parse("2/4") == Shard(2, 4) and str(Shard(2, 4)) == "2/4"
    for bad in ("4/4", "-1/2", "a/b", "1", "1/0", ""):
        with pytest.raises(InputError, match="--shard must be I/K with 0 <= I < K"):
            Shard.parse(bad)


@pytest.mark.parametrize("count", [1, 3, 9])  # 9 parts for 7 problems: two hold none
def test_the_merge_of_sharded_runs_is_the_single_run(count, examples, task, single, tmp_path):
    parts = {}
    for i in range(count):
        _, parts[i] = ev.evaluate(SPEC, examples, task, FakeArithGenerator(0.6), FakeArithPRM(),
                                  problems=Shard(i, count).problems(len(examples)))
    merged = merge_parts(write_parts(tmp_path, examples, parts, count)[::-1])  # in any order
    for got, want in zip(without_wall(merged.summary, merged.per_run), without_wall(*single)):
        pd.testing.assert_frame_equal(got, want)
    assert merged.per_run["pooled"].any() and not merged.per_run["pooled"].all()


def test_the_merge_is_exact_to_the_last_digit(examples, single, tmp_path):
    """A run's own rows cut into parts merge back into identical tables and files, wall times included."""
    summary, per_run = single
    parts = {i: per_run[per_run["problem"] % 3 == i] for i in range(3)}
    merged = merge_parts(write_parts(tmp_path, examples, parts, 3))
    pd.testing.assert_frame_equal(merged.summary, summary)
    pd.testing.assert_frame_equal(merged.per_run, per_run)
    one = ev.write_results(summary, per_run, tmp_path / "one")
    both = ev.write_results(merged.summary, merged.per_run, tmp_path / "merged", merged.servers)
    assert [p.read_bytes() for p in one[:2]] == [p.read_bytes() for p in both[:2]]  # no servers.csv: no pool


def cli(args: list[str], capsys) -> tuple[int, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out + out.err


RUN = ["eval", "--task", "arith", "--strategies", "greedy,best_of_n,beam_search", "--sizes", "1,4", "--limit", "5",
       "--seed", "2", "--generator", "fake", "--reward", "fake"]


def test_the_command_line_shards_and_merges(tmp_path, capsys):
    assert cli(RUN + ["--out", str(tmp_path / "one")], capsys)[0] == 0
    paths = []
    for i in range(2):
        code, out = cli(RUN + ["--out", str(tmp_path / f"m{i}"), "--shard", f"{i}/2"], capsys)
        paths.append(tmp_path / f"m{i}" / f"part-{i}-of-2.json")
        assert code == 0 and str(paths[-1]) in out and f"shard {i}/2" in out
        assert not (tmp_path / f"m{i}" / "results.csv").exists()  # a part is not a result
    code, out = cli(["eval", "merge", *map(str, paths), "--out", str(tmp_path / "merged")], capsys)
    assert code == 0 and "2 parts merged" in out
    for name, wall in (("results.csv", "mean_wall_s"), ("runs.csv", "wall_s")):
        read = [pd.read_csv(tmp_path / d / name).drop(columns=wall) for d in ("one", "merged")]
        pd.testing.assert_frame_equal(*read)
    code, out = cli(["eval", "merge", str(paths[0]), "--out", str(tmp_path / "half")], capsys)
    assert code == 2 and out.strip() == "error: shard 1/2 is missing: merge needs all 2 parts of the run (got 0/2)"


@pytest.fixture
def three(examples, single, tmp_path) -> list[Path]:
    per_run = single[1]
    return write_parts(tmp_path, examples, {i: per_run[per_run["problem"] % 3 == i] for i in range(3)}, 3)


def test_a_missing_part_is_refused(three):
    with pytest.raises(InputError, match=r"^shard 1/3 is missing: merge needs all 3 parts of the run "
                                         r"\(got 0/3, 2/3\)$"):
        merge_parts([three[0], three[2]])
    with pytest.raises(InputError, match=r"^shards 1/3, 2/3 are missing"):
        merge_parts(three[:1])
    with pytest.raises(InputError, match="needs the part files"):
        merge_parts([])


def test_overlapping_parts_are_refused(three, examples, single, tmp_path):
    with pytest.raises(InputError, match=r"^shard 2/3 is given twice: .*part-2-of-3.json and .*part-2-of-3.json$"):
        merge_parts([*three, three[2]])
    per_run = single[1]
    halves = write_parts(tmp_path / "halves", examples, {0: per_run[per_run["problem"] % 2 == 0]}, 2)
    with pytest.raises(InputError, match=r"is a part of 3 and .*part-0-of-2.json a part of 2: merge the parts of one"):
        merge_parts([*three, *halves])


@pytest.mark.parametrize(("change", "named"), [
    (dict(spec=ev.EvalSpec(SPEC.strategies, [1, 2, 8], seed=3, pool=True)), "sizes: [1, 2, 4] vs [1, 2, 8]"),
    (dict(spec=ev.EvalSpec(SPEC.strategies, SPEC.sizes, seed=4, pool=True)), "seed: 3 vs 4"),
    (dict(models={**MODELS, "generator": "openai:vllm:Qwen2.5-7B"}), "generator: 'fake' vs 'openai:vllm:Qwen2.5-7B'"),
])
def test_parts_of_different_runs_are_refused(change, named, three, examples, single, tmp_path):
    per_run = single[1]
    other = write_parts(tmp_path / "other", examples, {1: per_run[per_run["problem"] % 3 == 1]}, 3, **change)
    with pytest.raises(InputError, match=r"part-0-of-3.json and .*part-1-of-3.json are parts of different runs \("
                                         + named.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        merge_parts([three[0], *other, three[2]])
    with pytest.raises(InputError, match="problems_sha256"):  # other problems
        merge_parts([three[0], *write_parts(tmp_path / "more", ev.draw_problems("arith", 7, seed=2),
                                            {1: per_run[per_run["problem"] % 3 == 1]}, 3), three[2]])


def test_a_part_that_is_not_whole_or_not_a_part_is_refused(three, tmp_path):
    part = json.loads(three[1].read_text())
    part["rows"] = part["rows"][:-1]
    cut = tmp_path / "cut.json"
    cut.write_text(json.dumps(part))
    with pytest.raises(InputError, match=r"cut.json lacks the row of beam_search at size 4 on problem 4; was its run"):
        merge_parts([three[0], cut, three[2]])
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    with pytest.raises(InputError, match=r"junk\.json is not an eval part file"):
        merge_parts([junk, *three[1:]])
    junk.write_text(json.dumps({"rows": []}))
    with pytest.raises(InputError, match=r"junk.json is not an eval part file \(stepwise-eval-part/1\)"):
        merge_parts([*three[:2], junk])
    with pytest.raises(InputError, match="cannot read the part file"):
        merge_parts([tmp_path / "absent.json", *three[1:]])
