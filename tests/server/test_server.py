"""The OpenAI-compatible gateway (`autorouter.server`, `autorouter serve`), driven by the official
`openai` SDK (and raw httpx for malformed requests), in front of the loopback OpenAI-compatible
test server: plain and streamed answers, tools, response_format, fallbacks, error objects, the
bearer check, 200 concurrent streams, and no upstream key in any response or log line."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "core"))  # synthetic.py
import autorouter
from autorouter.cli import app as cli_app
from autorouter.client import Endpoint
from autorouter.errors import ServerConfigError
from autorouter.reliability import RetryPolicy
from autorouter.server import (
    DEFAULT_MAX_BODY_BYTES,
    app_from_env,
    create_app,
    is_loopback,
)
from gateway_server import BackgroundServer
from openai_server import OpenAIServer
from synthetic import TIMED, add_timed_models, hash_embed, make_rows, write_jsonl

UPSTREAM_KEY = "sk-upstream-secret-key-0123456789"
SERVER_KEY = "gw-server-key-abcdef-0123456789-xyz"
PRICES = {"big": (10.0, 30.0), "coder": (1.0, 2.0), "tiny": (0.1, 0.2)}
MATH = "prove that 3 plus 4 is an integer"
CODE = "write a python function to sort 3 lists"
CHAT = "hello there friend number 7"
FAST = RetryPolicy(max_attempts_per_model=2, base_delay=0.001, max_delay=0.01, jitter=False,
                   cooldown_s=0)
SQUARE_TOOL = {
    "type": "function",
    "function": {
        "name": "square",
        "description": "Square a number.",
        "parameters": {"type": "object", "properties": {"input": {"type": "integer"}},
                       "required": ["input"]},
    },
}


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_router(tmp_path_factory) -> autorouter.Router:
    path = write_jsonl(make_rows(), tmp_path_factory.mktemp("gateway") / "train.jsonl.gz")
    return autorouter.Router(embedder=hash_embed, prices=PRICES).fit(autorouter.load_dataset(path))


def _router(base: autorouter.Router, upstream: OpenAIServer) -> autorouter.Router:
    r = copy.deepcopy(base)
    r.set_endpoints(default=Endpoint(base_url=upstream.base_url,
                                     api_key=SecretStr(UPSTREAM_KEY), timeout=2.0))
    r.retry_policy = FAST
    return r


@pytest.fixture(scope="module")
def router(base_router, openai_server_session) -> autorouter.Router:
    return _router(base_router, openai_server_session)


@pytest.fixture(scope="module")
def gateway(router) -> Iterator[BackgroundServer]:
    """The gateway on a free 127.0.0.1 port (no server key), for the whole module."""
    with BackgroundServer(create_app(router)) as server:
        yield server


@pytest.fixture(scope="module")
def keyed_gateway(router) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(router, server_key=SERVER_KEY)) as server:
        yield server


@pytest.fixture
def client(gateway, openai_server) -> openai.OpenAI:  # openai_server: reset counters per test
    return openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0, timeout=20)


@pytest.fixture
def raw(router, openai_server) -> Iterator[httpx.Client]:
    """httpx straight into the ASGI app, for requests the SDK would never send."""
    app = create_app(router, max_body_bytes=4096)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.base_url[:-3],
                                                       timeout=20) as c:
        yield c


def order(router, prompt, **kw) -> list[str]:
    d = router.route(prompt, **kw)
    return [d.model, *d.fallbacks]


def calls(server: OpenAIServer) -> dict[str, int]:
    return {m: n for m, n in server.calls.items() if n}


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


# --- a plain call -------------------------------------------------------------------------


def test_auto_routes_and_names_the_model_that_answered(client, router, openai_server):
    top = order(router, MATH, tradeoff=0)[0]

    resp = client.chat.completions.create(model="auto", messages=user(MATH),
                                          extra_body={"tradeoff": 0})

    assert resp.model == top
    assert resp.choices[0].message.content == f"[{top}] {MATH}"
    assert resp.choices[0].finish_reason == "stop" and resp.object == "chat.completion"
    usage = resp.usage.model_dump()
    price = PRICES[top]
    assert usage["cost"] == pytest.approx(
        (usage["prompt_tokens"] * price[0] + usage["completion_tokens"] * price[1]) / 1e6)
    extra = resp.model_extra["autorouter"]
    assert extra["routed"] is True and extra["model"] == extra["chosen"] == top
    assert extra["fell_back"] is False and extra["tradeoff"] == 0
    assert [a["model"] for a in extra["attempts"]] == [top]
    assert {r["model"] for r in extra["ranking"]} == set(PRICES)
    assert extra["cost_usd"] == usage["cost"] and extra["cost_source"] == "list_price"
    assert calls(openai_server) == {top: 1}
    sent = openai_server.requests[-1]
    assert sent.body == {"model": top, "messages": user(MATH)}  # gateway fields stay home
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"


@pytest.mark.parametrize("name", ["autorouter/auto", "openrouter/auto", "AUTO"])
def test_every_auto_name_routes(client, name):
    resp = client.chat.completions.create(model=name, messages=user(CHAT),
                                          extra_body={"tradeoff": 1})
    assert resp.model == "tiny" and resp.model_extra["autorouter"]["routed"] is True


def test_a_concrete_model_skips_routing(client, openai_server):
    resp = client.chat.completions.create(model="big", messages=user(CHAT),
                                          extra_body={"tradeoff": 1})
    assert resp.model == "big" and resp.choices[0].message.content == f"[big] {CHAT}"
    extra = resp.model_extra["autorouter"]
    assert extra["routed"] is False
    assert [r["model"] for r in extra["ranking"] if r["eligible"]] == ["big"]
    assert calls(openai_server) == {"big": 1}


def test_a_concrete_model_is_retried_but_never_replaced(client, openai_server):
    openai_server.script("big", ["500", "500"])
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="big", messages=user(CHAT))
    assert caught.value.status_code == 502
    assert calls(openai_server) == {"big": 2}


def test_models_restricts_the_candidates(client, router, openai_server):
    assert order(router, CHAT, tradeoff=1)[0] == "tiny"
    resp = client.chat.completions.create(
        model="auto", messages=user(CHAT), extra_body={"tradeoff": 1, "models": ["big", "coder"]})
    assert resp.model == "coder"
    ranking = resp.model_extra["autorouter"]["ranking"]
    assert {r["model"]: r["eligible"] for r in ranking} == {"coder": True, "big": True,
                                                            "tiny": False}


def test_other_fields_pass_through_to_the_model(client, openai_server):
    resp = client.chat.completions.create(model="auto", messages=user(CHAT), temperature=0.2,
                                          max_tokens=2, seed=7, extra_body={"tradeoff": 1,
                                                                           "top_k": 3})
    assert resp.choices[0].finish_reason == "length"
    body = openai_server.requests[-1].body
    assert body["temperature"] == 0.2 and body["max_tokens"] == 2 and body["seed"] == 7
    assert body["top_k"] == 3 and "tradeoff" not in body


def test_a_session_keeps_its_model(client, openai_server):
    first = client.chat.completions.create(model="auto", messages=user(CODE),
                                           extra_body={"session": "s-1", "tradeoff": 0.5})
    again = client.chat.completions.create(
        model="auto", messages=[*user(CODE), {"role": "assistant", "content": "ok"},
                                *user(CODE + " again")],
        extra_body={"session": "s-1", "tradeoff": 0.5})
    assert again.model == first.model
    assert "session" not in openai_server.requests[-1].body


@pytest.fixture(scope="module")
def timed_gateway(base_router, openai_server_session) -> Iterator[BackgroundServer]:
    """A gateway whose router also has candidates of known speed (`TIMED`)."""
    r = add_timed_models(_router(base_router, openai_server_session))
    with BackgroundServer(create_app(r)) as server:
        yield server


def test_max_latency_excludes_the_models_predicted_slower(timed_gateway, openai_server):
    client = openai.OpenAI(base_url=timed_gateway.base_url, api_key="unused", max_retries=0,
                           timeout=20)
    timed = list(TIMED)
    plain = client.chat.completions.create(model="auto", messages=user(MATH),
                                           extra_body={"tradeoff": 0, "models": timed})
    assert plain.model == "slow-thinker" and plain.model_extra["autorouter"]["max_latency_s"] is None

    resp = client.chat.completions.create(
        model="auto", messages=user(MATH),
        extra_body={"tradeoff": 0, "models": timed, "max_latency_s": 3, "latency_weight": 0.0005})

    assert resp.model == "quick" and resp.choices[0].message.content == f"[quick] {MATH}"
    extra = resp.model_extra["autorouter"]
    assert extra["max_latency_s"] == 3 and extra["chosen"] == "quick"
    ranked = {r["model"]: r for r in extra["ranking"]}
    assert ranked["quick"]["eligible"] and ranked["quick"]["latency_s"] == pytest.approx(1.7, abs=0.1)
    for slow in ("slow-thinker", "steady"):
        assert not ranked[slow]["eligible"] and ranked[slow]["latency_s"] > 3
        assert ranked[slow]["excluded_because"].endswith("is above max_latency_s 3s")
    assert ranked["big"]["latency_s"] is None  # unknown speed
    body = openai_server.requests[-1].body
    assert "max_latency_s" not in body and "latency_weight" not in body  # the gateway's own fields

    weighed = client.chat.completions.create(
        model="auto", messages=user(MATH),
        extra_body={"tradeoff": 0.5, "models": timed, "latency_weight": 0.1})
    assert weighed.model == "quick"

    chunks = list(client.chat.completions.create(
        model="auto", messages=user(MATH), stream=True,
        extra_body={"tradeoff": 0, "models": timed, "max_latency_s": 3}))
    assert {c.model for c in chunks} == {"quick"}
    assert chunks[0].model_extra["autorouter"]["max_latency_s"] == 3
    assert calls(openai_server) == {"slow-thinker": 1, "quick": 3}

    resp = httpx.post(timed_gateway.base_url + "/chat/completions", timeout=20,
                      json={"model": "auto", "messages": user(MATH), "models": timed,
                            "max_latency_s": 0.5})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "no_candidate"
    assert "is above max_latency_s 0.5s" in resp.json()["error"]["message"]
    assert openai_server.total_calls == 4


# --- streams ------------------------------------------------------------------------------


def test_a_stream_in_the_openai_wire_format(client, router, openai_server):
    top = order(router, MATH, tradeoff=0)[0]
    chunks = list(client.chat.completions.create(
        model="auto", messages=user(MATH), stream=True, stream_options={"include_usage": True},
        extra_body={"tradeoff": 0}))

    assert {c.model for c in chunks} == {top} and len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].model_extra["autorouter"]["model"] == top
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"[{top}] {MATH}"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.model_dump()["cost"] > 0
    assert all(c.usage is None for c in chunks[:-1])
    assert calls(openai_server) == {top: 1}


def test_a_stream_without_include_usage_has_no_usage_chunk(gateway, openai_server):
    with httpx.stream("POST", gateway.base_url + "/chat/completions", timeout=20,
                      json={"model": "auto", "messages": user(CHAT), "stream": True}) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in resp.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    events = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert all("usage" not in e and e["choices"] for e in events)


def test_a_stream_falls_back_before_its_first_chunk(client, router, openai_server):
    top, nxt = order(router, MATH, tradeoff=0)[:2]
    openai_server.script(top, ["500", "503"])
    chunks = list(client.chat.completions.create(model="auto", messages=user(MATH), stream=True,
                                                 extra_body={"tradeoff": 0}))
    assert {c.model for c in chunks} == {nxt}
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == f"[{nxt}] {MATH}"
    extra = chunks[0].model_extra["autorouter"]
    assert extra["fell_back"] and [a["model"] for a in extra["attempts"]] == [top, top, nxt]
    assert [a["status_code"] for a in extra["attempts"]] == [500, 503, None]
    assert calls(openai_server) == {top: 2, nxt: 1}


def test_a_stream_that_breaks_midway_ends_with_an_error_event(client, router, openai_server):
    top = order(router, MATH, tradeoff=0)[0]
    openai_server.script(top, ["drop:3"])
    stream = client.chat.completions.create(model="auto", messages=user(MATH), stream=True,
                                            extra_body={"tradeoff": 0})
    got = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            got.append(chunk.choices[0].delta.content)
    text = "".join(got)
    assert text and f"[{top}] {MATH}".startswith(text) and text != f"[{top}] {MATH}"
    assert calls(openai_server) == {top: 1}  # text had arrived: never resent
    assert "StreamInterruptedError" in caught.value.message


# --- tools and response_format ------------------------------------------------------------


def test_a_tool_call(client, openai_server):
    resp = client.chat.completions.create(model="auto", messages=user("square 12 for me"),
                                          tools=[SQUARE_TOOL], tool_choice="auto")
    message = resp.choices[0].message
    assert resp.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls[0].function.name == "square"
    assert json.loads(message.tool_calls[0].function.arguments) == {"input": 12}
    body = openai_server.requests[-1].body
    assert body["tools"] == [SQUARE_TOOL] and body["tool_choice"] == "auto"

    # the tool result goes back through the gateway too
    follow = client.chat.completions.create(
        model=resp.model, tools=[SQUARE_TOOL],
        messages=[*user("square 12 for me"), message.model_dump(exclude_none=True),
                  {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "144"}])
    assert follow.choices[0].message.content == f"[{resp.model}] tool result: 144"


def test_a_streamed_tool_call(client):
    chunks = list(client.chat.completions.create(
        model="auto", messages=user("square 5"), tools=[SQUARE_TOOL], stream=True))
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].function.name == "square"
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == {"input": 5}


def test_response_format_json_schema(client, openai_server):
    schema = {"type": "object", "properties": {"city": {"type": "string"}},
              "required": ["city"], "additionalProperties": False}
    resp = client.chat.completions.create(
        model="auto", messages=user("name a city"),
        response_format={"type": "json_schema",
                         "json_schema": {"name": "city", "schema": schema, "strict": True}})
    assert set(json.loads(resp.choices[0].message.content)) == {"city"}
    assert openai_server.requests[-1].body["response_format"]["json_schema"]["schema"] == schema


def test_parse_with_a_pydantic_model(client):
    from pydantic import BaseModel

    class City(BaseModel):
        city: str

    resp = client.beta.chat.completions.parse(model="auto", messages=user("name a city"),
                                              response_format=City)
    assert isinstance(resp.choices[0].message.parsed, City)


# --- fallback -----------------------------------------------------------------------------


def test_a_fallback_after_upstream_500s(client, router, openai_server):
    top, nxt = order(router, MATH, tradeoff=0)[:2]
    openai_server.script(top, ["500", "500"])
    resp = client.chat.completions.create(model="auto", messages=user(MATH),
                                          extra_body={"tradeoff": 0})
    assert resp.model == nxt and resp.choices[0].message.content == f"[{nxt}] {MATH}"
    extra = resp.model_extra["autorouter"]
    assert extra["fell_back"] is True and extra["chosen"] == top
    assert [(a["model"], a["error"]) for a in extra["attempts"]] == [
        (top, "ProviderServerError"), (top, "ProviderServerError"), (nxt, None)]
    assert calls(openai_server) == {top: 2, nxt: 1}


def test_every_model_failing_is_a_502(client, openai_server):
    for model in PRICES:
        openai_server.set_mode(model, "503")
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="auto", messages=user(MATH))
    assert caught.value.status_code == 502
    error = caught.value.body
    assert error["type"] == "upstream_error" and error["code"] == "upstream_failed"
    assert all(m in error["message"] for m in PRICES)
    assert error["message"].count("ProviderServerError (HTTP 503)") == 1  # alike failures: one line
    assert calls(openai_server) == {m: 2 for m in PRICES}


def test_every_model_rate_limited_is_a_429(client, openai_server):
    for model in PRICES:
        openai_server.set_mode(model, "429:0")
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="auto", messages=user(MATH))
    assert caught.value.body["code"] == "rate_limit_exceeded"
    # says when to come back: the failed models' cooldown (no provider said how long)
    assert int(caught.value.response.headers["retry-after"]) >= 1


def test_a_429_passes_on_how_long_the_providers_asked_to_wait(client, openai_server):
    for model in PRICES:
        openai_server.set_mode(model, "429:2")
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="auto", messages=user(MATH))
    assert caught.value.response.headers["retry-after"] == "2"


def test_a_request_the_provider_refuses_is_a_400(client, openai_server):
    openai_server.script("tiny", ["422"])
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        client.chat.completions.create(model="tiny", messages=user(CHAT))
    assert caught.value.body["code"] == "upstream_bad_request"
    assert calls(openai_server) == {"tiny": 1}


# --- bad requests -------------------------------------------------------------------------

GOOD = {"model": "auto", "messages": user(CHAT)}

BAD = [
    # (body, status, param, code)
    (b"{not json", 400, None, "invalid_json"),
    (b"", 400, None, "invalid_json"),
    (b"[1, 2]", 400, None, "invalid_json"),
    (b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "tradeoff": NaN}',
     400, None, "invalid_json"),
    (b"[" * 4000, 400, None, "invalid_json"),  # deeper than json can recurse
    ({"messages": user(CHAT)}, 400, "model", "missing_required_parameter"),
    ({"model": "auto"}, 400, "messages", "missing_required_parameter"),
    ({"model": "auto", "messages": []}, 400, "messages", "invalid_value"),
    ({"model": "auto", "messages": "hello"}, 400, "messages", "invalid_value"),
    ({"model": 42, "messages": user(CHAT)}, 400, "model", "invalid_value"),
    ({"model": "auto", "messages": [{"role": "wizard", "content": "hi"}]}, 400,
     "messages[0].role", "invalid_value"),
    ({"model": "auto", "messages": [{"role": "user", "content": 5}]}, 400,
     "messages[0].content", "invalid_value"),
    ({"model": "auto", "messages": [{"role": "user", "content": ""}]}, 400, "messages",
     "invalid_value"),
    ({**GOOD, "tradeoff": "0.5"}, 400, "tradeoff", "invalid_value"),
    ({**GOOD, "tradeoff": 2}, 400, "tradeoff", "invalid_value"),
    ({**GOOD, "max_cost": -1}, 400, "max_cost", "invalid_value"),
    ({**GOOD, "max_latency_s": -1}, 400, "max_latency_s", "invalid_value"),
    ({**GOOD, "max_latency_s": 0}, 400, "max_latency_s", "invalid_value"),
    ({**GOOD, "max_latency_s": "3"}, 400, "max_latency_s", "invalid_value"),
    ({**GOOD, "latency_weight": -0.5}, 400, "latency_weight", "invalid_value"),
    (b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "latency_weight": 1e999}',
     400, "latency_weight", "invalid_value"),
    ({**GOOD, "temperature": "hot"}, 400, "temperature", "invalid_value"),
    ({**GOOD, "stream": "yes"}, 400, "stream", "invalid_value"),
    ({**GOOD, "n": 2}, 400, "n", "invalid_value"),
    ({**GOOD, "models": "big"}, 400, "models", "invalid_value"),
    ({**GOOD, "models": []}, 400, "models", "invalid_value"),
    ({**GOOD, "tools": [{"type": "function"}]}, 400, "tools[0].function",
     "missing_required_parameter"),
    ({**GOOD, "response_format": {"type": "yaml"}}, 400, "response_format.type",
     "invalid_value"),
    ({"model": "no-such-model", "messages": user(CHAT)}, 404, "model", "model_not_found"),
    ({**GOOD, "models": ["big", "nope"]}, 400, "models", "model_not_found"),
    ({"model": "big", "messages": user(CHAT), "models": ["coder"]}, 400, "models",
     "invalid_value"),
    ({**GOOD, "max_cost": 1e-12}, 400, None, "no_candidate"),
]


@pytest.mark.parametrize(("body", "status", "param", "code"), BAD,
                         ids=[f"{i}-{c}-{p}" for i, (_, _, p, c) in enumerate(BAD)])
def test_bad_requests_get_openai_error_objects(raw, openai_server, body, status, param, code):
    if isinstance(body, bytes):
        resp = raw.post("/v1/chat/completions", content=body,
                        headers={"content-type": "application/json"})
    else:
        resp = raw.post("/v1/chat/completions", json=body)
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param and error["code"] == code
    assert error["type"] == "invalid_request_error" and error["message"]
    assert "Traceback" not in resp.text and "File \"" not in resp.text
    assert openai_server.total_calls == 0


def test_no_candidate_names_the_reasons(raw):
    resp = raw.post("/v1/chat/completions", json={**GOOD, "max_cost": 1e-12})
    message = resp.json()["error"]["message"]
    assert all(f"{m}: predicted cost" in message for m in PRICES)


def test_a_body_over_the_limit_is_a_413(raw, openai_server):
    big = {**GOOD, "messages": user("x" * 5000)}
    resp = raw.post("/v1/chat/completions", json=big)
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "request_too_large"

    def chunks():  # no Content-Length: counted as it arrives
        yield b'{"model": "auto", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}]}'

    resp = raw.post("/v1/chat/completions", content=chunks())
    assert resp.status_code == 413
    assert openai_server.total_calls == 0


def test_unknown_routes_and_methods_get_error_objects(raw):
    resp = raw.get("/v1/nowhere")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    resp = raw.get("/v1/chat/completions")
    assert resp.status_code == 405 and resp.json()["error"]["code"] == "method_not_allowed"


def test_sdk_errors_are_typed(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-nonexistent", messages=user(CHAT))
    assert caught.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="auto", messages=[])


# --- models and health --------------------------------------------------------------------


def test_models_lists_auto_and_the_candidates(client):
    models = client.models.list().data
    assert [m.id for m in models] == ["auto", *autorouter_models(client)]
    coder = next(m for m in models if m.id == "coder")
    assert coder.model_extra["pricing"] == {"input_usd_per_1m": 1.0, "output_usd_per_1m": 2.0}


def autorouter_models(client) -> list[str]:
    return sorted(PRICES)


def test_health(gateway):
    resp = httpx.get(gateway.base_url[:-3] + "/health")
    assert resp.status_code == 200 and resp.json() == {"status": "ok", "models": 3}


# --- the bearer check ---------------------------------------------------------------------


def test_a_server_key_is_required_when_set(keyed_gateway, openai_server):
    url = keyed_gateway.base_url
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": SERVER_KEY},
                    {"Authorization": f"Basic {SERVER_KEY}"}):
        resp = httpx.post(url + "/chat/completions", json=GOOD, headers=headers)
        assert resp.status_code == 401, headers
        assert resp.json()["error"]["code"] == "invalid_api_key"
        assert resp.headers["www-authenticate"] == "Bearer"
        assert httpx.get(url + "/models", headers=headers).status_code == 401
    assert openai_server.total_calls == 0
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url, api_key="wrong", max_retries=0).models.list()

    good = openai.OpenAI(base_url=url, api_key=SERVER_KEY, max_retries=0)
    assert good.chat.completions.create(model="auto", messages=user(CHAT)).choices
    assert len(good.models.list().data) == 4
    assert httpx.get(url[:-3] + "/health").status_code == 200  # load balancers need no key
    # the caller's key is the gateway's, never sent upstream
    assert openai_server.requests[-1].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"


def test_serve_refuses_to_bind_beyond_loopback_without_a_key(monkeypatch):
    monkeypatch.delenv("AUTOROUTER_SERVER_KEY", raising=False)
    result = CliRunner().invoke(cli_app, ["serve", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 2
    assert "AUTOROUTER_SERVER_KEY" in result.output


def test_the_factory_refuses_without_a_key_unless_told_it_may(monkeypatch):
    """`uvicorn autorouter.server:app_from_env --factory` cannot know where it is bound: no key
    is refused unless the caller says it may go without (as `autorouter serve` on 127.0.0.1 does)."""
    monkeypatch.delenv("AUTOROUTER_SERVER_KEY", raising=False)
    monkeypatch.delenv("AUTOROUTER_ALLOW_NO_SERVER_KEY", raising=False)
    with pytest.raises(ServerConfigError, match="AUTOROUTER_SERVER_KEY"):
        app_from_env()
    monkeypatch.setenv("AUTOROUTER_ALLOW_NO_SERVER_KEY", "1")
    assert app_from_env().state.gateway.server_key is None


@pytest.mark.parametrize("key", ["x", "short-key", "a" * 31])
def test_a_weak_gateway_key_is_refused(monkeypatch, key):
    monkeypatch.setenv("AUTOROUTER_SERVER_KEY", key)
    # an unusable port: were the key accepted, serving would fail at once rather than run on
    result = CliRunner().invoke(cli_app, ["serve", "--host", "0.0.0.0", "--port", "99999"])
    assert result.exit_code == 2 and "at least 32" in result.output
    with pytest.raises(ServerConfigError, match="at least 32"):
        app_from_env()


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.1.2.3", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.4", False), ("example.com", False)])
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


# --- upstream keys stay secret ------------------------------------------------------------


def test_the_upstream_key_never_reaches_a_response_or_a_log(client, gateway, openai_server,
                                                            caplog):
    caplog.set_level(logging.DEBUG)
    openai_server.require_api_key = "sk-some-other-key"  # upstream echoes the key it was sent
    texts = []
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="auto", messages=user(CHAT))
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "upstream_auth_failed"
    texts.append(caught.value.response.text)
    with httpx.stream("POST", gateway.base_url + "/chat/completions", timeout=20,
                      json={**GOOD, "stream": True}) as resp:
        texts.append(resp.read().decode())
        assert resp.status_code == 502
    openai_server.require_api_key = None
    ok = httpx.post(gateway.base_url + "/chat/completions", timeout=20,
                    json={**GOOD, "messages": user(f"repeat {UPSTREAM_KEY}")})
    texts.append(ok.text)  # even an answer quoting the key has it blanked out
    assert ok.status_code == 200 and "**********" in ok.text
    assert openai_server.total_calls >= 3
    for text in [*texts, caplog.text]:
        assert UPSTREAM_KEY not in text


def test_a_missing_upstream_key_is_a_503_naming_no_variable(base_router, openai_server,
                                                           monkeypatch):
    monkeypatch.delenv("GW_TEST_MISSING_KEY", raising=False)
    r = copy.deepcopy(base_router)
    r.set_endpoints(default=Endpoint(base_url=openai_server.base_url,
                                     api_key_env="GW_TEST_MISSING_KEY"))
    with BackgroundServer(create_app(r)) as server:
        resp = httpx.post(server.base_url + "/chat/completions", json=GOOD)
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "upstream_not_configured"
    assert openai_server.total_calls == 0


# --- concurrency --------------------------------------------------------------------------


async def test_200_concurrent_streams_all_complete_once(gateway, openai_server):
    openai_server.chunk_delay = 0.005
    client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0,
                                timeout=60)
    prompts = [f"{['hello there friend', 'write a python function', 'prove that'][i % 3]} "
               f"number {i}" for i in range(200)]

    async def one(prompt: str) -> tuple[str, str, int]:
        stream = await client.chat.completions.create(
            model="auto", messages=user(prompt), stream=True,
            stream_options={"include_usage": True})
        text, model, usage = "", "", 0
        async for chunk in stream:
            model = chunk.model
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
            if chunk.usage is not None:
                usage += 1
        return model, text, usage

    try:
        results = await asyncio.gather(*(one(p) for p in prompts))
    finally:
        await client.close()
    for prompt, (model, text, usage) in zip(prompts, results, strict=True):
        assert text == f"[{model}] {prompt}" and usage == 1
    assert openai_server.total_calls == 200
    sent = Counter(r.body["messages"][-1]["content"] for r in openai_server.requests)
    assert sent == Counter(prompts)  # none lost, none sent twice
    assert sum(openai_server.calls.values()) == 200


# --- the env factory and the default router -------------------------------------------------


def test_app_from_env_serves_the_default_router_with_catalog_names(monkeypatch, openai_server):
    monkeypatch.setenv("AUTOROUTER_UPSTREAM_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("AUTOROUTER_UPSTREAM_KEY_ENV", "GW_TEST_UPSTREAM_KEY")
    monkeypatch.setenv("GW_TEST_UPSTREAM_KEY", UPSTREAM_KEY)
    monkeypatch.setenv("AUTOROUTER_SERVER_KEY", SERVER_KEY)
    for name in ("AUTOROUTER_ROUTER_DIR", "AUTOROUTER_CATALOG", "AUTOROUTER_MAX_BODY_BYTES",
                 "AUTOROUTER_ALLOW_NO_SERVER_KEY"):
        monkeypatch.delenv(name, raising=False)
    app = app_from_env()
    gateway = app.state.gateway
    assert gateway.server_key == SERVER_KEY and gateway.max_body_bytes == DEFAULT_MAX_BODY_BYTES
    with BackgroundServer(app) as server:
        c = openai.OpenAI(base_url=server.base_url, api_key=SERVER_KEY, max_retries=0)
        ids = [m.id for m in c.models.list().data]
        assert ids[0] == "auto" and len(ids) == len(gateway.models) + 1
        mini = "openai/gpt-4o-mini-2024-07-18"
        assert mini in ids
        resp = c.chat.completions.create(model=mini, messages=user("hi there"))
        assert resp.model == mini and resp.model_extra["autorouter"]["routed"] is False
        assert resp.usage.model_dump()["cost"] > 0  # catalog list price
        routed = c.chat.completions.create(model="openrouter/auto",
                                           messages=user("write a quicksort in rust"))
        assert routed.model in ids
    assert openai_server.requests[0].body["model"] == mini
    assert openai_server.requests[0].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"


# --- a hanging model ---------------------------------------------------------------------------


def test_a_hanging_model_is_left_in_time_for_the_next(base_router, openai_server_session, openai_server):
    import time

    r = copy.deepcopy(base_router)  # the endpoint's own socket timeout: the default 60 s
    r.set_endpoints(default=Endpoint(base_url=openai_server_session.base_url, api_key=SecretStr(UPSTREAM_KEY)))
    r.retry_policy = RetryPolicy(base_delay=0.01, attempt_timeout_s=0.5, cooldown_s=0)
    top, nxt = order(r, MATH, tradeoff=0)[:2]
    with BackgroundServer(create_app(r)) as gw:
        client = openai.OpenAI(base_url=gw.base_url, api_key="unused", max_retries=0, timeout=20)
        for stream in (False, True):
            openai_server.script(top, ["stall:30"])
            start = time.monotonic()
            if stream:
                chunks = list(client.chat.completions.create(
                    model="auto", messages=user(MATH), stream=True, extra_body={"tradeoff": 0}))
                model, text = chunks[0].model, "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
                attempts = chunks[0].model_extra["autorouter"]["attempts"]
            else:
                resp = client.chat.completions.create(model="auto", messages=user(MATH), extra_body={"tradeoff": 0})
                model, text = resp.model, resp.choices[0].message.content
                attempts = resp.model_extra["autorouter"]["attempts"]
            assert time.monotonic() - start < 5
            assert (model, text) == (nxt, f"[{nxt}] {MATH}")
            assert [(a["model"], a["error"]) for a in attempts] == [(top, "AttemptTimeoutError"), (nxt, None)]


def test_serve_settings_set_the_calls_timing(monkeypatch, openai_server_session):
    monkeypatch.setenv("AUTOROUTER_ALLOW_NO_SERVER_KEY", "1")
    monkeypatch.delenv("AUTOROUTER_SERVER_KEY", raising=False)
    monkeypatch.setenv("AUTOROUTER_UPSTREAM_BASE_URL", openai_server_session.base_url)
    monkeypatch.setenv("AUTOROUTER_UPSTREAM_KEY_ENV", "")
    monkeypatch.setenv("AUTOROUTER_TIME_BUDGET_S", "40")
    monkeypatch.setenv("AUTOROUTER_STALL_TIMEOUT_S", "5")
    policy = app_from_env().state.gateway.router.retry_policy
    assert (policy.total_budget_s, policy.attempt_limit_s, policy.stall_timeout_s) == (40, 20, 5)
    monkeypatch.setenv("AUTOROUTER_ATTEMPT_TIMEOUT_S", "2.5")
    assert app_from_env().state.gateway.router.retry_policy.attempt_limit_s == 2.5
    monkeypatch.setenv("AUTOROUTER_ATTEMPT_TIMEOUT_S", "soon")
    with pytest.raises(ServerConfigError, match="AUTOROUTER_ATTEMPT_TIMEOUT_S"):
        app_from_env()
