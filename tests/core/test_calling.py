"""Routed calls (`Router.complete` / `acomplete` / `stream` / `astream`) against the real
loopback OpenAI-compatible server: answers, fallbacks, streams, concurrency, cost, sessions,
endpoint selection and the `autorouter chat` command."""

from __future__ import annotations

import asyncio
import copy
import json
import math
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

import autorouter
from autorouter.calls import Endpoints, RoutedCompletion, RoutedStream
from autorouter.cli import app
from autorouter.client import ChatChunk, Endpoint, aclose_pools
from autorouter.errors import (
    AuthenticationError,
    BadRequestError,
    FallbackExhaustedError,
    InvalidRequestError,
    MissingAPIKeyError,
    NoCandidateError,
    StreamInterruptedError,
)
from autorouter.reliability import RetryPolicy
from autorouter.types import ModelLimits
from openai_server import OpenAIServer
from synthetic import TIMED, add_timed_models, hash_embed, make_rows, write_jsonl

KEY = "sk-loopback-test-key"
PRICES = {"big": (10.0, 30.0), "coder": (1.0, 2.0), "tiny": (0.1, 0.2)}
MATH = "prove that 3 plus 4 is an integer"
CODE = "write a python function to sort 3 lists"
CHAT = "hello there friend number 7"
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
FAST = RetryPolicy(max_attempts_per_model=2, base_delay=0.001, max_delay=0.01, jitter=False,
                   cooldown_s=0)

runner = CliRunner()


@pytest.fixture(scope="module")
def base_router(tmp_path_factory) -> autorouter.Router:
    path = write_jsonl(make_rows(), tmp_path_factory.mktemp("calling") / "train.jsonl.gz")
    return autorouter.Router(embedder=hash_embed, prices=PRICES).fit(autorouter.load_dataset(path))


@pytest.fixture
def router(base_router: autorouter.Router, openai_server: OpenAIServer) -> autorouter.Router:
    """A fresh copy of the fitted router, calling the loopback server with fast retries."""
    r = copy.deepcopy(base_router)
    r.set_endpoints(default=Endpoint(base_url=openai_server.base_url, api_key=SecretStr(KEY),
                                     timeout=2.0))
    r.retry_policy = FAST
    return r


@pytest.fixture
async def async_pools() -> AsyncIterator[None]:
    yield
    await aclose_pools()


def order(router: autorouter.Router, prompt: str = MATH, **kw) -> list[str]:
    d = router.route(prompt, **kw)
    return [d.model, *d.fallbacks]


def calls(server: OpenAIServer) -> dict[str, int]:
    return {m: n for m, n in server.calls.items() if n}


# --- a routed call --------------------------------------------------------------------------


def test_a_routed_call_is_answered_by_the_chosen_model(router, openai_server):
    top = order(router, tradeoff=0)[0]

    answer = router.complete([{"role": "user", "content": MATH}], tradeoff=0)

    assert isinstance(answer, RoutedCompletion)
    assert answer.text == f"[{top}] {MATH}"
    assert answer.model == answer.upstream_model == answer.decision.model == top
    assert answer.finish_reason == "stop" and answer.tool_calls == []
    assert [a.model for a in answer.attempts] == [top] and not answer.fell_back
    assert calls(openai_server) == {top: 1}
    sent = openai_server.requests[-1]
    assert sent.body["model"] == top and sent.body["messages"] == [{"role": "user", "content": MATH}]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert set(sent.body) == {"model", "messages"}  # nothing added to what the caller gave


def test_a_prompt_string_and_extra_body_fields_pass_through(router, openai_server):
    answer = router.complete(CHAT, tradeoff=1, temperature=0.2, max_tokens=2)
    assert answer.model == "tiny" and answer.text == "[tiny] hello "
    assert answer.finish_reason == "length"
    body = openai_server.requests[-1].body
    assert body["temperature"] == 0.2 and body["max_tokens"] == 2


