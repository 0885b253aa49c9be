"""`ChatAutoRouter` in the code people already have: LCEL chains, `create_agent`, a LangGraph
loop, callbacks, fallbacks, stickiness and the metadata of its answers.

Every wrapped model is a real `ChatOpenAI` talking HTTP to the shared test server
(tests/openai_server.py), which answers `"[<model>] <last user message>"`, calls the first
(or the forced) tool when tools are bound and the last message is the user's, and answers
`"[<model>] tool result: ..."` after a tool result. Faults are scripted per model there.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import openai
import pytest
from langchain_core.callbacks import BaseCallbackHandler, UsageMetadataCallbackHandler
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableBinding, RunnableLambda
from langchain_core.tools import tool
from pydantic import BaseModel, Field, SecretStr

import autorouter
from autorouter.client import Endpoint
from autorouter.errors import (
    FallbackExhaustedError,
    InvalidRequestError,
    MissingAPIKeyError,
    NoCandidateError,
    StreamInterruptedError,
    UnknownModelError,
)
from autorouter.reliability import default_cooldowns
from langchain_autorouter import ChatAutoRouter
from lc_support import (
    CATALOG_NAMES,
    FAST_POLICY,
    MODELS,
    chat_openai,
    fit_catalog_router,
    openai_candidates,
)
from openai_server import OpenAIServer
from synthetic import TIMED, add_timed_models

HELLO = "hello there friend, how are you doing today"
CODE = "write a python function to sort 12 lists"


@tool
def get_weather(city: str) -> str:
    """Get the weather in a city."""
    return f"sunny in {city}"


@tool
def get_time(city: str) -> str:
    """Get the local time in a city."""
    return f"noon in {city}"


def ranking(router: autorouter.Router, prompt: str, **kw: Any) -> list[str]:
    decision = router.route(prompt, **kw)
    return [decision.model, *decision.fallbacks]


def info(message: Any) -> dict[str, Any]:
    return message.response_metadata["autorouter"]


class StartCounter(BaseCallbackHandler):
    """Counts chat-model runs that reach user callbacks."""

    def __init__(self) -> None:
        self.starts: list[dict[str, Any]] = []
        self.ends = 0

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.starts.append(kwargs)

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self.ends += 1


# --- LCEL ------------------------------------------------------------------------------


def test_lcel_chain_invoke_stream_batch(make_llm: Any, router: autorouter.Router) -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{question}")])
    chain = prompt | make_llm() | StrOutputParser()
    first = ranking(router, CODE)[0]
    assert chain.invoke({"question": CODE}) == f"[{first}] {CODE}"
    assert "".join(chain.stream({"question": CODE})) == f"[{first}] {CODE}"
    answers = chain.batch([{"question": CODE}, {"question": HELLO}])
    assert answers == [f"[{first}] {CODE}", f"[{ranking(router, HELLO)[0]}] {HELLO}"]


async def test_lcel_chain_async(make_llm: Any, router: autorouter.Router) -> None:
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | make_llm() | StrOutputParser()
    first = ranking(router, CODE)[0]
    assert await chain.ainvoke({"q": CODE}) == f"[{first}] {CODE}"
    assert "".join([c async for c in chain.astream({"q": CODE})]) == f"[{first}] {CODE}"
    assert await chain.abatch([{"q": CODE}, {"q": CODE}]) == [f"[{first}] {CODE}"] * 2


# --- response metadata --------------------------------------------------------------------


def test_response_metadata_of_an_answer(make_llm: Any, router: autorouter.Router) -> None:
    decision = router.route(HELLO)
    message = make_llm().invoke(HELLO)
    meta = message.response_metadata
    assert meta["model_name"] == decision.model  # the model that answered
    assert meta["model_provider"] == "openai"
    assert meta["finish_reason"] == "stop"
    ours = meta["autorouter"]
    assert ours["model"] == decision.model
    assert ours["explanation"] == decision.explanation
    assert ours["tradeoff"] == decision.tradeoff
    assert [r["model"] for r in ours["ranking"]] == [r.model for r in decision.ranking]
    for entry, ranked in zip(ours["ranking"], decision.ranking, strict=True):
        assert entry["predicted_quality"] == pytest.approx(ranked.quality)
        assert entry["predicted_cost_usd"] == pytest.approx(ranked.cost_usd)
        assert entry["eligible"] is True
    assert ours["forced"] is False and ours["sticky"] is False and ours["fallback_from"] == []
    assert "cost_usd" in ours  # None: the catalog has no price for these synthetic models
    # usage is the candidate's, unchanged (the server counts words)
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_tokens"] == len(HELLO.split())
    assert message.usage_metadata["output_tokens"] == len(HELLO.split()) + 1
    # the message id is the router's run, not the hidden inner run of the candidate
    assert message.id is not None and message.id.startswith("lc_run--")


def test_stream_puts_model_name_and_decision_on_one_chunk(make_llm: Any, router: autorouter.Router) -> None:
    chunks = list(make_llm().stream(HELLO))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    with_name = [c for c in chunks if "model_name" in c.response_metadata]
    with_ours = [c for c in chunks if "autorouter" in c.response_metadata]
    assert len(with_name) == 1 and len(with_ours) == 1
    assert chunks[-1].chunk_position == "last" and "autorouter" in chunks[-1].response_metadata
    full = chunks[0]
    for c in chunks[1:]:
        full = full + c
    model = router.route(HELLO).model
    assert full.response_metadata["model_name"] == model  # not "tinytiny"
    assert full.response_metadata["autorouter"]["model"] == model
    assert full.text == f"[{model}] {HELLO}"
    assert full.usage_metadata is not None and full.usage_metadata["output_tokens"] > 0
    assert len({c.id for c in chunks}) == 1  # one message


def test_per_call_settings_and_forcing(make_llm: Any, router: autorouter.Router, openai_server: OpenAIServer) -> None:
    llm = make_llm()
    assert info(llm.invoke(HELLO, tradeoff=0.0))["model"] == router.route(HELLO, tradeoff=0.0).model
    assert info(llm.bind(tradeoff=1.0).invoke(HELLO))["model"] == router.route(HELLO, tradeoff=1.0).model
    assert info(make_llm(tradeoff=1.0).invoke(HELLO))["tradeoff"] == 1.0
    forced = llm.invoke(HELLO, model="big")
    assert forced.response_metadata["model_name"] == "big"
    assert info(forced)["forced"] is True and info(forced)["ranking"] == []
    # a candidate's own model name works too
    renamed = make_llm(candidates={"big": chat_openai(openai_server, "provider-big-v2"),
                                   "tiny": chat_openai(openai_server, "tiny")})
    assert renamed.invoke(HELLO, model="provider-big-v2").response_metadata["model_name"] == "provider-big-v2"
    with pytest.raises(UnknownModelError, match="not one of this router's candidates"):
        llm.invoke(HELLO, model="gpt-17")
    with pytest.raises(NoCandidateError):
        llm.invoke(HELLO, max_cost=1e-12)


@pytest.fixture
def timed_llm(make_llm: Any, router: autorouter.Router, openai_server: OpenAIServer) -> Any:
    """`timed_llm(**fields)`: a ChatAutoRouter over the candidates of known speed (`TIMED`)."""
    timed = add_timed_models(copy.deepcopy(router))  # the session's router stays as it is

    def make(**fields: Any) -> Any:
        return make_llm(router=timed, candidates=openai_candidates(openai_server, list(TIMED)), **fields)

    return make


def test_max_latency_excludes_the_models_predicted_slower(timed_llm: Any, openai_server: OpenAIServer) -> None:
    llm = timed_llm(tradeoff=0.0)
    assert info(llm.invoke(HELLO))["model"] == "slow-thinker"

    message = timed_llm(tradeoff=0.0, max_latency_s=3).invoke(HELLO)

    assert message.response_metadata["model_name"] == "quick" and message.text == f"[quick] {HELLO}"
    report = info(message)
    assert report["model"] == "quick" and report["max_latency_s"] == 3
    entries = {r["model"]: r for r in report["ranking"]}
    assert entries["quick"]["eligible"] and entries["quick"]["latency_s"] == pytest.approx(1.7, abs=0.1)
    for slow in ("slow-thinker", "steady"):
        assert not entries[slow]["eligible"] and entries[slow]["latency_s"] > 3
        assert entries[slow]["excluded_because"].endswith("is above max_latency_s 3s")
    # per call, through .bind, and streamed
    assert info(llm.invoke(HELLO, max_latency_s=3))["model"] == "quick"
    assert info(llm.bind(max_latency_s=3).invoke(HELLO))["max_latency_s"] == 3
    full = None
    for chunk in llm.stream(HELLO, max_latency_s=3):
        full = chunk if full is None else full + chunk
    assert full is not None and info(full)["model"] == "quick" and full.text == f"[quick] {HELLO}"
    # the weight of latency reaches the score
    assert info(llm.invoke(HELLO, tradeoff=0.5))["model"] == "steady"
    assert info(timed_llm(tradeoff=0.5, latency_weight=0.1).invoke(HELLO))["model"] == "quick"
    assert openai_server.calls["slow-thinker"] == 1 and openai_server.calls["steady"] == 1
    assert "max_latency_s" not in openai_server.requests[-1].body  # the router's own setting
    sent = openai_server.total_calls

    with pytest.raises(NoCandidateError, match="is above max_latency_s 0.5s"):
        llm.invoke(HELLO, max_latency_s=0.5)
    with pytest.raises(InvalidRequestError, match="max_latency_s must be a positive number"):
        llm.invoke(HELLO, max_latency_s=-1)
    with pytest.raises(InvalidRequestError, match="latency_weight must be a finite number >= 0"):
        timed_llm(latency_weight=-1.0).invoke(HELLO)
    assert openai_server.total_calls == sent


async def test_max_latency_async(timed_llm: Any, openai_server: OpenAIServer) -> None:
    llm = timed_llm(tradeoff=0.0, max_latency_s=3)
    assert info(await llm.ainvoke(HELLO))["model"] == "quick"
    chunks = [c async for c in llm.astream(HELLO)]
    assert info(chunks[-1])["model"] == "quick"
    with pytest.raises(InvalidRequestError, match="max_latency_s must be a positive number"):
        await llm.ainvoke(HELLO, max_latency_s=-1)
    assert openai_server.calls["quick"] == 2 and openai_server.total_calls == 2


# --- callbacks --------------------------------------------------------------------------


def test_usage_callback_counts_each_call_once(make_llm: Any) -> None:
    llm = make_llm()
    handler = UsageMetadataCallbackHandler()
    counter = StartCounter()
    message = llm.invoke(HELLO, config={"callbacks": [handler, counter]})
    assert handler.usage_metadata == {message.response_metadata["model_name"]: message.usage_metadata}
    assert len(counter.starts) == 1 and counter.ends == 1

    handler, counter = UsageMetadataCallbackHandler(), StartCounter()
    full = None
    for chunk in llm.stream(HELLO, config={"callbacks": [handler, counter]}):
        full = chunk if full is None else full + chunk
    assert full is not None and full.usage_metadata is not None
    [(name, usage)] = handler.usage_metadata.items()
    assert name == full.response_metadata["model_name"]
    assert usage["total_tokens"] == full.usage_metadata["total_tokens"]
    assert len(counter.starts) == 1 and counter.ends == 1


def test_usage_callback_in_a_chain_with_fallback(make_llm: Any, router: autorouter.Router, openai_server: OpenAIServer) -> None:
    first, second = ranking(router, HELLO)[:2]
    openai_server.set_mode(first, "503")
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | make_llm() | StrOutputParser()
    handler, counter = UsageMetadataCallbackHandler(), StartCounter()
    assert chain.invoke({"q": HELLO}, config={"callbacks": [handler, counter]}) == f"[{second}] {HELLO}"
    assert list(handler.usage_metadata) == [second]  # the failed tries cost nothing, counted once
    assert len(counter.starts) == 1 and counter.ends == 1


def test_candidate_whose_bind_tools_is_no_plain_binding_stays_isolated(
    router: autorouter.Router, openai_server: OpenAIServer
) -> None:
    """A provider whose bind_tools wraps its binding (here: a binding over a binding) is
    invoked through that wrapper, whose config merge would pull the caller's callbacks in
    from the context; it still runs unseen, also inside a chain."""
    base = type(chat_openai(openai_server, "big"))

    class WrappedTools(base):  # type: ignore[misc, valid-type]
        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return RunnableBinding(bound=super().bind_tools(tools, **kwargs), kwargs={}, config={"tags": ["inner"]})

    candidates = {n: WrappedTools(model=n, base_url=openai_server.base_url, api_key="test", max_retries=0,
                                  stream_usage=True, timeout=openai.Timeout(5.0)) for n in MODELS}
    assert candidates["big"].bind_tools([get_weather]).bound is not candidates["big"]
    llm = ChatAutoRouter(router=router, candidates=candidates, retry_policy=FAST_POLICY)
    chain = RunnableLambda(lambda q: [HumanMessage(q)]) | llm.bind_tools([get_weather])
    handler, counter = UsageMetadataCallbackHandler(), StartCounter()
    message = chain.invoke("weather in Paris", config={"callbacks": [handler, counter]})
    assert message.tool_calls and message.tool_calls[0]["name"] == "get_weather"
    assert len(counter.starts) == 1
    [(_name, usage)] = handler.usage_metadata.items()
    assert usage["total_tokens"] == message.usage_metadata["total_tokens"]
    counter = StartCounter()
    assert list(chain.stream("weather in Paris", config={"callbacks": [counter]}))
    assert len(counter.starts) == 1


async def test_candidate_whose_bind_tools_is_no_plain_binding_stays_isolated_async(
    router: autorouter.Router, openai_server: OpenAIServer
) -> None:
    base = type(chat_openai(openai_server, "big"))

    class WrappedTools(base):  # type: ignore[misc, valid-type]
        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return RunnableBinding(bound=super().bind_tools(tools, **kwargs), kwargs={}, config={"tags": ["inner"]})

    candidates = {n: WrappedTools(model=n, base_url=openai_server.base_url, api_key="test", max_retries=0,
                                  stream_usage=True, timeout=openai.Timeout(5.0)) for n in MODELS}
    llm = ChatAutoRouter(router=router, candidates=candidates, retry_policy=FAST_POLICY)
    chain = RunnableLambda(lambda q: [HumanMessage(q)]) | llm.bind_tools([get_weather])
    counter = StartCounter()
    message = await chain.ainvoke("weather in Paris", config={"callbacks": [counter]})
    assert message.tool_calls and len(counter.starts) == 1
    chunks = [c async for c in chain.astream("weather in Paris", config={"callbacks": [counter]})]
    assert chunks and len(counter.starts) == 2


def test_candidates_run_with_tracing_off(router: autorouter.Router, openai_server: OpenAIServer) -> None:
    """An isolated inner call must not become an orphan LangSmith trace."""
    from langsmith.run_helpers import get_tracing_context

    seen: list[Any] = []
    base = type(chat_openai(openai_server, "big"))

    class Probe(base):  # type: ignore[misc, valid-type]
        def _generate(self, *args: Any, **kwargs: Any) -> Any:
            seen.append(get_tracing_context()["enabled"])
            return super()._generate(*args, **kwargs)

        def _stream(self, *args: Any, **kwargs: Any) -> Any:
            seen.append(get_tracing_context()["enabled"])
            yield from super()._stream(*args, **kwargs)

    candidates = {n: Probe(model=n, base_url=openai_server.base_url, api_key="test", max_retries=0,
                           timeout=openai.Timeout(5.0)) for n in MODELS}
    llm = ChatAutoRouter(router=router, candidates=candidates, retry_policy=FAST_POLICY)
    llm.invoke(HELLO)
    list(llm.stream(HELLO))
    assert seen == [False, False]
    assert get_tracing_context()["enabled"] is None  # the caller's context is untouched


# --- fallback ---------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "503", "429", "reset"])
def test_retryable_failure_falls_back_to_the_next_model(
    fault: str, make_llm: Any, router: autorouter.Router, openai_server: OpenAIServer
) -> None:
    first, second = ranking(router, HELLO)[:2]
    openai_server.set_mode(first, fault)
    message = make_llm().invoke(HELLO)
    assert message.content == f"[{second}] {HELLO}"
    assert message.response_metadata["model_name"] == second
    assert info(message)["fallback_from"] == [first]
    assert f"answered by {second} after {first} failed" in info(message)["explanation"]
    assert openai_server.calls[first] == FAST_POLICY.max_attempts_per_model
    assert openai_server.calls[second] == 1


def test_timeout_falls_back(router: autorouter.Router, openai_server: OpenAIServer) -> None:
    first, second = ranking(router, HELLO)[:2]
    openai_server.set_mode(first, "stall:2")
    candidates = openai_candidates(openai_server)
    candidates[first] = chat_openai(openai_server, first, timeout=openai.Timeout(0.3))
    llm = ChatAutoRouter(router=router, candidates=candidates, retry_policy=FAST_POLICY)
    assert llm.invoke(HELLO).response_metadata["model_name"] == second


def test_transient_failure_then_recovery_stays_on_the_first_model(make_llm: Any, router: autorouter.Router, openai_server: OpenAIServer) -> None:
    first = ranking(router, HELLO)[0]
    openai_server.script(first, ["500"])  # one failure, then answers
    message = make_llm().invoke(HELLO)
    assert message.response_metadata["model_name"] == first
    assert info(message)["fallback_from"] == [] and openai_server.calls[first] == 2


@pytest.mark.parametrize("fault", ["401", "400", "403"])
def test_request_errors_surface_unchanged_after_one_call(
    fault: str, make_llm: Any, router: autorouter.Router, openai_server: OpenAIServer
) -> None:
    first = ranking(router, HELLO)[0]
    openai_server.set_mode(first, fault)
    expected = {"401": openai.AuthenticationError, "400": openai.BadRequestError,
                "403": openai.PermissionDeniedError}[fault]
    with pytest.raises(expected):
        make_llm().invoke(HELLO)
    assert openai_server.total_calls == 1
    with pytest.raises(expected):
        list(make_llm().stream(HELLO))
    assert openai_server.total_calls == 2


def test_every_model_failing_raises_fallback_exhausted(make_llm: Any, openai_server: OpenAIServer) -> None:
    for name in MODELS:
        openai_server.set_mode(name, "502")
    with pytest.raises(FallbackExhaustedError) as caught:
        make_llm().invoke(HELLO)
    assert sorted(caught.value.models) == sorted(MODELS)
    assert openai_server.total_calls == len(MODELS) * FAST_POLICY.max_attempts_per_model


@pytest.mark.parametrize("fault", ["500", "429", "reset", "drop:0", "drop:1"])
def test_stream_falls_back_before_its_first_chunk(
    fault: str, make_llm: Any, router: autorouter.Router, openai_server: OpenAIServer
) -> None:
    """drop:1 sends OpenAI's empty role chunk, then breaks: still no output, so it falls back."""
    first, second = ranking(router, HELLO)[:2]
    openai_server.set_mode(first, fault)
    chunks = list(make_llm().stream(HELLO))
    assert "".join(c.text for c in chunks) == f"[{second}] {HELLO}"
    assert [c.response_metadata["model_name"] for c in chunks if "model_name" in c.response_metadata] == [second]
    assert chunks[-1].response_metadata["autorouter"]["fallback_from"] == [first]
    assert openai_server.calls[second] == 1


