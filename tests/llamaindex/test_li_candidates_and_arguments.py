"""How `AutoRouterLLM` takes its candidates and its arguments: the candidates' own retries
are off (autorouter's policy is the one that retries), async calls from one fresh
`asyncio.run()` after another send each request once, unknown arguments are errors,
`from_openrouter` takes the same names as LangChain's, and a missing extra or key says what
to install or set.

Counts are the requests the loopback OpenAI-compatible server (tests/openai_server.py)
received from real `OpenAILike` clients.
"""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import autorouter

pytest.importorskip("llama_index.core", reason="needs the llamaindex extra")
pytest.importorskip("llama_index.llms.openai_like", reason="needs the llamaindex extra")
from llama_index.core.base.llms.types import ChatResponse
from llama_index.core.llms import ChatMessage, MockLLM
from pydantic import ValidationError

from autorouter.errors import MissingAPIKeyError
from autorouter.reliability import default_cooldowns
from li_support import CHAT_PROMPT, FAST_POLICY, MODELS, openai_like
from llamaindex_autorouter import AutoRouterLLM
from openai_server import OpenAIServer

MESSAGES = [ChatMessage(role="user", content=CHAT_PROMPT)]


def own_retries(server: OpenAIServer) -> dict[str, Any]:
    """OpenAILike clients with LlamaIndex's default `max_retries=3` (a tenacity retry
    decorator on top of the SDK client's own 3 retries)."""
    return {name: openai_like(server, name, max_retries=3) for name in MODELS}


def first_two(router: autorouter.Router, prompt: str) -> tuple[str, str]:
    decision = router.route(prompt)
    return decision.model, decision.fallbacks[0]


async def _last(stream: AsyncIterator[ChatResponse]) -> ChatResponse:
    last = None
    async for item in stream:
        last = item
    assert last is not None
    return last


async def _astream_chat(llm: AutoRouterLLM) -> str:
    return str((await _last(await llm.astream_chat(MESSAGES))).message.content)


# --- item 5: the documented retry count ------------------------------------------------------

CALLS = {
    "chat": lambda llm: llm.chat(MESSAGES).message.content,
    "complete": lambda llm: llm.complete(CHAT_PROMPT).text,
    "stream_chat": lambda llm: list(llm.stream_chat(MESSAGES))[-1].message.content,
    "achat": lambda llm: asyncio.run(llm.achat(MESSAGES)).message.content,
    "acomplete": lambda llm: asyncio.run(llm.acomplete(CHAT_PROMPT)).text,
    "astream_chat": lambda llm: asyncio.run(_astream_chat(llm)),
}


@pytest.mark.parametrize("form", list(CALLS))
def test_a_500_costs_two_calls_per_model_with_retrying_candidates(
    form: str, router: autorouter.Router, openai_server: OpenAIServer
) -> None:
    """RetryPolicy's 2 tries, then the next model; not the candidates' retries on top."""
    first, second = first_two(router, CHAT_PROMPT)
    mine = own_retries(openai_server)
    llm = AutoRouterLLM(router=router, candidates=mine, retry_policy=FAST_POLICY)
    openai_server.set_mode(first, "500")
    assert CALLS[form](llm) == f"[{second}] {CHAT_PROMPT}"
    assert openai_server.calls[first] == 2
    assert openai_server.calls[second] == 1 and openai_server.total_calls == 3
    assert llm.candidates[first].max_retries == 0 and mine[first].max_retries == 3  # yours are left alone


def test_max_retries_sets_the_tries_per_model(
    router: autorouter.Router, openai_server: OpenAIServer, candidates: Any
) -> None:
    first, second = first_two(router, CHAT_PROMPT)
    for max_retries, tries in ((0, 1), (2, 3)):
        openai_server.reset()
        default_cooldowns.clear()  # the first round gave up on `first`: it would be tried last
        openai_server.set_mode(first, "500")
        llm = AutoRouterLLM(router=router, candidates=candidates(), retry_policy=FAST_POLICY,
                            max_retries=max_retries)
        assert llm.chat(MESSAGES).message.content == f"[{second}] {CHAT_PROMPT}"
        assert openai_server.calls[first] == tries and openai_server.calls[second] == 1


def test_a_candidate_retrying_on_its_own_is_warned_about(router: autorouter.Router) -> None:
    class Retrying(MockLLM):
        max_retries: int = 2

    with pytest.warns(UserWarning, match=r"'big' \(Retrying\) retries failed calls itself.*max_retries=0"):
        AutoRouterLLM(router=router, candidates={"big": Retrying(), "tiny": MockLLM()})


# --- item 5: repeated asyncio.run() ---------------------------------------------------------


