"""Tiny Hugging Face models and tokenizers built locally (no hub), for tests that need real models.

Each `save_*` function writes an HF folder (save_pretrained) and returns its path. The generator can
be imprinted on a few gold arith chains for a second, so it writes lines, newlines and EOS like the
real one; the reward models stay random (their scores are only checked for shape and range).
"""
from __future__ import annotations

import contextlib
import json
import string
from collections.abc import Iterator
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                          PreTrainedTokenizerFast, Qwen2Config, Qwen2ForSequenceClassification,
                          Qwen2ForTokenClassification)

from reasoning_core.tasks.arith import ArithTask, generate

CHARS = string.digits + string.ascii_letters + " \n+-*=:.,?!()"
SMALL = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=512)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and on a busy machine two threads can be 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def char_tokenizer(*, extra_tokens: tuple[str, ...] = (), extra_special: tuple[str, ...] = (),
                   pad: bool = False) -> PreTrainedTokenizerFast:
    """One token per character (digits, letters, space, newline, + - * = and punctuation), a BOS added
    in front, EOS "</s>"; `pad` adds a "<pad>" token (without it, code under test must cope)."""
    specials = ["<unk>", "<s>", "</s>"] + (["<pad>"] if pad else [])
    vocab = {tok: i for i, tok in enumerate(specials + list(CHARS))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>",
                                        unk_token="<unk>", pad_token="<pad>" if pad else None)
    tokenizer.add_tokens(list(extra_tokens))
    if extra_special:
        tokenizer.add_special_tokens({"additional_special_tokens": list(extra_special)})
    return tokenizer


def arith_texts(count: int, seed: int = 0) -> list[str]:
    """Gold arith chains as the generator sees them: prompt, one step per line (EOS appended by caller)."""
    task = ArithTask()
    return [task.prompt(p.text) + "\n".join(p.steps()) for p in generate("train", count, seed=seed, max_ops=3)]


def save_tiny_generator(folder: Path, *, train_steps: int = 150, seed: int = 0) -> Path:
    """A 2-layer Llama over the char tokenizer (no pad token), optionally imprinted on gold chains."""
    torch.manual_seed(seed)
    tokenizer = char_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), bos_token_id=1, eos_token_id=2, **SMALL)
    model = LlamaForCausalLM(config)
    if train_steps:
        with one_thread():
            _imprint(model, tokenizer, arith_texts(64, seed), train_steps)
    return _save(model.eval(), tokenizer, folder)


def _imprint(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, texts: list[str], steps: int) -> None:
    """A few hundred milliseconds of next-token training, so greedy outputs are decisive, not noise."""
    ids = [tokenizer(t).input_ids + [tokenizer.eos_token_id] for t in texts]
    width = max(map(len, ids))
    inputs = torch.tensor([x + [tokenizer.eos_token_id] * (width - len(x)) for x in ids])
    labels = torch.tensor([x + [-100] * (width - len(x)) for x in ids])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for step in range(steps):
        rows = torch.arange(16) + (step * 16) % len(texts)
        loss = model(input_ids=inputs[rows % len(texts)], labels=labels[rows % len(texts)]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()


def save_tiny_token_prm(folder: Path, *, separator: str = "<extra_0>", num_labels: int = 2,
                        stepwise: dict | None = None, seed: int = 0) -> Path:
    """A random Qwen2 token classifier; `separator` becomes a special token (as in Qwen2.5-Math-PRM)."""
    torch.manual_seed(seed)
    tokenizer = char_tokenizer(extra_special=(separator,) if len(separator) > 1 else (), pad=True)
    config = Qwen2Config(vocab_size=len(tokenizer), num_labels=num_labels, pad_token_id=tokenizer.pad_token_id,
                         **SMALL)
    return _save(Qwen2ForTokenClassification(config), tokenizer, folder, stepwise)


def save_tiny_step_tag_prm(folder: Path, *, step_tag: str = "ки", seed: int = 0) -> Path:
    """A random Mistral causal LM whose tokenizer knows the Math-Shepherd tag "ки" (and "+", "-")."""
    torch.manual_seed(seed)
    tokenizer = char_tokenizer(extra_tokens=(step_tag,))
    config = MistralConfig(vocab_size=len(tokenizer), bos_token_id=1, eos_token_id=2, **SMALL)
    return _save(MistralForCausalLM(config), tokenizer, folder)


def save_tiny_orm(folder: Path, *, num_labels: int = 1, seed: int = 0) -> Path:
    """A random Qwen2 sequence classifier (1 logit: sigmoid; 2: softmax); its tokenizer has no pad token."""
    torch.manual_seed(seed)
    tokenizer = char_tokenizer()
    config = Qwen2Config(vocab_size=len(tokenizer), num_labels=num_labels, **SMALL)
    return _save(Qwen2ForSequenceClassification(config), tokenizer, folder)


def _save(model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, folder: Path,
          stepwise: dict | None = None) -> Path:
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if stepwise is not None:
        (folder / "stepwise.json").write_text(json.dumps(stepwise))
    return folder