def test_stream_broken_after_output_is_not_retried(make_llm: Any, router: autorouter.Router, openai_server: OpenAIServer) -> None:
    first = ranking(router, HELLO)[0]
    openai_server.set_mode(first, "drop:3")  # role chunk, then text, then the connection drops
    received = []
    with pytest.raises(StreamInterruptedError) as caught:
        for chunk in make_llm().stream(HELLO):
            received.append(chunk.text)
    assert "".join(received) == caught.value.text and received
    assert openai_server.total_calls == 1  # nothing sent twice


async def test_async_fallbacks(make_llm: Any, router: autorouter.Router, openai_server: OpenAIServer) -> None:
    first, second = ranking(router, HELLO)[:2]
    openai_server.set_mode(first, "500")
    llm = make_llm()
    message = await llm.ainvoke(HELLO)
    assert message.response_metadata["model_name"] == second
    default_cooldowns.clear()
    chunks = [c async for c in llm.astream(HELLO)]
    assert "".join(c.text for c in chunks) == f"[{second}] {HELLO}"
    assert chunks[-1].response_metadata["autorouter"]["fallback_from"] == [first]
    openai_server.set_mode(first, "401")
    default_cooldowns.clear()
    before = openai_server.total_calls
    with pytest.raises(openai.AuthenticationError):
        await llm.ainvoke(HELLO)
    with pytest.raises(openai.AuthenticationError):
        [c async for c in llm.astream(HELLO)]
    assert openai_server.total_calls == before + 2


