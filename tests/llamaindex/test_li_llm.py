"""AutoRouterLLM as a LlamaIndex LLM: construction, metadata, the four call forms (sync and
async), routing constraints and the report every response carries."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import SecretStr

import autorouter
from autorouter.client import Endpoint

pytest.importorskip("llama_index.core", reason="needs the llamaindex extra")
pytest.importorskip("llama_index.llms.openai_like", reason="needs the llamaindex extra")
from llama_index.core.base.llms.base import BaseLLM
from llama_index.core.llms import ChatMessage, ImageBlock, TextBlock
from llama_index.core.llms.function_calling import FunctionCallingLLM

from li_support import CATALOG_NAMES, CHAT_PROMPT, CODE_PROMPT, openai_like
from llamaindex_autorouter import AutoRouterLLM, RoutingDecisionEvent
from openai_server import OpenAIServer
from synthetic import TIMED, add_timed_models

REPORT_KEYS = {
    "model", "tradeoff", "max_cost", "max_latency_s", "explanation", "family", "difficulty", "ranking",
    "forced", "sticky", "fallback_from", "cost_usd",
    "routed", "chosen", "fell_back", "attempts", "cost_source",  # the gateway's, since one schema
}


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role="user", content=text)]


def check_report(response: Any, server: OpenAIServer) -> dict[str, Any]:
    """The response is tagged with the candidate that answered and the full report, and the
    server saw exactly one call, to that candidate."""
    key = response.additional_kwargs["router_candidate"]
    info = response.additional_kwargs["autorouter"]
    assert set(info) == REPORT_KEYS
    assert info["model"] == key
    assert server.total_calls == 1 and server.calls[key] == 1
    ranking = info["ranking"]
    assert {r["model"] for r in ranking} == {"big", "coder", "tiny"}
    for r in ranking:
        assert 0.0 <= r["predicted_quality"] <= 1.0 and r["predicted_cost_usd"] > 0
    assert ranking[0]["model"] == key and info["explanation"].startswith(f"{key}:")
    json.dumps(info)  # plain values: safe in memory stores and traces
    return info


# --- what it is --------------------------------------------------------------------------


def test_class() -> None:
    names_of_base_classes = [b.__name__ for b in AutoRouterLLM.__mro__]
    assert BaseLLM.__name__ in names_of_base_classes
    assert FunctionCallingLLM.__name__ in names_of_base_classes
    assert AutoRouterLLM.class_name() == "AutoRouterLLM"


def test_metadata_from_candidates(make_llm: Any, candidates: Any) -> None:
    llm = make_llm(candidates=candidates(
        big={"context_window": 128_000, "max_tokens": 4000},
        coder={"context_window": 32_000, "max_tokens": 1000},
        tiny={"context_window": 8_000, "is_function_calling_model": False},
    ))
    meta = llm.metadata
    assert meta.context_window == 128_000  # the largest: longer prompts go to big only
    assert meta.num_output == 1000  # the smallest known output limit
    assert meta.is_chat_model is True
    assert meta.is_function_calling_model is True  # tool calls go to big and coder
    assert meta.model_name == "autorouter"


def test_metadata_flags_hold_only_if_they_hold_for_the_candidates(make_llm: Any, candidates: Any) -> None:
    llm = make_llm(candidates=candidates(
        big={"is_function_calling_model": False},
        coder={"is_function_calling_model": False, "is_chat_model": False},
        tiny={"is_function_calling_model": False},
    ))
    assert llm.metadata.is_function_calling_model is False
    assert llm.metadata.is_chat_model is False


def test_payload_names_candidates_but_no_secrets(make_llm: Any, candidates: Any) -> None:
    llm = make_llm(candidates=candidates(big={"api_key": "sk-secret-123"}))
    payload = llm.to_payload()
    assert payload["class_name"] == "AutoRouterLLM"
    assert payload["candidates"]["big"] == {"class_name": "OpenAILike", "model_name": "big"}
    assert "sk-secret-123" not in json.dumps(payload, default=str)
    dumped = llm.model_dump()
    assert "router" not in dumped and "retry_policy" not in dumped
    assert set(dumped["candidates"]) == {"big", "coder", "tiny"}


# --- construction ------------------------------------------------------------------------


def test_unknown_candidate_key_is_an_error(router: autorouter.Router, candidates: Any) -> None:
    with pytest.raises(autorouter.UnknownModelError, match="'huge'.*router's model names"):
        AutoRouterLLM(router=router, candidates={**candidates(), "huge": candidates(["big"])["big"]})


def test_candidates_by_own_name_through_catalog_aliases(
    catalog_router: autorouter.Router, openai_server: OpenAIServer
) -> None:
    llms = [
        openai_like(openai_server, "gpt-4o-2024-08-06"),  # the bare id
        openai_like(openai_server, "gpt-4o-mini"),  # an alias
        openai_like(openai_server, "meta-llama/Meta-Llama-3.1-8B-Instruct"),  # another alias
    ]
    llm = AutoRouterLLM(router=catalog_router, candidates=llms)
    assert set(llm.candidates) == set(CATALOG_NAMES.values())
    assert llm.candidates["openai/gpt-4o-mini-2024-07-18"].model == "gpt-4o-mini"

    with pytest.raises(autorouter.UnknownModelError, match="cannot tell which router model"):
        AutoRouterLLM(router=catalog_router, candidates=[openai_like(openai_server, "claude-9")])


def test_candidates_are_isolated_copies(make_llm: Any, candidates: Any) -> None:
    from llama_index.core import Settings
    from llama_index.core.callbacks import CallbackManager, TokenCountingHandler

    Settings.callback_manager = CallbackManager([TokenCountingHandler()])
    mine = candidates()  # built now, they adopt the Settings handler
    assert mine["big"].callback_manager.handlers
    llm = make_llm(candidates=mine)
    assert llm.candidates["big"] is not mine["big"]
    assert llm.candidates["big"].callback_manager.handlers == []
    assert mine["big"].callback_manager.handlers  # the user's LLM is left as it was


def test_unfitted_router_is_an_error(candidates: Any) -> None:
    with pytest.raises(autorouter.NotFittedError):
        AutoRouterLLM(router=autorouter.Router(), candidates=candidates())


def test_default_router_when_none_given(
    monkeypatch: pytest.MonkeyPatch, router: autorouter.Router, candidates: Any
) -> None:
    monkeypatch.setattr(autorouter.Router, "default", classmethod(lambda cls: router))
    assert AutoRouterLLM(candidates=candidates()).router is router

    def missing(cls: Any) -> Any:
        raise autorouter.RouterLoadError("the bundled default router is missing")

    monkeypatch.setattr(autorouter.Router, "default", classmethod(missing))
    with pytest.raises(autorouter.RouterLoadError, match="no router given.*Router.load"):
        AutoRouterLLM(candidates=candidates())


def test_openrouter_candidates(catalog_router: autorouter.Router, openai_server: OpenAIServer) -> None:
    openai_server.require_api_key = "sk-or-test"
    llm = AutoRouterLLM.from_openrouter(catalog_router, api_key="sk-or-test", api_base=openai_server.base_url)
    for key, cand in llm.candidates.items():
        assert type(cand).__name__ == "OpenAILike"
        assert cand.model == key and cand.max_retries == 0 and cand.is_chat_model
    assert llm.candidates["openai/gpt-4o-2024-08-06"].context_window == 128_000
    response = llm.chat(user(CHAT_PROMPT), model="openai/gpt-4o-mini-2024-07-18")
    assert response.message.content == f"[openai/gpt-4o-mini-2024-07-18] {CHAT_PROMPT}"
    request = openai_server.requests[-1]
    assert request.headers["authorization"] == "Bearer sk-or-test"
    assert request.headers["x-title"] == "autorouter"


def test_openrouter_needs_a_key(monkeypatch: pytest.MonkeyPatch, router: autorouter.Router) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    with pytest.raises(autorouter.MissingAPIKeyError, match="OPENROUTER_API_KEY"):
        AutoRouterLLM(router=router)
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-from-env")
    llm = AutoRouterLLM(router=router)
    assert llm.candidates["big"].api_key == "sk-from-env"
    assert llm.candidates["big"].api_base == "https://openrouter.ai/api/v1"


# --- calls ---------------------------------------------------------------------------------


def test_chat_routes_and_reports(make_llm: Any, openai_server: OpenAIServer, events: list[Any]) -> None:
    llm = make_llm(tradeoff=0.5)
    response = llm.chat(user(CODE_PROMPT))
    info = check_report(response, openai_server)
    key = info["model"]
    assert key == "coder"  # right on code and cheap
    assert response.message.content == f"[coder] {CODE_PROMPT}"
    assert response.message.additional_kwargs["router_candidate"] == "coder"
    assert info["tradeoff"] == 0.5 and info["forced"] is False and info["fallback_from"] == []
    assert response.raw is not None and response.raw.model == "coder"  # the candidate's own
    assert response.additional_kwargs["prompt_tokens"] > 0  # the candidate's token counts
    decided = [e for e in events if isinstance(e, RoutingDecisionEvent)]
    assert len(decided) == 1 and decided[0].model == "coder" and decided[0].order[0] == "coder"


def test_tradeoff_zero_picks_the_best_model(make_llm: Any, openai_server: OpenAIServer) -> None:
    response = make_llm(tradeoff=0.0).chat(user(CHAT_PROMPT))
    assert check_report(response, openai_server)["model"] == "big"


def test_per_call_tradeoff_and_forced_model(make_llm: Any, openai_server: OpenAIServer) -> None:
    llm = make_llm(tradeoff=0.0)
    assert llm.chat(user(CHAT_PROMPT), tradeoff=1.0).additional_kwargs["router_candidate"] == "tiny"
    forced = llm.chat(user(CHAT_PROMPT), model="coder")
    info = forced.additional_kwargs["autorouter"]
    assert info["model"] == "coder" and info["forced"] is True and info["ranking"] == []
    assert "model" not in openai_server.requests[-1].body or openai_server.requests[-1].body["model"] == "coder"
    with pytest.raises(autorouter.UnknownModelError, match="not one of this router's candidates"):
        llm.chat(user(CHAT_PROMPT), model="nope")


@pytest.fixture
def timed_llm(make_llm: Any, router: autorouter.Router, candidates: Any) -> Any:
    """`timed_llm(**fields)`: an AutoRouterLLM over the candidates of known speed (`TIMED`)."""
    timed = add_timed_models(copy.deepcopy(router))  # the session's router stays as it is

    def make(**fields: Any) -> Any:
        return make_llm(router=timed, candidates=candidates(list(TIMED)), **fields)

    return make


def test_max_latency_excludes_the_models_predicted_slower(
    timed_llm: Any, openai_server: OpenAIServer, events: list[Any]
) -> None:
    llm = timed_llm(tradeoff=0.0)
    assert llm.chat(user(CHAT_PROMPT)).additional_kwargs["router_candidate"] == "slow-thinker"

    response = timed_llm(tradeoff=0.0, max_latency_s=3).chat(user(CHAT_PROMPT))

    assert response.additional_kwargs["router_candidate"] == "quick"
    assert response.message.content == f"[quick] {CHAT_PROMPT}"
    info = response.additional_kwargs["autorouter"]
    assert set(info) == REPORT_KEYS and info["model"] == "quick" and info["max_latency_s"] == 3
    entries = {r["model"]: r for r in info["ranking"]}
    assert entries["quick"]["eligible"] and entries["quick"]["latency_s"] == pytest.approx(1.7, abs=0.1)
    for slow in ("slow-thinker", "steady"):
        assert not entries[slow]["eligible"] and entries[slow]["latency_s"] > 3
        assert entries[slow]["excluded_because"].endswith("is above max_latency_s 3s")
    decided = [e for e in events if isinstance(e, RoutingDecisionEvent)]
    assert decided[-1].model == "quick" and decided[-1].info["max_latency_s"] == 3
    # per call, in every form
    assert llm.chat(user(CHAT_PROMPT), max_latency_s=3).additional_kwargs["router_candidate"] == "quick"
    assert llm.complete(CHAT_PROMPT, max_latency_s=3).text == f"[quick] {CHAT_PROMPT}"
    items = list(llm.stream_chat(user(CHAT_PROMPT), max_latency_s=3))
    assert items[-1].additional_kwargs["autorouter"]["model"] == "quick"
    # the weight of latency reaches the score
    assert llm.chat(user(CHAT_PROMPT), tradeoff=0.5).additional_kwargs["router_candidate"] == "steady"
    weighed = timed_llm(tradeoff=0.5, latency_weight=0.1).chat(user(CHAT_PROMPT))
    assert weighed.additional_kwargs["router_candidate"] == "quick"
    assert openai_server.calls["slow-thinker"] == 1 and openai_server.calls["steady"] == 1
    assert "max_latency_s" not in openai_server.requests[-1].body  # the router's own setting
    sent = openai_server.total_calls

    with pytest.raises(autorouter.NoCandidateError, match="is above max_latency_s 0.5s"):
        llm.chat(user(CHAT_PROMPT), max_latency_s=0.5)
    with pytest.raises(autorouter.InvalidRequestError, match="max_latency_s must be a positive number"):
        llm.chat(user(CHAT_PROMPT), max_latency_s=-1)
    with pytest.raises(autorouter.InvalidRequestError, match="latency_weight must be a finite number >= 0"):
        timed_llm(latency_weight=-1.0).complete(CHAT_PROMPT)
    assert openai_server.total_calls == sent


async def test_max_latency_async(timed_llm: Any, openai_server: OpenAIServer) -> None:
    llm = timed_llm(tradeoff=0.0, max_latency_s=3)
    assert (await llm.achat(user(CHAT_PROMPT))).additional_kwargs["router_candidate"] == "quick"
    items = [i async for i in await llm.astream_complete(CHAT_PROMPT)]
    assert items[-1].text == f"[quick] {CHAT_PROMPT}"
    with pytest.raises(autorouter.InvalidRequestError, match="max_latency_s must be a positive number"):
        await llm.achat(user(CHAT_PROMPT), max_latency_s=-1)
    assert openai_server.calls["quick"] == 2 and openai_server.total_calls == 2


def test_complete(make_llm: Any, openai_server: OpenAIServer) -> None:
    response = make_llm(tradeoff=1.0).complete(CHAT_PROMPT)
    info = check_report(response, openai_server)
    assert response.text == f"[{info['model']}] {CHAT_PROMPT}"


def test_stream_chat(make_llm: Any, openai_server: OpenAIServer) -> None:
    items = list(make_llm(tradeoff=0.5).stream_chat(user(CODE_PROMPT)))
    assert "".join(i.delta for i in items) == f"[coder] {CODE_PROMPT}"
    assert items[0].delta  # the role-only first chunk is folded into the first output
    assert all(i.additional_kwargs["router_candidate"] == "coder" for i in items)
    assert all(i.message.additional_kwargs["router_candidate"] == "coder" for i in items)
    check_report(items[-1], openai_server)
    assert items[-1].message.content == f"[coder] {CODE_PROMPT}"


def test_stream_complete(make_llm: Any, openai_server: OpenAIServer) -> None:
    items = list(make_llm(tradeoff=1.0).stream_complete(CHAT_PROMPT))
    info = check_report(items[-1], openai_server)
    assert items[-1].text == f"[{info['model']}] {CHAT_PROMPT}"


async def test_async_forms(make_llm: Any, openai_server: OpenAIServer) -> None:
    llm = make_llm(tradeoff=0.5)
    response = await llm.achat(user(CODE_PROMPT))
    assert check_report(response, openai_server)["model"] == "coder"

    openai_server.reset()
    completion = await llm.acomplete(CODE_PROMPT)
    assert completion.text == f"[coder] {CODE_PROMPT}"
    check_report(completion, openai_server)

    openai_server.reset()
    items = [i async for i in await llm.astream_chat(user(CODE_PROMPT))]
    assert "".join(i.delta for i in items) == f"[coder] {CODE_PROMPT}"
    check_report(items[-1], openai_server)

    openai_server.reset()
    items = [i async for i in await llm.astream_complete(CODE_PROMPT)]
    assert items[-1].text == f"[coder] {CODE_PROMPT}"
    check_report(items[-1], openai_server)


def test_predict_and_stream_helpers(make_llm: Any) -> None:
    from llama_index.core import PromptTemplate

    llm = make_llm(tradeoff=0.5)
    prompt = PromptTemplate("write a python function to sort {n} lists")
    assert llm.predict(prompt, n="3") == f"[coder] {CODE_PROMPT}"
    assert "".join(llm.stream(prompt, n="3")) == f"[coder] {CODE_PROMPT}"


def test_cost_from_the_catalog(catalog_router: autorouter.Router, openai_server: OpenAIServer) -> None:
    llm = AutoRouterLLM(
        router=catalog_router,
        candidates={name: openai_like(openai_server, name) for name in CATALOG_NAMES.values()},
    )
    response = llm.chat(user(CHAT_PROMPT), model="openai/gpt-4o-2024-08-06")
    usage = openai_server.requests[-1]
    prompt_tokens, completion_tokens = (
        response.additional_kwargs["prompt_tokens"], response.additional_kwargs["completion_tokens"]
    )
    expected = (prompt_tokens * 2.5 + completion_tokens * 10.0) / 1e6
    assert usage.model == "openai/gpt-4o-2024-08-06"
    assert response.additional_kwargs["autorouter"]["cost_usd"] == pytest.approx(expected)


def test_router_prices_cost_a_call_as_in_the_core(
    router: autorouter.Router, candidates: Any, openai_server: OpenAIServer
) -> None:
    """With `Router(prices=...)` a response costs its tokens at those prices, the very figure
    `Router.complete` reports for the same call."""
    priced = copy.deepcopy(router)
    priced.prices = {"big": (10.0, 30.0), "coder": (1.0, 2.0), "tiny": (0.1, 0.2)}  # in no catalog
    priced.set_endpoints(default=Endpoint(base_url=openai_server.base_url, api_key=SecretStr("test")))
    llm = AutoRouterLLM(router=priced, candidates=candidates())
    for tradeoff in (0.0, 1.0):
        core = priced.complete(CHAT_PROMPT, tradeoff=tradeoff)
        assert core.cost_source == "list_price"
        response = llm.chat(user(CHAT_PROMPT), tradeoff=tradeoff)
        info, usage = response.additional_kwargs["autorouter"], response.additional_kwargs
        assert info["model"] == core.model
        pin, pout = priced.prices[core.model]
        expected = (usage["prompt_tokens"] * pin + usage["completion_tokens"] * pout) / 1e6
        assert info["cost_usd"] == pytest.approx(expected) == pytest.approx(core.cost_usd)


# --- what a call needs ---------------------------------------------------------------------


def test_long_prompts_skip_small_windows(make_llm: Any, candidates: Any, openai_server: OpenAIServer) -> None:
    llm = make_llm(tradeoff=1.0, candidates=candidates(
        big={"context_window": 100_000}, coder={"context_window": 200}, tiny={"context_window": 200},
    ))
    long_prompt = "hello there friend " * 100  # ~1900 characters, ~475 tokens
    response = llm.chat(user(long_prompt))
    info = check_report(response, openai_server)
    assert info["model"] == "big"
    reasons = {r["model"]: r["excluded_because"] for r in info["ranking"]}
    assert "exceeds its context window of 200" in reasons["tiny"]
    assert reasons["big"] is None

    with pytest.raises(autorouter.NoCandidateError, match="context window"):
        llm.chat(user(long_prompt * 300))
    assert openai_server.total_calls == 1


def test_tool_calls_go_to_function_calling_candidates(
    make_llm: Any, candidates: Any, openai_server: OpenAIServer
) -> None:
    from llama_index.core.tools import FunctionTool

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    llm = make_llm(tradeoff=1.0, candidates=candidates(tiny={"is_function_calling_model": False}))
    response = llm.chat_with_tools([FunctionTool.from_defaults(add)], user_msg="hello there, add 2 and 3")
    info = response.additional_kwargs["autorouter"]
    assert info["model"] != "tiny"
    assert {r["model"]: r["excluded_because"] for r in info["ranking"]}["tiny"] == "does not support tool calling"
    calls = llm.get_tool_calls_from_response(response)
    assert [c.tool_name for c in calls] == ["add"]
    body = openai_server.requests[-1].body
    assert body["tools"][0]["function"]["name"] == "add"  # formatted by the candidate itself

    # without tools, tiny is a candidate like the others
    assert llm.chat(user(CHAT_PROMPT)).additional_kwargs["router_candidate"] == "tiny"


def test_images_do_not_go_to_a_candidate_the_catalog_says_takes_none(
    catalog_router: autorouter.Router, openai_server: OpenAIServer
) -> None:
    """The catalog says gpt-4o(-mini) take images and llama-3.1-8b does not: an image call
    leaves llama out, with the router's own reason, even at tradeoff 1 where it is cheapest
    (a router's `add_catalog_model` reads the catalog the same way)."""
    llm = AutoRouterLLM(
        router=catalog_router,
        candidates={name: openai_like(openai_server, name) for name in CATALOG_NAMES.values()},
        tradeoff=1.0,
    )
    assert llm.chat(user(CHAT_PROMPT)).additional_kwargs["autorouter"]["model"] == CATALOG_NAMES["tiny"]
    image = ChatMessage(role="user", blocks=[
        TextBlock(text=CHAT_PROMPT), ImageBlock(url="https://example.com/cat.png"),
    ])
    info = llm.chat([image]).additional_kwargs["autorouter"]
    assert info["model"] != CATALOG_NAMES["tiny"]
    reasons = {r["model"]: r["excluded_because"] for r in info["ranking"]}
    assert reasons[CATALOG_NAMES["tiny"]] == "does not accept images"
    assert all(why is None for m, why in reasons.items() if m != CATALOG_NAMES["tiny"])


def test_sticky_candidate_keeps_the_tool_turns(
    router: autorouter.Router, make_llm: Any, openai_server: OpenAIServer
) -> None:
    from li_support import ScriptedRouter

    scripted = ScriptedRouter(router, [1.0, 1.0, 1.0])  # the router would pick tiny every time
    llm = make_llm(router=scripted)
    history = [
        ChatMessage(role="user", content=CHAT_PROMPT),
        ChatMessage(role="assistant", content="", additional_kwargs={
            "router_candidate": "big",
            # no ToolCallBlock: OpenAI's LLMs then send the message's additional_kwargs along
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        }),
        ChatMessage(role="tool", content="42", additional_kwargs={"tool_call_id": "call_1"}),
    ]
    response = llm.chat(history)
    info = response.additional_kwargs["autorouter"]
    assert info["model"] == "big" and info["sticky"] is True
    assert "kept for the tool turns" in info["explanation"] and "tiny" in info["explanation"]
    sent = openai_server.requests[-1].body["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "call_1"
    assert all("router_candidate" not in m for m in sent)  # the tag is the router's alone
    assert history[1].additional_kwargs["router_candidate"] == "big"  # the caller's message kept

    # a new user message frees the choice again
    response = llm.chat([*history, ChatMessage(role="user", content=CHAT_PROMPT)])
    assert response.additional_kwargs["router_candidate"] == "tiny"
    assert response.additional_kwargs["autorouter"]["sticky"] is False


def test_empty_messages_are_refused(make_llm: Any, openai_server: OpenAIServer) -> None:
    with pytest.raises(autorouter.InvalidRequestError):
        make_llm().chat([])
    assert openai_server.total_calls == 0
