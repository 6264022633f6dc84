"""What one decoding pass of the generator costs against the rows in the batch: how much a step-wise search
saves when rows whose step has ended leave the batch (`reasoning_core/backends/step_decode.py`).

    OMP_NUM_THREADS=1 python -m bench.pass_cost --out bench/results/pass-cost.json

For each batch size and cache length: the median time of one forward pass that reads one new token per row
on a cache of that many tokens (the cache cut back after each pass, so every pass reads the same length).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import pandas as pd
import torch
from transformers import DynamicCache

from reasoning_core.backends import load as load_generator


def pass_ms(model, rows: int, cached: int, repeats: int) -> float:
    ids = torch.randint(5, 50, (rows, cached), device=model.device)
    times = []
    with torch.no_grad():
        cache = DynamicCache(config=model.config)
        model(input_ids=ids, cache=cache, use_cache=True)
        new = torch.randint(5, 50, (rows, 1), device=model.device)
        mask = torch.ones(rows, cached + 1, dtype=torch.long, device=model.device)
        position = torch.full((rows, 1), cached, device=model.device)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(input_ids=new, attention_mask=mask, position_ids=position, cache=cache, use_cache=True)
            times.append(time.perf_counter() - t0)
            cache.crop(-1)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", default="default")
    parser.add_argument("--rows", default="1,2,4,8,16,32,64")
    parser.add_argument("--cached", default="100,300", help="cache lengths (tokens)")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out", default="bench/results/pass-cost.json")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = load_generator(args.generator).model
    rows = [{"rows": r, "cached_tokens": c, "pass_ms": pass_ms(model, r, c, args.repeats)}
            for c in map(int, args.cached.split(",")) for r in map(int, args.rows.split(","))]
    table = pd.DataFrame(rows)
    print(f"threads: {torch.get_num_threads()}")
    print(table.pivot(index="rows", columns="cached_tokens", values="pass_ms").to_string(float_format="%.2f"))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"generator": args.generator, "threads": torch.get_num_threads(), "rows": rows},
                              indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
