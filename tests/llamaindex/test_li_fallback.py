"""Fallback down the ranking under autorouter's one retry-and-fallback policy: transient
errors (500, 429, dropped connections) before any output move on to the next model; errors
that say the request is wrong (401) surface at once, after one call."""

from __future__ import annotations

from typing import Any

import openai
import pytest

pytest.importorskip("llama_index.core", reason="needs the llamaindex extra")
pytest.importorskip("llama_index.llms.openai_like", reason="needs the llamaindex extra")
from llama_index.core.llms import ChatMessage

from autorouter.errors import FallbackExhaustedError, StreamInterruptedError
from autorouter.reliability import default_cooldowns
from li_support import CHAT_PROMPT
from openai_server import OpenAIServer

MESSAGES = [ChatMessage(role="user", content=CHAT_PROMPT)]


def second_choice(info: dict[str, Any]) -> str:
    eligible = [r["model"] for r in info["ranking"] if r["eligible"]]
    assert eligible[0] == "big"  # tradeoff 0: big is the router's choice
    return eligible[1]


@pytest.mark.parametrize("fault", ["500", "429", "503", "reset"])
def test_chat_falls_back_on_transient_errors(make_llm: Any, openai_server: OpenAIServer, fault: str) -> None:
    openai_server.set_mode("big", fault)
    response = make_llm(tradeoff=0.0).chat(MESSAGES)
    info = response.additional_kwargs["autorouter"]
    answered = response.additional_kwargs["router_candidate"]
    assert answered == second_choice(info) == info["model"]
    assert info["fallback_from"] == ["big"]
    assert "after big failed" in info["explanation"]
    assert openai_server.calls["big"] == 2  # the policy's 2 tries, none by the SDK (max_retries=0)
    assert openai_server.calls[answered] == 1
    assert response.message.content == f"[{answered}] {CHAT_PROMPT}"


def test_retry_on_the_same_model_first(make_llm: Any, openai_server: OpenAIServer) -> None:
    openai_server.script("big", ["500"])  # one failure, then big answers
    response = make_llm(tradeoff=0.0).chat(MESSAGES)
    assert response.additional_kwargs["router_candidate"] == "big"
    assert response.additional_kwargs["autorouter"]["fallback_from"] == []
    assert openai_server.calls["big"] == 2 and openai_server.total_calls == 2


@pytest.mark.parametrize("fault", ["401", "400", "403"])
def test_request_errors_surface_once(make_llm: Any, openai_server: OpenAIServer, fault: str) -> None:
    openai_server.set_mode("big", fault)
    with pytest.raises(openai.APIStatusError) as caught:
        make_llm(tradeoff=0.0).chat(MESSAGES)
    assert caught.value.status_code == int(fault)
    assert openai_server.total_calls == 1


def test_401_surfaces_once_from_every_form(make_llm: Any, openai_server: OpenAIServer) -> None:
    llm = make_llm(tradeoff=0.0)
    openai_server.set_mode("big", "401")
    calls = [
        lambda: llm.complete(CHAT_PROMPT),
        lambda: list(llm.stream_chat(MESSAGES)),
        lambda: list(llm.stream_complete(CHAT_PROMPT)),
    ]
    for call in calls:
        before = openai_server.total_calls
        with pytest.raises(openai.AuthenticationError):
            call()
        assert openai_server.total_calls == before + 1


def test_every_model_failing(make_llm: Any, openai_server: OpenAIServer) -> None:
    for model in ("big", "coder", "tiny"):
        openai_server.set_mode(model, "500")
    with pytest.raises(FallbackExhaustedError) as caught:
        make_llm(tradeoff=0.0).chat(MESSAGES)
    assert set(caught.value.models) == {"big", "coder", "tiny"}
    assert openai_server.total_calls == 6


def test_stream_falls_back_before_any_output(make_llm: Any, openai_server: OpenAIServer) -> None:
    openai_server.set_mode("big", "500")
    items = list(make_llm(tradeoff=0.0).stream_chat(MESSAGES))
    answered = items[-1].additional_kwargs["router_candidate"]
    assert answered != "big"
    assert "".join(i.delta for i in items) == f"[{answered}] {CHAT_PROMPT}"
    assert items[-1].additional_kwargs["autorouter"]["fallback_from"] == ["big"]


def test_stream_dropped_after_the_role_chunk_still_falls_back(make_llm: Any, openai_server: OpenAIServer) -> None:
    openai_server.set_mode("big", "drop:1")  # headers and the role-only chunk, then a close
    items = list(make_llm(tradeoff=0.0).stream_chat(MESSAGES))
    assert items[-1].additional_kwargs["router_candidate"] != "big"


def test_stream_broken_after_output_is_not_repeated(make_llm: Any, openai_server: OpenAIServer) -> None:
    openai_server.set_mode("big", "drop:3")  # role chunk, two words, then a close
    received = []
    with pytest.raises(StreamInterruptedError) as caught:
        for item in make_llm(tradeoff=0.0).stream_chat(MESSAGES):
            received.append(item.delta)
    assert received and caught.value.text == "".join(received)
    assert caught.value.model == "big"
    assert openai_server.total_calls == 1  # no other model was asked to say it again


async def test_async_fallback(make_llm: Any, openai_server: OpenAIServer) -> None:
    llm = make_llm(tradeoff=0.0)
    openai_server.set_mode("big", "429")
    response = await llm.achat(MESSAGES)
    assert response.additional_kwargs["router_candidate"] != "big"
    assert response.additional_kwargs["autorouter"]["fallback_from"] == ["big"]
    assert openai_server.calls["big"] == 2

    default_cooldowns.clear()
    items = [i async for i in await llm.astream_chat(MESSAGES)]
    answered = items[-1].additional_kwargs["router_candidate"]
    assert answered != "big" and items[-1].message.content == f"[{answered}] {CHAT_PROMPT}"
    assert openai_server.calls["big"] == 4

    completion = await llm.acomplete(CHAT_PROMPT)
    assert completion.additional_kwargs["router_candidate"] != "big"

    default_cooldowns.clear()  # big failed above, so it is tried last for a while
    openai_server.set_mode("big", "401")
    before = openai_server.total_calls
    with pytest.raises(openai.AuthenticationError):
        await llm.achat(MESSAGES)
    with pytest.raises(openai.AuthenticationError):
        await llm.astream_complete(CHAT_PROMPT)
    assert openai_server.total_calls == before + 2


async def test_async_stream_broken_after_output(make_llm: Any, openai_server: OpenAIServer) -> None:
    openai_server.set_mode("big", "drop:3")
    stream = await make_llm(tradeoff=0.0).astream_chat(MESSAGES)
    with pytest.raises(StreamInterruptedError):
        async for _ in stream:
            pass
    assert openai_server.total_calls == 1
