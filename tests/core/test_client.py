"""The chat-completions client against the real OpenAI-compatible test server."""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import AsyncIterator

import httpx2
import pytest
from pydantic import SecretStr

from autorouter import chat_types, connection_pools
from autorouter import client as client_module
from autorouter.client import (
    DEFAULT_API_KEY_ENV,
    DEFAULT_BASE_URL,
    ChatChunk,
    ChatClient,
    ChatCompletion,
    Endpoint,
    _ChunkReader,
    aclose_pools,
)
from autorouter.errors import (
    AuthenticationError,
    BadRequestError,
    MissingAPIKeyError,
    ProviderConnectionError,
    ProviderError,
    ProviderServerError,
    ProviderTimeoutError,
    RateLimitError,
    StreamInterruptedError,
)
from openai_server import OpenAIServer

SECRET = "sk-test-9f8e7d6c5b4a-do-not-leak"
HELLO = [{"role": "user", "content": "hello world"}]
SQUARE_TOOL = {
    "type": "function",
    "function": {
        "name": "square",
        "description": "Square a number.",
        "parameters": {
            "type": "object",
            "properties": {"input": {"type": "integer"}},
            "required": ["input"],
        },
    },
}


@pytest.fixture
def client(openai_server: OpenAIServer) -> ChatClient:
    return ChatClient(Endpoint(base_url=openai_server.base_url, api_key=SecretStr(SECRET),
                               timeout=2.0))


@pytest.fixture
async def async_pools() -> AsyncIterator[None]:
    """Close this test's event-loop connection pools when it ends."""
    yield
    await aclose_pools()


# --- plain calls --------------------------------------------------------------------


def test_complete_returns_text_usage_and_sends_the_key(
    client: ChatClient, openai_server: OpenAIServer
) -> None:
    answer = client.complete("model-a", HELLO)

    assert answer.text == "[model-a] hello world"
    assert answer.model == "model-a"
    assert answer.finish_reason == "stop"
    assert answer.tool_calls == []
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (2, 3)
    assert answer.usage.total_tokens == 5
    assert answer.cost is None
    assert answer.raw["object"] == "chat.completion"
    assert openai_server.calls["model-a"] == 1
    [request] = openai_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.body == {"model": "model-a", "messages": HELLO}
    assert request.headers["authorization"] == f"Bearer {SECRET}"


def test_extra_body_fields_pass_through_unchanged(
    client: ChatClient, openai_server: OpenAIServer
) -> None:
    extra = {
        "temperature": 0.2,
        "seed": 7,
        "provider": {"order": ["x", "y"], "allow_fallbacks": False},
        "metadata": {"nested": [1, {"deep": None}]},
    }
    client.complete("model-a", HELLO, **extra)
    assert openai_server.requests[0].body == {"model": "model-a", "messages": HELLO, **extra}


def test_provider_cost_is_reported_when_present(
    client: ChatClient, openai_server: OpenAIServer
) -> None:
    answer = client.complete("model-a", HELLO, usage={"include": True})
    assert answer.usage is not None and answer.cost == pytest.approx(5e-6)


def test_stop_is_honoured(client: ChatClient) -> None:
    answer = client.complete("model-a", [{"role": "user", "content": "one two STOP three"}],
                             stop=["STOP"])
    assert answer.text == "[model-a] one two "
    assert answer.finish_reason == "stop"


def test_custom_headers_are_sent(openai_server: OpenAIServer) -> None:
    client = ChatClient(Endpoint(base_url=openai_server.base_url, api_key_env=None,
                                 headers={"X-Title": "autorouter-tests"}))
    client.complete("model-a", HELLO)
    headers = openai_server.requests[0].headers
    assert headers["x-title"] == "autorouter-tests"
    assert "authorization" not in headers  # no key configured, none sent


# --- streaming ----------------------------------------------------------------------


def test_stream_yields_chunks_then_usage(client: ChatClient, openai_server: OpenAIServer) -> None:
    chunks = list(client.stream("model-a", HELLO))

    assert all(isinstance(c, ChatChunk) for c in chunks)
    assert "".join(c.text for c in chunks) == "[model-a] hello world"
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 5
    body = openai_server.requests[0].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}

    whole = ChatCompletion.from_chunks(chunks)
    assert whole.text == "[model-a] hello world"
    assert whole.usage == chunks[-1].usage
    assert whole.finish_reason == "stop"


