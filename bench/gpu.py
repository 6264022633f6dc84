"""GPU benchmark: best-of-N and beam search on a small real-architecture model, with the transformers
backend and with vLLM, against raw vLLM generation of the same number of tokens.

    python -m bench.gpu --generator Qwen/Qwen2.5-Math-1.5B-Instruct --reward qwen-prm:Qwen/Qwen2.5-Math-PRM-7B \\
        --data math500.jsonl --limit 20 --n 8 --download
    python -m bench.gpu --generator /models/qwen --reward none --strategies best_of_n   # generation only

Needs a CUDA GPU and vLLM (pip install -r requirements-gpu.txt); without them it says so and exits 2.
With `--prm none`, candidates are scored by a constant reward (0.5 for every step), so both strategies run
but pick arbitrarily: a pure measure of generation throughput. For each backend and strategy it reports
accuracy, tokens per problem, wall time, the share of wall time spent inside model calls, and
search tok/s; `raw_vllm_tok_s` is `LLM.generate` with the same prompts, n and total token count (EOS
ignored), so `vs_raw` says how much of vLLM's raw throughput step-wise search keeps.
Writes OUT/gpu.json and prints a table. Problems come from --data (GSM8K / MATH JSONL) or, without it,
the built-in arith test split.
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reasoning_core.budget import Budget
from reasoning_core.protocols import Generator, RewardModel
from reasoning_core.run import solve
from reasoning_core.search import Problem, make_config
from reasoning_core.tasks import Example, get_task, held_out_examples, load_jsonl
from reasoning_core.tasks.chat import chat_task


class ConstantReward:
    """Every step scores 0.5: lets PRM strategies run when only generation speed is measured."""

    kind = "prm"

    def score(self, problem: str, paths: Sequence[Sequence[str]]) -> list[list[float]]:
        return [[0.5] * len(path) for path in paths]


def check_gpu(backends: list[str]) -> str | None:
    """Why this machine cannot run the benchmark, or None."""
    import torch

    if not torch.cuda.is_available():
        return "bench.gpu needs a CUDA GPU (torch.cuda.is_available() is False)"
    if "vllm" in backends and importlib.util.find_spec("vllm") is None:
        return "bench.gpu needs vLLM for --backends vllm: pip install -r requirements-gpu.txt"
    return None


def load_backend(name: str, model: str, args: argparse.Namespace) -> Generator:
    if name == "vllm":
        from reasoning_core.backends.vllm_lm import VLLMGenerator

        return VLLMGenerator(model, gpu_memory_utilization=args.gpu_memory_utilization, seed=args.seed,
                             max_model_len=args.max_model_len)
    from reasoning_core.backends.transformers_lm import TransformersGenerator

    return TransformersGenerator(model, device="cuda", dtype="auto", local_files_only=not args.download)


def free_gpu() -> None:
    """Release the last backend's GPU memory before the next one loads (vLLM claims most of the card);
    the caller drops its own reference first."""
    import torch

    from reasoning_core.backends import vllm_lm

    vllm_lm._ENGINES.clear()
    gc.collect()
    torch.cuda.empty_cache()


def run_strategy(backend: str, strategy: str, generator: Generator, reward: RewardModel, examples: list[Example],
                 task: Any, args: argparse.Namespace) -> dict[str, Any]:
    config = make_config(strategy, args.n, seed=args.seed, temperature=args.temperature,
                         max_step_tokens=args.max_step_tokens, max_steps=args.max_steps, width=args.width)
    solve(strategy, Problem(examples[0].problem, task), generator, reward, Budget(), config)  # warm-up
    totals = {"wall_s": 0.0, "model_s": 0.0, "generated_tokens": 0, "generator_calls": 0}
    correct = 0
    for ex in examples:
        result = solve(strategy, Problem(ex.problem, task, ex.reference), generator, reward, Budget(), config)
        correct += bool(result.correct)
        for key in totals:
            totals[key] += result.stats[key]
    count = len(examples)
    return {"backend": backend, "strategy": strategy, "n": args.n, "problems": count, "accuracy": correct / count,
            "tokens_per_problem": totals["generated_tokens"] / count, "wall_s_per_problem": totals["wall_s"] / count,
            "gen_calls_per_problem": totals["generator_calls"] / count,
            "model_share": totals["model_s"] / totals["wall_s"],
            "search_tok_s": totals["generated_tokens"] / totals["wall_s"], "total_tokens": totals["generated_tokens"]}


def raw_vllm_tok_s(generator: Any, prompts: list[str], n: int, tokens: int, seed: int) -> float:
    """Tokens/s of one `LLM.generate` over `prompts` x `n` samples producing `tokens` tokens in all."""
    from vllm import SamplingParams

    per_sample = max(1, math.ceil(tokens / (len(prompts) * n)))
    params = SamplingParams(n=n, temperature=1.0, max_tokens=per_sample, min_tokens=per_sample, ignore_eos=True,
                            seed=seed)
    start = time.perf_counter()
    outputs = generator.llm.generate(prompts, params, use_tqdm=False)
    elapsed = time.perf_counter() - start
    return sum(len(c.token_ids) for out in outputs for c in out.outputs) / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", default="Qwen/Qwen2.5-Math-1.5B-Instruct", help="HF folder or hub id")
    parser.add_argument("--reward", "--prm", dest="prm", default="none",
                        help="a reward spec (e.g. qwen-prm:PATH), or 'none' for a constant (--prm: old name)")
    parser.add_argument("--task", default=None, help="arith or math (default: math with --data, else arith)")
    parser.add_argument("--data", help="GSM8K / MATH-format JSONL (default: the built-in arith test split)")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--backends", default="transformers,vllm")
    parser.add_argument("--strategies", default="best_of_n,beam_search")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--width", type=int, default=2)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--max-step-tokens", type=int, default=256)
    parser.add_argument("--max-steps", type=int, default=12)
    parser.add_argument("--max-model-len", type=int, default=4096)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.5,
                        help="vLLM's share of the GPU (leave room for an HF PRM)")
    parser.add_argument("--chat-template", default="auto")
    parser.add_argument("--download", action="store_true", help="let the transformers backend and PRM download")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/results/gpu")
    args = parser.parse_args()

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    problem = check_gpu(backends)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    import pandas as pd

    from reasoning_core.rewards import load as load_reward

    task_name = args.task or ("math" if args.data else "arith")
    examples = load_jsonl(args.data)[:args.limit] if args.data else held_out_examples(task_name, args.limit)
    reward = (ConstantReward() if args.prm == "none"
              else load_reward(args.prm, device="cuda", local_files_only=not args.download))
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    rows = []
    for backend in backends:
        generator = load_backend(backend, args.generator, args)
        task = chat_task(get_task(task_name), args.chat_template, generator)
        for strategy in strategies:
            row = run_strategy(backend, strategy, generator, reward, examples, task, args)
            if backend == "vllm":
                prompts = [task.prompt(ex.problem) for ex in examples]
                row["raw_vllm_tok_s"] = raw_vllm_tok_s(generator, prompts, args.n, row["total_tokens"], args.seed)
                row["vs_raw"] = row["search_tok_s"] / row["raw_vllm_tok_s"]
            rows.append(row)
            print(f"{backend:>12} {strategy:>12}: {row['search_tok_s']:.0f} tok/s", file=sys.stderr)
        del generator, task
        free_gpu()
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(table.drop(columns=["total_tokens"]).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import torch

    meta = {"generator": args.generator, "prm": args.prm, "task": task_name, "data": args.data,
            "gpu": torch.cuda.get_device_name(0), "rows": rows}
    (out / "gpu.json").write_text(json.dumps(meta, indent=2))
    print(f"wrote {out / 'gpu.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
