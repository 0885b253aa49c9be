"""A real OpenAI-compatible HTTP server for tests, with faults scripted per model.

It runs uvicorn + starlette on 127.0.0.1 (a free port) in a background thread and speaks
the OpenAI wire format: `POST /v1/chat/completions` (plain, streamed as SSE, tool calls,
`response_format` (JSON schema, or JSON mode with the keys a prompt names), `stop`,
`max_tokens`), `POST /v1/embeddings` and `GET /v1/models`.
Answers are deterministic: the text is `"[<model>] <last user message>"`, so tests can
assert on it. A request whose system prompt asks for the ReAct protocol (Thought / Action /
Action Input / Observation, as LlamaIndex's ReActAgent sends) gets ReAct-format answers.

A test scripts faults per model, consumed one per call, then a persistent mode applies:

    server.script("model-a", ["429", "500", "ok"])   # a queue, one entry per call
    server.set_mode("model-b", "503")                # every later call, until reset()

Fault specs: "ok"; an HTTP status such as "400", "401", "403", "404", "422", "429", "500",
"502", "503"; "429:<seconds>" (429 with that Retry-After value); "stall" / "stall:<seconds>"
(wait before answering: longer than the client's timeout); "reset" (TCP reset before any
byte of the answer); "drop:<n>" (send the headers and n SSE events, or for a non-streamed
call a part of the body, then close the connection half-way); "pause:<n>:<seconds>" (a
stream sends n events, falls silent for that long, then goes on).

The server counts calls per model (`server.calls["model-a"]`) and records every request's
body and headers (`server.requests`), so tests can check nothing was sent twice.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import json
import re
import socket
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

__all__ = ["Fault", "OpenAIServer", "RecordedRequest"]

CREATED = 1_700_000_000  # a fixed timestamp keeps every answer deterministic
DEFAULT_MODELS = ("model-a", "model-b", "model-c")


@dataclass(frozen=True)
class Fault:
    """What the server does with one call; build it with `Fault.parse("429:1")`."""

    kind: Literal["ok", "status", "stall", "reset", "drop", "pause"]
    status: int | None = None
    retry_after: str | None = None
    seconds: float | None = None
    after: int = 0

    @classmethod
    def parse(cls, spec: str | Fault) -> Fault:
        if isinstance(spec, Fault):
            return spec
        name, _, arg = str(spec).strip().lower().partition(":")
        if name == "ok" and not arg:
            return cls("ok")
        if name == "reset" and not arg:
            return cls("reset")
        if name == "stall":
            return cls("stall", seconds=float(arg) if arg else None)
        if name == "drop":
            return cls("drop", after=int(arg or 0))
        if name == "pause":
            count, _, seconds = arg.partition(":")
            return cls("pause", after=int(count), seconds=float(seconds))
        if name.isdigit() and 400 <= int(name) <= 599:
            if arg and name != "429":
                raise ValueError(f"only 429 takes a Retry-After value, got {spec!r}")
            return cls("status", status=int(name), retry_after=arg or None)
        raise ValueError(f"unknown fault spec {spec!r}")


OK = Fault("ok")


@dataclass
class RecordedRequest:
    """One request as the server received it (headers lower-cased).

    `peer` is the client's (host, port): equal ports mean one reused connection.
    """

    method: str
    path: str
    model: str | None
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    peer: tuple[str, int] | None = None


class OpenAIServer:
    """The test server; use as a context manager or call `start()` / `stop()`."""

    def __init__(self, *, stall_s: float = 3.0, embedding_dim: int = 8) -> None:
        self.default_stall_s = stall_s
        self.default_embedding_dim = embedding_dim
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.port: int | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )
        self.reset()

    # --- lifecycle -----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, e.g. `http://127.0.0.1:41234/v1`."""
        if self.port is None:
            raise RuntimeError("the server is not started")
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> OpenAIServer:
        self._stopping = False
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets that name it, and
        # without it every reused connection waits ~40 ms on Nagle's algorithm.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            http="h11",  # the fault injection reaches h11's transport (see _close_connection)
            loop="asyncio",
            lifespan="off",
            access_log=False,
            log_config=None,  # leave the test process's logging alone
            log_level="warning",
            timeout_graceful_shutdown=1,
            backlog=1024,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
            name="openai-test-server",
        )
        self._thread.start()
        for _ in range(1000):  # up to 10 s
            if self._server.started:
                return self
            if not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        raise RuntimeError("the OpenAI test server did not start")

    def stop(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what a test sets and reads ------------------------------------------------

    def reset(self) -> None:
        """Forget scripts, modes, counters, recorded requests and settings."""
        with self._lock:
            self._queues: dict[str, collections.deque[Fault]] = {}
            self._modes: dict[str, Fault] = {}
            self.calls: collections.Counter[str] = collections.Counter()
            self.requests: list[RecordedRequest] = []
            self._ids = 0
        self.require_api_key: str | None = None  # when set, other keys get a 401
        self.report_cost = False  # add OpenRouter's `usage.cost` even if not asked for
        self.chunk_delay = 0.0  # seconds between SSE events
        self.stall_s = self.default_stall_s
        self.embedding_dim = self.default_embedding_dim
        self.embedding_value: float | None = None  # when set, every embedding is all this number (NaN too)
        self.models = list(DEFAULT_MODELS)

    def script(
        self, model: str, faults: Iterable[str | Fault], *, then: str | Fault | None = None
    ) -> None:
        """Queue one fault per coming call of `model` (replacing its queue); `then` sets the
        persistent mode once the queue is used up."""
        parsed = collections.deque(Fault.parse(f) for f in faults)
        with self._lock:
            self._queues[model] = parsed
            if then is not None:
                self._modes[model] = Fault.parse(then)

    def set_mode(self, model: str, fault: str | Fault) -> None:
        """Answer every call of `model` with `fault` (after its script), until reset."""
        with self._lock:
            self._modes[model] = Fault.parse(fault)

    def pending(self, model: str) -> int:
        """How many scripted faults of `model` are still queued."""
        with self._lock:
            return len(self._queues.get(model, ()))

    def requests_for(self, model: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.model == model]

    @property
    def total_calls(self) -> int:
        with self._lock:
            return sum(self.calls.values())

    # --- request handling ----------------------------------------------------------

    async def _receive_call(self, request: Request) -> tuple[dict[str, Any], Fault, int]:
        """Parse, record and count one call; pick its fault; give it a response number."""
        try:
            body = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError:
            body = {"_unparsable": True}
        if not isinstance(body, dict):
            body = {"_unparsable": True}
        model = body.get("model") if isinstance(body.get("model"), str) else None
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.url.path,
                    model=model,
                    body=body,
                    headers={k.lower(): v for k, v in request.headers.items()},
                    peer=(request.client.host, request.client.port) if request.client else None,
                )
            )
            if model is not None:
                self.calls[model] += 1
            queue = self._queues.get(model or "")
            fault = queue.popleft() if queue else self._modes.get(model or "", OK)
            self._ids += 1
            number = self._ids
        return body, fault, number

    def _auth_error(self, request: Request) -> Response | None:
        if self.require_api_key is None:
            return None
        presented = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if presented == self.require_api_key:
            return None
        # Like OpenAI, echo the key that was presented: clients must scrub it.
        return _error(401, f"Incorrect API key provided: {presented}.", "invalid_api_key")

    async def _apply_fault(
        self, fault: Fault, model: str, request: Request
    ) -> Response | None:
        """The response a fault replaces the answer with, or None to answer (maybe late)."""
        if fault.kind == "stall":
            seconds = fault.seconds if fault.seconds is not None else self.stall_s
            deadline = asyncio.get_running_loop().time() + seconds
            # Stop early once the client gave up or the server stops, so shutdown is quick.
            while asyncio.get_running_loop().time() < deadline and not self._stopping:
                if await request.is_disconnected():
                    break
                await asyncio.sleep(0.02)
            return None
        if fault.kind == "reset":
            return _ConnectionReset()
        if fault.kind == "status":
            assert fault.status is not None
            return _status_error(fault.status, model, fault.retry_after, request)
        return None

    async def _chat(self, request: Request) -> Response:
        body, fault, number = await self._receive_call(request)
        model = body.get("model")
        if body.get("_unparsable"):
            return _error(400, "We could not parse the JSON body of your request.", None)
        if (denied := self._auth_error(request)) is not None:
            return denied
        if not isinstance(model, str) or not model:
            return _error(400, "you must provide a model parameter", None, param="model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "'messages' must be a non-empty array", None, param="messages")
        if (faulted := await self._apply_fault(fault, model, request)) is not None:
            return faulted

        answer = _chat_answer(body)
        usage = _usage(body, answer, self.report_cost)
        ident = f"chatcmpl-{number:06d}"
        drop = fault.after if fault.kind == "drop" else None
        if body.get("stream"):
            events = _stream_events(ident, model, answer, body, usage)
            pause = (fault.after, fault.seconds or 0.0) if fault.kind == "pause" else None
            return _SSE(events, drop_after=drop, delay=self.chunk_delay, pause=pause)
        message: dict[str, Any] = {"role": "assistant", "content": answer.text, "refusal": None}
        if answer.tool_calls:
            message["tool_calls"] = answer.tool_calls
        payload = {
            "id": ident,
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": answer.finish_reason,
                }
            ],
            "usage": usage,
        }
        if drop is not None:
            return _PartialBody(json.dumps(payload).encode())
        return JSONResponse(payload)

    async def _embeddings(self, request: Request) -> Response:
        body, fault, _ = await self._receive_call(request)
        model = body.get("model")
        if body.get("_unparsable") or not isinstance(model, str):
            return _error(400, "you must provide a model parameter", None, param="model")
        if (denied := self._auth_error(request)) is not None:
            return denied
        if (faulted := await self._apply_fault(fault, model, request)) is not None:
            return faulted
        raw = body.get("input")
        if isinstance(raw, str) or (isinstance(raw, list) and raw and isinstance(raw[0], int)):
            inputs = [raw]
        elif isinstance(raw, list) and raw:
            inputs = list(raw)
        else:
            return _error(400, "'input' must be a string or a non-empty array", None, "input")
        dim = int(body.get("dimensions") or self.embedding_dim)
        data = []
        for i, item in enumerate(inputs):
            vector = _embed(item if isinstance(item, str) else json.dumps(item), dim)
            if self.embedding_value is not None:
                vector = [self.embedding_value] * dim
            encoded: Any = vector
            if body.get("encoding_format") == "base64":  # the openai SDK asks for this
                encoded = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        tokens = sum(_count_words(x if isinstance(x, str) else str(x)) for x in inputs)
        payload = {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        # json.dumps writes NaN as Python's json reads it back (JSONResponse refuses it)
        return Response(json.dumps(payload), media_type="application/json")

    async def _models(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    method="GET", path=request.url.path, model=None, body={},
                    headers={k.lower(): v for k, v in request.headers.items()},
                )
            )
        if (denied := self._auth_error(request)) is not None:
            return denied
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": CREATED, "owned_by": "autorouter-tests"}
                    for m in self.models
                ],
            }
        )


