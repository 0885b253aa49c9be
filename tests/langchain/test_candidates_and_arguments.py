"""How `ChatAutoRouter` takes its candidates and its arguments: the candidates' own retries
are off (autorouter's policy is the one that retries), async calls from one fresh
`asyncio.run()` after another send each request once, unknown arguments are errors, and a
missing extra or key says what to install or set.

Counts are the requests the loopback OpenAI-compatible server (tests/openai_server.py)
received: the candidates are real `ChatOpenAI` clients, built as the README builds them
(with langchain-openai's defaults: 2 retries of the SDK's own, the shared cached HTTP pool).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from pydantic import ValidationError

import autorouter
from autorouter.errors import MissingAPIKeyError
from autorouter.reliability import default_cooldowns
from langchain_autorouter import ChatAutoRouter
from lc_support import FAST_POLICY, MODELS
from openai_server import OpenAIServer

HELLO = "hello there friend, how are you doing today"


def readme_candidates(server: OpenAIServer) -> dict[str, Any]:
    """ChatOpenAI clients as the README's example builds them: no max_retries, no timeout."""
    from langchain_openai import ChatOpenAI

    return {name: ChatOpenAI(model=name, base_url=server.base_url, api_key="test") for name in MODELS}


def first_two(router: autorouter.Router, prompt: str) -> tuple[str, str]:
    decision = router.route(prompt)
    return decision.model, decision.fallbacks[0]


async def _text_of(stream: AsyncIterator[Any]) -> str:
    return "".join([chunk.text async for chunk in stream])


# --- item 5: the documented retry count ------------------------------------------------------

CALLS = {
    "invoke": lambda llm: llm.invoke(HELLO).text,
    "stream": lambda llm: "".join(chunk.text for chunk in llm.stream(HELLO)),
    "ainvoke": lambda llm: asyncio.run(llm.ainvoke(HELLO)).text,
    "astream": lambda llm: asyncio.run(_text_of(llm.astream(HELLO))),
}


@pytest.mark.parametrize("form", list(CALLS))
def test_a_500_costs_two_calls_per_model_with_readme_candidates(
    form: str, router: autorouter.Router, openai_server: OpenAIServer
) -> None:
    """RetryPolicy's 2 tries, then the next model: not 2 x (1 + the SDK's 2 retries) = 6."""
    first, second = first_two(router, HELLO)
    mine = readme_candidates(openai_server)
    llm = ChatAutoRouter(router=router, candidates=mine, retry_policy=FAST_POLICY)
    openai_server.set_mode(first, "500")
    text = CALLS[form](llm)
    assert text == f"[{second}] {HELLO}"
    assert openai_server.calls[first] == 2
    assert openai_server.calls[second] == 1 and openai_server.total_calls == 3
    # the router calls copies without retries; the caller's models are left as they were
    assert llm.candidates[first] is not mine[first] and llm.candidates[first].max_retries == 0
    assert mine[first].max_retries is None and mine[first].root_client.max_retries == 2


def test_max_retries_sets_the_tries_per_model(router: autorouter.Router, openai_server: OpenAIServer) -> None:
    first, second = first_two(router, HELLO)
    for max_retries, tries in ((0, 1), (2, 3)):
        openai_server.reset()
        default_cooldowns.clear()  # the first round gave up on `first`: it would be tried last
        openai_server.set_mode(first, "500")
        llm = ChatAutoRouter(router=router, candidates=readme_candidates(openai_server),
                             retry_policy=FAST_POLICY, max_retries=max_retries)
        assert llm.invoke(HELLO).text == f"[{second}] {HELLO}"
        assert openai_server.calls[first] == tries and openai_server.calls[second] == 1


def test_a_candidate_retrying_on_its_own_is_warned_about(router: autorouter.Router) -> None:
    class Retrying(GenericFakeChatModel):
        max_retries: int = 2

    with pytest.warns(UserWarning, match=r"'big' \(Retrying\) retries failed calls itself.*max_retries=0"):
        ChatAutoRouter(router=router, candidates={
            "big": Retrying(messages=iter([AIMessage("hi")])),
            "tiny": GenericFakeChatModel(messages=iter([AIMessage("hi")])),
        })


