"""Which tokenizer and which generator size for the default world, measured on this CPU.

1. Sequence lengths of the default mix's training texts (prompt + gold chain) under the character
   tokenizer and under byte-pair tokenizers trained here with `tokenizers` (digits kept one per token,
   as Llama's do, so arithmetic stays readable), and how often a letters question's word becomes a single
   token (a model that sees "strawberry" as one token has to learn its spelling by heart).
2. Training speed of candidate Llama sizes on length-grouped batches of those texts.
3. Each size trained by SFT for the same wall time on the mix: held-out completion loss and greedy
   accuracy per task, so the size is chosen on what a fixed budget buys.

    python -m experiments.model_size --minutes 5 --out experiments/results/model-size

Writes OUT/model_size.json and prints the tables.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

from reasoning_core.tasks import letters
from training.config import preset
from training.data import completion_text, mix_problems, sft_dataset, split_problems
from training.sampling import greedy_solved
from training.sft import ModelConfig, build_generator, train_sft
from training.tokenizer import build_tokenizer

SIZES = {"1.1M (128 x 4)": ModelConfig(hidden_size=128, num_layers=4, num_heads=4, intermediate_size=512,
                                       max_positions=512),
         "2.4M (160 x 6)": ModelConfig(hidden_size=160, num_layers=6, num_heads=5, intermediate_size=640,
                                       max_positions=512),
         "3.6M (192 x 6)": ModelConfig(hidden_size=192, num_layers=6, num_heads=6, intermediate_size=768,
                                       max_positions=512)}


def texts(count: int) -> tuple[list[str], list[str]]:
    """(training texts, the words of the letters questions among them)."""
    cfg = preset("default")
    exs = mix_problems(cfg.mix, "train", count, seed=7)
    words = [q.word for e in exs if (q := letters.parse(e.problem))]
    return [f"Question: {e.problem}\nAnswer:\n{completion_text(e.steps)}" for e in exs], words


def bpe_lengths(corpus: list[str], probe: list[str], words: list[str], vocab: int) -> dict:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.Metaspace()])
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<unk>"]))
    lengths = pd.Series([len(tok.encode(t).ids) for t in probe])
    single = sum(len(tok.encode(w).ids) <= 2 for w in words) / max(1, len(words))  # metaspace + word
    return {"tokenizer": f"BPE {vocab}", "mean_tokens": round(lengths.mean(), 1),
            "p95_tokens": int(lengths.quantile(0.95)), "max_tokens": int(lengths.max()),
            "letters_words_as_one_token": round(single, 3)}


def lengths_table(corpus: list[str], probe: list[str], words: list[str]) -> list[dict]:
    chars = pd.Series([len(build_tokenizer(1024)(t)["input_ids"]) for t in probe])
    rows = [{"tokenizer": "character", "mean_tokens": round(chars.mean(), 1), "p95_tokens": int(chars.quantile(0.95)),
             "max_tokens": int(chars.max()), "letters_words_as_one_token": 0.0}]
    return rows + [bpe_lengths(corpus, probe, words, v) for v in (512, 1024, 2048)]


def step_seconds(model_cfg: ModelConfig, batches: list[list[str]]) -> float:
    """Mean seconds per optimiser step (forward, backward, AdamW) over batches of real texts, each padded to
    its longest (after one warm-up step)."""
    torch.manual_seed(0)
    model, tok = build_generator(model_cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    times = []
    for batch in batches[:1] + batches:
        ids = tok(batch, return_tensors="pt", padding=True)["input_ids"]
        t0 = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t0)
    return sum(times[1:]) / len(batches)


def completion_loss(model, tok, rows: list[dict]) -> float:
    """Mean per-character NLL of gold completions given their prompts."""
    total = count = 0.0
    with torch.no_grad():
        for r in rows:
            prompt = tok(r["prompt"])["input_ids"]
            ids = torch.tensor([prompt + tok(r["completion"])["input_ids"]])
            logps = model(input_ids=ids).logits[0, :-1].log_softmax(-1)
            picked = logps[torch.arange(ids.shape[1] - 1), ids[0, 1:]][len(prompt) - 1:]
            total, count = total - float(picked.sum()), count + len(picked)
    return total / count


def train_for(name: str, model_cfg: ModelConfig, seconds_per_step: float, minutes: float, out: Path) -> dict:
    """SFT for about `minutes` of wall time (steps from the measured step time), then held-out loss and
    greedy accuracy per task on 60 validation problems of each."""
    cfg = preset("default")
    steps = max(10, int(minutes * 60 / seconds_per_step))
    tc = replace(cfg.sft, max_steps=steps, max_wall_s=minutes * 90)  # the cap only guards a slowed machine
    torch.manual_seed(0)
    model, tok = build_generator(model_cfg)
    data = sft_dataset(mix_problems(cfg.mix, "train", steps * tc.batch_size, seed=0))
    t0 = time.time()
    stats = train_sft(model, tok, data, tc, str(out / "work" / name.split()[0]))
    wall = time.time() - t0
    held = list(sft_dataset(mix_problems(cfg.mix, "validation", 60, seed=11)))
    row = {"size": name, "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
           "steps": stats["steps"], "train_wall_s": round(wall, 1),
           "heldout_loss": round(completion_loss(model, tok, held), 4)}
    for task in cfg.mix.weights:
        one = replace(cfg.mix, weights={task: 1.0})
        problems, refs = split_problems("validation", 60, one, seed=11)
        solved = greedy_solved(model, tok, problems, refs, desc=f"greedy {task}")
        row[f"greedy_{task}"] = round(sum(solved) / len(solved), 3)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="SFT wall time per size (default 5; 0 skips)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("experiments/results/model-size"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    corpus, words = texts(20000)
    probe = corpus[:3000]
    tokenizers_ = pd.DataFrame(lengths_table(corpus, probe, words))
    print(tokenizers_.to_string(index=False), flush=True)
    by_length = sorted(probe[:1024], key=len)
    batches = [by_length[i:i + 32] for i in range(0, len(by_length), 128)]  # 8 grouped batches, short to long
    mixed = random.Random(0).sample(probe[:1024], 256)
    random_batches = [mixed[i:i + 32] for i in range(0, 256, 32)]  # 8 batches as random sampling draws them
    speed = pd.DataFrame([{"size": n, "seconds_per_step_32": round(step_seconds(c, batches), 3),
                           "seconds_per_step_32_random": round(step_seconds(c, random_batches), 3)}
                          for n, c in SIZES.items()])
    print(speed.to_string(index=False), flush=True)
    runs = pd.DataFrame([train_for(n, c, s, args.minutes, args.out)
                         for (n, c), s in zip(SIZES.items(), speed.seconds_per_step_32)] if args.minutes else [])
    print(runs.to_string(index=False), flush=True)
    result = {"tokenizers": tokenizers_.to_dict("records"), "speed": speed.to_dict("records"),
              "fixed_time_sft": runs.to_dict("records"), "minutes_per_size": args.minutes,
              "mean_batch_chars": int(sum(map(len, by_length)) / len(by_length)), "threads": args.threads,
              "baseline_loss_uniform": round(math.log(len(build_tokenizer())), 3)}
    (args.out / "model_size.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out / 'model_size.json'}")


if __name__ == "__main__":
    main()
