"""Engine overhead: how much of a search's wall time is spent outside model calls, and how search
throughput compares with one raw batched `generate` of the same number of tokens.

    python -m bench.engine                      # default checkpoints in assets/ (else a tiny random model)
    python -m bench.engine --problems 4 --sizes 16,64 --out bench/results/engine.json
    OMP_NUM_THREADS=1 python -m bench.engine --sweep-top 0   # on a busy machine: one thread, no sweep

For each arm (beam search with width 4, best-of-N, MCTS with expansion width 4 selecting one leaf per call and
8 under virtual loss, rStar likewise) at each size N (candidates, or iterations), on held-out problems of each
task the generator was trained on (of its trained levels), it reports:
model share = time inside generator + reward calls / wall time; overhead = the rest (tree, events,
scheduling); search tok/s vs raw tok/s = tokens per second of the search vs a single
`model.generate` producing the same number of tokens in one batch of N rows (the issue's yardstick), and vs
the search's own sampler (`backends.step_decode`, leaner than `generate`) doing the same: what the search
costs beyond sampling. Each arm warms up on a problem
it does not measure, and runs its problems `--repeats` times with the models' prefix caches emptied before
each pass (a search never reads states another search kept); the fastest pass, and the fastest raw
`generate`, are reported, so a busy machine blurs the ratio less.

It also prices a best-of-N budget sweep (sizes 1, 2, 4, ..., --sweep-top): every size run on its own,
against one pooled run at the top size that the smaller sizes subsample (`eval --pool`), each against
the top-size run alone, on the same problems.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import torch

from reasoning_core.backends import load as load_generator
from reasoning_core.backends.step_decode import sample_steps
from reasoning_core.budget import Budget
from reasoning_core.eval import EvalSpec, draw_problems, evaluate
from reasoning_core.fakes import FakeArithPRM
from reasoning_core.kv_cache import PrefixCache, reusable
from reasoning_core.protocols import ModelError
from reasoning_core.rewards import load as load_reward
from reasoning_core.run import solve
from reasoning_core.search import Problem, make_config
from reasoning_core.tasks import get_task


def models(generator_spec: str, prm_spec: str):
    """The default checkpoints, or when they are absent a tiny random model and the fake PRM."""
    try:
        return load_generator(generator_spec), load_reward(prm_spec), generator_spec
    except ModelError:
        from tests.tiny_models import save_tiny_generator

        folder = save_tiny_generator(Path("runs/bench-tiny-model"))
        return load_generator(str(folder)), FakeArithPRM(), "tiny random Llama (no default assets)"


def forget(*models) -> None:
    """Empty the prefix caches of the transformers generator and reward models (others have none)."""
    for model in models:
        cache = getattr(model, "prefix_cache", None)
        if cache is not None:
            cache.clear()


def raw_generate_tok_s(generator, prompt: str, rows: int, tokens: int) -> float:
    """Tokens/s of one batched generate of `rows` sequences, `tokens` in all (EOS ignored)."""
    per_row = max(1, tokens // rows)
    tok = generator.tokenizer
    batch = tok([prompt] * rows, return_tensors="pt", padding=True, padding_side="left").to(generator.model.device)
    with torch.no_grad():
        t0 = time.perf_counter()
        generator.model.generate(**batch, max_new_tokens=per_row, min_new_tokens=per_row, do_sample=True,
                                 top_k=0, pad_token_id=tok.pad_token_id)
        elapsed = time.perf_counter() - t0
    return per_row * rows / elapsed


def raw_decode_tok_s(generator, prompt: str, rows: int, tokens: int) -> float | None:
    """The same batch through the search's own sampler (`step_decode`, no delimiter, EOS ignored): what
    search costs beyond sampling that many tokens with the loop it uses. None for models it does not serve."""
    if not reusable(generator.model):
        return None
    per_row = max(1, tokens // rows)
    ids = generator.tokenizer([prompt] * rows).input_ids
    batch = PrefixCache(generator.model, 0).batch(ids, [(None, 0)] * rows, generator.tokenizer.pad_token_id,
                                                  generator.model.device, extra=per_row)
    t0 = time.perf_counter()
    sample_steps(generator.model, batch, max_new_tokens=per_row, temperature=1.0, seed=0,
                 ends_step=lambda tokens, token: False, eos_ids=(), leave=lambda *row: None)
    return per_row * rows / (time.perf_counter() - t0)


def sweep_cost(generator, reward, problems: dict[str, list], top: int) -> dict:
    """Wall time of a best-of-N sweep over 1..`top` (powers of two), each size run alone and pooled, and
    of the `top` run alone, on the same problems (`problems`: task name -> examples)."""
    sizes = [2 ** k for k in range(top.bit_length()) if 2 ** k <= top]
    walls = {}
    for name, spec in (("top_alone", EvalSpec(["best_of_n"], [top])),
                       ("sweep_separate", EvalSpec(["best_of_n"], sizes)),
                       ("sweep_pooled", EvalSpec(["best_of_n"], sizes, pool=True))):
        forget(generator, reward)
        t0 = time.perf_counter()
        for task, examples in problems.items():
            evaluate(spec, examples, get_task(task), generator, reward)
        walls[name] = time.perf_counter() - t0
    return {"sizes": sizes, "problems": sum(map(len, problems.values())),
            **{f"{k}_s": round(v, 2) for k, v in walls.items()},
            "separate_vs_top": round(walls["sweep_separate"] / walls["top_alone"], 3),
            "pooled_vs_top": round(walls["sweep_pooled"] / walls["top_alone"], 3)}


ARMS = {"beam_search": ("beam_search", {"width": 4}), "best_of_n": ("best_of_n", {}),
        "mcts": ("mcts", {"expansion_width": 4}), "mcts K=8": ("mcts", {"expansion_width": 4, "leaves_per_call": 8}),
        "rstar": ("rstar", {}), "rstar K=8": ("rstar", {"leaves_per_call": 8})}
"""Arm name -> (strategy, knobs); the size N is each strategy's own (candidates, or iterations)."""


