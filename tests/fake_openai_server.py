"""A small OpenAI-compatible /v1/completions server over the seeded fake arith generator, in vLLM's dialect,
for the server-pool tests: every prompt's samples depend on (prompt, seed, sample) only, as with vLLM, so
any split of a batch over several servers gives the same answers. `--die-after N` makes the process exit
without answering the completion request after the N-th, as a crashed server would. `Handler`, `start` and
`main` serve the other fakes of vLLM too (`fake_pooling_server.py`).

    python tests/fake_openai_server.py PORT [--die-after N]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
MODEL = "fake-arith"


def completion_choices(body: dict) -> list[dict]:
    from reasoning_core.fakes import FakeArithGenerator

    prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
    n, stop = body.get("n", 1), body["stop"][0]
    choices = []
    for i, prompt in enumerate(prompts):
        [row] = FakeArithGenerator().propose([prompt], n, stop=stop, max_new_tokens=body["max_tokens"],
                                             temperature=body["temperature"], seed=body["seed"])
        for j, c in enumerate(row):
            tokens = ["t"] * c.num_tokens  # the whole log-prob on the first token: the sum stays exact
            choices.append({"index": i * n + j, "text": c.text, "finish_reason": "stop",
                            "stop_reason": None if c.finished else stop,
                            "logprobs": {"tokens": tokens, "token_logprobs": [c.logprob] + [0.0] * (len(tokens) - 1)}})
    return choices


class Handler(BaseHTTPRequestHandler):
    """Lists `model` at /v1/models and answers every POST with `respond(path, body)` (the JSON and the HTTP
    status); exits on the POST after the `die_after`-th."""

    model = MODEL
    served = 0
    die_after: int | None = None

    def respond(self, path: str, body: dict) -> tuple[dict, int]:
        return {"choices": completion_choices(body)}, 200

    def do_GET(self) -> None:
        self._answer({"data": [{"id": self.model, "owned_by": "vllm"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if Handler.die_after is not None and Handler.served >= Handler.die_after:
            os._exit(1)  # mid-request, as a crash: the client sees the connection drop
        Handler.served += 1
        self._answer(*self.respond(self.path, body))

    def _answer(self, data: dict, status: int = 200) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(die_after: int | None = None, timeout: float = 30.0, script: str = __file__) -> tuple[str, subprocess.Popen]:
    """Start the fake server `script` in a subprocess; returns its URL once it answers, and the process."""
    port = free_port()
    cmd = [sys.executable, script, str(port)] + ([] if die_after is None else ["--die-after", str(die_after)])
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the fake server exited with {proc.returncode}")
        try:
            httpx.get(url + "/v1/models", timeout=1.0)
            return url, proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"the fake server did not come up in {timeout} s")


def main(handler: type[Handler] = Handler, description: str | None = __doc__) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("port", type=int)
    parser.add_argument("--die-after", type=int)
    args = parser.parse_args()
    Handler.die_after = args.die_after
    ThreadingHTTPServer(("127.0.0.1", args.port), handler).serve_forever()


if __name__ == "__main__":
    main()
