"""The routes: `/v1/chat/completions`, `/v1/completions`, `/v1/models` and `/health`, over one generator and
one reward model; each answer in the OpenAI shape with the search in the `stepwise` field."""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException

from ..budget import Budget
from ..film import describe
from ..knobs import Knob, knobs
from ..protocols import Generator, InputError, RewardModel, Task
from ..run import collect, stream
from ..search import STRATEGIES, Problem, SearchConfig, check_problem_text, make_config
from ..tasks import GENERATED, detect, get_task
from ..tasks.chat import chat_task
from ..tree import Event, NodeSelected, SearchFinished, SearchTree, event_to_dict
from . import ServeConfig
from .parse import (
    ApiError,
    Body,
    ChatBody,
    CompletionBody,
    bad_input,
    chat_problem,
    clamp,
    completion_problem,
    parse_model,
    read_body,
    unreadable,
)
from .running import OneCallAtATime, SearchRun, Slots, search_error

log = logging.getLogger(__name__)

EXTENSION = "stepwise"  # the response field that carries the search beside the OpenAI shape
FINISH_REASONS = {"done": "stop", "budget": "length", "cancelled": "stop"}


@dataclass
class Job:
    """A checked request, ready to run: its problem, its search settings and budget, how to answer it."""

    kind: str  # "chat" or "completion"
    model: str
    strategy: str
    problem: Problem
    config: SearchConfig
    budget: Budget
    streaming: bool
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:24])
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def object(self) -> str:
        return "text_completion" if self.kind == "completion" else "chat.completion"

    def envelope(self, choice: dict[str, Any], **extra: Any) -> dict[str, Any]:
        prefix = "cmpl-" if self.kind == "completion" else "chatcmpl-"
        obj = self.object + (".chunk" if self.streaming and self.kind == "chat" else "")
        return {"id": prefix + self.id, "object": obj, "created": self.created, "model": self.model,
                "choices": [choice], **extra}

    def choice(self, text: str, finish_reason: str | None = None, *, role: bool = False) -> dict[str, Any]:
        if self.kind == "completion":
            body: dict[str, Any] = {"text": text, "logprobs": None}
        elif not self.streaming:
            body = {"message": {"role": "assistant", "content": text}}
        else:
            body = {"delta": ({"role": "assistant"} if role else {}) | ({"content": text} if text or role else {})}
        return {"index": 0, **body, "finish_reason": finish_reason}


