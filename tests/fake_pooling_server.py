"""A stand-in for a PRM behind `vllm serve --runner pooling`, for the reward-server tests, on
fake_openai_server's machinery: POST /pooling pools one row per step tag of each input, as vLLM's STEP pooler
does, [1 - p, p] at each "<extra_0>" (Qwen PRM) or [p, 1 - p] at each "ки" (Math-Shepherd). p is read from
the last equation "a op b = c" before the tag: 1 / (1 + |a op b - c|), so 1 for a right step and less the
further off it is; 0.5 for a step without one. A task other than token_classify is refused with HTTP 400,
as vLLM refuses a task the model does not support; `--die-after N` as in fake_openai_server.

    python tests/fake_pooling_server.py PORT [--die-after N]
"""
from __future__ import annotations

import re
import subprocess

import fake_openai_server
from fake_openai_server import Handler, main

MODEL = "fake-prm"
EQUATION = re.compile(r"(-?\d+) ([-+*]) (-?\d+) = (-?\d+)")


def step_score(segment: str) -> float:
    found = EQUATION.findall(segment)
    if not found:
        return 0.5
    a, op, b, c = found[-1]
    value = int(a) + int(b) if op == "+" else int(a) - int(b) if op == "-" else int(a) * int(b)
    return 1 / (1 + abs(value - int(c)))


def pooled(text: str) -> list[list[float]]:
    """The rows the STEP pooler would give `text`: one per step tag, good class last for Qwen, first for
    Math-Shepherd."""
    qwen = "<extra_0>" in text
    rows = []
    for segment in text.split("<extra_0>" if qwen else "ки")[:-1]:
        p = step_score(segment)
        rows.append([1 - p, p] if qwen else [p, 1 - p])
    return rows


def answer(path: str, body: dict) -> tuple[dict, int]:
    """The JSON answer to a POST of `body` at `path`, and its HTTP status."""
    if path != "/pooling":
        return {"error": {"message": f"no route {path}", "code": 404}}, 404
    task = body.get("task")
    if task not in (None, "token_classify"):
        return {"error": {"message": f"Unsupported task: {task!r} Supported tasks: ('token_classify',)",
                          "code": 400}}, 400
    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
    return {"object": "list", "model": MODEL, "usage": {"prompt_tokens": 0, "total_tokens": 0},
            "data": [{"index": i, "object": "pooling", "data": pooled(t)} for i, t in enumerate(texts)]}, 200


class PoolingHandler(Handler):
    model = MODEL

    def respond(self, path: str, body: dict) -> tuple[dict, int]:
        return answer(path, body)


def start(die_after: int | None = None) -> tuple[str, subprocess.Popen]:
    """Start this server in a subprocess (`fake_openai_server.start`)."""
    return fake_openai_server.start(die_after, script=__file__)


if __name__ == "__main__":
    main(PoolingHandler, __doc__)
