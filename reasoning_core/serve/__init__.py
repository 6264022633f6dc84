"""An OpenAI-compatible API whose "model" is a search strategy: `/v1/chat/completions` and `/v1/completions`
answer with the chain a PRM-guided search chose, `/v1/models` lists the strategies.

    python -m reasoning_core serve --generator default --reward default --port 8000 --api-key KEY
    curl localhost:8000/v1/chat/completions -H "Authorization: Bearer KEY" \\
        -d '{"model": "mcts?iterations=32", "messages": [{"role": "user", "content": "17 + 25 * 3 - 40"}]}'

`model` is a strategy name with settings as a query (`beam_search?n=16&width=4&max_tokens=4000`): its knobs
and the budget caps, checked against their ranges. The assistant message is the chosen chain, one step per
delimiter; the extension field `stepwise` holds the answer, its grade, the best path with per-step scores,
the tree, the stats, the settings and the budget. With `stream=true`, each chunk carries one frame of the
search (its events and the film's sentence, with empty content), then one chunk per chosen step, then a
last chunk with the finish reason, the usage and the extension, then `[DONE]`.

Each search runs in a worker thread; a request past `max_concurrency` running searches is answered 429 at
once, and a client that disconnects cancels its search, which frees its slot.

`parse` reads a request (and words the errors), `running` runs the searches, `app` holds the routes; this
module holds only the settings, so the command line reads them without importing FastAPI.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..budget import Budget
from ..knobs import check_knobs, knob
from ..lazy import exports

__getattr__ = exports(__name__, {"ApiError": "parse", "clamp": "parse", "parse_model": "parse",
                                 "Server": "app", "build_app": "app", "serve": "app"})
__all__ = ["DEFAULT_CAPS", "ApiError", "ServeConfig", "Server", "build_app", "clamp", "parse_model", "serve"]

DEFAULT_CAPS = Budget(max_tokens=50_000, max_generator_calls=1_000, max_reward_calls=1_000, max_nodes=4_096,
                      max_wall_s=120.0)


@dataclass
class ServeConfig:
    """How the server listens and what one request may spend. `caps` bound every request's budget (a request
    may ask for less, never more); `task` and `chat_template` pose the problems as `solve` does."""

    host: str = knob("127.0.0.1", "host", "address to listen on (0.0.0.0: every interface)")
    port: int = knob(8000, "port", "port to listen on", low=1, high=65_535)
    api_key: str | None = knob(None, "API key", "clients must send 'Authorization: Bearer KEY' (default: "
                               "$STEPWISE_SERVE_API_KEY; unset: no auth)")
    max_concurrency: int = knob(8, "max concurrency", "searches running at once; a request beyond them gets 429",
                                low=1)
    parallel_models: bool = knob(False, "parallel models", "let concurrent searches call a model at the same "
                                 "time: for thread-safe remote backends such as openai:. A local model serves "
                                 "one call at a time without it, since torch samples from one global RNG and "
                                 "overlapping calls would make a search depend on its neighbours")
    max_body_bytes: int = knob(1_000_000, "max body bytes", "largest request body accepted", low=1_024)
    caps: Budget = field(default_factory=lambda: Budget(**asdict(DEFAULT_CAPS)))
    task: str = "auto"
    chat_template: str = "auto"

    def __post_init__(self) -> None:
        check_knobs(self)
