"""A character-level tokenizer for the built-in arithmetic task, built locally (no hub download).

Every printable ASCII character and the newline is one token, plus <pad>, <bos>, <eos>, <unk>.
The result is a `PreTrainedTokenizerFast`, saved next to each model so `AutoTokenizer` loads it.
Nothing is added automatically (no BOS): the prompt text itself starts every sequence, which keeps
prompt and completion tokenization composable (what TRL's trainers and the step-wise backends expect).
"""
from __future__ import annotations

import string

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
CHARS = "\n" + "".join(c for c in string.printable if c.isprintable())  # 95 printable + newline


def build_tokenizer(model_max_length: int = 256) -> PreTrainedTokenizerFast:
    """One token per character; unknown characters map to <unk>."""
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in CHARS:
        vocab.setdefault(ch, len(vocab))
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>", bos_token="<bos>", eos_token="<eos>", unk_token="<unk>",
        model_max_length=model_max_length, padding_side="right", clean_up_tokenization_spaces=False,
    )