def measure(generator, reward, arm: str, size: int, task: str, examples: list, warm_up, repeats: int) -> dict:
    """One arm at one size on one task's problems: the fastest of `repeats` passes against the fastest raw
    generate of the same tokens per problem in `size` rows."""
    name, knobs = ARMS[arm]
    config, problem_task = make_config(name, size, **knobs), get_task(task)
    solve(name, Problem(warm_up.problem, problem_task), generator, reward, Budget(), config)
    passes = []
    for _ in range(repeats):
        forget(generator, reward)
        totals = {"wall_s": 0.0, "model_s": 0.0, "generated_tokens": 0, "generator_calls": 0, "reward_calls": 0}
        for ex in examples:
            stats = solve(name, Problem(ex.problem, problem_task), generator, reward, Budget(), config).stats
            for key in totals:
                totals[key] += stats[key]
        passes.append(totals)
    totals = min(passes, key=lambda t: t["wall_s"])
    prompt, per_problem = problem_task.prompt(examples[0].problem), int(totals["generated_tokens"] / len(examples))
    raw = max(raw_generate_tok_s(generator, prompt, size, per_problem) for _ in range(repeats))
    own = [raw_decode_tok_s(generator, prompt, size, per_problem) for _ in range(repeats)]
    search_tok_s = totals["generated_tokens"] / totals["wall_s"]
    return {"strategy": arm, "size": size, "task": task, "problems": len(examples),
            "model_share": totals["model_s"] / totals["wall_s"],
            "overhead_share": 1 - totals["model_s"] / totals["wall_s"],
            "wall_s_per_problem": totals["wall_s"] / len(examples),
            "tokens_per_problem": totals["generated_tokens"] / len(examples),
            "gen_calls_per_problem": totals["generator_calls"] / len(examples),
            "reward_calls_per_problem": totals["reward_calls"] / len(examples),
            "search_tok_s": search_tok_s, "raw_generate_tok_s": raw, "search_vs_raw": search_tok_s / raw,
            "raw_decode_tok_s": max(own) if own[0] else None,
            "search_vs_own_sampler": search_tok_s / max(own) if own[0] else None}


