"""Reward adapters and reward specs, over tiny random models built locally."""
from __future__ import annotations

import copy
import dataclasses
import json
import re
import types

import pytest
import torch

from reasoning_core import checkpoints
from reasoning_core.protocols import ModelError, RewardModel
from reasoning_core.rewards import (
    AgreementVerifier,
    OutcomeRM,
    StepTagPRM,
    TaskOracle,
    TokenClassificationPRM,
)
from reasoning_core.rewards import load as load_reward
from reasoning_core.rewards.base import encode_marked, model_logits
from reasoning_core.rewards.step_format import StepFormat
from reasoning_core.rewards.step_tag import tagged_text
from reasoning_core.rewards.token_classification import separated_text

from tiny_models import char_tokenizer, save_tiny_generator, save_tiny_orm, save_tiny_step_tag_prm, save_tiny_token_prm

PROBLEM = "17 + 25 * 3"
PATHS = [["17 + 25 = 42", "42 * 3 = 126", "The answer is 126"], ["17 + 25 = 40"], [], ["17 + 25 = 42", "x"]]


@pytest.fixture(scope="module")
def qwen_prm(tmp_path_factory):
    return TokenClassificationPRM(save_tiny_token_prm(tmp_path_factory.mktemp("qwen_prm")), preset="qwen-prm",
                                  device="cpu")


@pytest.fixture(scope="module")
def arith_prm_folder(tmp_path_factory):
    """Like our own trained PRM: newline separator, the arith prompt named through stepwise.json."""
    return save_tiny_token_prm(tmp_path_factory.mktemp("arith_prm"), separator="\n",
                               stepwise={"kind": "prm", "task": "arith", "step_separator": "\n"})


@pytest.fixture(scope="module")
def step_tag_prm(tmp_path_factory):
    return StepTagPRM(save_tiny_step_tag_prm(tmp_path_factory.mktemp("shepherd")), device="cpu")


@pytest.fixture(scope="module")
def orm_sigmoid(tmp_path_factory):
    return OutcomeRM(save_tiny_orm(tmp_path_factory.mktemp("orm1"), num_labels=1), device="cpu")


@pytest.fixture(scope="module")
def orm_softmax(tmp_path_factory):
    return OutcomeRM(save_tiny_orm(tmp_path_factory.mktemp("orm2"), num_labels=2), device="cpu")


REWARDS = ["qwen_prm", "step_tag_prm", "orm_sigmoid", "orm_softmax"]


def assert_valid(scores, paths=PATHS):
    assert [len(s) for s in scores] == [len(p) for p in paths]
    assert all(0.0 <= x <= 1.0 for row in scores for x in row)


@pytest.mark.parametrize("name", REWARDS)
def test_one_score_per_step_in_unit_range(name, request):
    reward = request.getfixturevalue(name)
    assert isinstance(reward, RewardModel)
    assert_valid(reward.score(PROBLEM, PATHS))
    assert reward.score(PROBLEM, []) == []


@pytest.mark.parametrize("name", REWARDS)
def test_a_paths_scores_do_not_depend_on_the_batch(name, request):
    reward = request.getfixturevalue(name)
    together = reward.score(PROBLEM, PATHS)
    for path, row in zip(PATHS, together):
        assert reward.score(PROBLEM, [path])[0] == pytest.approx(row, abs=1e-5)


@pytest.mark.parametrize("name", REWARDS)
def test_scores_do_not_depend_on_the_tokenizers_own_padding_side(name, request, monkeypatch):
    reward = request.getfixturevalue(name)
    right = reward.score(PROBLEM, PATHS)
    monkeypatch.setattr(reward.tokenizer, "padding_side", "left")  # as many chat tokenizers ship
    assert reward.score(PROBLEM, PATHS) == right


def test_an_orm_with_absolute_positions_scores_alike_whatever_the_tokenizers_padding_side():
    from transformers import GPT2Config, GPT2ForSequenceClassification

    torch.manual_seed(0)
    tokenizer = char_tokenizer(pad=True)
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=16, n_layer=1, n_head=2, n_positions=256,
                        pad_token_id=tokenizer.pad_token_id)
    orm = OutcomeRM.from_model(GPT2ForSequenceClassification(config), tokenizer)
    right = orm.score(PROBLEM, PATHS)
    tokenizer.padding_side = "left"  # GPT-2 positions are absolute: left padding would move every token
    assert orm.score(PROBLEM, PATHS) == right