# --- answers ---------------------------------------------------------------------------


@dataclass
class _Answer:
    text: str | None
    tool_calls: list[dict[str, Any]]
    finish_reason: str
    pieces: list[str]  # how the text streams: one word (with its trailing space) per event


def _content_text(content: Any) -> str:
    """A message's text, whether `content` is a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _last_user_text(messages: list[Any]) -> str:
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            return _content_text(m.get("content"))
    return ""


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text) or ([text] if text else [])


def _count_words(text: str) -> int:
    return len(text.split())


def _first_number(text: str) -> int | float | None:
    match = re.search(r"-?\d+(?:\.\d+)?", text)
    if match is None:
        return None
    number = float(match.group())
    return int(number) if number.is_integer() else number


def _value_for(schema: dict[str, Any], prompt: str) -> Any:
    """A simple value that matches a JSON schema, derived from the prompt where it can."""
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for union in ("anyOf", "oneOf"):
        if schema.get(union):
            return _value_for(schema[union][0], prompt)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind in ("integer", "number"):
        number = _first_number(prompt)
        if number is None:
            return 0
        return int(number) if kind == "integer" else number
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object" or "properties" in schema:
        return _object_for(schema, prompt)
    if kind == "null":
        return None
    return prompt or "value"


def _object_for(schema: dict[str, Any], prompt: str) -> dict[str, Any]:
    """An object with the schema's required properties (all properties if none required)."""
    properties: dict[str, Any] = schema.get("properties") or {}
    names = schema.get("required") or list(properties)
    return {name: _value_for(properties.get(name) or {}, prompt) for name in names}


