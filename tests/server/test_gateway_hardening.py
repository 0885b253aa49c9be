"""The gateway against misbehaving peers, over real loopback sockets (issue 13): clients that
leave while the upstream works (the router call must be cancelled: no retry or fallback after
they left), slow or lying clients (header and body deadlines, 408s, no tracebacks), values JSON
cannot carry (400s), an upstream key the model echoes split over stream chunks (redacted over
the joined text), and TCP_NODELAY on sockets bound the way uvicorn's `--workers` binds them.

The upstream here is a small scripted OpenAI-wire server of this file's own (served by
`BackgroundServer` like the gateway), since these tests need to see the gateway's upstream
connection close and to choose exactly how a stream is cut into chunks."""

from __future__ import annotations

import json
import logging
import re
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "core"))  # synthetic.py
import autorouter
from autorouter.client import Endpoint
from autorouter.errors import ServerConfigError
from autorouter.reliability import RetryPolicy
from autorouter.server import (
    DEFAULT_BODY_TIMEOUT_S,
    app_from_env,
    create_app,
    uvicorn_options,
)
from gateway_server import BackgroundServer
from synthetic import hash_embed, make_rows, write_jsonl

UPSTREAM_KEY = "sk-upstream-secret-key-0123456789"
PRICES = {"big": (10.0, 30.0), "coder": (1.0, 2.0), "tiny": (0.1, 0.2)}
MATH = "prove that 3 plus 4 is an integer"
FAST = RetryPolicy(max_attempts_per_model=2, base_delay=0.001, max_delay=0.01, jitter=False,
                   cooldown_s=0)
WAIT_S = 20.0  # a generous wait for an event that comes at once when the gateway is right


# --- a scripted upstream --------------------------------------------------------------------


class Upstream:
    """An OpenAI-wire upstream whose behaviour is set per model in `modes`:
    "ok" answers "[model] <last user text>"; "hang" never answers and records when the gateway
    closes the connection (`closed[model]`); ("pieces", [...]) streams those content deltas;
    ("tool", [...]) streams those tool-call argument deltas; ("raw", bytes) answers a plain
    call with exactly those bytes; ("events", [...]) streams exactly those SSE data lines."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.modes: dict[str, Any] = {}
        self.requests: list[str] = []
        self.arrived = {m: threading.Event() for m in PRICES}
        self.closed = {m: threading.Event() for m in PRICES}
        self.server = BackgroundServer(Starlette(routes=[
            Route("/v1/chat/completions", self.chat, methods=["POST"])]))

    def reset(self) -> None:
        with self.lock:
            self.modes.clear()
            self.requests.clear()
            for event in (*self.arrived.values(), *self.closed.values()):
                event.clear()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        model = body["model"]
        with self.lock:
            self.requests.append(model)
            mode = self.modes.get(model, "ok")
        self.arrived[model].set()
        if mode == "hang":
            while (await request.receive())["type"] != "http.disconnect":
                pass
            self.closed[model].set()
            return Response(status_code=499)
        if isinstance(mode, tuple) and mode[0] == "raw":
            return Response(mode[1], media_type="application/json")
        text = f"[{model}] {body['messages'][-1]['content']}"
        if not body.get("stream"):
            return JSONResponse({
                "id": "up-1", "object": "chat.completion", "created": 1, "model": model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}})
        return StreamingResponse(self._events(model, mode, text), media_type="text/event-stream")

    @staticmethod
    async def _events(model: str, mode: Any, text: str) -> Any:
        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data = {"id": "up-1", "object": "chat.completion.chunk", "created": 1, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return f"data: {json.dumps(data)}\n\n".encode()

        if isinstance(mode, tuple) and mode[0] == "events":
            for line in mode[1]:
                yield f"data: {line}\n\n".encode()
            return
        yield chunk({"role": "assistant", "content": ""})
        finish = "stop"
        if isinstance(mode, tuple) and mode[0] == "tool":
            yield chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                         "function": {"name": "echo", "arguments": ""}}]})
            for piece in mode[1]:
                yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            finish = "tool_calls"
        else:
            for piece in mode[1] if isinstance(mode, tuple) else re.split("(?<= )", text):
                yield chunk({"content": piece})
        yield chunk({}, finish)
        usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        yield ("data: " + json.dumps({"id": "up-1", "object": "chat.completion.chunk",
                                      "created": 1, "model": model, "choices": [],
                                      "usage": usage}) + "\n\n").encode()
        yield b"data: [DONE]\n\n"


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream_server() -> Iterator[Upstream]:
    up = Upstream()
    with up.server:
        yield up


@pytest.fixture
def upstream(upstream_server: Upstream) -> Upstream:
    upstream_server.reset()
    return upstream_server


@pytest.fixture(scope="module")
def router(tmp_path_factory, upstream_server) -> autorouter.Router:
    path = write_jsonl(make_rows(), tmp_path_factory.mktemp("hardening") / "train.jsonl.gz")
    r = autorouter.Router(embedder=hash_embed, prices=PRICES).fit(autorouter.load_dataset(path))
    # A long endpoint timeout: a hanging model ends only when the gateway gives up on it.
    r.set_endpoints(default=Endpoint(base_url=upstream_server.base_url,
                                     api_key=SecretStr(UPSTREAM_KEY), timeout=120.0))
    r.retry_policy = FAST
    return r


@pytest.fixture(scope="module")
def gateway(router) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(router)) as server:
        yield server


@pytest.fixture
def gateway_logs(caplog) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="autorouter.server")
    return caplog


def wait_for(predicate: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def logged(caplog: pytest.LogCaptureFixture, text: str) -> Callable[[], bool]:
    return lambda: any(text in r.getMessage() for r in list(caplog.records))


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    records = list(caplog.records)
    assert not [r.getMessage() for r in records if r.exc_info], "a traceback was logged"
    assert not [r.getMessage() for r in records if r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text


def send_head(port: int, *, length: int, body: bytes = b"",
              path: str = "/v1/chat/completions") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                 f"\r\nContent-Length: {length}\r\n\r\n".encode() + body)
    return sock


def read_to_close(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (socket.timeout if it never
    does within WAIT_S)."""
    got = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return got
        if not data:
            return got
        got += data