@pytest.mark.parametrize("fault", ["500", "502", "503", "429", "429:0", "reset", "stall:2"])
def test_a_failing_top_model_is_retried_then_the_next_one_answers(router, openai_server, fault):
    if fault.startswith("stall"):
        router.set_endpoints(default=Endpoint(base_url=openai_server.base_url,
                                              api_key=SecretStr(KEY), timeout=0.3))
    top, nxt = order(router, tradeoff=0)[:2]
    openai_server.script(top, [fault, fault])

    answer = router.complete(MATH, tradeoff=0)

    assert answer.model == nxt and answer.text == f"[{nxt}] {MATH}"
    assert answer.fell_back and answer.decision.model == top
    assert [a.model for a in answer.attempts] == [top, top, nxt]
    assert all(a.error is not None for a in answer.attempts[:2]) and answer.attempts[2].error is None
    assert calls(openai_server) == {top: 2, nxt: 1}  # nothing sent twice beyond the retries
    assert openai_server.pending(top) == 0


def test_a_transient_failure_is_retried_on_the_same_model(router, openai_server):
    top = order(router, tradeoff=0)[0]
    openai_server.script(top, ["500"])
    answer = router.complete(MATH, tradeoff=0)
    assert answer.model == top and not answer.fell_back
    assert calls(openai_server) == {top: 2}


@pytest.mark.parametrize("status, error", [("400", BadRequestError), ("401", AuthenticationError),
                                           ("403", AuthenticationError)])
def test_a_refused_request_surfaces_at_once(router, openai_server, status, error):
    top = order(router, tradeoff=0)[0]
    openai_server.script(top, [status])
    with pytest.raises(error) as info:
        router.complete(MATH, tradeoff=0)
    assert info.value.status_code == int(status) and info.value.provider_message
    assert calls(openai_server) == {top: 1}


def test_when_every_eligible_model_fails_the_error_lists_them(router, openai_server):
    ranked = order(router, tradeoff=0, candidates=["big", "coder"])
    for m in ranked:
        openai_server.set_mode(m, "500")
    with pytest.raises(FallbackExhaustedError) as info:
        router.complete(MATH, tradeoff=0, candidates=["big", "coder"])
    assert info.value.models == ranked
    assert calls(openai_server) == {m: 2 for m in ranked}  # never the excluded "tiny"


def test_requests_are_filtered_before_any_call(router, openai_server):
    for m in ("big", "coder"):
        router.set_limits(m, ModelLimits(tools=False))
    answer = router.complete(f"{MATH} with 5", tradeoff=0, tools=[SQUARE_TOOL],
                             tool_choice="auto")
    assert answer.model == "tiny"
    assert [c.name for c in answer.tool_calls] == ["square"]
    assert answer.tool_calls[0].parse_arguments() == {"input": 3}
    assert openai_server.requests[-1].body["tools"] == [SQUARE_TOOL]
    assert calls(openai_server) == {"tiny": 1}

    router.set_limits("tiny", ModelLimits(tools=False))
    with pytest.raises(NoCandidateError, match="does not support tool calling"):
        router.complete(MATH, tools=[SQUARE_TOOL])
    assert openai_server.total_calls == 1


def test_structured_output_routes_only_to_capable_models(router, openai_server):
    router.set_limits("big", ModelLimits(structured_output=False))
    answer = router.complete(MATH, tradeoff=0, response_format={"type": "json_object"})
    assert answer.model != "big"
    assert json.loads(answer.text) == {"model": answer.model, "answer": MATH}
    assert openai_server.requests[-1].body["response_format"] == {"type": "json_object"}


# --- latency --------------------------------------------------------------------------------


def test_max_latency_excludes_the_models_predicted_slower(router, openai_server):
    add_timed_models(router)
    timed = list(TIMED)
    assert router.complete(MATH, tradeoff=0, candidates=timed).model == "slow-thinker"

    answer = router.complete(MATH, tradeoff=0, candidates=timed, max_latency_s=3)

    assert answer.model == "quick" and answer.text == f"[quick] {MATH}"
    assert answer.decision.chosen.latency_s == pytest.approx(1.7, abs=0.1)
    reasons = {r.model: r.excluded_because for r in answer.decision.ranking}
    for slow in ("slow-thinker", "steady"):
        assert reasons[slow].startswith("predicted latency ")
        assert reasons[slow].endswith("is above max_latency_s 3s")
    stream = router.stream(MATH, tradeoff=0, candidates=timed, max_latency_s=3)
    with stream:
        assert "".join(c.text for c in stream) == f"[quick] {MATH}"
    assert stream.model == "quick"
    # The weight of latency reaches the score: heavy enough, it trades quality for speed.
    assert router.complete(MATH, tradeoff=0.5, candidates=timed).model == "steady"
    assert router.complete(MATH, tradeoff=0.5, candidates=timed, latency_weight=0.1).model == "quick"
    assert calls(openai_server) == {"slow-thinker": 1, "quick": 3, "steady": 1}

    with pytest.raises(NoCandidateError, match="is above max_latency_s 0.5s"):
        router.complete(MATH, candidates=timed, max_latency_s=0.5)
    assert openai_server.total_calls == 5