def _tool_arguments(parameters: dict[str, Any], prompt: str) -> dict[str, Any]:
    properties: dict[str, Any] = parameters.get("properties") or {}
    if len(properties) == 1:
        (name, prop), = properties.items()
        number = _first_number(prompt)
        if prop.get("type") in ("integer", "number") and number is not None:
            return {name: int(number) if prop.get("type") == "integer" else number}
    # Else: every property with a default gets it, required ones get a simple value.
    args = {n: p["default"] for n, p in properties.items() if "default" in (p or {})}
    for name in parameters.get("required") or []:
        args.setdefault(name, _value_for(properties.get(name) or {}, prompt))
    return args


def _pick_tool(tools: list[Any], tool_choice: Any) -> dict[str, Any] | None:
    functions = [t.get("function", {}) for t in tools if isinstance(t, dict)]
    if isinstance(tool_choice, dict):
        wanted = (tool_choice.get("function") or {}).get("name")
        return next((f for f in functions if f.get("name") == wanted), None)
    return functions[0] if functions else None


def _requested_json_keys(prompt: str) -> list[str]:
    """The quoted key names a JSON-mode prompt asks for: "with 'a' and 'b' keys" -> [a, b]."""
    match = re.search(r"((?:'\w+'(?:,\s*|\s+and\s+|\s*))+)keys\b", prompt)
    return re.findall(r"'(\w+)'", match.group(1)) if match else []


