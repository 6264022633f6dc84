"""Public PRM formats by preset name, each over a tiny random model in its family's architecture and token
conventions, checked against that family's own scoring recipe."""
from __future__ import annotations

import importlib.util
import json
import re

import pytest
import torch
from transformers import AutoTokenizer

from reasoning_core.protocols import ModelError
from reasoning_core.rewards import (
    REWARD_PRESETS,
    AgreementVerifier,
    ChatPRM,
    ImplicitPRM,
    OutcomeRM,
    StepTagPRM,
    TokenClassificationPRM,
    get_preset,
)
from reasoning_core.rewards import load as load_reward
from reasoning_core.rewards.qwen_prm import Qwen2ForProcessRewardModel
from reasoning_core.tasks.chat import MATH_SYSTEM

from tiny_models import (
    LLAMA31_CHAT_TEMPLATE,
    save_tiny_generator,
    save_tiny_implicit_prm,
    save_tiny_orm,
    save_tiny_qwen_prm,
    save_tiny_rlhflow_prm,
    save_tiny_step_tag_prm,
    save_tiny_token_prm,
)

PROBLEM = "17 + 25 * 3"
PATHS = [["17 + 25 = 42", "42 * 3 = 126", "The answer is 126"], ["17 + 25 = 40"], [], ["17 + 25 = 42", "x"]]
NO_VLLM = importlib.util.find_spec("vllm") is None


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("presets")
    return {"qwen-prm": save_tiny_qwen_prm(root / "qwen"),
            "qwen-remote": save_tiny_qwen_prm(root / "qr", remote_code=True),
            "math-shepherd": save_tiny_step_tag_prm(root / "shepherd"),
            "rlhflow": save_tiny_rlhflow_prm(root / "rlhflow"),
            "trl": save_tiny_token_prm(root / "trl", separator="\n"),
            "orm": save_tiny_orm(root / "orm"),
            "agreement": save_tiny_generator(root / "agreement", train_steps=0),
            "implicit": save_tiny_implicit_prm(root / "implicit", save_tiny_generator(root / "ref", train_steps=0))}


@pytest.fixture(scope="module")
def loaded(folders):
    return {name: load_reward(f"{name}:{folders[name]}", device="cpu") for name in REWARD_PRESETS}


def test_every_preset_loads_its_adapter(loaded):
    kinds = {name: type(model) for name, model in loaded.items()}
    assert kinds == {"trl": TokenClassificationPRM, "qwen-prm": TokenClassificationPRM, "math-shepherd": StepTagPRM,
                     "rlhflow": ChatPRM, "orm": OutcomeRM, "agreement": AgreementVerifier, "implicit": ImplicitPRM}
    assert isinstance(loaded["qwen-prm"].model, Qwen2ForProcessRewardModel)


@pytest.mark.parametrize("name", list(REWARD_PRESETS))
def test_batched_scores_in_unit_range_equal_one_by_one(name, loaded):
    reward = loaded[name]
    together = reward.score(PROBLEM, PATHS)
    assert [len(s) for s in together] == [len(p) for p in PATHS]
    assert all(0.0 <= x <= 1.0 for row in together for x in row)
    for path, row in zip(PATHS, together):
        assert reward.score(PROBLEM, [path])[0] == pytest.approx(row, abs=1e-5)


def test_qwen_prm_follows_the_model_cards_recipe(loaded):
    """Qwen2.5-Math-PRM: system + user via the chat template, steps joined and ended by <extra_0>,
    P(class 1) at each <extra_0>."""
    prm, path = loaded["qwen-prm"], PATHS[0]
    messages = [{"role": "system", "content": MATH_SYSTEM}, {"role": "user", "content": PROBLEM},
                {"role": "assistant", "content": "<extra_0>".join(path) + "<extra_0>"}]
    official = prm.tokenizer.apply_chat_template(messages, tokenize=False)
    assert official.startswith(prm.text(PROBLEM, path))  # ours stops at the last <extra_0>: causal, same scores
    ids = prm.tokenizer(official, return_tensors="pt").input_ids
    with torch.no_grad():
        probs = prm.model(ids).logits[0].softmax(-1)[:, 1]
    expected = probs[ids[0] == prm.tokenizer.convert_tokens_to_ids("<extra_0>")]
    scores = prm.score(PROBLEM, [path])[0]
    assert scores == pytest.approx(expected.tolist(), abs=1e-5)
    assert max(scores) - min(scores) > 1e-3  # the positions matter: steps do not all score alike


