"""`autorouter serve`: the router as an OpenAI-compatible HTTP endpoint, like `openrouter/auto`.

Any OpenAI SDK (or curl, or a tool that speaks the OpenAI API) sends

    POST /v1/chat/completions {"model": "auto", "messages": [...]}

and gets the routed model's answer in the OpenAI wire format, plain or streamed (SSE).

Request fields beyond OpenAI's:
    model: "auto" (also "autorouter/auto", "openrouter/auto") routes among every candidate; a
        candidate's name, catalog id or catalog alias calls that model only (still retried
        under the reliability policy, with no fallback to other models).
    models: a list of candidate names/ids: "auto" routes among these only.
    tradeoff: 0 (best predicted quality) .. 1 (cheapest) for this request.
    max_cost: USD cap per call: candidates predicted to cost more are not chosen.
    max_latency_s: cap in seconds until the whole answer has arrived: candidates predicted to
        take longer are not chosen (models of unknown speed never are excluded).
    latency_weight: quality points one second of predicted latency costs in the score (>= 0;
        the router's default, 0.0005, if absent).
    session: a key for a multi-turn conversation: it stays on one model while that model stays
        eligible and near the top of the ranking (sessions live in each worker's memory).
Every other field (temperature, max_tokens, stop, tools, tool_choice, response_format, seed,
provider-specific ones, ...) is passed to the model as given; `n` must be 1.

What the response adds (standard clients ignore it):
    model: the model that answered (after any fallback), by the router's name for it.
    usage.cost: the call's cost in USD (the provider's figure when it reports one, else tokens
        times list price; null when unknown).
    autorouter: {model, routed, forced, chosen, sticky, fell_back, fallback_from, attempts,
        tradeoff, max_cost, max_latency_s, explanation, family, difficulty, ranking, cost_usd,
        cost_source}: the routing decision and every call made (each ranking entry with its
        predicted `quality`, `cost_usd` and `latency_s`), the report the adapters attach too
        (`autorouter.decision.routing_report` documents each key). In a stream it rides on the
        first chunk, before the cost is known (its `cost_usd` is null); the usage chunk (with
        `stream_options.include_usage`) carries `usage.cost`.

Errors are OpenAI error objects `{"error": {"message", "type", "param", "code"}}`: 400 for a
malformed or invalid request (also for values JSON cannot carry: a number that overflows a
double such as 1e999, NaN, a lone UTF-16 surrogate in a string; and `no_candidate` when
constraints leave no model), 401 for a missing or wrong server key, 404 for an unknown model,
408 for a request whose headers or body did not arrive in time, 413 for a body over the limit,
502 when the upstream models failed after every retry and fallback (429 when each failure was
a rate limit), 503 when the gateway has no upstream key configured. Upstream API keys are never
sent to the caller nor logged; in a stream they are blanked out over the joined text, so a key
the model echoes split over two chunks is caught too.

A client that disconnects while the gateway waits for the upstream (a plain request, or a
stream before its first chunk) cancels the router call: its upstream connection is closed and
no further retry or fallback starts. (After the first chunk, the stream stops with the client.)

Serving beyond loopback (`--host 0.0.0.0`): what protects a public bind is
    - the bearer key (AUTOROUTER_SERVER_KEY, at least 32 characters, compared in constant time):
      `autorouter serve` and `app_from_env` refuse to serve without it off loopback;
    - the body limit (`max_body_bytes`, AUTOROUTER_MAX_BODY_BYTES, 8 MiB): larger gets a 413,
      before it is read when Content-Length says so;
    - the body deadline (`body_timeout_s`, AUTOROUTER_BODY_TIMEOUT_S, 30 s): the whole body must
      arrive within it after the headers, else a 408 and the connection is closed, so a client
      that lies about Content-Length or trickles its body holds a request that long at most;
    - the header deadline (AUTOROUTER_HEADER_TIMEOUT_S, 10 s): a connection must deliver each
      request's headers within it (from connecting, or from the previous answer when kept
      alive), else a 408 and it is closed. uvicorn has no such limit (its keep-alive timeout,
      5 s, only covers a silent kept-alive connection, and any byte resets it), so the gateway
      brings its own h11 protocol, `gateway_http_protocol`: `uvicorn_options()` gives the
      uvicorn settings that select it. Pass them wherever uvicorn runs the app
      (`uvicorn.run(app, **uvicorn_options())`, `uvicorn.Config`); `autorouter serve` does;
    - TCP_NODELAY on every connection, from the same protocol and from uvloop (the `serve`
      extra): uvicorn's multi-worker socket leaves Nagle's algorithm on under the plain asyncio
      loop, which adds ~40 ms to every kept-alive request.
A public bind still wants a reverse proxy in front for TLS and a cap on open connections
(uvicorn's `limit_concurrency` answers 503 beyond a number of connections): deadlines bound
how long one slow connection is held, not how many are open at once.

`GET /v1/models` lists `auto` and the router's candidates with their catalog facts;
`GET /health` answers load balancers (no key needed).

The app is stateless apart from the read-only router (and each worker's session LRU and
cooldowns, which only steer choices), so it scales by running more workers (`--workers N`) or
replicas behind any load balancer.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import ipaddress
import json
import logging
import math
import os
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .catalog import Catalog
from .decision import routing_report
from .errors import (
    AuthenticationError,
    AutorouterError,
    BadRequestError,
    FallbackExhaustedError,
    InvalidRequestError,
    MissingAPIKeyError,
    NoCandidateError,
    ProviderError,
    RateLimitError,
    ServerConfigError,
    UnknownModelError,
    UnknownResponseError,
)
from .feedback import AnswerLedger, FeedbackLog, default_feedback_path, give_feedback
from .prompts import prompt_text
from .reliability import RetryPolicy

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from .decision import RoutingDecision
    from .reliability import Attempt
    from .router import Router

__all__ = [
    "AUTO_MODELS",
    "DEFAULT_BODY_TIMEOUT_S",
    "DEFAULT_HEADER_TIMEOUT_S",
    "DEFAULT_MAX_BODY_BYTES",
    "ChatRequest",
    "app_from_env",
    "create_app",
    "gateway_http_protocol",
    "is_loopback",
    "uvicorn_options",
]

T = TypeVar("T")

logger = logging.getLogger("autorouter.server")

AUTO_MODELS = frozenset({"auto", "autorouter/auto", "openrouter/auto"})
"""`model` values that route among the candidates."""

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
"""Largest request body accepted (8 MiB: room for a few base64 images); larger gets a 413."""

DEFAULT_BODY_TIMEOUT_S = 30.0
"""Seconds a request's whole body may take to arrive after its headers; slower gets a 408.
(8 MiB in 30 s is ~280 KB/s: any client that means it sends faster.)"""

DEFAULT_HEADER_TIMEOUT_S = 10.0
"""Seconds a connection may take to send a request's headers, from connecting or from the
previous answer on a kept-alive connection; slower gets a 408 and is closed."""

DEFAULT_KEEP_ALIVE_S = 5
"""Seconds uvicorn keeps a silent kept-alive connection open (its own default)."""

# Environment variables `app_from_env` reads (the CLI sets them for its workers).
ENV_ROUTER_DIR = "AUTOROUTER_ROUTER_DIR"
ENV_CATALOG = "AUTOROUTER_CATALOG"
ENV_UPSTREAM_BASE_URL = "AUTOROUTER_UPSTREAM_BASE_URL"
ENV_UPSTREAM_KEY_ENV = "AUTOROUTER_UPSTREAM_KEY_ENV"
ENV_SERVER_KEY = "AUTOROUTER_SERVER_KEY"
#: Set to 1 (as `autorouter serve` does when bound to 127.0.0.1) to let the app factory serve
#: without a key; without it the factory refuses, since it cannot know where it is bound.
ENV_ALLOW_NO_SERVER_KEY = "AUTOROUTER_ALLOW_NO_SERVER_KEY"
#: Shortest gateway key accepted: `python -c "import secrets; print(secrets.token_urlsafe(32))"`.
MIN_SERVER_KEY_CHARS = 32
ENV_MAX_BODY_BYTES = "AUTOROUTER_MAX_BODY_BYTES"
ENV_BODY_TIMEOUT_S = "AUTOROUTER_BODY_TIMEOUT_S"
#: Read by `gateway_http_protocol` for each connection (so it reaches every worker).
ENV_HEADER_TIMEOUT_S = "AUTOROUTER_HEADER_TIMEOUT_S"
#: The routed calls' `RetryPolicy` timing: total budget, one attempt's limit, a stream's silence.
ENV_TIME_BUDGET_S = "AUTOROUTER_TIME_BUDGET_S"
ENV_ATTEMPT_TIMEOUT_S = "AUTOROUTER_ATTEMPT_TIMEOUT_S"
ENV_STALL_TIMEOUT_S = "AUTOROUTER_STALL_TIMEOUT_S"
#: Where feedback is appended; unset: `default_feedback_path()`, empty: kept nowhere.
ENV_FEEDBACK_FILE = "AUTOROUTER_FEEDBACK_FILE"

# Request fields the gateway consumes; every other field goes to the model as given.
_OWN_FIELDS = frozenset({
    "model", "models", "messages", "tradeoff", "max_cost", "max_latency_s", "latency_weight",
    "session", "stream", "stream_options", "tools", "tool_choice", "response_format",
})


# --- the request --------------------------------------------------------------------------


class _Strict(BaseModel):
    # Strict: "0.5" is not a number and 1 is not a bool. Unknown fields are kept and passed on.
    model_config = ConfigDict(strict=True, extra="allow")


class _Function(_Strict):
    name: str = Field(min_length=1, max_length=256)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class _Tool(_Strict):
    type: Literal["function"]
    function: _Function


class _Message(_Strict):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class _ResponseFormat(_Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class _StreamOptions(_Strict):
    include_usage: bool = False


_Name = Annotated[str, Field(min_length=1, max_length=256)]


_Body = TypeVar("_Body", bound=BaseModel)


class FeedbackRequest(BaseModel):
    """`POST /v1/feedback`: how good the answer with this id was (a score in [0, 1])."""

    model_config = ConfigDict(strict=True, extra="forbid")

    id: _Name
    score: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)


class ChatRequest(_Strict):
    """A chat-completions request as the gateway checks it (OpenAI's fields it looks at, and
    its own: `models`, `tradeoff`, `max_cost`, `max_latency_s`, `latency_weight`, `session`)."""

    model: _Name
    messages: list[_Message] = Field(min_length=1)
    models: list[_Name] | None = Field(default=None, min_length=1, max_length=1000)
    tradeoff: float | None = Field(default=None, ge=0.0, le=1.0)
    max_cost: float | None = Field(default=None, gt=0.0)
    max_latency_s: float | None = Field(default=None, gt=0.0)
    latency_weight: float | None = Field(default=None, ge=0.0, allow_inf_nan=False)
    session: _Name | None = None
    stream: bool | None = False
    stream_options: _StreamOptions | None = None
    tools: list[_Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    response_format: _ResponseFormat | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, ge=1, le=1)
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    seed: int | None = None
    user: str | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    parallel_tool_calls: bool | None = None


# --- errors on the wire -------------------------------------------------------------------


class _APIError(Exception):
    """A failure answered as an OpenAI error object."""

    def __init__(
        self, status: int, message: str, *, kind: str = "invalid_request_error",
        param: str | None = None, code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def payload(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param,
                          "code": self.code}}


class _ClientGone(_APIError):
    """The client closed its connection before its answer was ready. The answer (nginx's 499)
    reaches nobody: the ASGI server drops what is sent to a closed connection."""

    def __init__(self, when: str) -> None:
        super().__init__(499, f"The client closed the connection {when}.",
                         code="client_disconnected")


def _param(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _validation_error(error: ValidationError) -> _APIError:
    problems = error.errors(include_url=False, include_input=False)
    first = problems[0]
    # Union members each report their own failure; name the field once.
    loc = [p for p in first["loc"] if not (isinstance(p, str) and ("[" in p or p in _UNION_TAGS))]
    param = _param(loc)
    if first["type"] == "missing":
        message = f"Missing required parameter: '{param}'."
    elif param == "n":
        message = "Invalid value for 'n': only n=1 is supported."
    else:
        message = f"Invalid value for '{param}': {first['msg']}."
    if len(problems) > 1 and first["type"] != "missing":
        others = {_param([p for p in e["loc"] if not (isinstance(p, str) and "[" in p)])
                  for e in problems[1:]} - {param}
        if others:
            message += f" (also check {', '.join(sorted(others)[:5])})"
    return _APIError(400, message, param=param or None,
                     code="missing_required_parameter" if first["type"] == "missing"
                     else "invalid_value")


_UNION_TAGS = frozenset({"str", "list", "dict", "literal", "function-after", "none",
                         "float", "int", "bool"})


class _NotJSON(ValueError):
    """NaN, Infinity or -Infinity: Python's json reads them, JSON has no such values."""


def _no_constant(name: str) -> Any:
    raise _NotJSON(name)


# A lone surrogate can only come from a \uD800-\uDFFF escape (as raw UTF-8 it fails to
# decode); json pairs high and low escapes into one character, so any left is unpaired.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _parse_json(raw: bytes) -> dict[str, Any]:
    """The request body as a dict of values JSON can carry on, or a 400."""
    if not raw.strip():
        raise _APIError(400, "The request body is empty; send a JSON object.",
                        code="invalid_json")
    overflowed = False

    def parse_float(text: str) -> float:
        # 1e999 is valid JSON syntax but overflows to inf: no JSON encoder can send it on.
        nonlocal overflowed
        value = float(text)
        overflowed = overflowed or not math.isfinite(value)
        return value

    encoding = json.detect_encoding(raw)
    try:
        # Strictly decoded (json.loads of bytes would let UTF-8-encoded surrogates through).
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        raise _APIError(400, f"The request body is not valid {encoding.upper()} text; send "
                        "JSON encoded as UTF-8.", code="invalid_json") from None
    try:
        body = json.loads(text, parse_constant=_no_constant, parse_float=parse_float)
    except _NotJSON as exc:
        raise _APIError(
            400, f"The JSON body contains {exc}, which is not a JSON value: numbers must be "
            "finite.", code="invalid_json",
        ) from None
    except (ValueError, RecursionError):
        raise _APIError(
            400, "We could not parse the JSON body of your request. Send a JSON object "
            "(Content-Type: application/json).", code="invalid_json",
        ) from None
    if not isinstance(body, dict):
        raise _APIError(400, "The request body must be a JSON object, not "
                        f"{type(body).__name__ if body is not None else 'null'}.",
                        code="invalid_json")
    if overflowed or _SURROGATE_ESCAPE.search(text):  # rare: only then walk the whole body
        _check_values(body)
    return body


def _check_values(body: dict[str, Any]) -> None:
    """A 400 naming the first value the upstream call could not encode: a non-finite number
    (in any field, the passed-through ones too) or a string or key with a lone surrogate.

    Iterative, since json accepts nesting deeper than a recursive walk could follow here."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(body, ())]
    while stack:
        value, loc = stack.pop()
        param = _param(loc)
        if isinstance(value, float) and not math.isfinite(value):
            raise _APIError(
                400, f"Invalid value for '{param}': the number is too large to represent "
                "(it overflows a double); send a finite number.", param=param,
                code="invalid_value",
            )
        if isinstance(value, str) and _LONE_SURROGATE.search(value):
            raise _APIError(
                400, f"Invalid value for '{param}': the text contains a lone UTF-16 surrogate "
                "(an unpaired \\uD800-\\uDFFF escape), which is not valid Unicode.",
                param=param or None, code="invalid_value",
            )
        if isinstance(value, dict):
            for key, item in reversed(value.items()):
                if _LONE_SURROGATE.search(key):
                    where = f"'{param}'" if param else "the request body"
                    raise _APIError(
                        400, f"Invalid field name in {where}: it contains a lone UTF-16 "
                        "surrogate (an unpaired \\uD800-\\uDFFF escape), which is not valid "
                        "Unicode.", param=param or None, code="invalid_value",
                    )
                stack.append((item, (*loc, key)))
        elif isinstance(value, list):
            stack.extend((value[i], (*loc, i)) for i in range(len(value) - 1, -1, -1))


def _dumps(payload: Any) -> str:
    """JSON text for a client. Values JSON cannot carry that came from an upstream (NaN, or a
    number that overflowed) become null rather than the invalid `NaN`/`Infinity` tokens that
    `json.dumps` would write and no strict client can parse."""
    try:
        return json.dumps(payload, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(payload), allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


# --- redaction ----------------------------------------------------------------------------


class _Redactor:
    """Blanks out every upstream credential the router's endpoints hold (explicit keys, the
    values of their key variables, and custom header values) from text leaving the gateway.

    `secrets` are the raw values (for decoded text: a stream's deltas); calling it on JSON
    text also catches their JSON-escaped forms (a header value with a quote or a non-ASCII
    character is written escaped by `json.dumps`)."""

    def __init__(self, router: Router) -> None:
        self.secrets: list[str] = []
        endpoints = getattr(router, "endpoints", None)
        found: list[Any] = []
        if endpoints is not None:
            found = [endpoints.default, *endpoints.by_key.values()]
        else:
            from .client import Endpoint

            found = [Endpoint()]
        for endpoint in found:
            if endpoint.api_key is not None:
                self.secrets.append(endpoint.api_key.get_secret_value())
            if endpoint.api_key_env:
                self.secrets.append(os.environ.get(endpoint.api_key_env, "").strip())
            self.secrets.extend(endpoint.headers.values())
        self.secrets = sorted({s for s in self.secrets if len(s) >= 4}, key=len, reverse=True)
        escaped = {json.dumps(s)[1:-1] for s in self.secrets} - set(self.secrets)
        self._forms = sorted({*self.secrets, *escaped}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._forms:
            if secret in text:
                text = text.replace(secret, "**********")
        return text


# Text fields of a chunk's `delta` that carry the model's words (OpenAI's, and the reasoning
# fields OpenRouter and DeepSeek add); a tool call's `function.arguments` is handled apart.
_DELTA_TEXT = ("content", "refusal", "reasoning", "reasoning_content")


class _StreamRedactor:
    """Redacts upstream secrets over the joined text of a stream, not event by event.

    A key the model echoes can arrive split over chunks ("sk-ab" then "cd..."), which no
    per-event check sees. So each text channel (a choice's content, refusal or reasoning, a
    tool call's arguments) holds back the shortest tail that could still grow into a secret
    and sends it with the channel's next delta, once it cannot or blanked out once it did;
    the choice's finishing chunk, or a last chunk at the end, carries what is still held.
    Only text that may start a secret waits (a few characters, rarely), so the stream keeps
    streaming, and the joined text is the whole answer redacted at once."""

    def __init__(self, redact: _Redactor) -> None:
        self.redact = redact
        self.secrets = redact.secrets
        self.held: dict[tuple[int, str, int], str] = {}  # (choice, field, tool call) -> tail

    def chunk(self, data: dict[str, Any]) -> dict[str, Any]:
        """`data` (an upstream chunk, not modified) with its delta texts redacted and held."""
        choices = data.get("choices")
        if not self.secrets or not isinstance(choices, list):
            return data
        out: list[Any] = []
        for position, choice in enumerate(choices):
            if not isinstance(choice, dict):
                out.append(choice)
                continue
            index = choice["index"] if isinstance(choice.get("index"), int) else position
            choice = dict(choice)
            delta = choice.get("delta")
            if isinstance(delta, dict):
                delta = dict(delta)
                for field in _DELTA_TEXT:
                    if isinstance(delta.get(field), str):
                        delta[field] = self._feed((index, field, 0), delta[field])
                if isinstance(delta.get("tool_calls"), list):
                    delta["tool_calls"] = [self._tool_call(index, n, call)
                                           for n, call in enumerate(delta["tool_calls"])]
                choice["delta"] = delta
            if choice.get("finish_reason") is not None:
                choice["delta"] = self._release(index, choice.get("delta"))
            out.append(choice)
        return {**data, "choices": out}

    def rest(self, template: dict[str, Any]) -> dict[str, Any] | None:
        """A chunk (like `template`) with every tail still held, or None: for a stream that
        ended, or broke, before a choice finished."""
        if not self.held:
            return None
        indexes = sorted({choice for choice, _, _ in self.held})
        return {**template, "choices": [
            {"index": i, "delta": self._release(i, {}), "finish_reason": None} for i in indexes]}

    def _feed(self, key: tuple[int, str, int], text: str) -> str:
        text = self.redact(self.held.pop(key, "") + text)
        hold = _secret_start_at_end(text, self.secrets)
        if hold:
            self.held[key] = text[-hold:]
            return text[:-hold]
        return text

    def _tool_call(self, choice: int, position: int, call: Any) -> Any:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("arguments"), str):
            return call
        index = call["index"] if isinstance(call.get("index"), int) else position
        arguments = self._feed((choice, "tool_calls", index), function["arguments"])
        return {**call, "function": {**function, "arguments": arguments}}

    def _release(self, choice: int, delta: Any) -> dict[str, Any]:
        """`delta` with the choice's held tails appended (they follow its own text)."""
        out = dict(delta) if isinstance(delta, dict) else {}
        for key in sorted(k for k in self.held if k[0] == choice):
            tail = self.held.pop(key)
            _, field, index = key
            if field != "tool_calls":
                out[field] = (out.get(field) or "") + tail
                continue
            calls = list(out.get("tool_calls") or [])
            for n, call in enumerate(calls):
                if (isinstance(call, dict) and call.get("index", n) == index
                        and isinstance(call.get("function"), dict)):
                    function = call["function"]
                    calls[n] = {**call, "function": {
                        **function, "arguments": (function.get("arguments") or "") + tail}}
                    break
            else:
                calls.append({"index": index, "function": {"arguments": tail}})
            out["tool_calls"] = calls
        return out


def _secret_start_at_end(text: str, secrets: Sequence[str]) -> int:
    """The length of the longest end of `text` that is the start (not the whole) of a secret:
    what must wait for the next chunk."""
    longest = 0
    for secret in secrets:
        at = text.find(secret[0], max(0, len(text) - len(secret) + 1))
        while at != -1:
            if secret.startswith(text[at:]):
                longest = max(longest, len(text) - at)
                break
            at = text.find(secret[0], at + 1)
    return longest


# --- the gateway --------------------------------------------------------------------------


class _Gateway:
    def __init__(
        self, router: Router, catalog: Catalog | None, server_key: str | None,
        max_body_bytes: int, body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
        feedback_log: FeedbackLog | None = None, learn_from_feedback: bool = True,
    ) -> None:
        router.check_fitted()
        self.router = router
        self.ledger = AnswerLedger()  # answer id -> (prompt, model), for POST /v1/feedback
        self.feedback_log = feedback_log
        self.learn_from_feedback = learn_from_feedback
        self.learning = asyncio.Lock()  # one update of the router at a time
        if catalog is None:
            endpoints = getattr(router, "endpoints", None)
            catalog = endpoints.catalog if endpoints is not None else None
        if catalog is None:
            catalog = Catalog.shared()
        self.catalog = catalog
        self.server_key = server_key or None
        self.max_body_bytes = int(max_body_bytes)
        self.body_timeout_s = float(body_timeout_s)
        self.models: list[str] = list(router.models_)
        self.redact = _Redactor(router)
        self.names: dict[str, str] = {}  # folded name, catalog id or alias -> candidate
        self.cards: dict[str, Any] = {}
        for model in self.models:
            card = self._card(model)
            self.cards[model] = card
            for name in (model, *(card.names if card is not None else ())):
                self.names.setdefault(name.strip().casefold(), model)
        self.model_list = self._model_list()

    def _cooldown_s(self) -> float:
        """How long a failed model sits out (the router's retry policy)."""
        policy = getattr(self.router, "retry_policy", None) or RetryPolicy()
        return float(policy.cooldown_s)

    def _card(self, name: str) -> Any:
        try:
            return self.catalog.get(name)
        except UnknownModelError:
            return None

    # --- names

    def resolve(self, name: str, param: str) -> str:
        """The candidate `name` means (its own name, a catalog id or alias)."""
        found = self.names.get(name.strip().casefold())
        if found is None and name in self.catalog:
            found = self.names.get(self.catalog.resolve(name).casefold())
        if found is None:
            shown = ", ".join(self.models[:8]) + (" ..." if len(self.models) > 8 else "")
            raise _APIError(
                404 if param == "model" else 400,
                f"The model `{name[:200]}` does not exist among this gateway's models "
                f"({shown}); use \"auto\" to route, or GET /v1/models for the list.",
                param=param, code="model_not_found",
            )
        return found

    # --- auth and body

    def check_key(self, request: Request) -> None:
        if self.server_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.server_key.encode()
        ):
            raise _APIError(
                401, "Missing or incorrect API key: send 'Authorization: Bearer <key>' with "
                "this gateway's key (AUTOROUTER_SERVER_KEY).",
                code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"},
            )

    async def read_request(self, request: Request, schema: type[_Body]) -> tuple[dict[str, Any], _Body]:
        """The checked key, then the body as JSON and as `schema` (400s that name the field)."""
        self.check_key(request)
        body = _parse_json(await self.read_body(request))
        try:
            return body, schema.model_validate(body)
        except ValidationError as exc:
            raise _validation_error(exc) from None

    async def read_body(self, request: Request) -> bytes:
        """The request body: a 413 past `max_body_bytes`, a 408 (closing the connection) when
        it has not all arrived within `body_timeout_s` (a Content-Length larger than what is
        sent, a trickle), `_ClientGone` when the client leaves half-way."""
        from starlette.requests import ClientDisconnect

        too_big = _APIError(
            413, f"The request body is larger than this gateway accepts "
            f"({self.max_body_bytes} bytes).", code="request_too_large",
        )
        declared = request.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_body_bytes:
            raise too_big
        parts: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout_s):
                async for part in request.stream():
                    size += len(part)
                    if size > self.max_body_bytes:
                        raise too_big
                    parts.append(part)
        except TimeoutError:
            logger.info("request body incomplete after %gs (%d bytes): answered 408",
                        self.body_timeout_s, size)
            raise _APIError(
                408, f"The request body did not arrive within {self.body_timeout_s:g} seconds "
                f"({size} bytes came); send it at once, with a Content-Length that matches it.",
                code="request_timeout", headers={"Connection": "close"},
            ) from None
        except ClientDisconnect:
            logger.info("the client disconnected while sending its request body")
            raise _ClientGone("while sending its request body") from None
        return b"".join(parts)

    # --- endpoints

    async def health(self, request: Request) -> Response:
        from starlette.responses import JSONResponse

        return JSONResponse({"status": "ok", "models": len(self.models)})

    async def feedback(self, request: Request) -> Response:
        """Record (and learn from) how good one of this gateway's answers was."""
        from starlette.responses import JSONResponse

        _, req = await self.read_request(request, FeedbackRequest)
        try:
            async with self.learning:  # partial_fit embeds the prompt: off the event loop
                record = await asyncio.to_thread(
                    give_feedback, self.router, self.ledger, req.id, req.score,
                    log=self.feedback_log, learn=self.learn_from_feedback,
                )
        except UnknownResponseError as exc:
            raise _APIError(404, str(exc), param="id", code="unknown_response") from None
        except (InvalidRequestError, UnknownModelError) as exc:
            raise _APIError(400, str(exc), param="score", code="invalid_value") from None
        return JSONResponse({"object": "feedback", "id": req.id, "model": record.model,
                             "score": record.score, "learned": self.learn_from_feedback})

    async def list_models(self, request: Request) -> Response:
        from starlette.responses import JSONResponse

        self.check_key(request)
        return JSONResponse(self.model_list)

    def _model_list(self) -> dict[str, Any]:
        data: list[dict[str, Any]] = [{
            "id": "auto", "object": "model", "created": 0, "owned_by": "autorouter",
            "aliases": sorted(AUTO_MODELS - {"auto"}),
            "description": "routes each request to the candidate with the best predicted "
                           "quality for the money",
        }]
        prices = getattr(self.router, "prices", None) or {}
        limits = getattr(self.router, "limits_", {}) or {}
        for model in self.models:
            card = self.cards[model]
            entry: dict[str, Any] = {
                "id": model, "object": "model", "created": 0,
                "owned_by": card.provider if card is not None else (
                    model.split("/", 1)[0] if "/" in model else "unknown"),
            }
            price = prices.get(model) if isinstance(prices, Mapping) else None
            if price is not None:
                inp, out = (price.input_per_1m, price.output_per_1m) if hasattr(
                    price, "input_per_1m") else (float(price[0]), float(price[1]))
                entry["pricing"] = {"input_usd_per_1m": inp, "output_usd_per_1m": out}
            if card is not None:
                entry["catalog_id"] = card.id
                entry["aliases"] = list(card.aliases)
                entry.setdefault("pricing", {"input_usd_per_1m": card.input_usd_per_1m,
                                             "output_usd_per_1m": card.output_usd_per_1m})
                entry["context_window"] = card.context_window
                entry["max_output_tokens"] = card.max_output_tokens
                entry["capabilities"] = card.capabilities.model_dump(mode="json")
            lim = limits.get(model)
            if lim is not None:
                entry["limits"] = lim.model_dump(mode="json")
            data.append(entry)
        return {"object": "list", "data": data}

    async def chat(self, request: Request) -> Response:
        started = time.perf_counter()
        body, req = await self.read_request(request, ChatRequest)
        routed = req.model.strip().casefold() in AUTO_MODELS
        if routed:
            candidates = (
                list(dict.fromkeys(self.resolve(m, "models") for m in req.models))
                if req.models is not None else None
            )
        else:
            if req.models is not None:
                raise _APIError(
                    400, "'models' restricts the candidates of model \"auto\"; with a "
                    "concrete model leave it out (or send model \"auto\" with your list).",
                    param="models", code="invalid_value",
                )
            candidates = [self.resolve(req.model, "model")]
        kwargs: dict[str, Any] = {k: v for k, v in body.items() if k not in _OWN_FIELDS}
        for name in ("tools", "tool_choice", "response_format"):
            if body.get(name) is not None:
                kwargs[name] = body[name]
        call = dict(
            tradeoff=req.tradeoff, max_cost=req.max_cost, max_latency_s=req.max_latency_s,
            latency_weight=req.latency_weight, candidates=candidates, session=req.session, **kwargs,
        )
        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            return await self._stream(request, body["messages"], call, routed, include_usage,
                                      started)
        try:
            answer = await _unless_client_leaves(
                request, self.router.acomplete(body["messages"], **call))
        except _ClientGone:
            logger.info("chat model=%s: the client disconnected after %.0fms; the upstream "
                        "call was cancelled", req.model[:80], (time.perf_counter() - started) * 1000)
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error object
            raise self._upstream_error(exc) from None
        from starlette.responses import Response

        raw = answer.completion.raw if answer.completion is not None else {}
        out: dict[str, Any] = {
            "id": raw.get("id") or _new_id(),
            "object": "chat.completion",
            "created": raw.get("created") or int(time.time()),
            **{k: v for k, v in raw.items() if k not in ("id", "object", "created")},
            "model": answer.model,
        }
        self.ledger.record(out["id"], prompt_text(body["messages"])[0], answer.model)
        usage = out.get("usage") if isinstance(out.get("usage"), dict) else None
        if not usage and answer.usage is not None:
            usage = answer.usage.model_dump(exclude={"cost"})
        if usage is not None:
            out["usage"] = {**usage, "cost": answer.cost_usd}
        out["autorouter"] = _extra(
            answer.decision, routed=routed, model=answer.model, attempts=answer.attempts,
            cost=answer.cost_usd, cost_source=answer.cost_source, sticky=answer.sticky,
        )
        logger.info("chat model=%s answered=%s attempts=%d %.0fms", req.model[:80], answer.model,
                    len(answer.attempts), (time.perf_counter() - started) * 1000)
        return Response(self.redact(_dumps(out)), media_type="application/json")

    async def _stream(
        self, request: Request, messages: Any, call: dict[str, Any], routed: bool,
        include_usage: bool, started: float,
    ) -> Response:
        from starlette.responses import StreamingResponse

        stream = self.router.astream(messages, **call)
        try:
            # Routes and waits for the first chunk, so failures still get a status; a client
            # that leaves meanwhile cancels it (after it, the streaming response notices).
            await _unless_client_leaves(request, stream)
        except _ClientGone:
            await _quiet_close(stream)
            logger.info("chat stream: the client disconnected after %.0fms, before the first "
                        "chunk; the upstream call was cancelled",
                        (time.perf_counter() - started) * 1000)
            raise
        except Exception as exc:  # noqa: BLE001
            await _quiet_close(stream)
            raise self._upstream_error(exc) from None
        assert stream.model is not None
        model = stream.model
        extra = _extra(stream.decision, routed=routed, model=model, attempts=stream.attempts,
                       cost=None, cost_source=None, sticky=stream.sticky)
        ident = _new_id()
        redact = self.redact
        joined = _StreamRedactor(redact)  # secrets split over chunks; `redact` then per event
        ledger, prompt = self.ledger, prompt_text(messages)[0]

        def event(data: dict[str, Any]) -> bytes:
            return f"data: {redact(_dumps(data))}\n\n".encode()

        async def events() -> AsyncIterator[bytes]:
            first = True
            ident_used = ident
            held: list[dict[str, Any]] = []  # usage chunks: sent last, with the cost

            def rest() -> dict[str, Any] | None:
                """What the redactor still holds, as a last content chunk."""
                return joined.rest({
                    "id": ident_used, "object": "chat.completion.chunk",
                    "created": int(time.time()), "model": model,
                    **({"usage": None} if include_usage else {}),
                })

            try:
                async for chunk in stream:
                    data = dict(chunk.raw)
                    data["id"] = data.get("id") or ident
                    data["object"] = "chat.completion.chunk"
                    data.setdefault("created", int(time.time()))
                    data["model"] = model
                    if first:
                        choices = list(data.get("choices") or [])
                        if choices and isinstance(choices[0], dict):
                            delta = dict(choices[0].get("delta") or {})
                            delta.setdefault("role", "assistant")
                            choices[0] = {**choices[0], "delta": delta}
                            data["choices"] = choices
                        data["autorouter"] = extra
                        ident_used = data["id"]
                        ledger.record(ident_used, prompt, model)
                        first = False
                    if data.get("usage"):
                        # The usage waits for the cost (known at the end) on a chunk of its
                        # own, as OpenAI sends it; any choices it came with go now, in order.
                        if not data.get("choices"):
                            held.append(data)
                            continue
                        held.append({**{k: v for k, v in data.items() if k != "autorouter"},
                                     "choices": []})
                    if include_usage:
                        data["usage"] = None
                    else:
                        data.pop("usage", None)
                    yield event(joined.chunk(data))
                if (tail := rest()) is not None:
                    yield event(tail)
                result = stream.result
                for data in held:
                    usage = {**data["usage"], "cost": result.cost_usd if result else None}
                    if include_usage:
                        yield event({**data, "usage": usage})
                if include_usage and not held and result is not None and result.usage is not None:
                    yield event({
                        "id": ident_used, "object": "chat.completion.chunk",
                        "created": int(time.time()), "model": model, "choices": [],
                        "usage": {**result.usage.model_dump(exclude={"cost"}),
                                  "cost": result.cost_usd},
                    })
                yield b"data: [DONE]\n\n"
                logger.info("chat stream answered=%s attempts=%d %.0fms", model,
                            len(stream.attempts), (time.perf_counter() - started) * 1000)
            except Exception as exc:  # noqa: BLE001 - a break after the first chunk
                error = self._upstream_error(exc)
                logger.warning("stream from %s broke: %s", model, type(exc).__name__)
                if (tail := rest()) is not None:  # the text that came, before the error
                    yield event(tail)
                yield event(error.payload())
            finally:
                await _quiet_close(stream)

        return StreamingResponse(
            events(), media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    # --- mapping failures

    def _upstream_error(self, exc: BaseException) -> _APIError:
        if isinstance(exc, _APIError):
            return exc
        if isinstance(exc, NoCandidateError):
            return _APIError(400, self.redact(str(exc)), code="no_candidate")
        if isinstance(exc, UnknownModelError):
            return _APIError(404, self.redact(str(exc)), param="models", code="model_not_found")
        if isinstance(exc, InvalidRequestError):
            return _APIError(400, self.redact(str(exc)), param="messages", code="invalid_value")
        if isinstance(exc, MissingAPIKeyError):
            logger.error("no upstream API key: set %s", exc.env_var)
            return _APIError(503, "The gateway has no API key configured for the upstream "
                             "provider of this model; the operator should set it.",
                             kind="server_error", code="upstream_not_configured")
        if isinstance(exc, AuthenticationError):
            logger.error("the upstream refused the gateway's key for %s (HTTP %s)", exc.model,
                         exc.status_code)
            return _APIError(502, f"The upstream provider refused the gateway's credentials "
                             f"for {exc.model}; the operator should check them.",
                             kind="upstream_error", code="upstream_auth_failed")
        if isinstance(exc, BadRequestError):
            status = exc.status_code if exc.status_code in (400, 422) else 502
            detail = self.redact(exc.provider_message or str(exc))
            return _APIError(status, f"The model {exc.model} refused the request: {detail}",
                             kind="invalid_request_error" if status < 500 else "upstream_error",
                             code="upstream_bad_request")
        if isinstance(exc, FallbackExhaustedError):
            tried = _describe_failures(exc.failures)
            why = f" ({exc.reason})" if exc.reason else ""
            if exc.failures and all(isinstance(e, RateLimitError) for _, e in exc.failures):
                return _APIError(429, self.redact(f"Every model is rate limited{why}: {tried}"),
                                 kind="rate_limit_error", code="rate_limit_exceeded",
                                 headers={"Retry-After": str(_retry_after_s(exc.failures, self._cooldown_s()))})
            return _APIError(502, self.redact(f"No model answered{why}; tried {tried}."),
                             kind="upstream_error", code="upstream_failed")
        if isinstance(exc, ProviderError):
            return _APIError(502, self.redact(f"The upstream failed: {_describe_failure(exc.model or '?', exc)}"),
                             kind="upstream_error", code="upstream_failed")
        if isinstance(exc, AutorouterError):
            return _APIError(400, self.redact(str(exc)), code="invalid_value")
        logger.error("unexpected %s in a chat request", type(exc).__name__,
                     exc_info=(type(exc), exc, exc.__traceback__))
        return _APIError(500, "The gateway failed on its side; the operator can find the "
                         "details in its log.", kind="server_error", code="internal_error")


def _retry_after_s(failures: Sequence[tuple[str, BaseException]], cooldown_s: float) -> int:
    """Whole seconds a client should wait: the longest wait a provider asked for, else until
    the failed models' cooldown ends; at least 1."""
    from .reliability import retry_after_of

    asked = [w for _, e in failures if (w := retry_after_of(e))]
    return max(1, math.ceil(max(asked) if asked else cooldown_s))


def _describe_failure(model: str, error: BaseException) -> str:
    return f"{model}: {_failure_kind(error)}"


def _failure_kind(error: BaseException) -> str:
    status = getattr(error, "status_code", None)
    return type(error).__name__ + (f" (HTTP {status})" if status else "")


def _describe_failures(failures: Sequence[tuple[str, BaseException]]) -> str:
    """The models that failed alike listed once per kind of failure (20 models behind one dead
    endpoint make one line, not twenty)."""
    groups: dict[str, list[str]] = {}
    for model, error in failures:
        groups.setdefault(_failure_kind(error), []).append(model)
    return "; ".join(f"{', '.join(models)}: {kind}" for kind, models in groups.items())


def _extra(
    decision: RoutingDecision, *, routed: bool, model: str, attempts: Sequence[Attempt],
    cost: float | None, cost_source: str | None, sticky: bool,
) -> dict[str, Any]:
    """The `autorouter` object of a response: the routing report (`routing_report`) of a
    call that named its model when it was not `routed`."""
    return routing_report(
        model, decision, attempts, forced=not routed, sticky=sticky, cost_usd=cost,
        cost_source=cost_source,
    )


def _new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


async def _unless_client_leaves(request: Request, work: Awaitable[T]) -> T:
    """`await work`, cancelled (then `_ClientGone`) as soon as the client disconnects.

    Nothing reads from the client while a handler awaits the upstream, so the ASGI server's
    `http.disconnect` would go unnoticed and the router call (its retries and fallbacks
    included) would run on for nobody. A watcher waits for that message alongside; when it
    comes first the router call is cancelled, which closes its upstream connection, and
    awaited, so no further attempt starts once this returns.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
        if not task.done() and watcher.exception() is not None:
            await asyncio.wait((task,))  # the server's receive failed: nothing to watch for
    except BaseException:  # this handler was cancelled itself (shutdown): stop both
        task.cancel()
        watcher.cancel()
        raise
    gone = not task.done()
    watcher.cancel()
    task.cancel()  # a no-op when it is done
    await asyncio.wait((task, watcher))  # both unwound: no attempt can start after this
    if gone:
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it as never retrieved
        raise _ClientGone("before its answer was ready")
    return task.result()


async def _disconnected(request: Request) -> None:
    """Returns when the server reports the client gone (the body has been read by then, so
    `receive` has nothing else to say)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _quiet_close(stream: Any) -> None:
    try:
        await stream.aclose()
    except Exception:  # noqa: BLE001 - closing a broken stream must not hide the first error
        pass


# --- the app ------------------------------------------------------------------------------


def create_app(
    router: Router,
    *,
    catalog: Catalog | None = None,
    server_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
    feedback_log: FeedbackLog | str | Path | None = None,
    learn_from_feedback: bool = True,
) -> Starlette:
    """The OpenAI-compatible ASGI app serving `router` (see the module docstring).

    The app guards what it reads (the key, the body's size and arrival time); the request's
    headers come before the app sees a request, so their deadline is the server's: serve it
    with `uvicorn_options()` (as `autorouter serve` does) on anything but loopback.

    Args:
        router: a fitted router, with its endpoints, retry policy and limits set; it is only
            read (apart from its session LRU and cooldowns).
        catalog: names, aliases and facts of the models (`/v1/models`, resolving `model`);
            the router's endpoints' catalog, else `Catalog.default()`, if None.
        server_key: when set, every route but `/health` needs `Authorization: Bearer <key>`.
        max_body_bytes: larger request bodies get a 413.
        body_timeout_s: a request body not all arrived this many seconds after the headers
            gets a 408 and the connection is closed (a Content-Length larger than what is
            sent, a slow trickle), so one connection holds a request that long at most.
        feedback_log: where `POST /v1/feedback` records are appended (a `FeedbackLog` or a
            path); None keeps no record.
        learn_from_feedback: update the router with each feedback (`Router.partial_fit`);
            with several workers, each learns from the feedback it receives, and replaying
            the log (`autorouter train --feedback`) gives every one all of it.
    """
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    if max_body_bytes <= 0:
        raise ServerConfigError(f"max_body_bytes must be > 0, not {max_body_bytes!r}")
    _check_seconds("body_timeout_s", body_timeout_s)
    check_server_key(server_key)
    log = FeedbackLog(feedback_log) if isinstance(feedback_log, str | Path) else feedback_log
    gateway = _Gateway(router, catalog, server_key, max_body_bytes, body_timeout_s, log,
                       learn_from_feedback)

    def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _APIError)
        return JSONResponse(exc.payload(), status_code=exc.status, headers=exc.headers)

    def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        what = (f"Unknown route {request.method} {request.url.path}."
                if exc.status_code in (404, 405) else str(exc.detail))
        return api_error(request, _APIError(exc.status_code, what, code=code,
                                            headers=exc.headers))

    def server_error(request: Request, exc: Exception) -> Response:
        return api_error(request, gateway._upstream_error(exc))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        from .client import aclose_pools

        await aclose_pools()

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", gateway.chat, methods=["POST"]),
            Route("/chat/completions", gateway.chat, methods=["POST"]),
            Route("/v1/feedback", gateway.feedback, methods=["POST"]),
            Route("/v1/models", gateway.list_models, methods=["GET"]),
            Route("/models", gateway.list_models, methods=["GET"]),
            Route("/health", gateway.health, methods=["GET", "HEAD"]),
        ],
        exception_handlers={_APIError: api_error, HTTPException: http_error,
                            Exception: server_error},
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app