_REACT_TOOL = re.compile(r"^> Tool Name: (\S+)\s*$", re.MULTILINE)
_REACT_ARGS = re.compile(r"^Tool Args: (\{.*\})\s*$", re.MULTILINE)


def _react_answer(model: str, messages: list[Any]) -> str | None:
    """A ReAct-format answer when the system prompt asks for the ReAct protocol (as
    LlamaIndex's ReActAgent does), else None: first an action calling the first listed tool
    (arguments from the question, as for tool calls), then, after its observation, the
    answer "[<model>] tool result: <observation>"."""
    system = " ".join(
        _content_text(m.get("content")) for m in messages
        if isinstance(m, dict) and m.get("role") == "system"
    )
    if "Action Input:" not in system or "Observation:" not in system:
        return None
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    last_text = _content_text(last.get("content")).strip()
    if last_text.startswith("Observation:"):
        observation = last_text.removeprefix("Observation:").strip()
        return (
            "Thought: I can answer without using any more tools. I'll use the user's language "
            f"to answer\nAnswer: [{model}] tool result: {observation}"
        )
    question = next(
        (
            text for m in reversed(messages)
            if isinstance(m, dict) and m.get("role") == "user"
            and not (text := _content_text(m.get("content")).strip()).startswith("Observation:")
        ),
        "",
    )
    names = _REACT_TOOL.findall(system)
    if not names:
        return f"Thought: I can answer without using any more tools.\nAnswer: [{model}] {question}"
    match = _REACT_ARGS.search(system)
    try:
        schema = json.loads(match.group(1)) if match else {}
    except json.JSONDecodeError:
        schema = {}
    arguments = json.dumps(_tool_arguments(schema if isinstance(schema, dict) else {}, question))
    return (
        "Thought: The current language of the user is: English. I need to use a tool to help "
        f"me answer the question.\nAction: {names[0]}\nAction Input: {arguments}"
    )


def _chat_answer(body: dict[str, Any]) -> _Answer:
    model = body["model"]
    messages: list[Any] = body["messages"]
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    prompt = _last_user_text(messages)
    tools = body.get("tools") or []
    tool_choice = body.get("tool_choice", "auto")
    if tools and last.get("role") == "user" and tool_choice != "none":
        tool = _pick_tool(tools, tool_choice)
        if tool is not None:
            arguments = json.dumps(_tool_arguments(tool.get("parameters") or {}, prompt))
            digest = hashlib.sha1(f"{tool.get('name')}{arguments}".encode()).hexdigest()
            call_id = f"call_{digest[:12]}"
            call = {
                "id": call_id,
                "type": "function",
                "function": {"name": tool.get("name"), "arguments": arguments},
            }
            return _Answer(None, [call], "tool_calls", [])

    response_format = body.get("response_format") or {}
    if (react := _react_answer(model, messages)) is not None:
        text = react
    elif last.get("role") == "tool":
        text = f"[{model}] tool result: {_content_text(last.get('content'))}"
    elif response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        text = json.dumps(_object_for(schema, prompt))
    elif response_format.get("type") == "json_object":
        # A prompt that names the keys it wants ("... with 'setup' and 'punchline' keys")
        # gets an object with those keys; any other prompt gets {"model", "answer"}.
        keys = _requested_json_keys(prompt)
        text = json.dumps({k: prompt for k in keys} if keys else {"model": model, "answer": prompt})
    else:
        text = f"[{model}] {prompt}"

    finish = "stop"
    stops = body.get("stop")
    for stop in [stops] if isinstance(stops, str) else (stops or []):
        if stop and stop in text:
            text = text[: text.index(stop)]
    pieces = _words(text)
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and 0 < limit < len(pieces):
        pieces = pieces[:limit]
        text = "".join(pieces)
        finish = "length"
    return _Answer(text, [], finish, pieces)