async def test_acomplete_and_astream_take_max_latency(router, openai_server, async_pools):
    add_timed_models(router)
    timed = list(TIMED)
    answer = await router.acomplete(MATH, tradeoff=0, candidates=timed, max_latency_s=3)
    assert answer.model == "quick"
    stream = router.astream(MATH, tradeoff=0, candidates=timed, max_latency_s=3, latency_weight=0)
    assert "".join([c.text async for c in stream]) == f"[quick] {MATH}"
    assert stream.model == "quick" and not stream.decision.ranking[-1].eligible
    assert calls(openai_server) == {"quick": 2}


@pytest.mark.parametrize(("option", "value", "message"), [
    ("max_latency_s", -1, "max_latency_s must be a positive number of seconds"),
    ("max_latency_s", 0, "max_latency_s must be a positive number of seconds"),
    ("latency_weight", -0.5, "latency_weight must be a finite number >= 0"),
    ("latency_weight", math.inf, "latency_weight must be a finite number >= 0"),
])
async def test_bad_latency_options_are_refused_before_any_call(router, openai_server, option, value,
                                                               message):
    with pytest.raises(InvalidRequestError, match=message):
        router.complete(MATH, **{option: value})
    with pytest.raises(InvalidRequestError, match=message):
        router.stream(MATH, **{option: value})
    with pytest.raises(InvalidRequestError, match=message):
        await router.acomplete(MATH, **{option: value})
    with pytest.raises(InvalidRequestError, match=message):
        router.astream(MATH, **{option: value})  # checked at once, before the first iteration
    assert openai_server.total_calls == 0


# --- streams --------------------------------------------------------------------------------


def test_a_stream_yields_typed_chunks_and_ends_with_usage_and_cost(router, openai_server):
    stream = router.stream(CODE, tradeoff=0.5)
    assert isinstance(stream, RoutedStream) and stream.model == stream.decision.model
    assert stream.usage is None and stream.result is None
    chunks = list(stream)
    assert all(isinstance(c, ChatChunk) for c in chunks)
    assert "".join(c.text for c in chunks) == stream.text == f"[{stream.model}] {CODE}"
    assert stream.usage is not None and stream.usage.completion_tokens == len(CODE.split()) + 1
    pin, pout = PRICES[stream.model]
    assert stream.cost_usd == pytest.approx(
        (stream.usage.prompt_tokens * pin + stream.usage.completion_tokens * pout) / 1e6)
    assert stream.result.text == stream.text and stream.result.model == stream.model
    assert calls(openai_server) == {stream.model: 1}


def test_a_streamed_tool_call_is_assembled_at_the_end(router, openai_server):
    stream = router.stream(f"{MATH} with 5", tradeoff=0, tools=[SQUARE_TOOL])
    chunks = list(stream)
    assert any(c.tool_calls for c in chunks) and stream.text == ""
    assert [(c.name, c.parse_arguments()) for c in stream.result.tool_calls] == [
        ("square", {"input": 3})]
    assert stream.result.finish_reason == "tool_calls"


@pytest.mark.parametrize("faults", [["500", "reset"], ["drop:0", "503"], ["429", "drop:1"]])
def test_a_stream_falls_back_before_its_first_chunk(router, openai_server, faults):
    top, nxt = order(router, tradeoff=0)[:2]
    openai_server.script(top, faults)
    with router.stream(MATH, tradeoff=0) as stream:
        assert stream.model == nxt
        text = "".join(c.text for c in stream)
    assert text == f"[{nxt}] {MATH}"
    assert [a.model for a in stream.attempts] == [top, top, nxt]
    assert calls(openai_server) == {top: 2, nxt: 1}


def test_a_stream_broken_after_its_first_chunk_raises_with_the_partial_text(router, openai_server):
    top = order(router, tradeoff=0)[0]
    openai_server.script(top, ["drop:4"])  # the empty role chunk, three words, a closed socket
    stream = router.stream(MATH, tradeoff=0)
    received = []
    with pytest.raises(StreamInterruptedError) as info:
        for chunk in stream:
            received.append(chunk.text)
    assert info.value.text == f"[{top}] prove that " == "".join(received)
    assert len(info.value.chunks) == 4  # everything received, the empty role chunk included
    assert calls(openai_server) == {top: 1}  # no fallback once text has reached the caller


