"""An OpenAI-compatible chat-completions client on httpx2: sync and async, streamed or not.

One call goes to one model; falling back down a ranking is `autorouter.reliability`'s job.
Failures come out as typed `ProviderError`s that say whether a retry may help. The API key
is a `SecretStr` resolved once per client; it is sent in the Authorization header only and
scrubbed from every provider message we pass on.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import threading
import weakref
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any

import httpx2
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from autorouter.errors import (
    AuthenticationError,
    BadRequestError,
    MissingAPIKeyError,
    ProviderConnectionError,
    ProviderError,
    ProviderServerError,
    ProviderTimeoutError,
    ProviderUnreachableError,
    RateLimitError,
    StreamInterruptedError,
)
from autorouter.reliability import current_attempt_limits, retry_after_from_headers

__all__ = [
    "DEFAULT_API_KEY_ENV",
    "DEFAULT_BASE_URL",
    "ChatChunk",
    "ChatClient",
    "ChatCompletion",
    "Endpoint",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
    "aclose_pools",
    "close_pools",
]

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
DEFAULT_API_KEY_ENV = "OPENROUTER_API_KEY"

logger = logging.getLogger("autorouter.client")


# --- what goes in -------------------------------------------------------------------


class Endpoint(BaseModel):
    """Where an OpenAI-compatible API lives and how to authenticate to it.

    The key is `api_key` if given, else the value of the `api_key_env` environment
    variable; with both None no Authorization header is sent (a local server, say).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(default=DEFAULT_BASE_URL, description="API root, e.g. .../v1")
    api_key: SecretStr | None = Field(default=None, description="explicit key; wins over env")
    api_key_env: str | None = Field(
        default=DEFAULT_API_KEY_ENV, description="environment variable holding the key"
    )
    # Hidden from repr: callers sometimes put credentials in custom headers too.
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    timeout: float = Field(
        default=60.0, gt=0, description="seconds to connect, and to wait for each read; a "
        "fallback run's attempt and stall limits (`RetryPolicy`) shorten it per attempt"
    )

    def resolve_api_key(self) -> SecretStr | None:
        """The key to send, or None when this endpoint needs none.

        Raises `MissingAPIKeyError` naming the variable when it should be set but is not.
        """
        if self.api_key is not None:
            return self.api_key
        if self.api_key_env is None:
            return None
        value = os.environ.get(self.api_key_env, "").strip()
        if not value:
            raise MissingAPIKeyError(self.api_key_env)
        return SecretStr(value)


# --- what comes out -----------------------------------------------------------------


class Usage(BaseModel):
    """Token counts of one call, and its cost in USD when the provider reports it."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: float | None = Field(default=None, description="USD, e.g. OpenRouter's usage.cost")


class ToolCall(BaseModel):
    """A function call the model asked for; `arguments` is the JSON text it wrote."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    arguments: str = ""

    def parse_arguments(self) -> Any:
        """`arguments` decoded from JSON (raises `json.JSONDecodeError` if the model erred)."""
        return json.loads(self.arguments or "{}")


class ChatCompletion(BaseModel):
    """One answer: its text, tool calls, why it stopped, token usage and the raw body."""

    model_config = ConfigDict(frozen=True)

    model: str = Field(description="the model the provider says answered")
    text: str = Field(default="", description="the message content; '' with only tool calls")
    tool_calls: list[ToolCall] = Field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    @property
    def cost(self) -> float | None:
        """USD cost as reported by the provider, if it reported one."""
        return self.usage.cost if self.usage is not None else None

    @classmethod
    def from_chunks(cls, chunks: Iterable[ChatChunk]) -> ChatCompletion:
        """Assemble the answer a stream delivered."""
        chunks = list(chunks)
        calls: dict[int, dict[str, str]] = {}
        finish_reason: str | None = None
        usage: Usage | None = None
        for chunk in chunks:
            for delta in chunk.tool_calls:
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = call["id"] or (delta.id or "")
                call["name"] = call["name"] or (delta.name or "")
                call["arguments"] += delta.arguments
            finish_reason = chunk.finish_reason or finish_reason
            usage = chunk.usage or usage
        return cls(
            model=chunks[0].model if chunks else "",
            text="".join(c.text for c in chunks),
            tool_calls=[ToolCall(**calls[i]) for i in sorted(calls)],
            finish_reason=finish_reason,
            usage=usage,
            raw={"chunks": [c.raw for c in chunks]},
        )


