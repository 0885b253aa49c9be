"""AutoRouterLLM inside LlamaIndex: FunctionAgent (streaming and not) with two tools, whose
tool turns stay on one model; ReActAgent; query engines with `Settings.llm`;
`structured_predict` and `as_structured_llm`."""

from __future__ import annotations

from typing import Any

import pytest

import autorouter

pytest.importorskip("llama_index.core", reason="needs the llamaindex extra")
pytest.importorskip("llama_index.llms.openai_like", reason="needs the llamaindex extra")
from llama_index.core.agent.workflow import AgentStream, FunctionAgent, ReActAgent, ToolCallResult
from llama_index.core.tools import FunctionTool
from pydantic import BaseModel

from li_support import CHAT_PROMPT, ScriptedRouter, hash_embed
from llamaindex_autorouter import AutoRouterEmbedding
from openai_server import OpenAIServer

# llama-index-workflows inspects agents with `inspect.getmembers`, which touches pydantic's
# deprecated `__fields__`: not ours to fix.
pytestmark = [
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20"),
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211"),
]

TOOL_CALLS: list[tuple[str, dict[str, Any]]] = []


def multiply(x: int) -> int:
    """Double a number."""
    TOOL_CALLS.append(("multiply", {"x": x}))
    return 2 * x


def lookup(city: str) -> str:
    """Look up the weather of a city."""
    TOOL_CALLS.append(("lookup", {"city": city}))
    return f"sunny in {city}"


TOOLS = [FunctionTool.from_defaults(multiply), FunctionTool.from_defaults(lookup)]


@pytest.fixture(autouse=True)
def _clear_tool_calls() -> None:
    TOOL_CALLS.clear()


def models_called(server: OpenAIServer) -> list[str]:
    return [r.model for r in server.requests if r.path.endswith("/chat/completions")]


@pytest.mark.parametrize("streaming", [False, True])
async def test_function_agent_runs_to_completion_on_one_model(
    router: autorouter.Router, make_llm: Any, openai_server: OpenAIServer, streaming: bool
) -> None:
    # The router would pick big for the first turn (tradeoff 0) and the cheapest model for
    # the tool-result turn (tradeoff 1): the agent run must stay on big.
    scripted = ScriptedRouter(router, [0.0, 1.0, 1.0, 1.0])
    llm = make_llm(router=scripted)
    assert llm.metadata.is_function_calling_model
    agent = FunctionAgent(tools=TOOLS, llm=llm, streaming=streaming)
    handler = agent.run(user_msg="hello, please double 21")
    deltas = [e.delta async for e in handler.stream_events() if isinstance(e, AgentStream)]
    result = await handler

    assert TOOL_CALLS == [("multiply", {"x": 21})]  # the first tool, its argument from the prompt
    assert models_called(openai_server) == ["big", "big"]
    assert str(result.response.content) == "[big] tool result: 42"
    assert result.response.additional_kwargs["router_candidate"] == "big"
    assert [d.model for d in scripted.decisions] == ["big", "tiny"]  # what the router said
    bodies = [r.body for r in openai_server.requests]
    assert all(len(b["tools"]) == 2 for b in bodies)  # both tools offered on every turn
    assert bodies[1]["messages"][-1]["role"] == "tool"
    if streaming:
        assert "".join(deltas) == "[big] tool result: 42"


async def test_function_agent_new_user_message_routes_again(
    router: autorouter.Router, make_llm: Any, openai_server: OpenAIServer
) -> None:
    from llama_index.core.workflow import Context

    scripted = ScriptedRouter(router, [0.0, 1.0, 1.0, 1.0])
    agent = FunctionAgent(tools=TOOLS, llm=make_llm(router=scripted), streaming=False)
    ctx = Context(agent)
    await agent.run(user_msg="hello, please double 21", ctx=ctx)
    await agent.run(user_msg="now double 5", ctx=ctx)
    # the second user message starts a new choice: the router now says tiny for both turns
    assert models_called(openai_server) == ["big", "big", "tiny", "tiny"]


async def test_function_agent_skips_models_without_tool_calling(
    make_llm: Any, candidates: Any, openai_server: OpenAIServer
) -> None:
    llm = make_llm(tradeoff=1.0, candidates=candidates(tiny={"is_function_calling_model": False}))
    agent = FunctionAgent(tools=TOOLS, llm=llm)
    result = await agent.run(user_msg=f"{CHAT_PROMPT}, double 4")
    assert "tiny" not in models_called(openai_server)
    assert TOOL_CALLS == [("multiply", {"x": 7})]
    assert "tool result: 14" in str(result.response.content)


def test_function_agent_refuses_a_router_without_function_calling_models(
    make_llm: Any, candidates: Any
) -> None:
    off = {"is_function_calling_model": False}
    llm = make_llm(candidates=candidates(big=off, coder=off, tiny=off))
    assert llm.metadata.is_function_calling_model is False