def status_and_json(response: bytes) -> tuple[int, Any]:
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def order(router: autorouter.Router, prompt: str, **kw: Any) -> list[str]:
    d = router.route(prompt, **kw)
    return [d.model, *d.fallbacks]


def sse(resp: httpx.Response) -> list[Any]:
    lines = [line for line in resp.iter_lines() if line]
    assert lines[-1] == "data: [DONE]", lines[-3:]
    return [json.loads(line.removeprefix("data: "), parse_constant=_reject)
            for line in lines[:-1]]


def _reject(name: str) -> Any:
    raise AssertionError(f"{name} is not JSON")


def content(events: list[Any]) -> str:
    return "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])


# --- 2. a client that leaves cancels the upstream work ---------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream-before-first-chunk"])
def test_a_client_that_disconnects_cancels_the_upstream_call(gateway, router, upstream,
                                                             gateway_logs, stream):
    top, nxt = order(router, MATH, tradeoff=0)[:2]
    upstream.modes[top] = "hang"
    body = json.dumps({"model": "auto", "messages": [{"role": "user", "content": MATH}],
                       "tradeoff": 0, "stream": stream}).encode()
    client = send_head(gateway.port, length=len(body), body=body)
    assert upstream.arrived[top].wait(WAIT_S)

    client.close()

    # The gateway drops its upstream call at once (the endpoint would wait 120 s) ...
    assert upstream.closed[top].wait(WAIT_S), "the upstream call ran on after the client left"
    # ... and says so once the call has unwound: no attempt can start after that.
    assert wait_for(logged(gateway_logs, "the client disconnected"))
    assert upstream.requests == [top], "a retry or fallback started after the client left"
    assert not upstream.arrived[nxt].is_set()
    no_tracebacks(gateway_logs)


def test_a_client_that_stays_still_gets_its_answer(gateway, router, upstream):
    """The disconnect watcher must not end calls whose client is waiting."""
    top = order(router, MATH, tradeoff=0)[0]
    for stream in (False, True):
        resp = httpx.post(gateway.base_url + "/chat/completions", timeout=WAIT_S,
                          json={"model": "auto", "messages": [{"role": "user", "content": MATH}],
                                "tradeoff": 0, "stream": stream})
        assert resp.status_code == 200
        text = content(sse(resp)) if stream else resp.json()["choices"][0]["message"]["content"]
        assert text == f"[{top}] {MATH}"
    assert upstream.requests == [top, top]


# --- 3. slow and lying clients ------------------------------------------------------------


@pytest.fixture(scope="module")
def strict_gateway(router) -> Iterator[BackgroundServer]:
    """A gateway with short deadlines: 0.5 s for the body, 0.5 s for the headers."""
    with BackgroundServer(create_app(router, body_timeout_s=0.5), header_timeout_s=0.5,
                          log_level="info") as server:
        yield server


