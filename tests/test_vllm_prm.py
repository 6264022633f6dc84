"""The vLLM reward adapter on a stand-in `vllm` module (no GPU here): the engine it asks for across vLLM
releases, the texts it sends, the column it reads, and its errors. The real engine runs in bench.gpu."""
from __future__ import annotations

import re
import sys
import types
from dataclasses import dataclass
from typing import ClassVar

import pytest

from reasoning_core.protocols import ModelError
from reasoning_core.rewards import vllm_prm
from reasoning_core.rewards.step_tag import tagged_text
from reasoning_core.rewards.token_classification import separated_text

from tiny_models import save_tiny_step_tag_prm

PATHS = [["2 + 3 = 5", "The answer is 5"], ["2 + 3 = 6"]]


@dataclass
class Pooled:
    data: list


@dataclass
class Output:
    """What vLLM's pooling `encode` returns per prompt: `.outputs.data`, one row per step."""

    outputs: Pooled


def output(rows: list) -> Output:
    return Output(Pooled(rows))


class Engine:
    """A pooling engine that accepts only the arguments in `accepts`, and answers one row per step:
    [1 - p, p] with p = 0.1 x (step number) for the separated layout, [p, 1 - p] for the tagged one."""

    accepts: ClassVar[tuple[str, ...]] = ("runner", "pooler_config", "convert")
    encode_takes_task: ClassVar[bool] = True
    made: ClassVar[list[dict]] = []  # every engine started, with its arguments

    def __init__(self, model, **kwargs):
        unknown = set(kwargs) - set(self.accepts) - {"dtype", "trust_remote_code"}
        if unknown:
            raise TypeError(f"unexpected {sorted(unknown)}")
        Engine.made.append({"model": model, **kwargs})
        self.calls: list[tuple] = []

    def encode(self, texts, **kw):
        if "pooling_task" in kw and not self.encode_takes_task:
            raise TypeError("no pooling_task")
        self.calls.append(("encode", kw))
        return [output([[1 - 0.1 * (k + 1), 0.1 * (k + 1)] for k in range(steps(t))]) for t in texts]


def steps(text: str) -> int:
    return max(text.count("<extra_0>"), text.count("ки"))


@pytest.fixture()
def fake_vllm(monkeypatch):
    vllm = types.ModuleType("vllm")
    config = types.ModuleType("vllm.config")
    config.PoolerConfig = lambda **kw: ("PoolerConfig", tuple(sorted(kw.items())))
    vllm.LLM, vllm.config = Engine, config
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.config", config)
    Engine.made, Engine.accepts, Engine.encode_takes_task = [], ("runner", "pooler_config", "convert"), True
    return vllm


def test_qwen_prm_asks_for_a_pooling_runner_and_reads_the_good_class(fake_vllm):
    prm = vllm_prm.VLLMPRM("Qwen/PRM", preset="qwen-prm", dtype="half", device="cuda", local_files_only=True)
    assert Engine.made == [{"model": "Qwen/PRM", "runner": "pooling", "dtype": "half"}]
    assert prm.text("2 + 3", PATHS[0]) == separated_text(prm.format, "2 + 3", PATHS[0])[0]
    assert prm.score("2 + 3", PATHS + [[]]) == [pytest.approx([0.1, 0.2]), pytest.approx([0.1]), []]
    assert prm.llm.calls == [("encode", {"pooling_task": "token_classify", "use_tqdm": False})]


def test_math_shepherd_pools_the_plus_minus_logits_at_each_tag(fake_vllm, tmp_path, caplog):
    folder = save_tiny_step_tag_prm(tmp_path / "shepherd")
    with caplog.at_level("INFO", logger="reasoning_core.rewards.vllm_prm"):
        prm = vllm_prm.VLLMPRM(str(folder), preset="math-shepherd")
    assert caplog.messages == [f"starting a vLLM pooling engine for {folder} (runner, convert, pooler_config)"]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    ids = [tok.encode(t, add_special_tokens=False)[-1] for t in ("ки", "+", "-")]
    pooler = ("PoolerConfig", (("pooling_type", "STEP"), ("returned_token_ids", ids[1:]), ("step_tag_id", ids[0])))
    assert Engine.made == [{"model": str(folder), "runner": "pooling", "convert": "reward", "pooler_config": pooler}]
    assert prm.text("2 + 3", PATHS[0]) == tagged_text(prm.format, "2 + 3", PATHS[0])[0]
    assert prm.score("2 + 3", PATHS[:1]) == [pytest.approx([0.9, 0.8])]  # column 0 is "+"