class ToolCallDelta(BaseModel):
    """A piece of a streamed tool call; pieces with the same `index` form one call."""

    model_config = ConfigDict(frozen=True)

    index: int = 0
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class ChatChunk(BaseModel):
    """One streamed event: a piece of text or of tool calls, the finish reason, or usage."""

    model_config = ConfigDict(frozen=True)

    model: str
    text: str = ""
    tool_calls: list[ToolCallDelta] = Field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


# --- the client ---------------------------------------------------------------------


class ChatClient:
    """Chat completions against one `Endpoint` (default: OpenRouter).

    Extra keyword arguments (`tools`, `tool_choice`, `response_format`, `temperature`,
    `stop`, provider-specific fields, ...) go into the request body unchanged. Connections
    are pooled per base URL, shared by every client in the process (and, for the async
    methods, per event loop).
    """

    def __init__(self, endpoint: Endpoint | None = None) -> None:
        self.endpoint = endpoint or Endpoint()
        # Resolved now, so a missing key fails here and not in the middle of a fallback.
        self._api_key = self.endpoint.resolve_api_key()
        self._url = self.endpoint.base_url.rstrip("/") + "/chat/completions"

    def __repr__(self) -> str:
        return f"ChatClient(base_url={self.endpoint.base_url!r})"

    # sync

    def complete(self, model: str, messages: list[Any], **params: Any) -> ChatCompletion:
        """Send one request and return the answer; raises a `ProviderError` on failure."""
        body = self._body(model, messages, params, stream=False)
        try:
            response = _sync_pool(self.endpoint.base_url).post(
                self._url, json=body, headers=self._headers(stream=False),
                timeout=self._timeout(stream=False),
            )
        except httpx2.HTTPError as exc:
            raise self._transport_error(exc, model) from exc
        return self._completion(response.status_code, response.headers, response.content, model)

    def stream(self, model: str, messages: list[Any], **params: Any) -> Iterator[ChatChunk]:
        """Stream the answer chunk by chunk, asking for a final usage chunk by default.

        Nothing is sent until the first `next()`. A failure before the first chunk raises a
        `ProviderError` (safe to retry); after it, `StreamInterruptedError`.
        """
        body = self._body(model, messages, params, stream=True)
        received: list[ChatChunk] = []
        decoder = _SSEDecoder()
        finished = False
        try:
            with _sync_pool(self.endpoint.base_url).stream(
                "POST", self._url, json=body, headers=self._headers(stream=True),
                timeout=self._timeout(stream=True),
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._status_error(response.status_code, response.headers,
                                             response.content, model)
                done = False
                for line in response.iter_lines():
                    if done:  # read to the end, so the connection goes back to the pool
                        continue
                    for data in decoder.feed(line):
                        if data == "[DONE]":
                            finished = done = True
                            break
                        chunk = self._chunk(data, model)
                        finished = finished or chunk.finish_reason is not None
                        received.append(chunk)
                        yield chunk
                if not done:
                    for data in decoder.flush():
                        finished = finished or data == "[DONE]"
        except httpx2.HTTPError as exc:
            raise self._interrupted(self._transport_error(exc, model), received) from exc
        except ProviderError as exc:
            if not received:
                raise
            raise self._interrupted(exc, received) from exc
        if not finished:
            error = ProviderConnectionError(
                f"{model}: the stream ended before the answer did", model=model
            )
            raise self._interrupted(error, received)

    # async

    async def acomplete(self, model: str, messages: list[Any], **params: Any) -> ChatCompletion:
        """`complete`, for asyncio."""
        body = self._body(model, messages, params, stream=False)
        try:
            response = await _async_pool(self.endpoint.base_url).post(
                self._url, json=body, headers=self._headers(stream=False),
                timeout=self._timeout(stream=False),
            )
        except httpx2.HTTPError as exc:
            raise self._transport_error(exc, model) from exc
        return self._completion(response.status_code, response.headers, response.content, model)

    async def astream(
        self, model: str, messages: list[Any], **params: Any
    ) -> AsyncIterator[ChatChunk]:
        """`stream`, for asyncio."""
        body = self._body(model, messages, params, stream=True)
        received: list[ChatChunk] = []
        decoder = _SSEDecoder()
        finished = False
        try:
            async with _async_pool(self.endpoint.base_url).stream(
                "POST", self._url, json=body, headers=self._headers(stream=True),
                timeout=self._timeout(stream=True),
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._status_error(response.status_code, response.headers,
                                             response.content, model)
                done = False
                async for line in response.aiter_lines():
                    if done:  # read to the end, so the connection goes back to the pool
                        continue
                    for data in decoder.feed(line):
                        if data == "[DONE]":
                            finished = done = True
                            break
                        chunk = self._chunk(data, model)
                        finished = finished or chunk.finish_reason is not None
                        received.append(chunk)
                        yield chunk
                if not done:
                    for data in decoder.flush():
                        finished = finished or data == "[DONE]"
        except httpx2.HTTPError as exc:
            raise self._interrupted(self._transport_error(exc, model), received) from exc
        except ProviderError as exc:
            if not received:
                raise
            raise self._interrupted(exc, received) from exc
        if not finished:
            error = ProviderConnectionError(
                f"{model}: the stream ended before the answer did", model=model
            )
            raise self._interrupted(error, received)

    # request

    def _timeout(self, *, stream: bool) -> httpx2.Timeout:
        """The socket limits of this call: the endpoint's, shortened by the fallback run's
        attempt in progress (its deadline for the answer to start, and for a stream the
        longest silence between chunks)."""
        seconds = self.endpoint.timeout
        limits = current_attempt_limits()
        if limits is not None:
            seconds = min(seconds, limits.first_byte_left())
            if stream:
                seconds = min(seconds, limits.stall_s)
        return httpx2.Timeout(seconds, pool=None)

    def _body(
        self, model: str, messages: list[Any], params: dict[str, Any], *, stream: bool
    ) -> dict[str, Any]:
        if "stream" in params:
            raise TypeError("pass no `stream` argument: use stream()/astream() to stream")
        body: dict[str, Any] = {"model": model, "messages": messages, **params}
        if stream:
            body["stream"] = True
            # Ask for the usage chunk unless the caller said otherwise (None drops the field).
            body.setdefault("stream_options", {"include_usage": True})
            if body["stream_options"] is None:
                del body["stream_options"]
        logger.debug("POST %s model=%s stream=%s", self._url, model, stream)
        return body

    def _headers(self, *, stream: bool) -> dict[str, str]:
        headers = {
            "Accept": "text/event-stream" if stream else "application/json",
            "User-Agent": "autorouter",
            **self.endpoint.headers,
        }
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        return headers

    # responses

    def _scrub(self, text: str) -> str:
        """`text` with the API key blanked out: providers echo rejected keys back."""
        if self._api_key is not None:
            secret = self._api_key.get_secret_value()
            if secret:
                text = text.replace(secret, "**********")
        return text

    def _completion(
        self, status: int, headers: Mapping[str, str], content: bytes, model: str
    ) -> ChatCompletion:
        if status >= 400:
            raise self._status_error(status, headers, content, model)
        body = self._json(content, model)
        if body.get("error"):  # some gateways (OpenRouter) report failures with a 200
            raise self._payload_error(body["error"], model)
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ProviderServerError(f"{model}: the answer has no choices", model=model,
                                      status_code=status)
        choice = choices[0]
        message = choice.get("message") or {}
        try:
            calls = [
                ToolCall(
                    id=call.get("id") or "",
                    name=(call.get("function") or {}).get("name") or "",
                    arguments=(call.get("function") or {}).get("arguments") or "",
                )
                for call in message.get("tool_calls") or []
            ]
            return ChatCompletion(
                model=body.get("model") or model,
                text=_text(message.get("content")),
                tool_calls=calls,
                finish_reason=choice.get("finish_reason"),
                usage=_usage(body.get("usage")),
                raw=body,
            )
        except (AttributeError, TypeError, ValueError) as exc:
            raise ProviderServerError(
                f"{model}: the answer is not a chat completion ({type(exc).__name__})",
                model=model, status_code=status,
            ) from None

    def _chunk(self, data: str, model: str) -> ChatChunk:
        body = self._json(data.encode(), model)
        if body.get("error"):  # OpenRouter reports upstream failures as a stream event
            raise self._payload_error(body["error"], model)
        choices = body.get("choices") or []
        choice = choices[0] if choices and isinstance(choices[0], dict) else {}
        delta = choice.get("delta") or {}
        try:
            return ChatChunk(
                model=body.get("model") or model,
                text=_text(delta.get("content")),
                tool_calls=[
                    ToolCallDelta(
                        index=call.get("index", 0),
                        id=call.get("id"),
                        name=(call.get("function") or {}).get("name"),
                        arguments=(call.get("function") or {}).get("arguments") or "",
                    )
                    for call in delta.get("tool_calls") or []
                ],
                finish_reason=choice.get("finish_reason"),
                usage=_usage(body.get("usage")),
                raw=body,
            )
        except (AttributeError, TypeError, ValueError) as exc:
            raise ProviderServerError(
                f"{model}: a stream event is not a chat completion chunk ({type(exc).__name__})",
                model=model,
            ) from None

    def _json(self, content: bytes, model: str) -> dict[str, Any]:
        try:
            body = json.loads(content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            raise ProviderServerError(
                f"{model}: the provider answered something that is not a JSON object: "
                f"{self._scrub(content[:200].decode(errors='replace'))!r}",
                model=model,
            )
        return body

    # errors

    def _status_error(
        self, status: int, headers: Mapping[str, str], content: bytes, model: str
    ) -> ProviderError:
        try:
            body = json.loads(content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict) and body.get("error") is not None:
            message = _error_message(body["error"])
        elif isinstance(body, dict) and isinstance(body.get("message"), str):
            message = body["message"]
        else:
            message = content[:500].decode(errors="replace").strip()
        return self._classify(status, self._scrub(message), model, headers)

    def _payload_error(self, error: Any, model: str) -> ProviderError:
        """A failure reported inside a body or stream event rather than by the status."""
        code = error.get("code") if isinstance(error, dict) else None
        status = code if isinstance(code, int) and 400 <= code <= 599 else 502
        return self._classify(status, self._scrub(_error_message(error)), model, {})

    def _classify(
        self, status: int, message: str, model: str, headers: Mapping[str, str]
    ) -> ProviderError:
        text = f"{model}: HTTP {status}: {message or 'no message'}"
        common: dict[str, Any] = {"model": model, "status_code": status,
                                  "provider_message": message}
        if status == 429:
            retry_after = retry_after_from_headers(headers)
            return RateLimitError(text, retry_after=retry_after, **common)
        if status in (401, 403):
            where = f" (from {self.endpoint.api_key_env})" if (
                self.endpoint.api_key is None and self.endpoint.api_key_env) else ""
            return AuthenticationError(f"{text}; check the API key{where}", **common)
        if status == 408:
            return ProviderTimeoutError(text, **common)
        if status >= 500:
            return ProviderServerError(text, **common)
        return BadRequestError(text, **common)

    def _transport_error(self, exc: httpx2.HTTPError, model: str) -> ProviderError:
        detail = self._scrub(f"{type(exc).__name__}: {exc}".rstrip(": "))
        if isinstance(exc, httpx2.TimeoutException):
            return ProviderTimeoutError(f"{model}: no answer in time ({detail})", model=model)
        if isinstance(exc, httpx2.UnsupportedProtocol):
            return BadRequestError(f"{model}: bad base_url {self.endpoint.base_url!r}: {detail}",
                                   model=model)
        if isinstance(exc, httpx2.DecodingError):
            return ProviderServerError(f"{model}: undecodable answer ({detail})", model=model)
        if isinstance(exc, httpx2.ConnectError):
            return ProviderUnreachableError(
                f"{model}: cannot reach {self.endpoint.base_url} ({detail})", model=model
            )
        return ProviderConnectionError(f"{model}: connection failed ({detail})", model=model)

    @staticmethod
    def _interrupted(error: ProviderError, received: list[ChatChunk]) -> ProviderError:
        """`error` if nothing was streamed yet (safe to retry), else StreamInterruptedError."""
        if not received:
            return error
        return StreamInterruptedError(
            f"stream broke after {len(received)} chunks: {error}",
            model=error.model,
            chunks=list(received),
            text="".join(c.text for c in received),
        )


# --- parsing helpers ------------------------------------------------------------------


class _SSEDecoder:
    """Server-sent events, line by line: yields each event's data once the event is complete."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> list[str]:
        if not line:  # a blank line ends an event
            return self.flush()
        if line.startswith(":"):  # a comment: OpenRouter sends these as keep-alives
            return []
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        return []  # `event:`, `id:` and `retry:` carry nothing a chat client needs

    def flush(self) -> list[str]:
        if not self._data:
            return []
        data, self._data = "\n".join(self._data), []
        return [data]


def _text(content: Any) -> str:
    """Message content as text, whether a string, None, or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    raise TypeError("content is neither text nor a list of parts")


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    cost = raw.get("cost")
    return Usage(
        prompt_tokens=raw.get("prompt_tokens") or 0,
        completion_tokens=raw.get("completion_tokens") or 0,
        total_tokens=raw.get("total_tokens") or 0,
        cost=float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
    )


def _error_message(error: Any) -> str:
    if isinstance(error, dict):
        message = error.get("message")
        return message if isinstance(message, str) else json.dumps(error)[:500]
    return str(error)[:500]


# --- connection pools -------------------------------------------------------------------

# The pools are httpx2's (Pydantic's maintained fork of httpx, same API), not httpx 0.28's: its
# httpcore 1.0 pool hands an idle connection to every request queued before the first of them
# runs, and all but one then go round again, a random number of times (encode/httpcore#822,
# #1110); and its keep-alive cleanup counts busy connections as idle, so with more than
# `max_keepalive_connections` open it closes each one the moment it is free. Under 32-128
# concurrent calls the gateway's p99 was 3-5.5x its p50 on it, 1.1-2.3x on httpx2 (httpcore2
# 2.8+ gives a free connection to one request; 2.0+ counts idle ones). Its errors are its own
# classes (httpx2.HTTPError is no httpx.HTTPError): every one is caught here and becomes a
# ProviderError. It verifies TLS against the system's trust store (SSL_CERT_FILE or
# SSL_CERT_DIR when set), not certifi's bundle. As many connections stay alive as may be open:
# a burst's connections serve the next burst instead of new handshakes, until idle for the
# keep-alive expiry (5 s).
_LIMITS = httpx2.Limits(max_connections=200, max_keepalive_connections=200)
_pools_lock = threading.Lock()
_sync_pools: dict[str, httpx2.Client] = {}
# An AsyncClient is bound to the loop it first ran on, so there is one per loop; a loop
# that is garbage-collected takes its clients with it.
_async_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, httpx2.AsyncClient]]
_async_pools = weakref.WeakKeyDictionary()


def _pool_key(base_url: str) -> str:
    return base_url.rstrip("/")


def _sync_pool(base_url: str) -> httpx2.Client:
    key = _pool_key(base_url)
    with _pools_lock:
        client = _sync_pools.get(key)
        if client is None or client.is_closed:
            client = _sync_pools[key] = httpx2.Client(limits=_LIMITS, follow_redirects=False)
        return client


def _async_pool(base_url: str) -> httpx2.AsyncClient:
    loop = asyncio.get_running_loop()
    key = _pool_key(base_url)
    with _pools_lock:
        clients = _async_pools.setdefault(loop, {})
        client = clients.get(key)
        if client is None or client.is_closed:
            client = clients[key] = httpx2.AsyncClient(limits=_LIMITS, follow_redirects=False)
        return client


def close_pools() -> None:
    """Close the process's shared sync connection pools (they reopen on the next call)."""
    with _pools_lock:
        clients = list(_sync_pools.values())
        _sync_pools.clear()
    for client in clients:
        client.close()


async def aclose_pools() -> None:
    """Close the running event loop's shared async connection pools."""
    with _pools_lock:
        clients = list(_async_pools.pop(asyncio.get_running_loop(), {}).values())
    for client in clients:
        await client.aclose()


atexit.register(close_pools)