async def test_astream_falls_back_before_the_first_chunk(router, openai_server, async_pools):
    top, nxt = order(router, tradeoff=0)[:2]
    openai_server.script(top, ["500", "drop:1"])  # drop:1: only the empty role chunk came
    stream = router.astream(MATH, tradeoff=0)
    assert stream.model is None  # routing starts on the first iteration
    text = "".join([c.text async for c in stream])
    assert stream.model == nxt and text == f"[{nxt}] {MATH}"
    assert stream.usage is not None and stream.cost_usd is not None
    assert calls(openai_server) == {top: 2, nxt: 1}


async def test_astream_opened_with_await_then_broken(router, openai_server, async_pools):
    top = order(router, tradeoff=0)[0]
    openai_server.script(top, ["drop:3"])
    stream = await router.astream(MATH, tradeoff=0)
    assert stream.model == top
    with pytest.raises(StreamInterruptedError) as info:
        async for _ in stream:
            pass
    assert info.value.text == f"[{top}] prove "
    assert calls(openai_server) == {top: 1}


# --- async and concurrency ------------------------------------------------------------------


async def test_acomplete_falls_back(router, openai_server, async_pools):
    top, nxt = order(router, tradeoff=0)[:2]
    openai_server.script(top, ["503", "reset"])
    answer = await router.acomplete(MATH, tradeoff=0)
    assert answer.model == nxt and answer.text == f"[{nxt}] {MATH}"
    assert calls(openai_server) == {top: 2, nxt: 1}


async def test_200_concurrent_calls_with_faults_all_complete(router, openai_server, async_pools):
    router.retry_policy = RetryPolicy(max_attempts_per_model=1, cooldown_s=0)
    router.set_endpoints(default=Endpoint(base_url=openai_server.base_url,
                                          api_key=SecretStr(KEY), timeout=30.0))
    prompts = [f"prove that {i} plus 4 is an integer" for i in range(200)]
    decisions = router.route_batch(prompts, tradeoff=0, candidates=["big", "coder"])
    top, nxt = decisions[0].model, decisions[0].fallbacks[0]
    assert all([d.model, *d.fallbacks] == [top, nxt] for d in decisions)
    faults = ["500", "502", "503", "429", "reset"] * 6  # 30 of the 200 first attempts fail
    openai_server.script(top, faults)

    answers = await asyncio.gather(
        *(router.acomplete(p, tradeoff=0, candidates=["big", "coder"]) for p in prompts)
    )

    assert [a.text for a in answers] == [f"[{a.model}] {p}" for a, p in zip(answers, prompts, strict=True)]
    assert sum(a.model == nxt for a in answers) == len(faults)
    assert sum(a.model == top for a in answers) == 200 - len(faults)
    assert calls(openai_server) == {top: 200, nxt: len(faults)}
    assert openai_server.pending(top) == 0
    sent = [json.dumps(r.body["messages"]) + r.model for r in openai_server.requests]
    assert len(set(sent)) == len(sent) == 200 + len(faults)  # no request sent twice to a model


# --- cost and usage -------------------------------------------------------------------------


def test_costs_and_usage_add_up(router, openai_server):
    answers = [router.complete(p, tradeoff=t) for p in (MATH, CODE, CHAT) for t in (0, 0.5, 1)]
    assert {a.model for a in answers} == {"big", "coder", "tiny"}
    expected = 0.0
    for a in answers:
        assert a.cost_source == "list_price"
        u = a.usage
        assert u.total_tokens == u.prompt_tokens + u.completion_tokens
        pin, pout = PRICES[a.model]
        expected += (u.prompt_tokens * pin + u.completion_tokens * pout) / 1e6
    assert sum(a.cost_usd for a in answers) == pytest.approx(expected, rel=1e-12)
    assert sum(a.usage.total_tokens for a in answers) == sum(
        len(r.body["messages"][0]["content"].split()) for r in openai_server.requests
    ) + sum(len(a.text.split()) for a in answers)


def test_the_providers_reported_cost_wins(router, openai_server):
    openai_server.report_cost = True
    answer = router.complete(MATH, tradeoff=0)
    assert answer.cost_source == "provider"
    assert answer.cost_usd == pytest.approx(answer.usage.total_tokens * 1e-6)