class Server:
    """The routes over one generator and one reward model."""

    def __init__(self, generator: Generator, reward: RewardModel | None, config: ServeConfig | None = None) -> None:
        self.config = config or ServeConfig()
        wrap = (lambda m: m) if self.config.parallel_models else OneCallAtATime
        self.generator = wrap(generator)
        self.reward = None if reward is None else wrap(reward)
        self.slots = Slots(self.config.max_concurrency)
        self._tasks: dict[str, Task] = {}

    # --- checks ------------------------------------------------------------------------------------------
    def authorize(self, request: Request) -> None:
        key = self.config.api_key
        if key is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
            what = "no API key was sent" if not given else "the API key is not valid"
            raise ApiError(401, f"{what}: send 'Authorization: Bearer KEY'", code="invalid_api_key")

    def task(self, name: str) -> Task:
        if name not in self._tasks:
            self._tasks[name] = chat_task(get_task(name), self.config.chat_template, self.generator)
        return self._tasks[name]

    def job(self, kind: str, body: Body, text: str, param: str) -> Job:
        """Every check a request needs before it may take a slot: problem, strategy, settings, budget."""
        strategy, settings, asked = parse_model(body.model)
        if body.n != 1:
            raise ApiError(400, "n must be 1: a request is one search; set the strategy's own size in the model "
                                "name instead, e.g. best_of_n?n=8", param="n")
        # the model name's settings win over the request's OpenAI fields
        fields = {"temperature": body.temperature, "seed": body.seed}
        settings = {k: v for k, v in fields.items() if v is not None} | settings
        max_tokens = getattr(body, "max_completion_tokens", None)
        max_tokens = body.max_tokens if max_tokens is None else max_tokens
        if max_tokens is not None:
            asked.setdefault("max_tokens", max_tokens)
        try:
            config = make_config(strategy, None, **settings)
            budget = clamp(asked, self.config.caps)
        except InputError as err:
            raise bad_input(err, "model") from None
        try:
            text = check_problem_text(text)
        except InputError as err:
            raise bad_input(err, param) from None
        why = unreadable(text, getattr(self.generator, "tasks", None))
        if why:
            raise ApiError(400, why, param=param, code="unreadable_problem")
        task_name = detect(text) if self.config.task == "auto" else self.config.task
        reference = GENERATED[task_name].solve(text) if task_name in GENERATED else None
        problem = Problem(text, self.task(task_name), reference)
        return Job(kind, body.model, strategy, problem, config, budget, body.stream)

    # --- running -----------------------------------------------------------------------------------------
    def start(self, job: Job) -> SearchRun:
        cancel = threading.Event()
        try:
            events = stream(job.strategy, job.problem, self.generator, self.reward, job.budget, job.config, cancel)
        except InputError as err:  # e.g. a verifier-guided strategy on a server without a reward model
            raise bad_input(err, "model") from None
        if not self.slots.take():
            raise ApiError(429, f"all {self.slots.size} search slots are busy; retry shortly", type="requests",
                           code="rate_limit_exceeded")
        try:
            return SearchRun(events, cancel, self.slots)
        except BaseException:
            self.slots.give_back()
            raise

    async def answer(self, request: Request, job: Job) -> JSONResponse | StreamingResponse:
        run = self.start(job)
        if job.streaming:
            return StreamingResponse(self.chunks(job, run), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        watcher = asyncio.create_task(_cancel_on_disconnect(request, run))
        try:
            events = [event async for event in run]
        except Exception as err:
            raise search_error(err) from None
        finally:
            watcher.cancel()
            run.stop()
        text, finish, extra = self.result(job, events)
        return JSONResponse(job.envelope(job.choice(text, finish), **extra))

    def result(self, job: Job, events: list[Event]) -> tuple[str, str, dict[str, Any]]:
        """The chosen chain as text, the finish reason, and the usage and extension fields."""
        result = collect(job.strategy, job.problem, iter(events))
        steps = [step["text"] for step in result.best_path()]
        out = result.to_dict()
        del out["events"]
        out |= {"settings": asdict(job.config), "budget": asdict(job.budget)}
        prompt = self.prompt_tokens(job.problem)
        completion = int(result.stats["generated_tokens"])
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        log.info("%s on %r: %s, answer %s, %d tokens, %.2f s", job.model, job.problem.text[:60], result.status,
                 result.answer, completion, result.stats["wall_s"])
        return (job.problem.task.step_delimiter.join(steps), FINISH_REASONS.get(result.status, "stop"),
                {"usage": usage, EXTENSION: out})

    def prompt_tokens(self, problem: Problem) -> int:
        """The prompt's length in the generator's tokens; 0 where it has no local tokenizer (fakes, servers)."""
        tokenizer = getattr(self.generator, "tokenizer", None)
        return len(tokenizer(problem.task.prompt(problem.text)).input_ids) if tokenizer is not None else 0

    async def chunks(self, job: Job, run: SearchRun) -> AsyncIterator[str]:
        """Server-sent events: the opening chunk, a chunk per frame of the search (its events, the film's
        sentence), a chunk per chosen step, the closing chunk with the extension, then [DONE]."""
        tree, group, log_ = SearchTree(), [], []

        def frame() -> str:
            info = {"frame": describe(group, tree), "events": [event_to_dict(e) for e in group]}
            return sse(job.envelope(job.choice(""), **{EXTENSION: info}))

        try:
            yield sse(job.envelope(job.choice("", role=True)))
            async for event in run:
                if group and (type(event) is not type(group[0]) or isinstance(event, (NodeSelected, SearchFinished))):
                    yield frame()
                    group = []
                log_.append(event)
                tree.apply(event)
                if isinstance(event, NodeSelected):
                    path = tree.path(event.path[-1])
                    for i, node in enumerate(path):
                        step = {"id": node.id, "text": node.text, "depth": node.depth, "score": node.score,
                                "value": node.value}
                        text = node.text + (job.problem.task.step_delimiter if i < len(path) - 1 else "")
                        yield sse(job.envelope(job.choice(text), **{EXTENSION: {"step": step}}))
                elif not isinstance(event, SearchFinished):
                    group.append(event)
            text, finish, extra = self.result(job, log_)
            yield sse(job.envelope(job.choice("", finish), **extra))
            yield "data: [DONE]\n\n"
        except Exception as err:
            yield sse(search_error(err).body())
        finally:
            run.stop()  # a client that went away cancelled this generator: stop its search too


def sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"


async def _cancel_on_disconnect(request: Request, run: SearchRun) -> None:
    """Once the body is read, the next message the ASGI server passes on is the client's disconnect."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    run.stop()


def model_card(name: str, caps: Budget) -> dict[str, Any]:
    """A strategy as `/v1/models` lists it, with its settings and the budget caps a request may set."""
    strategy = STRATEGIES[name]

    def knob_info(k: Knob, high: float | None = None) -> dict[str, Any]:
        return {"name": k.name, "type": k.type.__name__, "default": k.default, "low": k.low,
                "high": k.high if high is None else high, "choices": k.choices, "help": k.help}

    return {"id": name, "object": "model", "created": 0, "owned_by": "stepwise",
            EXTENSION: {"summary": strategy.summary, "reward": strategy.reward, "size": strategy.config_cls.size_field,
                        "settings": [knob_info(k) for k in knobs(strategy.config_cls)],
                        "budget": [knob_info(k, getattr(caps, k.name)) for k in knobs(Budget)]}}


def build_app(generator: Generator, reward: RewardModel | None, config: ServeConfig | None = None) -> FastAPI:
    """The ASGI app: run it with uvicorn (`serve`), or mount it in another app."""
    server = Server(generator, reward, config)
    app = FastAPI(title="stepwise", summary="PRM-guided search behind the OpenAI API")
    app.state.server = server

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        return err.response()

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        return ApiError(err.status_code, f"{err.detail} ({request.method} {request.url.path})").response()

    @app.exception_handler(Exception)
    async def internal_error(request: Request, err: Exception) -> JSONResponse:
        return ApiError(500, "internal server error; the server log says why", type="server_error").response()

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "active": server.slots.active, "max_concurrency": server.slots.size}

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        server.authorize(request)
        return {"object": "list", "data": [model_card(name, server.config.caps) for name in STRATEGIES]}

    @app.get("/v1/models/{name}")
    async def model(name: str, request: Request) -> dict[str, Any]:
        server.authorize(request)
        strategy, _, _ = parse_model(name)
        return model_card(strategy, server.config.caps)

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        server.authorize(request)
        body = await read_body(request, ChatBody, server.config.max_body_bytes)
        job = server.job("chat", body, chat_problem(body.messages), "messages")
        return await server.answer(request, job)

    @app.post("/v1/completions")
    async def completions(request: Request):
        server.authorize(request)
        body = await read_body(request, CompletionBody, server.config.max_body_bytes)
        job = server.job("completion", body, completion_problem(body.prompt), "prompt")
        return await server.answer(request, job)

    return app


def serve(generator: Generator, reward: RewardModel | None, config: ServeConfig) -> None:
    """Run the API until interrupted."""
    import uvicorn

    log.info("serving %d strategies on http://%s:%d/v1 (%s)", len(STRATEGIES), config.host, config.port,
             "API key required" if config.api_key else "no API key")
    if config.api_key is None and config.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s with no API key: anyone who reaches it can spend this machine's compute "
                    "(--api-key or $STEPWISE_SERVE_API_KEY)", config.host)
    uvicorn.run(build_app(generator, reward, config), host=config.host, port=config.port, log_level="info")