@pytest.mark.parametrize("streaming", [False, True])
async def test_react_agent(make_llm: Any, openai_server: OpenAIServer, streaming: bool) -> None:
    llm = make_llm(tradeoff=0.0)
    agent = ReActAgent(tools=TOOLS, llm=llm, streaming=streaming)
    handler = agent.run(user_msg="please double 21")
    tool_results = [e async for e in handler.stream_events() if isinstance(e, ToolCallResult)]
    result = await handler
    assert TOOL_CALLS == [("multiply", {"x": 21})]
    assert [r.tool_name for r in tool_results] == ["multiply"]
    assert "tool result: 42" in str(result.response.content)
    assert models_called(openai_server) == ["big", "big"]
    assert "tools" not in openai_server.requests[0].body  # ReAct is plain chat


@pytest.mark.parametrize("streaming", [False, True])
async def test_react_agent_steps_stay_on_the_model_that_started(
    router: autorouter.Router, make_llm: Any, openai_server: OpenAIServer, streaming: bool
) -> None:
    # The router would pick big for the first step and tiny for every later one; ReAct's
    # reasoning turns carry no tag of ours, so the run is remembered by its user message.
    scripted = ScriptedRouter(router, [0.0, 1.0, 1.0, 1.0])
    agent = ReActAgent(tools=TOOLS, llm=make_llm(router=scripted), streaming=streaming)
    result = await agent.run(user_msg="please double 21")
    assert "tool result: 42" in str(result.response.content)
    assert models_called(openai_server) == ["big", "big"]
    # a new user message is a new run: the router's choice applies again
    await agent.run(user_msg="now please double 5")
    assert models_called(openai_server)[2:] == ["tiny", "tiny"]


def test_predict_and_call(make_llm: Any, openai_server: OpenAIServer) -> None:
    response = make_llm(tradeoff=0.0).predict_and_call(TOOLS, user_msg="double 8")
    assert response.response == "16"
    assert TOOL_CALLS == [("multiply", {"x": 8})]


class Album(BaseModel):
    """An album."""

    title: str
    year: int


def test_structured_predict(make_llm: Any, openai_server: OpenAIServer) -> None:
    from llama_index.core import PromptTemplate

    llm = make_llm(tradeoff=0.0)
    album = llm.structured_predict(Album, PromptTemplate("make up an album from {year}"), year="1999")
    assert isinstance(album, Album) and album.year == 1999
    body = openai_server.requests[-1].body
    assert body["tools"][0]["function"]["name"] == "Album"


async def test_astructured_predict_and_structured_llm(make_llm: Any) -> None:
    from llama_index.core import PromptTemplate
    from llama_index.core.llms import ChatMessage

    llm = make_llm(tradeoff=0.0)
    album = await llm.astructured_predict(Album, PromptTemplate("an album from {year}"), year="2001")
    assert album.year == 2001

    structured = llm.as_structured_llm(Album)
    response = structured.chat([ChatMessage(role="user", content="an album from 1984")])
    assert response.raw.year == 1984


def test_query_engine_over_a_vector_index(make_llm: Any, openai_server: OpenAIServer) -> None:
    from llama_index.core import Document, Settings, VectorStoreIndex

    Settings.llm = make_llm(tradeoff=0.0)
    Settings.embed_model = AutoRouterEmbedding(hash_embed)
    docs = [
        Document(text="The router sends code prompts to the coder model."),
        Document(text="Chit-chat goes to the tiny model, which is the cheapest."),
        Document(text="Hard maths goes to the big model."),
    ]
    index = VectorStoreIndex.from_documents(docs)
    response = index.as_query_engine(similarity_top_k=2).query("which model gets chit-chat?")
    assert str(response).startswith("[big] ")
    assert "which model gets chit-chat?" in str(response)
    assert len(response.source_nodes) == 2
    assert models_called(openai_server) == ["big"]  # embeddings never left the process
    assert all(r.path.endswith("/chat/completions") for r in openai_server.requests)


async def test_streaming_async_query_engine_over_a_summary_index(
    make_llm: Any, openai_server: OpenAIServer
) -> None:
    from llama_index.core import Document, Settings, SummaryIndex

    Settings.llm = make_llm(tradeoff=1.0)
    index = SummaryIndex.from_documents([Document(text="autorouter routes prompts."), Document(text="It is cheap.")])
    engine = index.as_query_engine(streaming=True)
    response = await engine.aquery("hello there, what does it do?")
    text = "".join([t async for t in response.async_response_gen()])
    assert text.startswith("[") and "what does it do?" in text
    assert len(openai_server.requests) == 1


def test_chat_engine_keeps_history(make_llm: Any, openai_server: OpenAIServer) -> None:
    from llama_index.core.chat_engine import SimpleChatEngine

    engine = SimpleChatEngine.from_defaults(llm=make_llm(tradeoff=1.0))
    first = engine.chat(CHAT_PROMPT)
    second = engine.chat("hi how are you doing today")
    assert str(first).endswith(CHAT_PROMPT) and str(second).endswith("how are you doing today")
    assert len(openai_server.requests[-1].body["messages"]) >= 3  # history sent along