def test_catalog_prices_cost_catalog_models_and_unknown_prices_cost_none(router, openai_server):
    router.add_model("openai/gpt-4o-mini", task_scores={"math": 1.0, "code": 1.0, "chat": 1.0},
                     price=(0.15, 0.6))
    answer = router.complete(MATH, tradeoff=0, candidates=["openai/gpt-4o-mini"])
    assert answer.model == "openai/gpt-4o-mini"
    card = autorouter.Catalog.default().get("openai/gpt-4o-mini")
    assert openai_server.requests[-1].body["model"] == card.id  # the catalog (OpenRouter) id
    u = answer.usage
    assert answer.cost_usd == pytest.approx(card.cost_usd(u.prompt_tokens, u.completion_tokens))

    router.prices = None  # "big" is in no catalog: its cost is unknown, not made up
    assert router.complete(MATH, tradeoff=0, candidates=["big"]).cost_usd is None


# --- sessions -------------------------------------------------------------------------------


def test_a_session_stays_on_its_model_while_it_is_near_the_top(router, openai_server):
    top, nxt = order(router, tradeoff=0)[:2]
    openai_server.script(top, ["500", "500"])
    first = router.complete(MATH, tradeoff=0, session="conv-1")
    assert first.model == nxt  # answered by the fallback: the conversation is now on it

    router.session_margin = math.inf
    second = router.complete(MATH, tradeoff=0, session="conv-1")
    assert second.model == nxt and second.sticky and second.decision.model == top
    assert router.complete(MATH, tradeoff=0).model == top  # no session: the router's choice
    assert router.complete(MATH, tradeoff=0, session="other").model == top

    router.session_margin = 0.0  # too far below the top now: the session moves to the top model
    third = router.complete(MATH, tradeoff=0, session="conv-1")
    assert third.model == top and not third.sticky
    router.session_margin = math.inf
    assert router.complete(MATH, tradeoff=0, session="conv-1").model == top


def test_a_session_leaves_a_model_that_is_no_longer_eligible(router, openai_server):
    router.session_margin = math.inf
    assert router.complete(CHAT, tradeoff=1, session="s").model == "tiny"
    assert router.complete(MATH, tradeoff=0, session="s").model == "tiny"  # sticky
    router.set_limits("tiny", ModelLimits(context_window=3))
    answer = router.complete(MATH, tradeoff=0, session="s")
    assert answer.model == answer.decision.model != "tiny"


def test_stream_sessions_and_a_bounded_session_store(router, openai_server):
    router.session_margin = math.inf
    router.session_capacity = 2
    for s in ("a", "b", "c"):
        with router.stream(CHAT, tradeoff=1, session=s) as stream:
            list(stream)
    store = router.caller.sessions
    assert len(store) == 2 and store.get("a") is None and store.get("c") == "tiny"
    s = router.stream(MATH, tradeoff=0, session="c")
    assert s.model == "tiny" and s.sticky
    list(s)
    router.forget_session("c")
    assert router.complete(MATH, tradeoff=0, session="c").model == order(router, tradeoff=0)[0]


# --- endpoints ------------------------------------------------------------------------------


def which(server: OpenAIServer) -> tuple[str, str, str | None]:
    r = server.requests[-1]
    return r.model, r.headers.get("x-endpoint", "default"), r.headers.get("authorization")