def _usage(body: dict[str, Any], answer: _Answer, report_cost: bool) -> dict[str, Any]:
    prompt_tokens = max(1, sum(_count_words(_content_text(m.get("content")))
                               for m in body["messages"] if isinstance(m, dict)))
    if answer.tool_calls:
        completion_tokens = sum(
            _count_words(c["function"]["arguments"]) for c in answer.tool_calls
        ) or 1
    else:
        completion_tokens = len(answer.pieces)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    asked = isinstance(body.get("usage"), dict) and body["usage"].get("include")
    if report_cost or asked:  # OpenRouter's usage accounting
        usage["cost"] = round(usage["total_tokens"] * 1e-6, 9)
    return usage


def _stream_events(
    ident: str, model: str, answer: _Answer, body: dict[str, Any], usage: dict[str, Any]
) -> list[bytes]:
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        event: dict[str, Any] = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            event["usage"] = None
        return event

    chunks = [chunk({"role": "assistant", "content": ""})]
    for i, call in enumerate(answer.tool_calls):
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        chunks.append(chunk({"tool_calls": [{
            "index": i, "id": call["id"], "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }]}))
        for part in (arguments[:half], arguments[half:]):
            chunks.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]}))
    for piece in answer.pieces:
        chunks.append(chunk({"content": piece}))
    chunks.append(chunk({}, answer.finish_reason))
    if include_usage:
        chunks.append({**chunk({}), "choices": [], "usage": usage})
    events = [f"data: {json.dumps(c)}\n\n".encode() for c in chunks]
    events.append(b"data: [DONE]\n\n")
    return events


def _embed(text: str, dim: int) -> list[float]:
    """A deterministic unit vector for a text."""
    values: list[float] = []
    counter = 0
    while len(values) < dim:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    values = values[:dim]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [v / norm for v in values]


# --- errors and faults on the wire -----------------------------------------------------


def _error(
    status: int, message: str, code: str | None, param: str | None = None,
    *, kind: str = "invalid_request_error", headers: dict[str, str] | None = None,
) -> JSONResponse:
    payload = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(payload, status_code=status, headers=headers)


def _status_error(
    status: int, model: str, retry_after: str | None, request: Request
) -> JSONResponse:
    if status == 429:
        headers = {"retry-after": retry_after} if retry_after is not None else None
        return _error(429, f"Rate limit reached for {model}.", "rate_limit_exceeded",
                      kind="requests", headers=headers)
    if status >= 500:
        return _error(status, "The server had an error while processing your request.",
                      None, kind="server_error")
    if status == 401:
        presented = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return _error(401, f"Incorrect API key provided: {presented}.", "invalid_api_key")
    if status == 403:
        return _error(403, f"You are not allowed to use {model}.", "permission_denied")
    if status == 404:
        return _error(404, f"The model `{model}` does not exist.", "model_not_found")
    return _error(status, f"Invalid request for {model}.", None)


async def _close_connection(receive: Receive, *, reset: bool) -> None:
    """Close the client's connection under the app: with a TCP reset, or a plain close.

    ASGI has no message for this, so it reaches uvicorn's transport through the bound
    `receive` method of its request cycle.
    """
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("fault injection needs uvicorn's h11 server")
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:  # linger 0: the close sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()  # flushes what was written, then FIN
    # Let uvicorn notice, so it neither answers 500 nor logs an unfinished response.
    for _ in range(200):
        if getattr(cycle, "disconnected", True):
            break
        await asyncio.sleep(0.005)


class _ConnectionReset(Response):
    def __init__(self) -> None:
        super().__init__()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _close_connection(receive, reset=True)


class _PartialBody(Response):
    """Announce the full body, send half of it, then close the connection."""

    def __init__(self, content: bytes) -> None:
        super().__init__()
        self.content = content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"),
                        (b"content-length", str(len(self.content)).encode())],
        })
        await send({"type": "http.response.body", "body": self.content[: len(self.content) // 2],
                    "more_body": True})
        await _close_connection(receive, reset=False)


class _SSE(Response):
    """Server-sent events, optionally dropping the connection after `drop_after` events."""

    def __init__(
        self, events: list[bytes], *, drop_after: int | None, delay: float,
        pause: tuple[int, float] | None = None,
    ) -> None:
        super().__init__()
        self.events = events
        self.drop_after = drop_after
        self.delay = delay
        self.pause = pause

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream; charset=utf-8"),
                        (b"cache-control", b"no-cache")],
        })
        for i, event in enumerate(self.events):
            if self.drop_after is not None and i >= self.drop_after:
                await _close_connection(receive, reset=False)
                return
            if i and self.delay:
                await asyncio.sleep(self.delay)
            if self.pause is not None and i == self.pause[0]:
                await asyncio.sleep(self.pause[1])
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