def test_qwen_prm_built_in_class_equals_the_shipped_remote_code(folders, caplog):
    with caplog.at_level("INFO", logger="reasoning_core.rewards.token_classification"):
        ours = load_reward(f"qwen-prm:{folders['qwen-remote']}", device="cpu")
    built_in = f"{folders['qwen-remote']}: using the built-in Qwen2ForProcessRewardModel (no remote code)"
    assert built_in in caplog.messages
    theirs = load_reward(f"qwen-prm:{folders['qwen-remote']}", device="cpu", trust_remote_code=True)
    assert type(ours.model) is Qwen2ForProcessRewardModel
    assert type(theirs.model).__module__.startswith("transformers_modules")
    for a, b in zip(ours.score(PROBLEM, PATHS), theirs.score(PROBLEM, PATHS)):
        assert a == pytest.approx(b, abs=1e-6)


def test_qwen_prm_hands_the_mask_and_the_other_inputs_to_its_backbone(loaded):
    """A left-padded row given as embeddings, with its mask and positions, scores as it does alone."""
    model = loaded["qwen-prm"].model
    ids = torch.tensor([[5, 6, 7, 8]])
    padded = torch.cat([torch.full((1, 2), model.config.pad_token_id), ids], dim=1)
    mask, positions = torch.tensor([[0, 0, 1, 1, 1, 1]]), torch.tensor([[0, 0, 0, 1, 2, 3]])
    with torch.no_grad():
        alone = model(ids).logits[0]
        inside = model(inputs_embeds=model.model.embed_tokens(padded), attention_mask=mask,
                       position_ids=positions).logits[0, 2:]
    torch.testing.assert_close(inside, alone, atol=1e-5, rtol=0)


def test_a_checkpoint_that_is_not_a_qwen_prm_is_refused(tmp_path):
    folder = save_tiny_token_prm(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"architectures": ["Qwen2ForProcessRewardModel"]}))
    with pytest.raises(ModelError, match=re.escape(f"{folder} does not hold a Qwen2ForProcessRewardModel: missing "
                                                   "weights ['score.0.bias', 'score.0.weight', 'score.2.bias', "
                                                   "'score.2.weight']")):
        load_reward(f"qwen-prm:{folder}")
    from safetensors.torch import load_file, save_file

    weights = load_file(folder / "model.safetensors")
    save_file({k: v for k, v in weights.items() if k != "model.norm.weight"}, folder / "model.safetensors")
    load_reward.cache_clear()
    with pytest.raises(ModelError, match=re.escape(f"{folder} does not hold a Qwen2ForProcessRewardModel: missing "
                                                   "weights ['model.norm.weight', 'score.0.bias', 'score.0.weight', "
                                                   "'score.2.bias']")):  # the first four, in order
        load_reward(f"qwen-prm:{folder}")


def test_math_shepherd_reads_plus_vs_minus_after_each_tag(loaded):
    prm, path = loaded["math-shepherd"], PATHS[0]
    text = prm.text(PROBLEM, path)
    assert text == "17 + 25 * 3 17 + 25 = 42 ки\n42 * 3 = 126 ки\nThe answer is 126 ки"
    tok = prm.tokenizer
    ids = tok(text, return_tensors="pt").input_ids
    with torch.no_grad():
        logits = prm.model(ids).logits[0][:, tok.convert_tokens_to_ids(["+", "-"])]
    expected = logits.softmax(-1)[:, 0][ids[0] == tok.convert_tokens_to_ids("ки")]
    assert prm.score(PROBLEM, [path])[0] == pytest.approx(expected.tolist(), abs=1e-5)


def test_rlhflow_follows_its_recipe_step_by_step(loaded):
    """RLHFlow scores step k by the conversation up to step k (assistant replies "+"), reading P(+) vs P(-)
    at position -3 of the templated ids: the token before the last reply."""
    prm, path = loaded["rlhflow"], PATHS[0]
    tok = prm.tokenizer
    plus, minus = tok.encode("+", add_special_tokens=False)[-1], tok.encode("-", add_special_tokens=False)[-1]
    expected = []
    for k in range(len(path)):
        conversation = []
        for j, step in enumerate(path[:k + 1]):
            conversation += [{"role": "user", "content": f"{PROBLEM} {step}" if j == 0 else step},
                             {"role": "assistant", "content": "+"}]
        ids = tok.apply_chat_template(conversation, tokenize=True, return_tensors="pt", return_dict=True)["input_ids"]
        with torch.no_grad():
            logits = prm.model(ids).logits[0, -3, [plus, minus]]
        expected.append(float(logits.softmax(-1)[0]))
    # the whole conversation, system header included, ending at the last reply: no generation prompt after it
    assert prm.text(PROBLEM, path) == tok.apply_chat_template(conversation, tokenize=False)
    assert prm.score(PROBLEM, [path])[0] == pytest.approx(expected, abs=1e-5)