def test_stream_options_can_be_dropped(client: ChatClient, openai_server: OpenAIServer) -> None:
    chunks = list(client.stream("model-a", HELLO, stream_options=None))
    assert "stream_options" not in openai_server.requests[0].body
    assert all(c.usage is None for c in chunks)


def test_stream_is_parsed_incrementally(client: ChatClient, openai_server: OpenAIServer) -> None:
    openai_server.chunk_delay = 0.1
    prompt = [{"role": "user", "content": "a b c d e f"}]
    start = time.monotonic()
    stream = client.stream("model-a", prompt)
    next(stream)
    first = time.monotonic() - start
    rest = list(stream)
    total = time.monotonic() - start
    assert total >= 0.7  # 9 events, 0.1 s apart
    assert first < total / 3
    assert len(rest) == 9


def test_stream_is_lazy(client: ChatClient, openai_server: OpenAIServer) -> None:
    stream = client.stream("model-a", HELLO)
    assert openai_server.total_calls == 0
    stream.close()


# --- tools and structured output ----------------------------------------------------


def test_tool_call_round_trip(client: ChatClient, openai_server: OpenAIServer) -> None:
    messages: list[dict] = [{"role": "user", "content": "What is 3 squared?"}]
    answer = client.complete("model-a", messages, tools=[SQUARE_TOOL], tool_choice="auto")

    assert answer.finish_reason == "tool_calls"
    assert answer.text == ""
    [call] = answer.tool_calls
    assert call.name == "square"
    assert call.parse_arguments() == {"input": 3}
    sent = openai_server.requests[0].body
    assert sent["tools"] == [SQUARE_TOOL] and sent["tool_choice"] == "auto"

    messages += [
        {"role": "assistant", "content": None, "tool_calls": [answer.raw["choices"][0]["message"]
                                                              ["tool_calls"][0]]},
        {"role": "tool", "tool_call_id": call.id, "content": "9"},
    ]
    final = client.complete("model-a", messages, tools=[SQUARE_TOOL])
    assert final.text == "[model-a] tool result: 9"
    assert final.tool_calls == []
    assert openai_server.requests[1].body["messages"] == messages


def test_forced_tool_choice_picks_that_tool(client: ChatClient) -> None:
    other = {"type": "function", "function": {
        "name": "lookup", "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "default": "Paris"}}}}}
    choice = {"type": "function", "function": {"name": "lookup"}}
    answer = client.complete("model-a", [{"role": "user", "content": "weather?"}],
                             tools=[SQUARE_TOOL, other], tool_choice=choice)
    assert [(c.name, c.parse_arguments()) for c in answer.tool_calls] == [
        ("lookup", {"city": "Paris"})]


def test_streamed_tool_call_assembles(client: ChatClient) -> None:
    chunks = list(client.stream("model-a", [{"role": "user", "content": "square 12"}],
                                tools=[SQUARE_TOOL]))
    whole = ChatCompletion.from_chunks(chunks)
    assert whole.finish_reason == "tool_calls"
    [call] = whole.tool_calls
    assert call.name == "square" and call.id.startswith("call_")
    assert call.parse_arguments() == {"input": 12}


def test_response_format_json_schema_passes_through(
    client: ChatClient, openai_server: OpenAIServer
) -> None:
    response_format = {
        "type": "json_schema",
        "json_schema": {
            "name": "person",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                               "nickname": {"type": "string"}},
                "required": ["name", "age"],
                "additionalProperties": False,
            },
        },
    }
    answer = client.complete("model-a", [{"role": "user", "content": "Ann is 41"}],
                             response_format=response_format)
    assert json.loads(answer.text) == {"name": "Ann is 41", "age": 41}
    assert openai_server.requests[0].body["response_format"] == response_format


def test_response_format_json_object(client: ChatClient) -> None:
    answer = client.complete("model-b", HELLO, response_format={"type": "json_object"})
    assert json.loads(answer.text) == {"model": "model-b", "answer": "hello world"}