# --- item 5: repeated asyncio.run() ---------------------------------------------------------


def test_repeated_asyncio_run_sends_each_call_once(router: autorouter.Router, openai_server: OpenAIServer) -> None:
    """Each asyncio.run() is a new event loop: a connection pooled in the last one must not be
    used (it would send the request, fail to read the answer, and send it again)."""
    llm = ChatAutoRouter(router=router, candidates=readme_candidates(openai_server), retry_policy=FAST_POLICY)
    chosen = router.route(HELLO).model
    for n in range(1, 4):
        assert asyncio.run(llm.ainvoke(HELLO)).text == f"[{chosen}] {HELLO}"
        assert openai_server.total_calls == n
    for n in range(4, 6):
        assert asyncio.run(_text_of(llm.astream(HELLO))) == f"[{chosen}] {HELLO}"
        assert openai_server.total_calls == n
    # within one event loop the connection is reused
    openai_server.reset()

    async def twice() -> None:
        await llm.ainvoke(HELLO)
        await llm.ainvoke(HELLO)

    asyncio.run(twice())
    assert openai_server.total_calls == 2
    assert openai_server.requests[0].peer == openai_server.requests[1].peer


# --- item 11: unknown arguments ----------------------------------------------------------------


def test_unknown_arguments_are_errors(router: autorouter.Router, openai_server: OpenAIServer) -> None:
    candidates = readme_candidates(openai_server)
    with pytest.raises(TypeError, match=r"'tradoff' \(did you mean 'tradeoff'\?\); it accepts: .*tradeoff"):
        ChatAutoRouter(router=router, candidates=candidates, tradoff=0.9)
    # LlamaIndex's name for base_url: not silently dropped (the key would go to openrouter.ai)
    with pytest.raises(TypeError, match=r"'api_base' \(did you mean 'base_url'\?\).*base_url"):
        ChatAutoRouter.from_openrouter(router, api_base=openai_server.base_url, api_key="k-local")
    with pytest.raises(TypeError, match="tradoff"):
        ChatAutoRouter.from_openrouter(router, base_url=openai_server.base_url, api_key="k", tradoff=0.9)
    assert openai_server.total_calls == 0
    # the names LangChain uses (aliases and field names) are accepted
    llm = ChatAutoRouter(router=router, candidates=candidates, model="my-router", max_retries=1, timeout=5.0)
    assert llm.model_name == "my-router" and llm.request_timeout == 5.0


def test_from_openrouter_honours_base_url_and_timeout(router: autorouter.Router, openai_server: OpenAIServer) -> None:
    openai_server.require_api_key = "k-local"
    llm = ChatAutoRouter.from_openrouter(router, base_url=openai_server.base_url, api_key="k-local",
                                         timeout=7.0, retry_policy=FAST_POLICY)
    assert {m.request_timeout for m in llm.candidates.values()} == {7.0}
    message = llm.invoke(HELLO)
    assert message.text == f"[{router.route(HELLO).model}] {HELLO}"
    assert openai_server.total_calls == 1
    assert openai_server.requests[-1].headers["authorization"] == "Bearer k-local"


# --- item 13: missing extras and keys ---------------------------------------------------------


def run_without(module: str, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter in which `module` cannot be imported."""
    prelude = f"import sys\nsys.modules[{module!r}] = None  # as if it were not installed\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120, cwd=cwd, check=False,
    )


def test_importing_without_langchain_core_says_what_to_install(tmp_path: Path) -> None:
    done = run_without("langchain_core", "import langchain_autorouter", tmp_path)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: ")  # an ImportError, as before, with the fix in it
    assert "langchain-core" in last and "pip install 'autorouter[langchain]'" in last


def test_a_missing_key_is_named(monkeypatch: pytest.MonkeyPatch, router: autorouter.Router) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    for build in (lambda: ChatAutoRouter.from_openrouter(router), lambda: ChatAutoRouter(router=router)):
        with pytest.raises(MissingAPIKeyError) as caught:
            build()
        assert not isinstance(caught.value, ValidationError)
        assert caught.value.env_var == "OPENROUTER_API_KEY"
        assert "OPENROUTER_API_KEY" in str(caught.value) and "api_key=" in str(caught.value)
        assert "no candidates" not in str(caught.value)