class AppendsEOS:
    """A tokenizer with one id per character that appends EOS (id 2) when asked for special tokens."""

    def encode(self, text, add_special_tokens=True):
        return [ord(c) for c in text] + ([2] if add_special_tokens else [])


def test_the_tag_and_label_ids_are_the_tokens_own_never_an_added_special_token(fake_vllm, monkeypatch):
    monkeypatch.setattr(vllm_prm, "_tokenizer", lambda model, trust: AppendsEOS())
    vllm_prm.VLLMPRM("m", preset="math-shepherd")
    pooler = dict(Engine.made[-1]["pooler_config"][1])
    assert (pooler["step_tag_id"], pooler["returned_token_ids"]) == (ord("и"), [ord("+"), ord("-")])


def test_older_vllm_releases_get_their_own_spellings(fake_vllm, tmp_path):
    Engine.accepts, Engine.encode_takes_task = ("task", "override_pooler_config"), False
    folder = save_tiny_step_tag_prm(tmp_path / "shepherd")
    prm = vllm_prm.VLLMPRM(str(folder), preset="math-shepherd")
    made = Engine.made[-1]
    assert made["task"] == "reward" and "override_pooler_config" in made and "runner" not in made
    prm.llm.reward = lambda texts, **kw: prm.llm.calls.append(("reward", kw)) or Engine.encode(prm.llm, texts)
    prm.score("2 + 3", PATHS[:1])
    assert prm.llm.calls[0] == ("reward", {"use_tqdm": False})
    del prm.llm.reward
    prm.llm.calls.clear()
    prm.score("2 + 3", PATHS[:1])
    assert prm.llm.calls == [("encode", {"use_tqdm": False})]


def test_an_engine_no_release_can_start_is_one_readable_error(fake_vllm):
    Engine.accepts = ()
    with pytest.raises(ModelError, match=re.escape("could not start a vLLM pooling engine for m; tried ['runner']: "
                                                   "unexpected ['runner']; ['task']: unexpected ['task']")):
        vllm_prm.VLLMPRM("m", preset="qwen-prm")


def test_wrong_step_counts_and_unknown_presets_are_refused(fake_vllm, monkeypatch):
    prm = vllm_prm.VLLMPRM("m", preset="qwen-prm")
    monkeypatch.setattr(Engine, "encode", lambda self, texts, **kw: [output([[0.5, 0.5]] * 3) for _ in texts])
    with pytest.raises(ModelError, match=re.escape("vLLM returned 3 step scores for a path of 2 steps; "
                                                   "does a step's text contain the step tag itself?")):
        prm.score("2 + 3", PATHS[:1])
    with pytest.raises(ValueError, match=re.escape("unknown vLLM reward preset 'trl'; valid: qwen-prm, math-shepherd")):
        vllm_prm.VLLMPRM("m", preset="trl")


def test_the_default_preset_is_qwen_prm_and_each_engine_start_is_logged(fake_vllm, caplog):
    with caplog.at_level("INFO", logger="reasoning_core.rewards.vllm_prm"):
        prm = vllm_prm.VLLMPRM("m")
    assert prm.format == vllm_prm.VLLM_PRESETS["qwen-prm"][0] and prm.good_column == 1
    assert caplog.messages == ["starting a vLLM pooling engine for m (runner)"]


def test_the_step_tag_tokenizer_is_read_with_the_callers_trust(fake_vllm, tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    seen = []
    real = AutoTokenizer.from_pretrained
    monkeypatch.setattr(AutoTokenizer, "from_pretrained",
                        lambda *args, **kw: seen.append(kw.get("trust_remote_code")) or real(*args, **kw))
    folder = save_tiny_step_tag_prm(tmp_path / "shepherd")
    vllm_prm.VLLMPRM(str(folder), preset="math-shepherd")
    vllm_prm.VLLMPRM(str(folder), preset="math-shepherd", trust_remote_code=True)
    assert seen == [False, True] and Engine.made[-1]["trust_remote_code"] is True


def test_without_vllm_the_message_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # an import of vllm now fails as if it were absent
    with pytest.raises(ModelError, match=re.escape("the vLLM reward backend needs vLLM: pip install -r "
                                                   "requirements-gpu.txt (GPU only)")):
        vllm_prm.VLLMPRM("m")
