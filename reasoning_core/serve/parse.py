"""Reading a request: the OpenAI bodies, the problem in them, the strategy and settings its `model` names, the
budget clamped to the server's caps; and the errors, worded as the OpenAI API words them."""
from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request

from ..budget import Budget
from ..knobs import Knob, knobs
from ..protocols import InputError
from ..search import get_strategy
from ..tasks import GENERATED, recognised


class ApiError(Exception):
    """An error as the OpenAI API words it: status, message, type, the request field at fault, a code."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        headers = {"Retry-After": "1"} if self.status == 429 else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def bad_input(err: InputError, param: str, code: str = "invalid_value") -> ApiError:
    return ApiError(400, str(err), param=param, code=code)


class Body(BaseModel):
    """The OpenAI fields a search reads; every other field a client sends is ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str
    stream: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    seed: int | None = None
    n: int = 1


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatBody(Body):
    messages: list[_Message]
    max_completion_tokens: int | None = None


class CompletionBody(Body):
    prompt: str | list[str]


B = TypeVar("B", bound=Body)


async def read_body(request: Request, schema: type[B], limit: int) -> B:
    """The body as `schema`, read no further than `limit` bytes; its first problem as one readable error."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise ApiError(413, f"the request body is over {limit:,} bytes", code="request_too_large")
    try:
        return schema.model_validate_json(bytes(raw))
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = "the body is not JSON" if first["type"] == "json_invalid" else f"{where}: {first['msg']}"
        raise ApiError(400, message, param=str(first["loc"][0]) if first["loc"] else None) from None


def chat_problem(messages: list[_Message]) -> str:
    """The last user message is the problem (a search solves one problem; earlier turns do not steer it)."""
    user = [m for m in messages if m.role == "user"]
    if not user:
        raise ApiError(400, "messages hold no user message: send the problem as the user's content",
                       param="messages")
    content = user[-1].content or ""
    if isinstance(content, str):
        return content
    if any(part.get("type") != "text" for part in content):
        raise ApiError(400, "only text content can be solved", param="messages")
    return "".join(str(part.get("text", "")) for part in content)


def completion_problem(prompt: str | list[str]) -> str:
    if isinstance(prompt, str):
        return prompt
    if len(prompt) != 1:
        raise ApiError(400, f"send one prompt per request (got {len(prompt)}): each one is its own search",
                       param="prompt")
    return prompt[0]


def unreadable(text: str, trained: tuple[str, ...] | None) -> str | None:
    """Why the generator cannot solve `text`: it records the generated tasks it was trained on, and `text` is
    none of them (it would answer with confidence anyway). None when it is one, or when nothing is recorded."""
    if not trained or recognised(text) in trained:
        return None
    name = recognised(text)
    kinds = ", ".join(f"{t} ({GENERATED[t].KIND})" for t in trained if t in GENERATED)
    return (f"this server's generator was trained only on {kinds}, and this problem reads as "
            f"{f'a {name} problem' if name else 'none of them'}, so it cannot solve it; serve a model that reads it "
            "(--generator: a local Hugging Face folder, vllm:MODEL or openai:URL)")


def _setting(k: Knob, raw: str) -> Any:
    """A query value as its knob's type, in the knob's range."""
    if k.type is bool:
        words = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False,
                 "off": False}
        if raw.lower() not in words:
            raise InputError(f"{k.label} must be true or false, got {raw!r}")
        return words[raw.lower()]
    return k.check(raw)


def parse_model(model: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """`name?knob=value&...` -> (strategy, its knob values, budget caps), each checked against its knob;
    an unknown name or setting raises an ApiError that lists the valid ones."""
    name, _, query = model.partition("?")
    try:
        strategy = get_strategy(name.strip())
    except InputError as err:
        raise ApiError(404, str(err), param="model", code="model_not_found") from None
    own = {k.name: k for k in knobs(strategy.config_cls)}
    caps = {k.name: k for k in knobs(Budget)}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ApiError(400, f"cannot read the settings {query!r}: write them as name=value&name=value",
                       param="model") from None
    settings: dict[str, Any] = {}
    budget: dict[str, Any] = {}
    for key, raw in pairs:
        if key in settings or key in budget:
            raise ApiError(400, f"the setting {key} is given twice", param="model")
        if key not in own and key not in caps:
            raise ApiError(400, f"{strategy.name} has no setting {key!r}; its settings: {', '.join(own)}; "
                                f"budget caps: {', '.join(caps)}", param="model", code="unknown_setting")
        try:
            (settings if key in own else budget)[key] = _setting(own.get(key) or caps[key], raw)
        except InputError as err:
            raise bad_input(err, "model") from None
    return strategy.name, settings, budget


def clamp(asked: dict[str, Any], caps: Budget) -> Budget:
    """The budget a request asked for, no cap above the server's (an unset one is the server's)."""
    values = {}
    for k in knobs(Budget):
        mine, cap = asked.get(k.name), getattr(caps, k.name)
        values[k.name] = cap if mine is None else mine if cap is None else min(mine, cap)
    return Budget(**values)
