"""An OpenAI-compatible chat-completions client on httpx2: sync and async, streamed or not.

One call goes to one model; falling back down a ranking is `autorouter.reliability`'s job.
Failures come out as typed `ProviderError`s that say whether a retry may help. The API key
is a `SecretStr` resolved once per client; it is sent in the Authorization header only and
scrubbed from every provider message we pass on.

As in httpx, the sync and async methods share everything but the sending: one request
builder (`_request`), one I/O-free reader of a streamed answer (`_ChunkReader`) and one
parser of answers and errors. The values a call takes and gives live in
`autorouter.chat_types`, the connection pools in `autorouter.connection_pools`; both are
re-exported here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx2

from autorouter.chat_types import (
    DEFAULT_API_KEY_ENV,
    DEFAULT_BASE_URL,
    ChatChunk,
    ChatCompletion,
    Endpoint,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from autorouter.connection_pools import aclose_pools, async_pool, close_pools, sync_pool
from autorouter.errors import (
    AuthenticationError,
    BadRequestError,
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

logger = logging.getLogger("autorouter.client")


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
        request = self._request(model, messages, params, stream=False)
        with self._transport_errors(model):
            response = sync_pool(self.endpoint.base_url).post(**request)
        return self._completion(response.status_code, response.headers, response.content, model)

    def stream(self, model: str, messages: list[Any], **params: Any) -> Iterator[ChatChunk]:
        """Stream the answer chunk by chunk, asking for a final usage chunk by default.

        Nothing is sent until the first `next()`. A failure before the first chunk raises a
        `ProviderError` (safe to retry); after it, `StreamInterruptedError`.
        """
        request = self._request(model, messages, params, stream=True)
        reader = _ChunkReader(self, model)
        with reader.errors():
            with sync_pool(self.endpoint.base_url).stream("POST", **request) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._status_error(response.status_code, response.headers,
                                             response.content, model)
                for line in response.iter_lines():
                    yield from reader.feed(line)
                reader.end()
        reader.check_finished()

    # async

    async def acomplete(self, model: str, messages: list[Any], **params: Any) -> ChatCompletion:
        """`complete`, for asyncio."""
        request = self._request(model, messages, params, stream=False)
        with self._transport_errors(model):
            response = await async_pool(self.endpoint.base_url).post(**request)
        return self._completion(response.status_code, response.headers, response.content, model)

    async def astream(
        self, model: str, messages: list[Any], **params: Any
    ) -> AsyncIterator[ChatChunk]:
        """`stream`, for asyncio."""
        request = self._request(model, messages, params, stream=True)
        reader = _ChunkReader(self, model)
        with reader.errors():
            async with async_pool(self.endpoint.base_url).stream("POST", **request) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._status_error(response.status_code, response.headers,
                                             response.content, model)
                async for line in response.aiter_lines():
                    for chunk in reader.feed(line):  # no `yield from` in an async generator
                        yield chunk
                reader.end()
        reader.check_finished()

    # request

    def _request(
        self, model: str, messages: list[Any], params: dict[str, Any], *, stream: bool
    ) -> dict[str, Any]:
        """The keyword arguments of the POST, for httpx2's `post` and `stream("POST", ...)`."""
        return {
            "url": self._url,
            "json": self._body(model, messages, params, stream=stream),
            "headers": self._headers(stream=stream),
            "timeout": self._timeout(stream=stream),
        }

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

    @contextmanager
    def _transport_errors(self, model: str) -> Iterator[None]:
        """httpx2's failures inside the block as the `ProviderError`s they mean."""
        try:
            yield
        except httpx2.HTTPError as exc:
            raise self._transport_error(exc, model) from exc

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


# --- reading a streamed answer ----------------------------------------------------------


class _ChunkReader:
    """The I/O-free half of one streamed answer, shared by `stream` and `astream`: lines of
    server-sent events in, chunks out, and what a failure means once chunks are out."""

    def __init__(self, client: ChatClient, model: str) -> None:
        self._client = client
        self._model = model
        self._decoder = _SSEDecoder()
        self.received: list[ChatChunk] = []
        self._done = False  # [DONE] came: what follows is read only to free the connection
        self._finished = False  # [DONE] or a finish reason came: the answer is whole

    def feed(self, line: str) -> list[ChatChunk]:
        """The chunks `line` completes (none after [DONE]: the body is still read to the end,
        so the connection goes back to the pool)."""
        chunks: list[ChatChunk] = []
        if self._done:
            return chunks
        for data in self._decoder.feed(line):
            if data == "[DONE]":
                self._finished = self._done = True
                break
            chunk = self._client._chunk(data, self._model)
            self._finished = self._finished or chunk.finish_reason is not None
            self.received.append(chunk)
            chunks.append(chunk)
        return chunks

    def end(self) -> None:
        """The body ended: an event it did not close with a blank line may still be [DONE]."""
        if not self._done:
            for data in self._decoder.flush():
                self._finished = self._finished or data == "[DONE]"

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Failures inside the block as the caller sees them: a `ProviderError` (safe to
        retry) before the first chunk, `StreamInterruptedError` after it."""
        try:
            yield
        except httpx2.HTTPError as exc:
            error = self._client._transport_error(exc, self._model)
            raise self._client._interrupted(error, self.received) from exc
        except ProviderError as exc:
            if not self.received:
                raise
            raise self._client._interrupted(exc, self.received) from exc

    def check_finished(self) -> None:
        """Raise if the body ended before the answer did."""
        if not self._finished:
            error = ProviderConnectionError(
                f"{self._model}: the stream ended before the answer did", model=self._model
            )
            raise self._client._interrupted(error, self.received)


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