def test_endpoints_per_model_and_per_provider(router, openai_server, monkeypatch):
    monkeypatch.setenv("MY_OPENAI_KEY", "sk-openai")
    router.add_model("openai/gpt-4o-mini", task_scores={"math": 1.0, "code": 1.0, "chat": 1.0},
                     price=(0.15, 0.6))
    url = openai_server.base_url

    def ep(name: str, **kw) -> Endpoint:
        return Endpoint(base_url=url, headers={"x-endpoint": name}, **kw)

    router.set_endpoints(
        {"openai": ep("openai", api_key_env="MY_OPENAI_KEY"), "coder": ep("coder", api_key_env=None),
         "tiny": ep("ollama", api_key_env=None)},
        default=ep("default", api_key=SecretStr(KEY)),
        model_names={"tiny": "llama3.2:1b"},
    )
    card_id = autorouter.Catalog.default().get("openai/gpt-4o-mini").id

    def ask(model: str) -> RoutedCompletion:
        return router.complete(MATH, candidates=[model])

    assert ask("openai/gpt-4o-mini").model == "openai/gpt-4o-mini"
    assert which(openai_server) == (card_id.removeprefix("openai/"), "openai", "Bearer sk-openai")
    ask("coder")
    assert which(openai_server) == ("coder", "coder", None)
    answer = ask("tiny")
    assert which(openai_server) == ("llama3.2:1b", "ollama", None)
    assert answer.model == "tiny" and answer.upstream_model == "llama3.2:1b"
    ask("big")
    assert which(openai_server) == ("big", "default", f"Bearer {KEY}")

    # a model's own entry wins over its provider's, for this call only
    ask_mini = router.complete(MATH, candidates=["openai/gpt-4o-mini"],
                               endpoints={"openai/gpt-4o-mini": ep("mini", api_key_env=None)})
    assert ask_mini.model == "openai/gpt-4o-mini"
    assert which(openai_server) == (card_id, "mini", None)
    ask("openai/gpt-4o-mini")
    assert which(openai_server)[1] == "openai"


def test_models_can_live_on_different_servers(router, openai_server):
    with OpenAIServer() as other:
        router.set_endpoints({"coder": Endpoint(base_url=other.base_url, api_key_env=None)},
                             default=Endpoint(base_url=openai_server.base_url, api_key_env=None))
        top, nxt = order(router, tradeoff=0)[:2]
        assert nxt == "coder"
        openai_server.script(top, ["500", "500"])
        answer = router.complete(MATH, tradeoff=0)
        assert answer.model == "coder"
        assert calls(openai_server) == {top: 2} and dict(other.calls) == {"coder": 1}


def test_a_missing_key_names_its_variable_and_a_keyless_fallback_is_skipped(
    router, openai_server, monkeypatch
):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    top, nxt, last = order(router, tradeoff=0)
    router.set_endpoints({top: Endpoint(base_url=openai_server.base_url, api_key_env="NO_SUCH_KEY_VAR")},
                         default=Endpoint(base_url=openai_server.base_url, api_key_env=None))
    with pytest.raises(MissingAPIKeyError, match="NO_SUCH_KEY_VAR") as info:
        router.complete(MATH, tradeoff=0)
    assert info.value.env_var == "NO_SUCH_KEY_VAR"
    assert openai_server.total_calls == 0

    router.set_endpoints({nxt: Endpoint(base_url=openai_server.base_url, api_key_env="NO_SUCH_KEY_VAR")},
                         default=Endpoint(base_url=openai_server.base_url, api_key_env=None))
    openai_server.script(top, ["500", "500"])
    assert router.complete(MATH, tradeoff=0).model == last
    assert calls(openai_server) == {top: 2, last: 1}


def test_endpoints_are_configuration_not_learned_state(router, tmp_path):
    assert isinstance(router.endpoints, Endpoints)
    assert "127.0.0.1" in repr(router.endpoints)
    router.save(tmp_path / "r")
    assert "127.0.0.1" not in (tmp_path / "r" / "router.json").read_text()
    loaded = autorouter.Router.load(tmp_path / "r", embedder=hash_embed)
    assert loaded.endpoints is None  # a loaded router calls OpenRouter until told otherwise


# --- the chat command -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_router(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("chat")
    ds = autorouter.load_dataset(write_jsonl(make_rows(240), d / "train.jsonl.gz"))
    autorouter.Router(embedder="static", prices=PRICES).fit(ds).save(d / "router")
    return d / "router"