def test_repeated_asyncio_run_sends_each_call_once(
    router: autorouter.Router, openai_server: OpenAIServer, make_llm: Any
) -> None:
    """Each asyncio.run() is a new event loop: a connection pooled in the last one must not be
    used (it would send the request, fail to read the answer, and send it again)."""
    llm = make_llm()
    chosen = router.route(CHAT_PROMPT).model
    expected = f"[{chosen}] {CHAT_PROMPT}"
    calls = [
        lambda: asyncio.run(llm.acomplete(CHAT_PROMPT)).text,
        lambda: asyncio.run(llm.achat(MESSAGES)).message.content,
        lambda: asyncio.run(_astream_chat(llm)),
    ]
    n = 0
    for _ in range(2):
        for call in calls:
            n += 1
            assert call() == expected
            assert openai_server.total_calls == n
    # within one event loop the connection is reused
    openai_server.reset()

    async def twice() -> None:
        await llm.acomplete(CHAT_PROMPT)
        await llm.acomplete(CHAT_PROMPT)

    asyncio.run(twice())
    assert openai_server.total_calls == 2
    assert openai_server.requests[0].peer == openai_server.requests[1].peer


# --- item 11: unknown arguments and from_openrouter's names --------------------------------


def test_unknown_arguments_are_errors(router: autorouter.Router, candidates: Any, openai_server: OpenAIServer) -> None:
    with pytest.raises(TypeError, match=r"'tradoff' \(did you mean 'tradeoff'\?\); it accepts: .*tradeoff"):
        AutoRouterLLM(router=router, candidates=candidates(), tradoff=0.9)
    with pytest.raises(TypeError, match="tradoff"):
        AutoRouterLLM.from_openrouter(router, base_url=openai_server.base_url, api_key="k", tradoff=0.9)
    with pytest.raises(TypeError, match="name two endpoints"):
        AutoRouterLLM.from_openrouter(router, base_url=openai_server.base_url, api_base="http://127.0.0.1:9/v1",
                                      api_key="k")
    assert openai_server.total_calls == 0
    # LlamaIndex's own serialization key is no unknown argument
    assert AutoRouterLLM(router=router, candidates=candidates(), class_name="AutoRouterLLM").tradeoff is None


@pytest.mark.parametrize("name", ["base_url", "api_base"])
def test_from_openrouter_honours_base_url(
    name: str, router: autorouter.Router, openai_server: OpenAIServer
) -> None:
    """`base_url`, as in LangChain; `api_base`, LlamaIndex's own name for it, too."""
    openai_server.require_api_key = "k-local"
    llm = AutoRouterLLM.from_openrouter(router, api_key="k-local", timeout=7.0, retry_policy=FAST_POLICY,
                                        **{name: openai_server.base_url})
    assert {c.api_base for c in llm.candidates.values()} == {openai_server.base_url}
    assert {c.timeout for c in llm.candidates.values()} == {7.0}
    response = llm.chat(MESSAGES)
    assert response.message.content == f"[{router.route(CHAT_PROMPT).model}] {CHAT_PROMPT}"
    assert openai_server.total_calls == 1
    assert openai_server.requests[-1].headers["authorization"] == "Bearer k-local"


def test_both_adapters_from_openrouter_take_the_same_names() -> None:
    pytest.importorskip("langchain_openai", reason="needs the langchain extra")
    from langchain_autorouter import ChatAutoRouter

    def names(method: Any) -> set[str]:
        return {p for p, v in inspect.signature(method).parameters.items() if v.kind is not v.VAR_KEYWORD}

    # `api_base` is LlamaIndex's own name for `base_url` (OpenAILike's), accepted there only
    assert names(AutoRouterLLM.from_openrouter) - {"api_base"} == names(ChatAutoRouter.from_openrouter)


# --- item 13: missing extras and keys ---------------------------------------------------------


def run_without(module: str, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter in which `module` cannot be imported."""
    prelude = f"import sys\nsys.modules[{module!r}] = None  # as if it were not installed\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120, cwd=cwd, check=False,
    )


@pytest.mark.parametrize("module", ["llama_index.core", "llama_index"])
def test_importing_without_llama_index_core_says_what_to_install(module: str, tmp_path: Path) -> None:
    done = run_without(module, "import llamaindex_autorouter", tmp_path)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: ")  # an ImportError, as before, with the fix in it
    assert "llama-index-core" in last and "pip install 'autorouter[llamaindex]'" in last


def test_a_missing_key_is_named(monkeypatch: pytest.MonkeyPatch, router: autorouter.Router) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    for build in (lambda: AutoRouterLLM.from_openrouter(router), lambda: AutoRouterLLM(router=router)):
        with pytest.raises(MissingAPIKeyError) as caught:
            build()
        assert not isinstance(caught.value, ValidationError)
        assert caught.value.env_var == "OPENROUTER_API_KEY"
        assert "OPENROUTER_API_KEY" in str(caught.value) and "api_key=" in str(caught.value)
        assert "no candidates" not in str(caught.value)