def test_a_body_shorter_than_its_content_length_gets_a_408(strict_gateway, upstream,
                                                             gateway_logs):
    client = send_head(strict_gateway.port, length=1000, body=b'{"model": "auto", "mess')

    status, payload = status_and_json(read_to_close(client))  # closed after the answer

    assert status == 408
    assert set(payload["error"]) == {"message", "type", "param", "code"}
    assert payload["error"]["code"] == "request_timeout"
    assert payload["error"]["type"] == "invalid_request_error"
    assert "0.5 seconds" in payload["error"]["message"]
    assert upstream.requests == []
    no_tracebacks(gateway_logs)


def test_a_client_that_leaves_half_way_through_its_body_logs_no_traceback(
        strict_gateway, upstream, gateway_logs):
    client = send_head(strict_gateway.port, length=1000, body=b'{"model": "auto"')
    time.sleep(0.05)  # let the gateway start reading the body
    client.close()
    assert wait_for(logged(gateway_logs, "disconnected while sending its request body"))
    no_tracebacks(gateway_logs)
    assert upstream.requests == []


def test_connections_that_never_finish_their_headers_are_closed(strict_gateway, upstream,
                                                                gateway_logs):
    """Slowloris: partial request heads (answered 408) and silent connections (closed) must
    not be held open, and the gateway keeps answering others meanwhile."""
    partial = []
    silent = []
    for i in range(60):
        sock = socket.create_connection(("127.0.0.1", strict_gateway.port), timeout=WAIT_S)
        if i % 3:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            partial.append(sock)
        else:
            silent.append(sock)
    try:
        ok = httpx.post(strict_gateway.base_url + "/chat/completions", timeout=WAIT_S,
                        json={"model": "tiny", "messages": [{"role": "user", "content": "hi"}]})
        assert ok.status_code == 200

        for sock in partial:
            status, payload = status_and_json(read_to_close(sock))
            assert status == 408 and payload["error"]["code"] == "request_timeout"
        for sock in silent:
            assert read_to_close(sock) == b""
    finally:
        for sock in partial + silent:
            sock.close()
    no_tracebacks(gateway_logs)


def test_a_trickled_request_head_is_cut_at_the_deadline(strict_gateway):
    """The header deadline is for the whole head: a byte now and then does not renew it (as
    it renews uvicorn's keep-alive timer)."""
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Pad: " + b"a" * 1000
    sock = socket.create_connection(("127.0.0.1", strict_gateway.port), timeout=WAIT_S)
    got = b""
    closed = False
    try:
        for byte in head:  # ~50 ms a byte: 50 s for the head; the deadline is 0.5 s
            try:
                sock.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if select.select([sock], [], [], 0.05)[0]:
                got = read_to_close(sock)
                closed = True
                break
    finally:
        sock.close()
    assert closed, "the server kept a trickling connection open"
    assert not got or status_and_json(got)[0] == 408


def test_a_kept_alive_connection_gets_a_fresh_header_deadline_per_request(strict_gateway):
    with httpx.Client(base_url=strict_gateway.base_url[:-3], timeout=WAIT_S) as http:
        first = http.get("/health")
        time.sleep(0.2)
        second = http.get("/health")  # 0.2 s < 0.5 s: the same connection still serves
    assert first.status_code == second.status_code == 200


def test_body_and_header_deadlines_are_checked(router, monkeypatch, upstream_server):
    assert DEFAULT_BODY_TIMEOUT_S == 30.0
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ServerConfigError, match="body_timeout_s"):
            create_app(router, body_timeout_s=bad)
        with pytest.raises(ServerConfigError, match="header_timeout_s"):
            uvicorn_options(header_timeout_s=bad)
    assert create_app(router, body_timeout_s=2.5).state.gateway.body_timeout_s == 2.5

    monkeypatch.setenv("AUTOROUTER_ALLOW_NO_SERVER_KEY", "1")
    monkeypatch.delenv("AUTOROUTER_SERVER_KEY", raising=False)
    monkeypatch.setenv("AUTOROUTER_UPSTREAM_BASE_URL", upstream_server.base_url)
    monkeypatch.setenv("AUTOROUTER_UPSTREAM_KEY_ENV", "")
    monkeypatch.delenv("AUTOROUTER_HEADER_TIMEOUT_S", raising=False)
    monkeypatch.setenv("AUTOROUTER_BODY_TIMEOUT_S", "7.5")
    assert app_from_env().state.gateway.body_timeout_s == 7.5
    monkeypatch.setenv("AUTOROUTER_BODY_TIMEOUT_S", "soon")
    with pytest.raises(ServerConfigError, match="AUTOROUTER_BODY_TIMEOUT_S"):
        app_from_env()
    monkeypatch.delenv("AUTOROUTER_BODY_TIMEOUT_S")
    monkeypatch.setenv("AUTOROUTER_HEADER_TIMEOUT_S", "-3")
    with pytest.raises(ServerConfigError, match="AUTOROUTER_HEADER_TIMEOUT_S"):
        app_from_env()