def pooled_rows(rows: list[dict]) -> list[dict]:
    """Per arm and size over every task: tokens / wall summed, so each problem weighs its own time."""
    out = []
    table = pd.DataFrame(rows)
    for (arm, size), g in table.groupby(["strategy", "size"], sort=False):
        wall = (g.wall_s_per_problem * g.problems).sum()
        tokens = (g.tokens_per_problem * g.problems).sum()
        raw_wall = (g.tokens_per_problem * g.problems / g.raw_generate_tok_s).sum()
        own_wall = (g.tokens_per_problem * g.problems / g.raw_decode_tok_s).sum() if g.raw_decode_tok_s.notna().all() \
            else None
        out.append({"strategy": arm, "size": int(size), "task": "all", "problems": int(g.problems.sum()),
                    "model_share": float((g.model_share * g.wall_s_per_problem * g.problems).sum() / wall),
                    "wall_s_per_problem": float(wall / g.problems.sum()), "search_tok_s": float(tokens / wall),
                    "raw_generate_tok_s": float(tokens / raw_wall), "search_vs_raw": float(raw_wall / wall),
                    "raw_decode_tok_s": float(tokens / own_wall) if own_wall else None,
                    "search_vs_own_sampler": float(own_wall / wall) if own_wall else None})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", default="default")
    parser.add_argument("--reward", "--prm", dest="prm", default="default", help="the verifier spec (--prm: old name)")
    parser.add_argument("--problems", type=int, default=4, help="held-out problems per task")
    parser.add_argument("--sizes", default="16,64", help="comma-separated N (candidates, or iterations)")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, of {', '.join(ARMS)}")
    parser.add_argument("--tasks", default=None, help="comma-separated (default: the generator's recorded tasks)")
    parser.add_argument("--sweep-top", type=int, default=64, help="largest best-of-N size of the sweep (0: skip)")
    parser.add_argument("--repeats", type=int, default=2, help="passes per arm; the fastest is reported")
    parser.add_argument("--out", default="bench/results/engine.json")
    args = parser.parse_args()
    arms, sizes = args.arms.split(","), [int(n) for n in args.sizes.split(",")]
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        parser.error(f"unknown arms {unknown}; valid: {', '.join(ARMS)}")
    torch.manual_seed(0)
    generator, reward, label = models(args.generator, args.prm)
    tasks = args.tasks.split(",") if args.tasks else list(getattr(generator, "tasks", None) or ["arith"])
    levels = getattr(generator, "levels", None) or {}
    problems = {t: draw_problems(t, args.problems + 1, 0, levels=levels.get(t)) for t in tasks}
    rows = []
    for size in sizes:
        for arm in arms:
            for task, exs in problems.items():
                rows.append(measure(generator, reward, arm, size, task, exs[:-1], exs[-1], args.repeats))
                print(f"{arm} N={size} {task}: {rows[-1]['search_vs_raw']:.2f}x raw, "
                      f"{rows[-1]['wall_s_per_problem']:.2f} s a problem", flush=True)
    rows += pooled_rows(rows)
    table = pd.DataFrame(rows)
    print(f"model: {label}; threads: {torch.get_num_threads()}; tasks: {', '.join(tasks)}")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    sweep = (sweep_cost(generator, reward, {t: exs[:-1] for t, exs in problems.items()}, args.sweep_top)
             if args.sweep_top else None)
    if sweep:
        print(f"best-of-N sweep {sweep['sizes']}: each size alone {sweep['separate_vs_top']:.2f}x, pooled "
              f"{sweep['pooled_vs_top']:.2f}x the wall time of the N={args.sweep_top} run alone")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"model": label, "threads": torch.get_num_threads(), "tasks": tasks, "levels": levels,
                               "rows": rows, "sweep": sweep}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