# --- errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error_type", "status", "retryable"),
    [
        ("400", BadRequestError, 400, False),
        ("404", BadRequestError, 404, False),
        ("422", BadRequestError, 422, False),
        ("401", AuthenticationError, 401, False),
        ("403", AuthenticationError, 403, False),
        ("429", RateLimitError, 429, True),
        ("500", ProviderServerError, 500, True),
        ("502", ProviderServerError, 502, True),
        ("503", ProviderServerError, 503, True),
    ],
)
def test_http_errors_are_typed(
    client: ChatClient, openai_server: OpenAIServer, fault: str,
    error_type: type[ProviderError], status: int, retryable: bool,
) -> None:
    openai_server.script("model-a", [fault])
    with pytest.raises(error_type) as caught:
        client.complete("model-a", HELLO)
    error = caught.value
    assert (error.status_code, error.model, error.retryable) == (status, "model-a", retryable)
    assert error.provider_message
    assert str(status) in str(error)
    assert openai_server.calls["model-a"] == 1


def test_rate_limit_carries_retry_after(client: ChatClient, openai_server: OpenAIServer) -> None:
    openai_server.script("model-a", ["429:2", "429"])
    with pytest.raises(RateLimitError) as with_header:
        client.complete("model-a", HELLO)
    with pytest.raises(RateLimitError) as without:
        client.complete("model-a", HELLO)
    assert with_header.value.retry_after == 2.0
    assert without.value.retry_after is None


def test_stall_past_timeout_is_a_timeout_error(openai_server: OpenAIServer) -> None:
    client = ChatClient(Endpoint(base_url=openai_server.base_url, api_key_env=None,
                                 timeout=0.2))
    openai_server.script("model-a", ["stall:1"])
    start = time.monotonic()
    with pytest.raises(ProviderTimeoutError) as caught:
        client.complete("model-a", HELLO)
    assert time.monotonic() - start < 0.9
    assert caught.value.retryable


@pytest.mark.parametrize("fault", ["reset", "drop:0"])
def test_broken_connections_are_connection_errors(
    client: ChatClient, openai_server: OpenAIServer, fault: str
) -> None:
    openai_server.script("model-a", [fault])
    with pytest.raises(ProviderConnectionError) as caught:
        client.complete("model-a", HELLO)
    assert caught.value.retryable


def test_stream_error_status_raises_before_any_chunk(
    client: ChatClient, openai_server: OpenAIServer
) -> None:
    openai_server.script("model-a", ["429:1"])
    with pytest.raises(RateLimitError) as caught:
        next(client.stream("model-a", HELLO))
    assert caught.value.retry_after == 1.0


def test_stream_dropped_before_first_chunk_is_retryable(
    client: ChatClient, openai_server: OpenAIServer
) -> None:
    openai_server.script("model-a", ["drop:0"])
    with pytest.raises(ProviderConnectionError):
        next(client.stream("model-a", HELLO))


def test_stream_dropped_half_way_carries_the_partial_text(
    client: ChatClient, openai_server: OpenAIServer
) -> None:
    openai_server.script("model-a", ["drop:3"])  # role chunk + "[model-a] " + "hello "
    received: list[ChatChunk] = []
    with pytest.raises(StreamInterruptedError) as caught:
        for chunk in client.stream("model-a", HELLO):
            received.append(chunk)
    error = caught.value
    assert error.text == "[model-a] hello "
    assert error.chunks == received and len(received) == 3
    assert error.model == "model-a" and not error.retryable
    assert isinstance(error.__cause__, Exception)


# --- async --------------------------------------------------------------------------


async def test_async_complete_and_stream(
    client: ChatClient, openai_server: OpenAIServer, async_pools: None
) -> None:
    answer = await client.acomplete("model-b", HELLO, tools=[SQUARE_TOOL], tool_choice="none")
    assert answer.text == "[model-b] hello world"

    chunks = [c async for c in client.astream("model-b", HELLO)]
    assert ChatCompletion.from_chunks(chunks).text == "[model-b] hello world"
    assert chunks[-1].usage is not None

    openai_server.script("model-b", ["drop:2"])
    with pytest.raises(StreamInterruptedError) as caught:
        async for _ in client.astream("model-b", HELLO):
            pass
    assert caught.value.text == "[model-b] "

    openai_server.script("model-b", ["503"])
    with pytest.raises(ProviderServerError):
        await client.acomplete("model-b", HELLO)


# --- connection pooling -------------------------------------------------------------