# --- tools, stickiness and capabilities ----------------------------------------------------


def test_tool_turns_stick_to_the_model_that_started_them(make_llm: Any, router: autorouter.Router) -> None:
    llm = make_llm().bind_tools([get_weather, get_time])
    question = HumanMessage("what is the weather in Paris")
    call = llm.invoke([question])
    started = info(call)["model"]
    result = ToolMessage("sunny", tool_call_id=call.tool_calls[0]["id"])
    # a tradeoff under which the router alone would pick another model for this conversation
    other = next(t for t in (0.0, 1.0) if router.route([question], tradeoff=t).model != started)
    answer = llm.invoke([question, call, result], tradeoff=other)
    assert info(answer)["model"] == started and info(answer)["sticky"] is True
    assert "kept for the tool turns" in info(answer)["explanation"]
    streamed = list(llm.stream([question, call, result], tradeoff=other))
    assert streamed[-1].response_metadata["autorouter"]["model"] == started
    # a new user message routes afresh
    fresh = llm.invoke([question, call, result, answer, HumanMessage(HELLO)], tradeoff=other)
    assert info(fresh)["sticky"] is False
    assert info(fresh)["model"] == router.route(HELLO, tradeoff=other).model


def test_stickiness_reads_model_name_when_our_key_is_gone(make_llm: Any) -> None:
    llm = make_llm().bind_tools([get_weather])
    call = AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Oslo"}, "id": "c1"}],
                     response_metadata={"model_name": "coder"})
    messages = [HumanMessage("weather in Oslo?"), call, ToolMessage("rain", tool_call_id="c1")]
    for tradeoff in (0.0, 1.0):
        assert info(llm.invoke(messages, tradeoff=tradeoff))["model"] == "coder"
    streamed = list(llm.stream(messages, tradeoff=0.0))
    assert streamed[-1].response_metadata["autorouter"]["model"] == "coder"


