"""How reward adapters read a model's output, on hand-made logits and tokenizers: P(good) per class
count, label tokens, marked positions, and the errors a wrong checkpoint gets, in full."""
from __future__ import annotations

import re

import pytest
import torch

from reasoning_core.protocols import ModelError
from reasoning_core.rewards.base import _covering_tokens, class_probs, encode_marked, good_vs_bad, label_token_ids
from reasoning_core.rewards.step_format import StepFormat

from tiny_models import char_tokenizer


def test_class_probs_reads_a_sigmoid_or_the_good_class_of_the_last_dimension():
    one = torch.tensor([[[0.0], [2.0]]])  # (rows, tokens, 1)
    assert class_probs(one, 1)[0].tolist() == pytest.approx([0.5, torch.sigmoid(torch.tensor(2.0)).item()])
    three = torch.tensor([[[1.0, 2.0, 3.0]] * 2])  # (1 row, 2 tokens, 3 classes): tokens != classes
    soft = torch.softmax(torch.tensor([1.0, 2.0, 3.0]), -1)
    assert class_probs(three, 0)[0].tolist() == pytest.approx([soft[0].item()] * 2)
    assert class_probs(three, 2)[0].tolist() == pytest.approx([soft[2].item()] * 2)
    for label in (3, -1):
        with pytest.raises(ModelError, match=re.escape(f"good_label {label} is not one of the model's 3 classes")):
            class_probs(three, label)


def test_good_vs_bad_is_a_softmax_over_the_two_label_logits():
    logits = torch.tensor([[0.0, 1.0, 3.0, -1.0]])
    assert good_vs_bad(logits, [2, 1]).tolist() == pytest.approx([torch.sigmoid(torch.tensor(2.0)).item()])


def test_label_tokens_are_the_last_piece_of_each_and_an_unencodable_one_is_refused():
    tok = char_tokenizer()
    fmt = StepFormat(good_token="ab", bad_token="c")
    assert label_token_ids(tok, fmt) == [tok.convert_tokens_to_ids("b"), tok.convert_tokens_to_ids("c")]
    with pytest.raises(ModelError, match=re.escape("the tokenizer cannot encode the label token ''")):
        label_token_ids(tok, StepFormat(good_token="", bad_token="c"))


def test_each_mark_is_read_at_the_token_covering_it_in_a_right_padded_batch():
    tok = char_tokenizer(pad=True)
    texts = ["ab\ncd\n", "x\n"]
    batch, positions = encode_marked(tok, texts, [[2, 5], [1]], torch.device("cpu"))
    ids = batch["input_ids"]
    assert [tok.convert_ids_to_tokens(ids[r, p].item()) for r, ps in enumerate(positions) for p in ps] == \
        ["\n", "\n", "\n"]
    assert batch["attention_mask"][1].tolist()[-1] == 0  # the short row is padded on the right
    with pytest.raises(ModelError, match=re.escape("the tokenizer dropped the character 'z' that ends a step; "
                                                   "check the step separator / tag for this model")):
        _covering_tokens([[0, 1]], [1], "az")
    assert _covering_tokens([[0, 1], [1, 2], [2, 3]], [0, 2], "abc") == [0, 2]