def app_from_env() -> Starlette:
    """The app as `autorouter serve` configures it, from environment variables: a factory for
    `uvicorn autorouter.server:app_from_env --factory` and for `--workers` > 1.

    AUTOROUTER_ROUTER_DIR: a saved router folder (the bundled default router if unset).
    AUTOROUTER_CATALOG: a catalog file (the bundled catalog if unset).
    AUTOROUTER_UPSTREAM_BASE_URL: the OpenAI-compatible API the models are called at
        (OpenRouter if unset); AUTOROUTER_UPSTREAM_KEY_ENV: the variable holding its key
        (OPENROUTER_API_KEY if unset; empty for an endpoint that needs none).
    AUTOROUTER_SERVER_KEY: the bearer token callers must send, at least 32 characters; without
        it the factory refuses to start unless AUTOROUTER_ALLOW_NO_SERVER_KEY=1 (loopback only).
    AUTOROUTER_MAX_BODY_BYTES: the request-body limit.
    AUTOROUTER_BODY_TIMEOUT_S: seconds the body may take to arrive (30 if unset).
    AUTOROUTER_HEADER_TIMEOUT_S: seconds the headers may take (10 if unset); read by
        `gateway_http_protocol` for each connection, and checked here so a bad value stops
        the start rather than being ignored.
    AUTOROUTER_TIME_BUDGET_S, AUTOROUTER_ATTEMPT_TIMEOUT_S, AUTOROUTER_STALL_TIMEOUT_S: the
        upstream calls' `RetryPolicy` (total budget, one model's limit for its answer to
        start, a stream's longest silence); its defaults where unset.
    AUTOROUTER_FEEDBACK_FILE: the file `POST /v1/feedback` appends to (unset: the state
        directory's autorouter/feedback.jsonl; empty: none is kept, feedback is only learned).
    """
    from .catalog import Catalog
    from .client import DEFAULT_API_KEY_ENV, DEFAULT_BASE_URL, Endpoint
    from .router import Router

    env = os.environ
    server_key = env.get(ENV_SERVER_KEY, "").strip() or None
    if server_key is None and env.get(ENV_ALLOW_NO_SERVER_KEY, "").strip() not in ("1", "true", "yes"):
        raise ServerConfigError(
            f"refusing to serve without a key: set {ENV_SERVER_KEY} to a random token of at least "
            f"{MIN_SERVER_KEY_CHARS} characters, or, bound to 127.0.0.1 only, {ENV_ALLOW_NO_SERVER_KEY}=1"
        )
    router_dir = env.get(ENV_ROUTER_DIR, "").strip()
    router = Router.load(router_dir) if router_dir else Router.default()
    catalog_file = env.get(ENV_CATALOG, "").strip()
    catalog = Catalog.from_file(catalog_file) if catalog_file else None
    base_url = env.get(ENV_UPSTREAM_BASE_URL, "").strip() or DEFAULT_BASE_URL
    key_env = env.get(ENV_UPSTREAM_KEY_ENV, DEFAULT_API_KEY_ENV).strip() or None
    router.set_endpoints(default=Endpoint(base_url=base_url, api_key_env=key_env),
                         catalog=catalog)
    limit = env.get(ENV_MAX_BODY_BYTES, "").strip()
    try:
        max_body = int(limit) if limit else DEFAULT_MAX_BODY_BYTES
    except ValueError:
        raise ServerConfigError(f"{ENV_MAX_BODY_BYTES} must be a number of bytes") from None
    body_timeout = _env_seconds(ENV_BODY_TIMEOUT_S, DEFAULT_BODY_TIMEOUT_S)
    _env_seconds(ENV_HEADER_TIMEOUT_S, DEFAULT_HEADER_TIMEOUT_S)
    router.retry_policy = retry_policy_from_env()
    if key_env is not None and not env.get(key_env, "").strip():
        logger.warning("%s is not set: calls will answer 503 until it is", key_env)
    feedback_file = env.get(ENV_FEEDBACK_FILE)
    if feedback_file is None:
        feedback_file = str(default_feedback_path())
    return create_app(router, catalog=catalog, server_key=server_key, max_body_bytes=max_body,
                      body_timeout_s=body_timeout, feedback_log=feedback_file.strip() or None)