class Elsewhere:
    """A model on another device: it records where its inputs were put, then stops the call."""

    device = torch.device("meta")

    class Stopped(Exception):
        pass

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def __call__(self, **batch):
        self.seen = {k: v.device.type for k, v in batch.items() if isinstance(v, torch.Tensor)}
        raise Elsewhere.Stopped


@pytest.mark.parametrize("name", REWARDS + ["agreement"])
def test_the_batch_is_put_on_the_models_device(name, request, tmp_path):
    if name == "agreement":
        reward = AgreementVerifier(save_tiny_generator(tmp_path, train_steps=0), device="cpu")
    else:
        reward = copy.copy(request.getfixturevalue(name))
    reward.model = Elsewhere()
    with pytest.raises(Elsewhere.Stopped):  # a step no other test scored: the model must read it
        reward.score(PROBLEM, [PATHS[0][:1] + ["a step read on the device"]])
    assert set(reward.model.seen.values()) == {"meta"}  # reading a scored path's extension also passes positions
    assert {"input_ids", "attention_mask"} <= reward.model.seen.keys()


class OffsetsTokenizer:
    """A tokenizer stand-in with fixed character offsets per token (`slow`: one that has none)."""

    def __init__(self, offsets: list[list[int]], slow: bool = False) -> None:
        self.offsets, self.slow = offsets, slow

    def __call__(self, texts, **kw):
        if self.slow:
            raise NotImplementedError("return_offset_mapping is not available when using Python tokenizers")
        n = len(self.offsets)
        return {"input_ids": torch.zeros(1, n, dtype=torch.long), "attention_mask": torch.ones(1, n, dtype=torch.long),
                "offset_mapping": torch.tensor([self.offsets])}


def test_encode_marked_finds_each_marks_token_and_says_what_it_cannot():
    cpu = torch.device("cpu")
    tok = OffsetsTokenizer([[0, 1], [1, 3], [3, 4]])
    assert encode_marked(tok, ["ab\nc"], [[0, 2, 3]], cpu)[1] == [[0, 1, 2]]
    with pytest.raises(ModelError, match=r"^the tokenizer dropped the character '\\n' that ends a step; check the "
                                         r"step separator / tag for this model$"):
        encode_marked(OffsetsTokenizer([[0, 1], [2, 3]]), ["a\nc"], [[1]], cpu)
    with pytest.raises(ModelError, match=r"^this reward model needs a fast tokenizer \(tokenizer\.json\) to locate "
                                         r"its steps$"):
        encode_marked(OffsetsTokenizer([], slow=True), ["a"], [[0]], cpu)


def test_model_logits_reads_an_output_object_or_a_plain_tuple_as_float32():
    logits = torch.arange(6, dtype=torch.float16).reshape(1, 2, 3)
    for output in (types.SimpleNamespace(logits=logits), (logits,), (logits, torch.zeros(1))):
        got = model_logits(output)
        assert got.dtype == torch.float32 and torch.equal(got, logits.float())


def test_each_steps_score_is_read_at_the_last_character_of_its_tag_or_separator(step_tag_prm, qwen_prm):
    for render, fmt, end in ((tagged_text, step_tag_prm.format, step_tag_prm.format.step_tag),
                             (separated_text, qwen_prm.format, qwen_prm.format.step_separator)):
        text, marks = render(fmt, PROBLEM, PATHS[0])
        assert len(marks) == 3 and marks[-1] == len(text) - 1
        assert [text[m - len(end) + 1:m + 1] for m in marks] == [end] * 3


def test_token_prm_reads_each_steps_separator_token(qwen_prm):
    """Same positions as the reference Qwen2.5-Math-PRM recipe: wherever the input holds <extra_0>."""
    path = PATHS[0]
    text = qwen_prm.text(PROBLEM, path)
    assert text.startswith("<|im_start|>system") and text.count("<extra_0>") == len(path)
    ids = qwen_prm.tokenizer(text, return_tensors="pt").input_ids
    with torch.no_grad():
        probs = qwen_prm.model(ids).logits[0].softmax(-1)[:, 1]
    expected = probs[ids[0] == qwen_prm.tokenizer.convert_tokens_to_ids("<extra_0>")]
    assert qwen_prm.score(PROBLEM, [path])[0] == pytest.approx(expected.tolist(), abs=1e-5)