def test_clients_share_one_connection_pool(openai_server: OpenAIServer) -> None:
    endpoint = Endpoint(base_url=openai_server.base_url, api_key_env=None)
    ChatClient(endpoint).complete("model-a", HELLO)
    ChatClient(endpoint.model_copy(update={"timeout": 5.0})).complete("model-a", HELLO)
    first, second = openai_server.requests
    assert first.peer == second.peer  # the second client reused the first's connection


async def test_async_clients_share_a_pool_per_event_loop(
    openai_server: OpenAIServer, async_pools: None
) -> None:
    endpoint = Endpoint(base_url=openai_server.base_url, api_key_env=None)
    await ChatClient(endpoint).acomplete("model-a", HELLO)
    await ChatClient(endpoint).acomplete("model-a", HELLO)
    first, second = openai_server.requests
    assert first.peer == second.peer


def test_a_finished_stream_gives_its_connection_back(openai_server: OpenAIServer) -> None:
    """Against a real provider a new connection is a new TLS handshake per streamed call."""
    client = ChatClient(Endpoint(base_url=openai_server.base_url, api_key_env=None))
    for _ in range(3):
        assert "".join(c.text for c in client.stream("model-a", HELLO)) == "[model-a] hello world"
    assert len({r.peer for r in openai_server.requests}) == 1


async def test_a_finished_async_stream_gives_its_connection_back(
    openai_server: OpenAIServer, async_pools: None
) -> None:
    client = ChatClient(Endpoint(base_url=openai_server.base_url, api_key_env=None))
    for _ in range(3):
        assert "".join([c.text async for c in client.astream("model-a", HELLO)])
    assert len({r.peer for r in openai_server.requests}) == 1


# --- keys ---------------------------------------------------------------------------


def test_default_endpoint_is_openrouter_with_its_key_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint = Endpoint()
    assert endpoint.base_url == DEFAULT_BASE_URL == "https://openrouter.ai/api/v1"
    assert endpoint.api_key_env == DEFAULT_API_KEY_ENV == "OPENROUTER_API_KEY"
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    resolved = endpoint.resolve_api_key()
    assert resolved is not None and resolved.get_secret_value() == SECRET


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError, match="OPENROUTER_API_KEY") as caught:
        ChatClient()
    assert caught.value.env_var == "OPENROUTER_API_KEY"

    monkeypatch.setenv("MY_PROVIDER_KEY", "  ")
    with pytest.raises(MissingAPIKeyError, match="MY_PROVIDER_KEY"):
        ChatClient(Endpoint(base_url="http://127.0.0.1:9/v1", api_key_env="MY_PROVIDER_KEY"))