LLAMA31_TURNS = LLAMA31_CHAT_TEMPLATE[:LLAMA31_CHAT_TEMPLATE.index("{%- if add_generation_prompt %}")]


def chat_prm_with_template(folders, loaded, template: str) -> ChatPRM:
    """The tiny RLHFlow model read through another chat template."""
    tokenizer = AutoTokenizer.from_pretrained(folders["rlhflow"])
    tokenizer.chat_template = template
    return ChatPRM.from_model(loaded["rlhflow"].model, tokenizer)


def test_rlhflow_finds_each_reply_past_whitespace_the_generation_prompt_leaves_out(folders, loaded):
    # this template's generation prompt stops before the blank line its rendered replies start with
    gap = "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>' }}{%- endif %}"
    text, marks = chat_prm_with_template(folders, loaded, LLAMA31_TURNS + gap)._marked(PROBLEM, PATHS[0])
    assert [text[m - 2:m + 1] for m in marks] == ["\n\n+"] * 3


def test_rlhflow_scores_a_last_reply_that_ends_the_text(folders, loaded):
    # a bare template that closes no turn: the last "+" is the last token, read from the logits before it
    bare = ("{{- bos_token }}{%- for m in messages %}{{- m['role'] + ': ' + m['content'] }}{%- endfor %}"
            "{%- if add_generation_prompt %}{{- 'assistant: ' }}{%- endif %}")
    prm = chat_prm_with_template(folders, loaded, bare)
    text = prm.text(PROBLEM, PATHS[0])
    assert text.endswith("assistant: +")
    ids = prm.tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
    with torch.no_grad():
        last = prm.model(ids).logits[0, -2, prm.candidates].softmax(-1)[0]
    assert prm.score(PROBLEM, [PATHS[0]])[0][-1] == pytest.approx(float(last), abs=1e-5)


def test_rlhflow_refuses_a_template_whose_first_turns_are_not_a_prefix_ending_at_a_reply(folders, loaded):
    # without a generation prompt, the first turns end before the assistant header, not at the reply
    prm = chat_prm_with_template(folders, loaded, LLAMA31_TURNS)
    with pytest.raises(ModelError, match=r"^this chat template does not render a conversation's first turns as a "
                                         r"prefix of the whole, so the step replies cannot be located$"):
        prm.score(PROBLEM, [PATHS[0]])


def test_rlhflow_needs_a_chat_template(folders):
    with pytest.raises(ModelError, match=r"has no chat template, and a chat PRM reads a conversation; load it as a "
                                         r"step-tag PRM \(math-shepherd:PATH\) if it expects tagged steps$"):
        load_reward(f"rlhflow:{folders['math-shepherd']}")


def test_dtype_option_reaches_the_model(folders):
    prm = load_reward(f"qwen-prm:{folders['qwen-prm']}", device="cpu", dtype=torch.bfloat16)
    assert prm.model.dtype == torch.bfloat16
    assert all(0.0 <= x <= 1.0 for row in prm.score(PROBLEM, PATHS) for x in row)


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid: trl, qwen-prm, math-shepherd, rlhflow, agreement, implicit, orm"):
        load_reward("shepherd:/models/x")
    with pytest.raises(ValueError, match="valid: trl"):
        get_preset("nope")


@pytest.mark.skipif(not NO_VLLM, reason="vLLM is installed")
def test_vllm_prm_without_vllm_is_a_clear_error():
    with pytest.raises(ModelError, match="needs vLLM"):
        load_reward("vllm:qwen-prm:Qwen/Qwen2.5-Math-PRM-7B")
    with pytest.raises(ValueError, match="vllm:<preset>:<model>"):
        load_reward("vllm:Qwen/Qwen2.5-Math-PRM-7B")
