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
from transformers import (
    AutoModelForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForSequenceClassification,
    Qwen2ForTokenClassification,
)

from reasoning_core.tasks import arith

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
    problems = arith.problems("train", count, seed=seed, min_ops=2, max_ops=3, digits=2)  # fixed: tests rely on it
    return [arith.TASK.prompt(p.problem) + "\n".join(p.steps) for p in problems]


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


def save_tiny_implicit_prm(folder: Path, reference: Path, *, stepwise: dict | None = None, seed: int = 0) -> Path:
    """An implicit PRM as training writes it: the causal LM in `reference` with its weights moved a little,
    and the unmoved weights beside it as its reference."""
    from safetensors.torch import save_model

    from reasoning_core.checkpoints import load_tokenizer
    from reasoning_core.rewards.implicit import REFERENCE_FILE

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(reference)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    _save(model, load_tokenizer(Path(reference)), folder, stepwise or {"kind": "implicit"})
    save_model(AutoModelForCausalLM.from_pretrained(reference), str(Path(folder) / REFERENCE_FILE))
    return Path(folder)


def save_tiny_orm(folder: Path, *, num_labels: int = 1, seed: int = 0) -> Path:
    """A random Qwen2 sequence classifier (1 logit: sigmoid; 2: softmax); its tokenizer has no pad token."""
    torch.manual_seed(seed)
    tokenizer = char_tokenizer()
    config = Qwen2Config(vocab_size=len(tokenizer), num_labels=num_labels, **SMALL)
    return _save(Qwen2ForSequenceClassification(config), tokenizer, folder)


QWEN_CHAT_TEMPLATE = (
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")
"""Qwen2.5's ChatML layout (the real template adds tools and a default system turn around the same lines)."""
LLAMA31_CHAT_TEMPLATE = (
    "{{- bos_token }}{%- if not date_string is defined %}{%- set date_string = '26 Jul 2024' %}{%- endif %}"
    "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] | trim %}"
    "{%- set messages = messages[1:] %}{%- else %}{%- set system_message = '' %}{%- endif %}"
    "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}{{- 'Cutting Knowledge Date: December 2023\\n' }}"
    "{{- 'Today Date: ' + date_string + '\\n\\n' }}{{- system_message }}{{- '<|eot_id|>' }}"
    "{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "
    "message['content'] | trim + '<|eot_id|>' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}")
"""Llama-3.1-Instruct's layout without tools: the system header with its dates, then one header per turn."""
QWEN_SPECIALS = ("<|im_start|>", "<|im_end|>")
LLAMA3_SPECIALS = ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")


def save_tiny_qwen_prm(folder: Path, *, remote_code: bool = False, seed: int = 0) -> Path:
    """A random Qwen2.5-Math-PRM in miniature: Qwen2 decoder + Linear/ReLU/Linear 2-way head
    (`Qwen2ForProcessRewardModel`), `<extra_0>` and ChatML specials, the ChatML template. With
    `remote_code`, the folder also ships the class as code (`auto_map`), as the hub checkpoints do."""
    from reasoning_core.rewards import qwen_prm

    torch.manual_seed(seed)
    tokenizer = char_tokenizer(extra_special=("<extra_0>",) + QWEN_SPECIALS, pad=True)
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    # a wide init, so the random scores differ visibly from step to step
    config = Qwen2Config(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, initializer_range=0.5,
                         **SMALL)
    folder = _save(qwen_prm.Qwen2ForProcessRewardModel(config), tokenizer, folder)
    if remote_code:
        (folder / "modeling_qwen2_rm.py").write_text(Path(qwen_prm.__file__).read_text())
        cfg = json.loads((folder / "config.json").read_text())
        cfg["auto_map"] = {"AutoModel": "modeling_qwen2_rm.Qwen2ForProcessRewardModel"}
        (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def save_tiny_rlhflow_prm(folder: Path, *, seed: int = 0) -> Path:
    """A random Llama chat model with Llama-3.1's special tokens and chat template (RLHFlow's PRM family)."""
    torch.manual_seed(seed)
    tokenizer = char_tokenizer(extra_special=LLAMA3_SPECIALS)
    tokenizer.bos_token = "<|begin_of_text|>"
    tokenizer.chat_template = LLAMA31_CHAT_TEMPLATE
    config = LlamaConfig(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.convert_tokens_to_ids("<|eot_id|>"), initializer_range=0.5, **SMALL)
    return _save(LlamaForCausalLM(config), tokenizer, folder)


def save_tiny_chat_generator(folder: Path, *, seed: int = 0) -> Path:
    """A random 2-layer Llama whose tokenizer has ChatML specials and template (like Qwen2.5-Math-Instruct);
    <|im_end|> is its EOS."""
    torch.manual_seed(seed)
    tokenizer = char_tokenizer(extra_special=QWEN_SPECIALS)
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    tokenizer.eos_token = "<|im_end|>"
    config = LlamaConfig(vocab_size=len(tokenizer), bos_token_id=1, eos_token_id=tokenizer.eos_token_id, **SMALL)
    return _save(LlamaForCausalLM(config), tokenizer, folder)


def _save(model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, folder: Path,
          stepwise: dict | None = None) -> Path:
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if stepwise is not None:
        (folder / "stepwise.json").write_text(json.dumps(stepwise))
    return folder


def save_tiny_gguf(hf_folder: Path, path: Path) -> Path:
    """Write the tiny Llama of `save_tiny_generator` as a float32 GGUF file for llama.cpp, by hand (the
    converter script ships with llama.cpp's sources, not its wheels, and knows only hub tokenizers).

    The char tokenizer becomes a byte-level BPE vocabulary with no real merges, so llama.cpp also reads
    one token per character; q/k weights are permuted back to llama.cpp's rotary layout, as the official
    converter does, so the file computes what the HF model computes."""
    import gguf

    model = LlamaForCausalLM.from_pretrained(hf_folder, dtype=torch.float32)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(hf_folder)
    cfg = model.config
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("stepwise-tiny")
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    writer.add_rope_dimension_count(cfg.head_dim)
    writer.add_vocab_size(cfg.vocab_size)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    byte_char = _bytes_to_unicode()
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    specials = set(tokenizer.all_special_tokens)
    tokens = [tok if tok in specials else "".join(byte_char[b] for b in tok.encode()) for tok, _ in vocab]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL if tok in specials else gguf.TokenType.NORMAL
                            for tok, _ in vocab])
    writer.add_token_merges(["\u0100 \u0100"])  # llama.cpp wants merges; this one (two NUL bytes) never applies
    writer.add_bos_token_id(tokenizer.bos_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_unk_token_id(tokenizer.unk_token_id)
    writer.add_add_bos_token(True)

    heads, kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    layer = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for name, tensor in model.state_dict().items():
        data = tensor.float().numpy()
        if name in names:
            writer.add_tensor(names[name], data)
            continue
        _, _, index, *rest = name.split(".")
        part = ".".join(rest).removesuffix(".weight")
        if part == "self_attn.q_proj":
            data = _unpermute(data, heads)
        elif part == "self_attn.k_proj":
            data = _unpermute(data, kv_heads)
        writer.add_tensor(f"blk.{index}.{layer[part]}.weight", data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(path)


def _unpermute(weights, heads: int):
    """HF's rotate-half q/k rows -> llama.cpp's interleaved pairs (the inverse of HF's conversion)."""
    return (weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table, which byte-level BPE vocabularies are written in."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table