def test_key_from_a_custom_variable_is_sent(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_PROVIDER_KEY", SECRET)
    openai_server.require_api_key = SECRET
    client = ChatClient(Endpoint(base_url=openai_server.base_url, api_key_env="MY_PROVIDER_KEY"))
    assert client.complete("model-a", HELLO).text == "[model-a] hello world"


def test_the_key_never_shows_in_reprs_logs_or_errors(
    client: ChatClient, openai_server: OpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    openai_server.require_api_key = "sk-the-right-one"  # the server echoes the wrong key back
    errors: list[BaseException] = []
    with pytest.raises(AuthenticationError) as auth:
        client.complete("model-a", HELLO)
    errors.append(auth.value)
    with pytest.raises(AuthenticationError) as auth_stream:
        list(client.stream("model-a", HELLO))
    errors.append(auth_stream.value)

    openai_server.require_api_key = None
    for fault in ("429:1", "500", "reset", "drop:0"):
        openai_server.script("model-a", [fault])
        with pytest.raises(ProviderError) as caught:
            client.complete("model-a", HELLO)
        errors.append(caught.value)
    openai_server.script("model-a", ["drop:2"])
    with pytest.raises(StreamInterruptedError) as interrupted:
        list(client.stream("model-a", HELLO))
    errors.append(interrupted.value)
    answer = client.complete("model-a", HELLO)

    # The test would prove nothing if the key never reached the server or its echo.
    assert openai_server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert "Incorrect API key provided: **********" in str(auth.value.provider_message)

    texts = [repr(client), repr(client.endpoint), str(client.endpoint),
             client.endpoint.model_dump_json(), repr(answer), str(answer), caplog.text]
    for error in errors:
        texts += [str(error), repr(error), "".join(traceback.format_exception(error)),
                  str(getattr(error, "provider_message", ""))]
    leaks = [t for t in texts if SECRET in t]
    assert leaks == []


# --- the shared halves of the sync and async methods -------------------------------------


def _event(content: str, finish_reason: str | None = None) -> str:
    """One `data:` line of a streamed chat completion."""
    choice = {"delta": {"content": content}, "finish_reason": finish_reason}
    return "data: " + json.dumps({"model": "model-a", "choices": [choice]})


def _reader() -> _ChunkReader:
    return _ChunkReader(ChatClient(Endpoint(api_key_env=None)), "model-a")


def test_one_request_builder_serves_plain_calls_and_streams() -> None:
    client = ChatClient(Endpoint(base_url="http://upstream.test/v1/", api_key=SecretStr(SECRET)))
    plain = client._request("model-a", HELLO, {"temperature": 0}, stream=False)
    streamed = client._request("model-a", HELLO, {"temperature": 0}, stream=True)
    assert plain["url"] == streamed["url"] == "http://upstream.test/v1/chat/completions"
    assert plain["json"] == {"model": "model-a", "messages": HELLO, "temperature": 0}
    assert streamed["json"] == {**plain["json"], "stream": True,
                                "stream_options": {"include_usage": True}}
    assert plain["headers"]["Accept"] == "application/json"
    assert streamed["headers"]["Accept"] == "text/event-stream"
    assert plain["headers"]["Authorization"] == streamed["headers"]["Authorization"]
    assert plain["timeout"] == streamed["timeout"]  # no fallback run: the endpoint's own


def test_the_chunk_reader_turns_event_lines_into_chunks_until_done() -> None:
    reader = _reader()
    lines = [": keep-alive", _event("hel"), "", "event: message", _event("lo", "stop"), "",
             "data: [DONE]", "", _event("after the end"), ""]
    chunks = [chunk for line in lines for chunk in reader.feed(line)]
    assert [c.text for c in chunks] == ["hel", "lo"]
    assert reader.received == chunks
    reader.end()
    reader.check_finished()  # a whole answer: nothing to raise


def test_the_chunk_reader_takes_a_done_the_body_did_not_close() -> None:
    reader = _reader()
    for line in [_event("hi"), "", "data: [DONE]"]:  # the body ends before the blank line
        reader.feed(line)
    reader.end()
    reader.check_finished()


def test_a_body_that_ends_before_the_answer_is_retryable_only_before_a_chunk() -> None:
    empty = _reader()
    empty.end()
    with pytest.raises(ProviderConnectionError) as nothing:
        empty.check_finished()
    assert not isinstance(nothing.value, StreamInterruptedError) and nothing.value.retryable
    partial = _reader()
    for line in [_event("hi"), ""]:
        partial.feed(line)
    partial.end()
    with pytest.raises(StreamInterruptedError) as some:
        partial.check_finished()
    assert some.value.text == "hi" and len(some.value.chunks) == 1


def test_the_chunk_reader_maps_failures_by_what_was_streamed() -> None:
    reader = _reader()
    with pytest.raises(ProviderConnectionError) as before, reader.errors():
        raise httpx2.ReadError("connection reset")
    assert not isinstance(before.value, StreamInterruptedError)
    assert isinstance(before.value.__cause__, httpx2.ReadError)
    limited = RateLimitError("model-a: HTTP 429: slow down", model="model-a", status_code=429)
    with pytest.raises(RateLimitError) as same, reader.errors():
        raise limited
    assert same.value is limited  # unchanged, so the fallback retries it
    for line in [_event("hi"), ""]:
        reader.feed(line)
    with pytest.raises(StreamInterruptedError) as after, reader.errors():
        raise httpx2.ReadError("connection reset")
    assert after.value.text == "hi" and isinstance(after.value.__cause__, httpx2.ReadError)
    with pytest.raises(StreamInterruptedError) as after_provider, reader.errors():
        raise limited
    assert after_provider.value.__cause__ is limited


def test_the_wire_types_and_pools_are_importable_from_the_client() -> None:
    for module in (chat_types, connection_pools):
        for name in set(module.__all__) & set(client_module.__all__):
            assert getattr(client_module, name) is getattr(module, name)
    assert set(chat_types.__all__) <= set(client_module.__all__)