# --- 16. TCP_NODELAY on uvicorn's own sockets ---------------------------------------------


def test_the_gateway_protocol_turns_nagle_off_on_a_socket_uvicorn_binds():
    """`--workers` binds with uvicorn's `Config.bind_socket`, which does not name IPPROTO_TCP,
    so asyncio leaves TCP_NODELAY off (uvicorn issue #3149) and each kept-alive answer waits
    ~40 ms on a delayed ACK. The gateway's protocol turns it on for every connection."""
    import uvicorn

    async def nodelay(request: Request) -> Response:
        # The socket under this request, through uvicorn's request cycle (test-only access).
        transport = request.receive.__self__.transport  # type: ignore[attr-defined]
        sock = transport.get_extra_info("socket")
        return JSONResponse({"nodelay": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)})

    app = Starlette(routes=[Route("/nodelay", nodelay)])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, loop="asyncio", lifespan="off",
                            log_config=None, log_level="warning", **uvicorn_options())
    sock = config.bind_socket()  # exactly as uvicorn binds for --workers
    port = sock.getsockname()[1]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: server.started)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=WAIT_S) as http:
            assert [http.get("/nodelay").json()["nodelay"] for _ in range(2)] == [1, 1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# --- 10. values JSON cannot carry ---------------------------------------------------------

MSG = b'"messages": [{"role": "user", "content": "hi"}]'
UNCARRIABLE = [
    # (body, param, words in the message)
    (b'{"model": "auto", ' + MSG + b', "top_k": 1e999}', "top_k", "finite"),
    (b'{"model": "auto", ' + MSG + b', "temperature": 1e999}', "temperature", "finite"),
    (b'{"model": "auto", ' + MSG + b', "max_cost": 1e999}', "max_cost", "finite"),
    (b'{"model": "auto", ' + MSG + b', "max_latency_s": 1e999}', "max_latency_s", "finite"),
    (b'{"model": "auto", ' + MSG + b', "provider": {"order": ["a", -1e999]}}',
     "provider.order[1]", "finite"),
    (b'{"model": "auto", ' + MSG + b', "logit_bias": {"50256": 1e400}}', "logit_bias.50256",
     "finite"),
    (b'{"model": "auto", "messages": [{"role": "user", "content": "hi \\ud800"}]}',
     "messages[0].content", "surrogate"),
    ((b'{"model": "auto", "messages": [{"role": "user", "content": [{"type": "text", '
      b'"text": "\\udfff tail"}]}]}'), "messages[0].content[0].text", "surrogate"),
    (b'{"model": "tiny", ' + MSG + b', "metadata": {"\\udc00": "x"}}', "metadata", "surrogate"),
    (b'{"model": "tiny", ' + MSG + b', "user": "\\ud83d"}', "user", "surrogate"),
    (b'{"model": "tiny", "messages": [{"role": "user", "content": "hi \xed\xa0\x80"}]}', None,
     "UTF-8"),  # a surrogate encoded as UTF-8 bytes: not UTF-8
    (b'{"model": "auto", ' + MSG + b', "top_k": NaN}', None, "NaN"),
    (b'{"model": "auto", ' + MSG + b', "seed": -Infinity}', None, "-Infinity"),
]


@pytest.mark.parametrize(("body", "param", "words"), UNCARRIABLE,
                         ids=[f"{i}-{p}" for i, (_, p, _) in enumerate(UNCARRIABLE)])
def test_values_json_cannot_carry_get_a_400(gateway, upstream, gateway_logs, body, param,
                                             words):
    for stream in (False, True):
        sent = body if not stream else body[:-1] + b', "stream": true}'
        resp = httpx.post(gateway.base_url + "/chat/completions", content=sent, timeout=WAIT_S,
                          headers={"content-type": "application/json"})
        assert resp.status_code == 400, resp.text
        error = resp.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "invalid_request_error" and error["param"] == param
        assert error["code"] == ("invalid_json" if param is None else "invalid_value")
        assert words in error["message"]
    assert upstream.requests == []
    no_tracebacks(gateway_logs)


def test_a_surrogate_pair_is_one_character_and_passes(gateway, upstream):
    resp = httpx.post(gateway.base_url + "/chat/completions", timeout=WAIT_S,
                      content=b'{"model": "tiny", "messages": [{"role": "user", '
                              b'"content": "smile \\ud83d\\ude00"}]}')
    assert resp.status_code == 200
    assert resp.json()["choices"][0]["message"]["content"] == "[tiny] smile \U0001F600"


def test_upstream_values_json_cannot_carry_reach_the_client_as_null(gateway, upstream):
    upstream.modes["tiny"] = ("raw", (
        b'{"id": "up-1", "object": "chat.completion", "created": 1, "model": "tiny", '
        b'"x_score": 1e999, "choices": [{"index": 0, "finish_reason": "stop", '
        b'"logprobs": {"p": NaN}, "message": {"role": "assistant", "content": "ok"}}]}'))
    resp = httpx.post(gateway.base_url + "/chat/completions", timeout=WAIT_S,
                      json={"model": "tiny", "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 200
    out = json.loads(resp.text, parse_constant=_reject)  # strict JSON
    assert out["x_score"] is None and out["choices"][0]["logprobs"] == {"p": None}

    chunk = {"id": "up-1", "object": "chat.completion.chunk", "created": 1, "model": "tiny",
             "choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop",
                          "logprobs": {"p": float("nan")}}]}
    upstream.modes["tiny"] = ("events", [json.dumps(chunk), "[DONE]"])  # json writes NaN
    with httpx.stream("POST", gateway.base_url + "/chat/completions", timeout=WAIT_S,
                      json={"model": "tiny", "messages": [{"role": "user", "content": "hi"}],
                            "stream": True}) as resp:
        events = sse(resp)
    assert content(events) == "ok" and events[0]["choices"][0]["logprobs"] == {"p": None}


# --- 10. a key split over stream chunks ---------------------------------------------------


def stream_pieces(gateway: BackgroundServer, upstream: Upstream, mode: Any,
                  **extra: Any) -> tuple[list[Any], str]:
    upstream.modes["tiny"] = mode
    with httpx.stream("POST", gateway.base_url + "/chat/completions", timeout=WAIT_S,
                      json={"model": "tiny", "messages": [{"role": "user", "content": "hi"}],
                            "stream": True, **extra}) as resp:
        assert resp.status_code == 200
        raw = resp.read().decode()
    return sse(httpx.Response(200, content=raw.encode())), raw


def test_an_upstream_key_split_over_two_chunks_is_redacted(gateway, upstream):
    text = f"The key is {UPSTREAM_KEY} ok"
    start = text.index(UPSTREAM_KEY)
    for cut in range(start + 1, start + len(UPSTREAM_KEY)):  # every split inside the key
        events, raw = stream_pieces(gateway, upstream, ("pieces", [text[:cut], text[cut:]]))
        assert content(events) == "The key is ********** ok", cut
        for fragment in (UPSTREAM_KEY[:6], UPSTREAM_KEY[-6:], UPSTREAM_KEY):
            assert fragment not in raw, (cut, fragment)
        # still a stream: what cannot be the key goes out with the chunk it came in
        deltas = [e["choices"][0]["delta"].get("content") for e in events if e["choices"]]
        assert "The key is " in deltas


def test_a_key_split_over_many_chunks_and_in_tool_arguments_is_redacted(gateway, upstream):
    pieces = ["say ", "sk-", "upstream", "-secret", "-key-", "0123", "456789", " and bye"]
    events, raw = stream_pieces(gateway, upstream, ("pieces", pieces),
                                stream_options={"include_usage": True})
    assert content(events) == "say ********** and bye"
    assert "sk-upstream" not in raw and "456789" not in raw
    assert events[-1]["choices"] == [] and events[-1]["usage"]["total_tokens"] == 7

    args = json.dumps({"key": UPSTREAM_KEY})
    events, raw = stream_pieces(gateway, upstream, ("tool", [args[:12], args[12:30], args[30:]]))
    joined = "".join(tc["function"].get("arguments") or ""
                     for e in events if e["choices"]
                     for tc in e["choices"][0]["delta"].get("tool_calls") or [])
    assert json.loads(joined) == {"key": "**********"}
    assert UPSTREAM_KEY[:8] not in raw and UPSTREAM_KEY[-8:] not in raw
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_text_that_only_looks_like_the_start_of_a_key_is_sent_unchanged(gateway, upstream):
    pieces = ["I said sk-up", "per and sk", "-upstream-secret", " twice", " sk-ups"]
    events, _ = stream_pieces(gateway, upstream, ("pieces", pieces))
    assert content(events) == "".join(pieces)  # held a moment, then released as it was