def test_tools_go_only_to_tool_capable_candidates(router: autorouter.Router, openai_server: OpenAIServer) -> None:
    candidates: dict[str, Any] = openai_candidates(openai_server)
    candidates["coder"] = GenericFakeChatModel(messages=iter(["plain text"] * 5))  # no bind_tools
    llm = ChatAutoRouter(router=router, candidates=candidates, retry_policy=FAST_POLICY)
    assert llm.profile is not None and llm.profile.get("tool_calling") is True
    for tradeoff in (0.0, 0.5, 1.0):
        message = llm.bind_tools([get_weather]).invoke(CODE, tradeoff=tradeoff)
        assert message.tool_calls and info(message)["model"] != "coder"
        coder = next(r for r in info(message)["ranking"] if r["model"] == "coder")
        assert coder["eligible"] is False
    with pytest.raises(ValueError, match="cannot call tools"):
        llm.bind_tools([get_weather]).invoke(CODE, model="coder")


def test_a_candidate_of_unknown_tool_support_stays_eligible_as_in_the_core(
    router: autorouter.Router, openai_server: OpenAIServer
) -> None:
    """The router's rule: only a model known not to call tools is left out of a call with
    tools. So a candidate nobody vouches for either way (no profile, a model the catalog does
    not know) stays eligible beside those known to call tools, and the call goes where
    `Router.route` sends it; one the catalog says calls no tools is left out, as a router's
    `add_catalog_model` leaves it out."""
    candidates = openai_candidates(openai_server)
    candidates["coder"] = chat_openai(openai_server, "our-own-finetune", profile=None)
    llm = ChatAutoRouter(router=router, candidates=candidates, retry_policy=FAST_POLICY)
    for tradeoff in (0.0, 0.5, 1.0):
        report = info(llm.bind_tools([get_weather]).invoke(CODE, tradeoff=tradeoff))
        coder = next(r for r in report["ranking"] if r["model"] == "coder")
        assert coder["eligible"] is True and coder["excluded_because"] is None
        assert report["model"] == router.route(CODE, tools=True, tradeoff=tradeoff).model
    assert info(llm.bind_tools([get_weather]).invoke(CODE, tradeoff=0.5))["model"] == "coder"
    assert autorouter.Catalog.shared().get("mixtral-8x7b-chat").capabilities.tools is False
    candidates["coder"] = chat_openai(openai_server, "mixtral-8x7b-chat", profile=None)
    llm = ChatAutoRouter(router=router, candidates=candidates, retry_policy=FAST_POLICY)
    report = info(llm.bind_tools([get_weather]).invoke(CODE, tradeoff=0.5))
    coder = next(r for r in report["ranking"] if r["model"] == "coder")
    assert report["model"] != "coder" and coder["excluded_because"] == "does not support tool calling"


