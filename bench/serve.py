"""The OpenAI-compatible server under load: requests/s and p50/p95 latency for 1, 4, 16 and 32 concurrent
clients (the official `openai` client, one per thread), each request one search on its own held-out problem
(the shipped generator's tasks in turn, of its trained levels).

    python -m bench.serve                                   # default models in assets/, beam_search
    python -m bench.serve --model "mcts?iterations=16" --clients 1,8 --out bench/results/serve-mcts.json
    python -m bench.serve --parallel-models                 # let searches call the models at the same time

The server runs as `python -m reasoning_core serve` in its own process, as a user starts it, so the clients do
not share its interpreter (its log: runs/bench-serve.log). Each level sends max(--requests, 2 x clients)
requests after one warm-up request.
latency = request sent to answer received; search_s = the search's wall time inside the server, which counts
its waits for a turn at the model (a local model serves one call at a time unless --parallel-models), so
latency - search_s is HTTP and JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import openai
import pandas as pd

from reasoning_core.checkpoints import DEFAULTS, trained_tasks
from reasoning_core.tasks import held_out_examples, levels_trained

LOG = Path("runs/bench-serve.log")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args: argparse.Namespace, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "reasoning_core", "serve", "--generator", args.generator, "--reward", args.reward,
           "--port", str(port), "--max-concurrency", str(max(args.clients))]
    if args.parallel_models:
        cmd.append("--parallel-models")
    LOG.parent.mkdir(exist_ok=True)
    with LOG.open("w") as log:  # the server keeps its own copy of the file
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "NO_PROXY": "127.0.0.1"})
    t0 = time.perf_counter()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}; see {LOG}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.2)
        if time.perf_counter() - t0 > 120:
            proc.terminate()
            raise RuntimeError("the server did not answer within 120 s")


def level(url: str, model: str, clients: int, problems: list[str]) -> dict:
    """`clients` threads share the requests; each thread has its own client and takes the next problem."""
    todo = iter(enumerate(problems))
    lock, latencies, search_s, tokens, errors = threading.Lock(), [], [], [], []

    def worker() -> None:
        client = openai.OpenAI(base_url=url, api_key="none", max_retries=0, timeout=600)
        while True:
            with lock:
                job = next(todo, None)
            if job is None:
                return
            t0 = time.perf_counter()
            try:
                r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": job[1]}],
                                                   seed=job[0])
            except openai.APIError as err:
                with lock:
                    errors.append(repr(err))
                continue
            with lock:
                latencies.append(time.perf_counter() - t0)
                search_s.append(r.model_extra["stepwise"]["stats"]["wall_s"])
                tokens.append(r.usage.completion_tokens)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=20, method="inclusive") if len(latencies) > 1 else latencies * 19
    return {"clients": clients, "requests": len(problems), "errors": len(errors), "wall_s": wall,
            "requests_per_s": len(latencies) / wall, "p50_s": statistics.median(latencies), "p95_s": q[18],
            "search_s_mean": statistics.mean(search_s), "tokens_per_request": statistics.mean(tokens),
            "first_error": errors[0] if errors else None}


def request_problems(generator: str, count: int = 300) -> list[str]:
    """Held-out problems of each task the shipped generator was trained on (of its trained levels), taken
    in turn; for any other generator, arith."""
    folder = DEFAULTS["generator"]
    tasks = (trained_tasks(folder) if generator == "default" else None) or ("arith",)
    per_task = [[ex.problem for ex in held_out_examples(t, count, levels=levels_trained(folder, t))] for t in tasks]
    return [p for row in zip(*per_task) for p in row]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", default="default")
    parser.add_argument("--reward", default="default")
    parser.add_argument("--model", default="beam_search", help="the strategy and settings every request asks for")
    parser.add_argument("--clients", default="1,4,16,32", help="comma-separated concurrency levels")
    parser.add_argument("--requests", type=int, default=16, help="requests per level (at least 2 x clients)")
    parser.add_argument("--parallel-models", action="store_true", help="serve with --parallel-models")
    parser.add_argument("--out", default="bench/results/serve.json")
    args = parser.parse_args()
    args.clients = [int(c) for c in args.clients.split(",")]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    proc = start_server(args, port)
    try:
        problems = request_problems(args.generator)
        level(url, args.model, 1, problems[:1])  # warm-up: first calls pay for lazy setup
        rows, offset = [], 1
        for clients in args.clients:
            count = max(args.requests, 2 * clients)
            rows.append(level(url, args.model, clients, problems[offset:offset + count]))
            offset += count
    finally:
        proc.terminate()
        proc.wait(30)
    table = pd.DataFrame(rows).drop(columns="first_error")
    print(f"model: {args.model} on generator {args.generator}, reward {args.reward}; "
          f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"models: {'parallel calls' if args.parallel_models else 'one call at a time'}")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    out = Path(args.out)
    out.write_text(json.dumps({"model": args.model, "generator": args.generator, "reward": args.reward,
                               "parallel_models": args.parallel_models, "cpus": os.cpu_count(),
                               "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