def retry_policy_from_env() -> RetryPolicy:
    """The routed calls' `RetryPolicy`, its timing from the AUTOROUTER_*_S variables."""
    timing: dict[str, float] = {}
    for name, field in ((ENV_TIME_BUDGET_S, "total_budget_s"), (ENV_ATTEMPT_TIMEOUT_S, "attempt_timeout_s"),
                        (ENV_STALL_TIMEOUT_S, "stall_timeout_s")):
        if os.environ.get(name, "").strip():
            timing[field] = _env_seconds(name, 0.0)
    return RetryPolicy.model_validate(timing)


def _check_seconds(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value <= 0:
        raise ServerConfigError(f"{name} must be a number of seconds > 0, not {value!r}")
    return float(value)


def _env_seconds(name: str, default: float) -> float:
    """Seconds from the environment variable `name` (`default` if unset)."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ServerConfigError(f"{name} must be a number of seconds, not {text!r}") from None
    return _check_seconds(name, value)


def check_server_key(key: str | None) -> None:
    """A gateway key must be hard to guess: at least `MIN_SERVER_KEY_CHARS` characters."""
    if key is not None and len(key) < MIN_SERVER_KEY_CHARS:
        raise ServerConfigError(
            f"{ENV_SERVER_KEY} is {len(key)} characters; use a random token of at least "
            f"{MIN_SERVER_KEY_CHARS}, e.g. python -c \"import secrets; print(secrets.token_urlsafe(32))\""
        )


def is_loopback(host: str) -> bool:
    """True when `host` only accepts connections from this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


# --- the HTTP server's side: header deadline, TCP_NODELAY --------------------------------


def uvicorn_options(*, header_timeout_s: float | None = None) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run(...)` / `uvicorn.Config(...)` that make uvicorn fit
    to face clients beyond loopback (see "Serving beyond loopback" in the module docstring):
    the gateway's h11 protocol (`gateway_http_protocol`: a deadline for each request's
    headers, TCP_NODELAY on every connection), no WebSocket upgrades (the gateway has no
    WebSocket route), and uvicorn's keep-alive timeout said explicitly.

    Args:
        header_timeout_s: the header deadline; None reads AUTOROUTER_HEADER_TIMEOUT_S (10 s if
            unset) in each worker. A value is kept in-process (a `functools.partial`), which
            `--workers` > 1 can carry too: it is pickled by reference.
    """
    protocol: Any = "autorouter.server:gateway_http_protocol"
    if header_timeout_s is not None:
        protocol = functools.partial(gateway_http_protocol, header_timeout_s=_check_seconds(
            "header_timeout_s", header_timeout_s))
    return {"http": protocol, "ws": "none", "timeout_keep_alive": DEFAULT_KEEP_ALIVE_S}


def gateway_http_protocol(
    config: Any, server_state: Any, app_state: Any, _loop: Any = None, *,
    header_timeout_s: float | None = None,
) -> asyncio.Protocol:
    """A connection's protocol for uvicorn (`http=`): uvicorn's h11 protocol, plus

    - a header deadline: each request's headers must have arrived `header_timeout_s` after
      the connection opened or the previous answer ended, or the connection is answered 408
      (when part of a request came) and closed. uvicorn has none of its own for h11 (its
      keep-alive timer covers only silence, and any byte resets it), so slowloris clients
      could hold connections forever;
    - TCP_NODELAY: asyncio sets it only on sockets whose listening socket named IPPROTO_TCP,
      which uvicorn's own bind (`--workers`, `--fd`) does not, leaving Nagle's algorithm to
      delay every kept-alive answer by ~40 ms (uvicorn issue #3149).

    uvicorn calls it with its config and state, as it would a protocol class; the class is
    built on first use so this module imports without uvicorn.
    """
    seconds = header_timeout_s if header_timeout_s is not None else _header_timeout_from_env()
    protocol: asyncio.Protocol = _guarded_h11()(config, server_state, app_state, _loop,
                                                 header_timeout_s=seconds)
    return protocol


def _header_timeout_from_env() -> float:
    try:
        return _env_seconds(ENV_HEADER_TIMEOUT_S, DEFAULT_HEADER_TIMEOUT_S)
    except ServerConfigError:  # app_from_env refuses it at startup; a connection must not fail
        return DEFAULT_HEADER_TIMEOUT_S


def _set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:  # a closing socket: it has nothing left to delay
        pass


@functools.cache
def _guarded_h11() -> type[Any]:
    """uvicorn's H11Protocol with the header deadline and TCP_NODELAY (see
    `gateway_http_protocol`)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GatewayH11Protocol(H11Protocol):
        def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                     _loop: asyncio.AbstractEventLoop | None = None, *,
                     header_timeout_s: float) -> None:
            super().__init__(config, server_state, app_state, _loop)
            self.header_timeout_s = header_timeout_s
            self.head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)  # type: ignore[arg-type]
            _set_nodelay(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def handle_events(self) -> None:
            cycle = self.cycle
            super().handle_events()
            if self.cycle is not cycle:  # a request's headers arrived: the app has it now
                self._disarm()

        def on_response_complete(self) -> None:
            # The next request's headers are due from now on; one already here (pipelined)
            # is parsed by the call below, which disarms the timer at once.
            self._arm()
            super().on_response_complete()

        def _arm(self) -> None:
            self._disarm()
            self.head_timer = self.loop.call_later(self.header_timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self.head_timer is not None:
                self.head_timer.cancel()
                self.head_timer = None

        def _too_slow(self) -> None:
            self.head_timer = None
            if self.transport.is_closing():
                return
            if self.cycle is not None and not self.cycle.response_complete:
                return  # a request is being served: its body has the app's own deadline
            started = self.conn.our_state is h11.IDLE and self.conn.their_state is h11.IDLE \
                and bool(self.conn.trailing_data[0])
            if started:  # part of a request came: say why (written raw: h11 sends no
                # response before a request's headers are complete)
                body = json.dumps({"error": {
                    "message": f"The request's headers did not arrive within "
                               f"{self.header_timeout_s:g} seconds.",
                    "type": "invalid_request_error", "param": None, "code": "request_timeout",
                }}).encode()
                self.transport.write(
                    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
            logger.debug("closed a connection that sent no complete request head in %gs",
                         self.header_timeout_s)
            self.transport.close()

    return GatewayH11Protocol