def test_images_go_to_image_capable_candidates(router: autorouter.Router, openai_server: OpenAIServer) -> None:
    candidates = openai_candidates(openai_server)
    candidates["big"] = chat_openai(openai_server, "big", profile={"image_inputs": True})
    candidates["coder"] = chat_openai(openai_server, "coder", profile={"image_inputs": False})
    candidates["tiny"] = chat_openai(openai_server, "tiny", profile={"image_inputs": False})
    llm = ChatAutoRouter(router=router, candidates=candidates, retry_policy=FAST_POLICY)
    assert llm.profile is not None and llm.profile["image_inputs"] is True
    pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    photo = HumanMessage([{"type": "text", "text": "what is in this picture"},
                          {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}"}}])
    for tradeoff in (0.0, 1.0):  # the others say they take no images: only big is left
        message = llm.invoke([photo], tradeoff=tradeoff)
        assert info(message)["model"] == "big"
        reasons = {r["model"]: r["excluded_because"] for r in info(message)["ranking"]}
        assert reasons["coder"] == reasons["tiny"] == "does not accept images"
    only_image = HumanMessage([{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}"}}])
    assert info(llm.invoke([only_image]))["model"] == "big"  # no text at all still routes
    assert info(llm.invoke(HELLO, tradeoff=1.0))["model"] != "big"  # text goes anywhere


class Verdict(BaseModel):
    """A verdict on a claim."""

    claim: str = Field(description="the claim")
    score: int = Field(description="how true, 0 to 10")


class Quote(BaseModel):
    """A quote and where it comes from."""

    quote: str
    source: str


@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
def test_structured_output_methods(method: str, make_llm: Any, openai_server: OpenAIServer) -> None:
    prompt = "rate the claim that 7 is prime"
    verdict = make_llm().with_structured_output(Verdict, method=method).invoke(prompt)
    assert isinstance(verdict, Verdict) and verdict.score == 7
    raw = make_llm().with_structured_output(Verdict, method=method, include_raw=True).invoke(prompt)
    assert raw["parsing_error"] is None and isinstance(raw["parsed"], Verdict)
    assert "autorouter" in raw["raw"].response_metadata
    body = openai_server.requests[-1].body
    if method == "json_schema":  # a response_format reaches the provider, no tools
        assert body["response_format"]["type"] == "json_schema" and "tools" not in body
    else:
        assert body["tool_choice"] == {"type": "function", "function": {"name": "Verdict"}}
    streamed = list(make_llm().with_structured_output(Verdict, method=method).stream(prompt))
    assert streamed[-1] == verdict


def test_structured_output_json_mode(make_llm: Any, openai_server: OpenAIServer) -> None:
    prompt = "give me a quote about rivers, as JSON with 'quote' and 'source' keys"
    quote = make_llm().with_structured_output(Quote, method="json_mode").invoke(prompt)
    assert quote == Quote(quote=prompt, source=prompt)
    assert openai_server.requests[-1].body["response_format"] == {"type": "json_object"}
    as_dict = make_llm().with_structured_output(Quote.model_json_schema(), method="json_mode").invoke(prompt)
    assert as_dict == {"quote": prompt, "source": prompt}
    with pytest.raises(ValueError, match="strict"):
        make_llm().with_structured_output(Quote, method="json_mode", strict=True)


# --- agents -----------------------------------------------------------------------------


def test_create_agent_with_two_tools_runs_to_completion(make_llm: Any, openai_server: OpenAIServer) -> None:
    from langchain.agents import create_agent

    agent = create_agent(make_llm(), tools=[get_weather, get_time], system_prompt="You are helpful.")
    handler = UsageMetadataCallbackHandler()
    state = agent.invoke({"messages": [HumanMessage("weather in Paris")]}, config={"callbacks": [handler]})
    messages = state["messages"]
    ai = [m for m in messages if isinstance(m, AIMessage)]
    assert [bool(m.tool_calls) for m in ai] == [True, False]
    assert isinstance(messages[2], ToolMessage) and messages[2].content == "sunny in weather in Paris"
    assert ai[-1].text.endswith("tool result: sunny in weather in Paris")
    models = {info(m)["model"] for m in ai}
    assert len(models) == 1 and info(ai[1])["sticky"] is True
    assert set(openai_server.calls) == models  # no other model was called
    # one usage entry per model, the sum of the two calls: nothing counted twice
    [(_name, usage)] = handler.usage_metadata.items()
    assert usage["total_tokens"] == sum(m.usage_metadata["total_tokens"] for m in ai)


def test_agent_stays_on_its_model_when_the_first_choice_recovers(
    make_llm: Any, router: autorouter.Router, openai_server: OpenAIServer
) -> None:
    """Turn 1 falls back from the first-ranked model; it recovers while the tool runs, yet the
    tool-result turn stays on the model that made the tool call."""
    from langchain.agents import create_agent

    question = "weather in Oslo"
    tools_order = ranking(router, question)  # the tools filter keeps all three
    first, second = tools_order[:2]
    openai_server.script(first, ["500"] * FAST_POLICY.max_attempts_per_model)

    @tool
    def get_weather(city: str) -> str:
        """Get the weather in a city."""
        default_cooldowns.clear()  # the first-ranked model is healthy again
        return "rain"

    agent = create_agent(make_llm(), tools=[get_weather, get_time])
    state = agent.invoke({"messages": [HumanMessage(question)]})
    ai = [m for m in state["messages"] if isinstance(m, AIMessage)]
    assert [info(m)["model"] for m in ai] == [second, second]
    assert info(ai[0])["fallback_from"] == [first]
    assert openai_server.calls[first] == FAST_POLICY.max_attempts_per_model  # not asked again


async def test_create_agent_async_and_streaming(make_llm: Any) -> None:
    from langchain.agents import create_agent

    agent = create_agent(make_llm(), tools=[get_weather, get_time])
    state = await agent.ainvoke({"messages": [HumanMessage("time in Rome")]})
    assert state["messages"][-1].text.endswith("tool result: sunny in time in Rome")
    texts = Counter()
    async for chunk, meta in agent.astream({"messages": [HumanMessage("time in Rome")]}, stream_mode="messages"):
        if isinstance(chunk, AIMessageChunk):
            texts[meta["langgraph_node"]] += 1
    assert texts and set(texts) == {"model"}


def test_langgraph_loop_streams_each_token_once(make_llm: Any) -> None:
    from langgraph.graph import START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode, tools_condition

    llm = make_llm().bind_tools([get_weather, get_time])

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [llm.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode([get_weather, get_time]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    app = graph.compile()

    inputs = {"messages": [SystemMessage("Be brief."), HumanMessage("weather in Lima")]}
    final = app.invoke(inputs)["messages"]
    assert final[-1].text.endswith("tool result: sunny in weather in Lima")
    assert len({info(m)["model"] for m in final if isinstance(m, AIMessage)}) == 1

    streamed: dict[str, str] = {}
    usage = UsageMetadataCallbackHandler()
    for chunk, meta in app.stream(inputs, stream_mode="messages", config={"callbacks": [usage]}):
        if isinstance(chunk, AIMessageChunk):
            assert meta["langgraph_node"] == "agent"
            streamed[chunk.id] = streamed.get(chunk.id, "") + chunk.text
    answers = [m for m in final if isinstance(m, AIMessage)]
    assert sorted(streamed.values()) == sorted(m.text for m in answers)  # no token twice
    [(_name, totals)] = usage.usage_metadata.items()
    assert totals["total_tokens"] == sum(m.usage_metadata["total_tokens"] for m in answers)


# --- construction -----------------------------------------------------------------------


def test_construction_checks_candidate_names(router: autorouter.Router, openai_server: OpenAIServer) -> None:
    with pytest.raises(UnknownModelError) as caught:
        ChatAutoRouter(router=router, candidates={"gpt-17": chat_openai(openai_server, "x")})
    for name in MODELS:
        assert repr(name) in str(caught.value)
    # a list is keyed by the models' own names
    llm = ChatAutoRouter(router=router, candidates=[chat_openai(openai_server, n) for n in ("tiny", "big")])
    assert sorted(llm.candidates) == ["big", "tiny"]
    assert info(llm.invoke(HELLO))["model"] in {"big", "tiny"}
    with pytest.raises(UnknownModelError, match="cannot tell which router model"):
        ChatAutoRouter(router=router, candidates=[chat_openai(openai_server, "mystery-model")])
    with pytest.raises(ValueError, match="no candidates"):
        ChatAutoRouter(router=router, candidates={})


def test_construction_needs_a_fitted_router(
    router: autorouter.Router, openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = {"big": chat_openai(openai_server, "big")}
    with pytest.raises(autorouter.NotFittedError):
        ChatAutoRouter(router=autorouter.Router(), candidates=big)
    # without a router, Router.default() is used...
    monkeypatch.setattr(autorouter.Router, "default", classmethod(lambda cls: router), raising=False)
    assert ChatAutoRouter(candidates=big).router is router
    # ...and where autorouter has none, the error says what to pass
    monkeypatch.delattr(autorouter.Router, "default")
    with pytest.raises(ValueError, match="pass router="):
        ChatAutoRouter(candidates=big)


def test_from_openrouter_builds_one_client_per_router_model(
    router: autorouter.Router, openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langchain_openai import ChatOpenAI

    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError, match="OPENROUTER_API_KEY"):
        ChatAutoRouter.from_openrouter(router)
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-secret")
    llm = ChatAutoRouter.from_openrouter(router, tradeoff=0.2)
    assert sorted(llm.candidates) == sorted(router.models_)
    for model in llm.candidates.values():
        assert isinstance(model, ChatOpenAI)
        assert model.openai_api_base == "https://openrouter.ai/api/v1" and model.max_retries == 0
    assert "sk-or-secret" not in repr(llm) and "sk-or-secret" not in str(llm.asdict())
    assert llm.openrouter_api_key is not None and llm.openrouter_api_key.get_secret_value() == "sk-or-secret"
    # zero configuration, any OpenAI-compatible base URL: here the test server
    openai_server.require_api_key = "k-local"
    local = ChatAutoRouter.from_openrouter(router, base_url=openai_server.base_url, api_key="k-local",
                                           retry_policy=FAST_POLICY)
    message = local.invoke(HELLO)
    assert message.response_metadata["model_name"] == info(message)["model"]
    assert openai_server.requests[-1].headers["authorization"] == "Bearer k-local"
    assert ChatAutoRouter(router=router, api_key="k").candidates.keys() == llm.candidates.keys()


def test_identity_and_tracing_params(make_llm: Any) -> None:
    llm = make_llm(temperature=0.2, max_tokens=50, stop=["END"])
    assert llm._llm_type == "autorouter-chat"
    params = llm._get_ls_params()
    assert params["ls_provider"] == "autorouter" and params["ls_model_name"] == "autorouter"
    assert params["ls_temperature"] == 0.2 and params["ls_max_tokens"] == 50 and params["ls_stop"] == ["END"]
    assert llm._get_ls_params(model="big")["ls_model_name"] == "big"
    ident = llm._identifying_params
    assert set(ident["candidates"]) == set(MODELS)
    assert ident["candidates"]["big"]["_type"] == "openai-chat"
    other = make_llm(tradeoff=0.9)
    assert llm._get_llm_string() != other._get_llm_string()  # cache keys differ
    assert "router" not in llm.model_dump()
    assert llm.metadata is not None and "autorouter" in llm.metadata["lc_versions"]
    # the router's stop applies when a call gives none
    assert llm.invoke("the END is near").text == f"[{info(llm.invoke('the END is near'))['model']}] the "


# --- the catalog: names, aliases, capabilities and prices ------------------------------------


@pytest.fixture(scope="module")
def catalog_router() -> autorouter.Router:
    return fit_catalog_router()


def test_catalog_aliases_name_candidates_and_price_calls(
    catalog_router: autorouter.Router, openai_server: OpenAIServer
) -> None:
    from autorouter.catalog import Catalog

    catalog = Catalog.default()
    # ChatOpenAI(model="gpt-4o") is router model "openai/gpt-4o-2024-08-06", by its alias
    models = [chat_openai(openai_server, alias) for alias in ("gpt-4o", "gpt-4o-mini", "llama-3.1-8b-instruct")]
    llm = ChatAutoRouter(router=catalog_router, candidates=models, retry_policy=FAST_POLICY)
    assert sorted(llm.candidates) == sorted(CATALOG_NAMES.values())
    assert llm.candidates[CATALOG_NAMES["big"]].model_name == "gpt-4o"
    message = llm.invoke(HELLO)
    key = info(message)["model"]
    usage = message.usage_metadata
    assert usage is not None
    expected = catalog.call_cost_usd(key, usage["input_tokens"], usage["output_tokens"])
    assert expected is not None and info(message)["cost_usd"] == pytest.approx(expected)
    # forcing by alias, and the cost of a stream
    forced = llm.invoke(HELLO, model="gpt-4o-mini")
    assert info(forced)["model"] == CATALOG_NAMES["coder"]
    chunks = list(llm.stream(HELLO, model="openai/gpt-4o"))
    last = chunks[-1].response_metadata["autorouter"]
    assert last["model"] == CATALOG_NAMES["big"] and last["cost_usd"] > 0
    # a tool-result turn after a message that only names its model ("gpt-4o") stays on it
    call = AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Rome"}, "id": "c9"}],
                     response_metadata={"model_name": "gpt-4o-2024-08-06"})
    turn = [HumanMessage("weather in Rome?"), call, ToolMessage("hot", tool_call_id="c9")]
    assert info(llm.bind_tools([get_weather]).invoke(turn, tradeoff=1.0))["model"] == CATALOG_NAMES["big"]


def test_router_prices_cost_a_call_as_in_the_core(router: autorouter.Router, openai_server: OpenAIServer) -> None:
    """With `Router(prices=...)` an answer costs its tokens at those prices, the very figure
    `Router.complete` reports for the same call, streamed or not."""
    priced = copy.deepcopy(router)
    priced.prices = {"big": (10.0, 30.0), "coder": (1.0, 2.0), "tiny": (0.1, 0.2)}  # in no catalog
    priced.set_endpoints(default=Endpoint(base_url=openai_server.base_url, api_key=SecretStr("test")))
    llm = ChatAutoRouter(router=priced, candidates=openai_candidates(openai_server), retry_policy=FAST_POLICY)
    for tradeoff in (0.0, 1.0):
        core = priced.complete(HELLO, tradeoff=tradeoff)
        assert core.cost_source == "list_price"
        message = llm.invoke(HELLO, tradeoff=tradeoff)
        usage = message.usage_metadata
        assert usage is not None and info(message)["model"] == core.model
        pin, pout = priced.prices[core.model]
        expected = (usage["input_tokens"] * pin + usage["output_tokens"] * pout) / 1e6
        assert info(message)["cost_usd"] == pytest.approx(expected) == pytest.approx(core.cost_usd)
        streamed = list(llm.stream(HELLO, tradeoff=tradeoff))[-1].response_metadata["autorouter"]
        assert streamed["cost_usd"] == pytest.approx(core.cost_usd)


def test_catalog_capabilities_steer_tools_and_images(
    catalog_router: autorouter.Router, openai_server: OpenAIServer
) -> None:
    """The catalog says gpt-4o(-mini) take tools and images, which the profile shows, and that
    llama-3.1-8b takes no images: an image call leaves llama out even where it is cheapest,
    as a router's `add_catalog_model` reads the catalog."""
    candidates = {
        CATALOG_NAMES["big"]: chat_openai(openai_server, "big-endpoint", profile=None),
        CATALOG_NAMES["coder"]: chat_openai(openai_server, "coder-endpoint", profile=None),
        CATALOG_NAMES["tiny"]: chat_openai(openai_server, "tiny-endpoint", profile=None),
    }
    llm = ChatAutoRouter(router=catalog_router, candidates=candidates, retry_policy=FAST_POLICY)
    assert llm.profile is not None
    assert llm.profile.get("tool_calling") is True and llm.profile.get("image_inputs") is True
    assert llm.profile.get("max_input_tokens") == 131072
    pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    photo = HumanMessage([{"type": "text", "text": "hello there, what is this"},
                          {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}"}}])
    assert info(llm.invoke(HELLO, tradeoff=1.0))["model"] == CATALOG_NAMES["tiny"]  # text: the cheapest
    for tradeoff in (0.0, 0.5, 1.0):
        report = info(llm.invoke([photo], tradeoff=tradeoff))
        reasons = {r["model"]: r["excluded_because"] for r in report["ranking"]}
        assert report["model"] != CATALOG_NAMES["tiny"]
        assert reasons == {CATALOG_NAMES["big"]: None, CATALOG_NAMES["coder"]: None,
                           CATALOG_NAMES["tiny"]: "does not accept images"}


def test_candidate_without_native_streaming(router: autorouter.Router, openai_server: OpenAIServer) -> None:
    """A model without `_stream` yields its whole answer as one message; the router streams
    it as one last chunk, tool calls and usage included."""
    from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel

    class ToolFake(FakeMessagesListChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self.bind(**kwargs)

    answer = AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Oslo"}, "id": "t1"}],
                       usage_metadata={"input_tokens": 3, "output_tokens": 2, "total_tokens": 5})
    candidates: dict[str, Any] = {name: ToolFake(responses=[answer] * 4) for name in MODELS}
    llm = ChatAutoRouter(router=router, candidates=candidates, retry_policy=FAST_POLICY)
    chunks = list(llm.bind_tools([get_weather]).stream("weather in Oslo"))
    assert len(chunks) == 1 and chunks[0].chunk_position == "last"
    assert chunks[0].tool_calls == [{"name": "get_weather", "args": {"city": "Oslo"}, "id": "t1", "type": "tool_call"}]
    assert chunks[0].usage_metadata == answer.usage_metadata
    meta = chunks[0].response_metadata
    assert meta["autorouter"]["model"] in MODELS and meta["model_name"] == meta["autorouter"]["model"]
