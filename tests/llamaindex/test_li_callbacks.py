"""Callbacks and instrumentation see each routed call once: one `CBEventType.LLM` event and
one token-count entry (on the router's manager, from the candidate's usage), one pair of
`LLMChat*` dispatcher events (the candidate's, naming the real model) and one
`RoutingDecisionEvent`, even with `Settings.callback_manager` set before the candidates
were built."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("llama_index.core", reason="needs the llamaindex extra")
pytest.importorskip("llama_index.llms.openai_like", reason="needs the llamaindex extra")
from llama_index.core import Settings
from llama_index.core.callbacks import CallbackManager, CBEventType, TokenCountingHandler
from llama_index.core.callbacks.base_handler import BaseCallbackHandler
from llama_index.core.llms import ChatMessage

from li_support import CHAT_PROMPT, hash_embed, named
from openai_server import OpenAIServer

MESSAGES = [ChatMessage(role="user", content=CHAT_PROMPT)]


class LLMEvents(BaseCallbackHandler):
    """Counts legacy LLM events."""

    def __init__(self) -> None:
        super().__init__(event_starts_to_ignore=[], event_ends_to_ignore=[])
        self.starts: list[dict[str, Any]] = []
        self.ends: list[dict[str, Any]] = []

    def on_event_start(self, event_type: CBEventType, payload: Any = None, event_id: str = "", parent_id: str = "", **kwargs: Any) -> str:
        if event_type == CBEventType.LLM:
            self.starts.append(payload or {})
        return event_id

    def on_event_end(self, event_type: CBEventType, payload: Any = None, event_id: str = "", **kwargs: Any) -> None:
        if event_type == CBEventType.LLM:
            self.ends.append(payload or {})

    def start_trace(self, trace_id: str | None = None) -> None:
        pass

    def end_trace(self, trace_id: str | None = None, trace_map: Any = None) -> None:
        pass


@pytest.fixture
def handlers() -> Iterator[tuple[TokenCountingHandler, LLMEvents]]:
    """Global handlers, set before the candidates are built (so they adopt them)."""
    tokens, llm_events = TokenCountingHandler(), LLMEvents()
    Settings.callback_manager = CallbackManager([tokens, llm_events])
    yield tokens, llm_events


@pytest.fixture
def routed(handlers: Any, make_llm: Any) -> Any:
    llm = make_llm(tradeoff=1.0)
    Settings.llm = llm  # gives the router the Settings callback manager
    return Settings.llm


def expected_usage(server: OpenAIServer) -> tuple[int, int]:
    """The usage the server reported for the last call (it counts words)."""
    body = server.requests[-1].body
    prompt = sum(len(str(m.get("content") or "").split()) for m in body["messages"])
    return prompt, len(f"[tiny] {CHAT_PROMPT}".split())


def test_one_token_count_per_call(routed: Any, handlers: Any, openai_server: OpenAIServer) -> None:
    tokens, llm_events = handlers
    response = routed.chat(MESSAGES)
    assert response.additional_kwargs["router_candidate"] == "tiny"
    assert len(tokens.llm_token_counts) == 1 and len(llm_events.starts) == len(llm_events.ends) == 1
    count = tokens.llm_token_counts[0]
    assert (count.prompt_token_count, count.completion_token_count) == expected_usage(openai_server)
    assert llm_events.starts[0]["serialized"]["class_name"] == "AutoRouterLLM"
    assert llm_events.ends[0]["response"].additional_kwargs["router_candidate"] == "tiny"


def test_without_isolation_the_candidate_would_count_again(
    handlers: Any, candidates: Any, openai_server: OpenAIServer
) -> None:
    """The pitfall the router avoids: an LLM built after `Settings.callback_manager` was set
    counts its own calls with the Settings handlers."""
    tokens, _ = handlers
    candidates(["tiny"])["tiny"].chat(MESSAGES)
    assert len(tokens.llm_token_counts) == 1


@pytest.mark.parametrize("form", ["complete", "stream_chat", "stream_complete"])
def test_one_token_count_per_call_in_every_form(routed: Any, handlers: Any, form: str) -> None:
    tokens, llm_events = handlers
    if form == "complete":
        routed.complete(CHAT_PROMPT)
    elif form == "stream_chat":
        list(routed.stream_chat(MESSAGES))
    else:
        list(routed.stream_complete(CHAT_PROMPT))
    assert len(tokens.llm_token_counts) == 1 and len(llm_events.ends) == 1
    assert tokens.llm_token_counts[0].completion_token_count > 0


async def test_one_token_count_per_async_call(routed: Any, handlers: Any) -> None:
    tokens, _ = handlers
    await routed.achat(MESSAGES)
    assert len(tokens.llm_token_counts) == 1
    async for _ in await routed.astream_chat(MESSAGES):
        pass
    assert len(tokens.llm_token_counts) == 2


def test_one_token_count_after_a_fallback(routed: Any, handlers: Any, openai_server: OpenAIServer) -> None:
    tokens, llm_events = handlers
    openai_server.set_mode("tiny", "500")
    response = routed.chat(MESSAGES)
    assert response.additional_kwargs["autorouter"]["fallback_from"] == ["tiny"]
    assert len(tokens.llm_token_counts) == 1 and len(llm_events.ends) == 1


def test_a_failed_call_ends_its_event(routed: Any, handlers: Any, openai_server: OpenAIServer) -> None:
    _, llm_events = handlers
    openai_server.set_mode("tiny", "401")
    with pytest.raises(Exception, match="401"):
        routed.chat(MESSAGES)
    assert len(llm_events.starts) == len(llm_events.ends) == 1
    assert "exception" in llm_events.ends[0]


def test_one_llm_call_per_query(handlers: Any, make_llm: Any) -> None:
    from llama_index.core import Document, VectorStoreIndex

    from llamaindex_autorouter import AutoRouterEmbedding

    tokens, llm_events = handlers
    Settings.llm = make_llm(tradeoff=1.0)
    Settings.embed_model = AutoRouterEmbedding(hash_embed)
    index = VectorStoreIndex.from_documents([Document(text="autorouter picks models."), Document(text="It is cheap.")])
    index.as_query_engine().query("hello there, what does it do?")
    assert len(tokens.llm_token_counts) == 1 and len(llm_events.ends) == 1
    assert tokens.total_embedding_token_count > 0  # the embedding model is counted too


def test_dispatcher_sees_one_call_from_the_real_model(routed: Any, events: list[Any]) -> None:
    routed.chat(MESSAGES)
    starts, ends = named(events, "LLMChatStartEvent"), named(events, "LLMChatEndEvent")
    assert len(starts) == len(ends) == 1
    assert starts[0].model_dict["class_name"] == "OpenAILike"
    assert starts[0].model_dict["model_name"] == "tiny"
    decisions = named(events, "RoutingDecisionEvent")
    assert len(decisions) == 1 and decisions[0].model == "tiny"
    assert decisions[0].info["ranking"] and decisions[0].info["explanation"].startswith("tiny:")
    # the decision and the candidate's call happen inside the router's span
    assert decisions[0].span_id and decisions[0].span_id.startswith("AutoRouterLLM.chat")


def test_dispatcher_stream_and_completion_events(routed: Any, events: list[Any]) -> None:
    list(routed.stream_chat(MESSAGES))
    routed.complete(CHAT_PROMPT)
    assert len(named(events, "LLMChatStartEvent")) == len(named(events, "LLMChatEndEvent")) == 1
    assert len(named(events, "LLMCompletionStartEvent")) == len(named(events, "LLMCompletionEndEvent")) == 1
    assert named(events, "LLMChatInProgressEvent")
    assert len(named(events, "RoutingDecisionEvent")) == 2


def test_rate_limiter_of_the_router_is_used(make_llm: Any) -> None:
    class Limiter:
        def __init__(self) -> None:
            self.acquired = 0

        def acquire(self) -> None:
            self.acquired += 1

        async def async_acquire(self) -> None:
            self.acquired += 1

    limiter = Limiter()
    llm = make_llm(rate_limiter=limiter)
    llm.chat(MESSAGES)
    list(llm.stream_complete(CHAT_PROMPT))
    assert limiter.acquired == 2