def test_stepwise_json_sets_the_task_prompt(arith_prm_folder):
    prm = TokenClassificationPRM(arith_prm_folder, device="cpu")
    assert prm.text("17 + 25", ["17 + 25 = 42"]) == "Question: Compute left to right: 17 + 25\nAnswer:\n17 + 25 = 42\n"
    assert_valid(prm.score(PROBLEM, PATHS))


def test_good_label_picks_the_class(arith_prm_folder):
    good = TokenClassificationPRM(arith_prm_folder, device="cpu").score(PROBLEM, PATHS[:1])[0]
    bad = TokenClassificationPRM(arith_prm_folder, good_label=0, device="cpu").score(PROBLEM, PATHS[:1])[0]
    assert [g + b for g, b in zip(good, bad)] == pytest.approx([1.0] * len(good))


def test_stepwise_json_warns_about_unknown_keys(tmp_path, caplog):
    folder = save_tiny_token_prm(tmp_path, stepwise={"separator": "<x>", "step_separator": "\n"})
    prm = TokenClassificationPRM(folder, device="cpu")
    assert prm.format.step_separator == "\n"
    known = ", ".join(sorted(f.name for f in dataclasses.fields(StepFormat)))
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"{folder / 'stepwise.json'}: ignoring unknown keys ['separator'] (settings: {known})"]


def test_stepwise_json_kind_must_match_the_adapter(tmp_path):
    folder = save_tiny_token_prm(tmp_path, stepwise={"kind": "orm"})
    with pytest.raises(ModelError, match="says this is a 'orm' model"):
        TokenClassificationPRM(folder)


def test_unknown_task_lists_the_valid_ones(arith_prm_folder):
    with pytest.raises(ValueError, match="valid: arith"):
        TokenClassificationPRM(arith_prm_folder, task="chess")


def test_unknown_preset_lists_the_valid_ones(arith_prm_folder):
    with pytest.raises(ValueError, match="valid: trl, qwen-prm"):
        TokenClassificationPRM(arith_prm_folder, preset="nope")


def test_step_tag_prm_reads_plus_vs_minus_after_each_tag(step_tag_prm):
    """The Math-Shepherd recipe: softmax over the '+'/'-' logits wherever the input holds the tag."""
    path = PATHS[0]
    text = step_tag_prm.text(PROBLEM, path)
    assert text == "17 + 25 * 3 17 + 25 = 42 ки\n42 * 3 = 126 ки\nThe answer is 126 ки"
    tok = step_tag_prm.tokenizer
    ids = tok(text, return_tensors="pt").input_ids
    with torch.no_grad():
        logits = step_tag_prm.model(ids).logits[0][:, tok.convert_tokens_to_ids(["+", "-"])]
    expected = logits.softmax(-1)[:, 0][ids[0] == tok.convert_tokens_to_ids("ки")]
    assert step_tag_prm.score(PROBLEM, [path])[0] == pytest.approx(expected.tolist(), abs=1e-5)


@pytest.mark.parametrize("name", ["orm_sigmoid", "orm_softmax"])
def test_orm_repeats_the_whole_path_score(name, request):
    orm = request.getfixturevalue(name)
    scores = orm.score(PROBLEM, PATHS)
    assert orm.kind == "orm"
    assert all(len(set(row)) <= 1 for row in scores)
    assert orm.tokenizer.pad_token == orm.tokenizer.eos_token  # the tiny tokenizer has no pad token


def test_oracle_labels_right_and_wrong_steps():
    oracle = TaskOracle()
    assert oracle.kind == "oracle"
    assert oracle.score(PROBLEM, PATHS) == [[1.0, 1.0, 1.0], [0.0], [], [1.0, 0.0]]
    assert oracle.score("Compute left to right: 17 + 25 * 3", [["17 + 25 = 42", "42 * 3 = 125"]]) == [[1.0, 0.0]]