def test_chat_prints_the_answer_then_model_tokens_and_cost(saved_router, openai_server):
    res = runner.invoke(app, ["chat", CHAT, "--router", str(saved_router), "--tradeoff", "1",
                              "--base-url", openai_server.base_url],
                        env={"OPENROUTER_API_KEY": KEY, "COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[0] == f"[tiny] {CHAT}"
    assert lines[-1].startswith("model: tiny") and "tokens: 5 in + 6 out" in lines[-1]
    # The saved router keeps its list prices (tiny: $0.1 / $0.2 per 1M): 5 x 0.1e-6 + 6 x 0.2e-6
    assert "cost: $0.00000170 (list price)" in lines[-1]
    assert calls(openai_server) == {"tiny": 1}
    assert openai_server.requests[-1].headers["authorization"] == f"Bearer {KEY}"


def test_chat_says_the_cost_is_unknown_when_no_price_is_known(tmp_path, openai_server):
    ds = autorouter.load_dataset(write_jsonl(make_rows(240), tmp_path / "train.jsonl.gz"))
    autorouter.Router(embedder="static").fit(ds).save(tmp_path / "router")  # data costs, no prices
    res = runner.invoke(app, ["chat", CHAT, "--router", str(tmp_path / "router"), "--tradeoff", "1",
                              "--base-url", openai_server.base_url],
                        env={"OPENROUTER_API_KEY": KEY, "COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    # "tiny" is in no catalog and the router has no price for it: unknown, and said to be
    assert "cost: unknown" in res.output.strip().splitlines()[-1]


def test_chat_streams(saved_router, openai_server):
    openai_server.report_cost = True
    res = runner.invoke(app, ["chat", MATH, "--router", str(saved_router), "--tradeoff", "0",
                              "--stream", "--base-url", openai_server.base_url],
                        env={"OPENROUTER_API_KEY": KEY, "COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[0] == f"[big] {MATH}"
    assert lines[-1].startswith("model: big") and "reported by the provider" in lines[-1]


def test_chat_caps_latency(saved_router, openai_server, tmp_path):
    timed = add_timed_models(autorouter.Router.load(saved_router))
    timed.save(tmp_path / "timed")
    assert timed.route(MATH, tradeoff=0, latency_weight=0).model == "slow-thinker"
    expected = timed.route(MATH, tradeoff=0, max_latency_s=3).model
    assert expected not in ("slow-thinker", "steady")
    for extra in ([], ["--stream"]):
        res = runner.invoke(app, ["chat", MATH, "--router", str(tmp_path / "timed"), "--tradeoff", "0",
                                  "--max-latency", "3", "--latency-weight", "0.0005", *extra,
                                  "--base-url", openai_server.base_url],
                            env={"OPENROUTER_API_KEY": KEY, "COLUMNS": "200"})
        assert res.exit_code == 0, res.output
        assert res.output.splitlines()[0] == f"[{expected}] {MATH}"
    assert calls(openai_server) == {expected: 2}
    res = runner.invoke(app, ["chat", MATH, "--router", str(tmp_path / "timed"), "--max-latency", "-1",
                              "--base-url", openai_server.base_url],
                        env={"OPENROUTER_API_KEY": KEY, "COLUMNS": "200"})
    assert res.exit_code == 2 and "max_latency_s must be a positive number" in res.output
    assert "Traceback" not in res.output and openai_server.total_calls == 2


def test_chat_without_a_key_names_the_variable_and_shows_the_decision(saved_router, openai_server):
    res = runner.invoke(app, ["chat", CHAT, "--router", str(saved_router), "--tradeoff", "1",
                              "--base-url", openai_server.base_url],
                        env={"OPENROUTER_API_KEY": None, "COLUMNS": "200"})
    assert res.exit_code != 0
    assert "OPENROUTER_API_KEY" in res.output
    assert "would send this prompt to tiny" in res.output
    assert "Traceback" not in res.output
    assert openai_server.total_calls == 0


def test_chat_without_a_router_uses_the_bundled_one_or_says_why_not(openai_server):
    res = runner.invoke(app, ["chat", "hi", "--base-url", openai_server.base_url],
                        env={"OPENROUTER_API_KEY": None, "COLUMNS": "200"})
    assert res.exit_code != 0 and "Traceback" not in res.output
    try:
        autorouter.Router.default()
    except autorouter.RouterLoadError as e:
        assert "default router is missing" in res.output or str(e)[:40] in res.output
    else:
        assert "OPENROUTER_API_KEY" in res.output and "would send this prompt to" in res.output


# --- a real provider, only on request ----------------------------------------------------------


@pytest.mark.live
@pytest.mark.skipif(
    not (os.environ.get("OPENROUTER_API_KEY") and os.environ.get("AUTOROUTER_LIVE_TESTS") == "1"),
    reason="needs OPENROUTER_API_KEY and AUTOROUTER_LIVE_TESTS=1",
)
def test_live_openrouter_call(base_router):  # pragma: no cover - network
    r = copy.deepcopy(base_router)
    r.add_model("openai/gpt-4o-mini", task_scores={"math": 1.0, "code": 1.0, "chat": 1.0},
                price=(0.15, 0.6))
    answer = r.complete("Say OK.", candidates=["openai/gpt-4o-mini"], max_tokens=5)
    assert answer.text and answer.cost_usd is not None


def test_a_saved_and_loaded_router_charges_calls_at_its_own_prices(router, openai_server, tmp_path):
    """Prices given to Router(prices=...) survive save/load: the loaded router reports the same
    cost for the same call (they were lost, leaving the cost unknown)."""
    before = router.complete(MATH, tradeoff=0, candidates=["big"])
    assert before.cost_usd is not None
    router.save(tmp_path / "r")
    loaded = autorouter.Router.load(tmp_path / "r", embedder=hash_embed)
    assert loaded.prices == {m: tuple(map(float, p)) for m, p in PRICES.items()}
    loaded.set_endpoints(default=Endpoint(base_url=openai_server.base_url, api_key=SecretStr(KEY), timeout=2.0))
    loaded.retry_policy = FAST
    after = loaded.complete(MATH, tradeoff=0, candidates=["big"])
    assert after.usage == before.usage and after.cost_usd == pytest.approx(before.cost_usd)


@pytest.mark.parametrize("bad", [[1.0], "cheap", [1.0, -2.0], [True, 1.0], {"a": 1}])
def test_a_saved_router_with_garbled_prices_is_a_load_error(router, tmp_path, bad):
    import json

    router.save(tmp_path / "r")
    meta = json.loads((tmp_path / "r" / "router.json").read_text())
    meta["params"]["prices"] = {"big": bad}
    (tmp_path / "r" / "router.json").write_text(json.dumps(meta))
    with pytest.raises(autorouter.RouterLoadError, match="price"):
        autorouter.Router.load(tmp_path / "r", embedder=hash_embed)


# --- a dead endpoint ------------------------------------------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_dead_endpoint_is_tried_once_per_call_and_reported_once(base_router):
    r = copy.deepcopy(base_router)
    dead = f"http://127.0.0.1:{_closed_port()}/v1"
    r.set_endpoints(default=Endpoint(base_url=dead, api_key=SecretStr(KEY)))
    r.retry_policy = RetryPolicy(cooldown_s=0)  # the default backoff: 0.25 s per retry
    with pytest.raises(FallbackExhaustedError) as caught:
        r.complete(MATH, tradeoff=0)
    first, *others = caught.value.failures
    assert "cannot reach" in str(first[1])
    assert others and all("not tried" in str(e) for _, e in others)
    message = str(caught.value)
    assert message.count("not tried") == 1 and len(message) < 400  # one line for the rest
    assert all(m in message for m in r.models_)


async def test_a_dead_endpoint_is_skipped_for_the_live_one(base_router, openai_server, async_pools):
    r = copy.deepcopy(base_router)
    dead = Endpoint(base_url=f"http://127.0.0.1:{_closed_port()}/v1", api_key=SecretStr(KEY))
    live = Endpoint(base_url=openai_server.base_url, api_key=SecretStr(KEY))
    top, *rest = order(r, tradeoff=0)
    r.set_endpoints({m: dead for m in [top, *rest[:-1]]} | {rest[-1]: live})
    r.retry_policy = RetryPolicy(cooldown_s=0)
    stream = await r.astream(MATH, tradeoff=0)
    assert "".join([c.text async for c in stream]) == f"[{rest[-1]}] {MATH}"
    assert [a.model for a in stream.attempts] == [top, *rest]  # one attempt each


def test_the_library_never_writes_to_stderr_by_itself():
    import subprocess
    import sys

    code = "import autorouter, logging; logging.getLogger('autorouter.calls').warning('x')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr == ""


def test_chat_leaves_a_hanging_model_after_the_attempt_timeout(saved_router, openai_server):
    import time

    openai_server.script("tiny", ["stall:30"])
    start = time.monotonic()
    res = runner.invoke(app, ["chat", CHAT, "--router", str(saved_router), "--tradeoff", "1",
                              "--attempt-timeout", "0.5", "--base-url", openai_server.base_url],
                        env={"OPENROUTER_API_KEY": KEY, "COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert time.monotonic() - start < 5
    first = res.output.strip().splitlines()[0]
    assert first.endswith(f"] {CHAT}") and not first.startswith("[tiny]")
    bad = runner.invoke(app, ["chat", CHAT, "--router", str(saved_router), "--attempt-timeout", "0"])
    assert bad.exit_code == 2