def test_load_reward_picks_the_adapter_from_the_architecture(tmp_path, arith_prm_folder):
    kw = {"device": "cpu"}
    assert isinstance(load_reward(str(arith_prm_folder), **kw), TokenClassificationPRM)
    assert isinstance(load_reward(str(save_tiny_orm(tmp_path / "orm")), **kw), OutcomeRM)
    assert isinstance(load_reward(str(save_tiny_step_tag_prm(tmp_path / "tag")), **kw), StepTagPRM)
    assert isinstance(load_reward("oracle"), TaskOracle)
    assert load_reward("none") is None
    assert load_reward(str(arith_prm_folder), **kw) is load_reward(str(arith_prm_folder), **kw)


def test_remote_code_prm_needs_consent(tmp_path):
    """Qwen2ForProcessRewardModel is built in (see test_reward_presets); other remote-code PRMs need consent."""
    folder = save_tiny_token_prm(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"architectures": ["InternLM2ForProcessRewardModel"]}))
    with pytest.raises(ModelError, match=re.escape(f"{folder} is a InternLM2ForProcessRewardModel that ships its own "
                                                   "code; load it with trust_remote_code=True if you trust it")):
        load_reward(str(folder))


def test_missing_reward_models_are_readable_errors(tmp_path, monkeypatch):
    with pytest.raises(ModelError, match=r"no model at .*missing.*no such folder"):
        load_reward(str(tmp_path / "missing"))
    with pytest.raises(ModelError, match=r"no model at .*missing"):
        StepTagPRM(tmp_path / "missing")
    monkeypatch.setitem(checkpoints.DEFAULTS, "prm", tmp_path / "assets" / "prm")
    monkeypatch.setitem(checkpoints.DEFAULTS, "orm", tmp_path / "assets" / "orm")
    monkeypatch.setitem(checkpoints.DEFAULTS, "verifier", tmp_path / "assets" / "verifier")
    load_reward.cache_clear()
    for spec, where in [("default", "assets/verifier"), ("prm-default", "assets/prm"), ("orm-default", "assets/orm")]:
        with pytest.raises(ModelError, match=f"default checkpoint not found at .*{where}"):
            load_reward(spec)


def test_unrecognised_architecture_is_explained(tmp_path):
    folder = save_tiny_generator(tmp_path, train_steps=0)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"architectures": ["LlamaModel"]}))
    with pytest.raises(ModelError, match=re.escape(
            f"cannot tell what kind of reward model {str(folder)!r} is (architectures=['LlamaModel']); expected "
            "*ForTokenClassification (PRM), *ForSequenceClassification (ORM) or *ForCausalLM (step-tag PRM), or "
            "name its format: <preset>:PATH with a preset from trl, qwen-prm, math-shepherd, rlhflow, agreement, "
            "implicit, orm; "
            "or use 'oracle' or 'none'")):
        load_reward(str(folder))


def test_from_model_scores_as_the_loaded_checkpoint(tmp_path, arith_prm_folder):
    """Training measures a reward model in memory; it must read it exactly as the saved checkpoint is read."""
    loaded = TokenClassificationPRM(arith_prm_folder, device="cpu")
    again = TokenClassificationPRM.from_model(loaded.model, loaded.tokenizer, task="arith")
    assert again.format == loaded.format
    assert again.score(PROBLEM, PATHS) == loaded.score(PROBLEM, PATHS)
    orm = OutcomeRM(save_tiny_orm(tmp_path / "orm", num_labels=2), device="cpu")
    assert OutcomeRM.from_model(orm.model, orm.tokenizer).score(PROBLEM, PATHS) == orm.score(PROBLEM, PATHS)


def test_score_nonempty_scores_only_the_paths_with_steps():
    from reasoning_core.rewards.base import score_nonempty

    seen = []

    def batch(paths):
        seen.append(list(paths))
        return [[0.5] * len(p) for p in paths]

    assert score_nonempty([["a"], [], ["b", "c"]], batch) == [[0.5], [], [0.5, 0.5]]
    assert seen == [[["a"], ["b", "c"]]]
    assert score_nonempty([[], []], batch) == [[], []] and len(seen) == 1
    with pytest.raises(ModelError, match="invalid step score"):
        score_nonempty([["a"]], lambda paths: [[2.0]])
