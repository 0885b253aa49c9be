"""Fixtures for the LlamaIndex adapter tests: a router fitted on synthetic data, and real
`OpenAILike` clients (`api_key="test"`, `max_retries=0`) talking to the shared
OpenAI-compatible test server (tests/openai_server.py).

The router's models are the synthetic data's (tests/core/synthetic.py): `big` (right on
everything, dear), `coder` (right on code, cheap) and `tiny` (right on chit-chat,
cheapest), embedded with a deterministic bag-of-hashed-words embedder, so routing is offline
and repeatable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import autorouter  # noqa: E402
from li_support import CATALOG_NAMES, FAST_POLICY, MODELS, fit_router, openai_like  # noqa: E402
from openai_server import OpenAIServer  # noqa: E402
from synthetic import make_rows  # noqa: E402


@pytest.fixture(scope="session")
def router() -> autorouter.Router:
    """One fitted router per session (routing never mutates it)."""
    return fit_router(make_rows(150))


@pytest.fixture(scope="session")
def catalog_router() -> autorouter.Router:
    """The synthetic router with its models named by catalog ids (CATALOG_NAMES)."""
    rows = make_rows(150)
    for row in rows:
        for key in ("scores", "cost_usd"):
            row[key] = {CATALOG_NAMES[m]: v for m, v in row[key].items()}
    return fit_router(rows)


@pytest.fixture
def candidates(openai_server: OpenAIServer) -> Callable[..., dict[str, Any]]:
    """`candidates(**per_model_kwargs)`: fresh OpenAILike clients for big/coder/tiny."""

    def make(names: list[str] | None = None, **per_model: dict[str, Any]) -> dict[str, Any]:
        return {n: openai_like(openai_server, n, **per_model.get(n, {})) for n in (names or MODELS)}

    return make


@pytest.fixture
def make_llm(
    openai_server: OpenAIServer, router: autorouter.Router, candidates: Callable[..., dict[str, Any]]
) -> Callable[..., Any]:
    """`make_llm(**fields)`: an AutoRouterLLM over OpenAILike clients for big/coder/tiny."""
    from llamaindex_autorouter import AutoRouterLLM

    def make(**fields: Any) -> Any:
        fields.setdefault("router", router)
        fields.setdefault("candidates", candidates())
        fields.setdefault("retry_policy", FAST_POLICY)
        return AutoRouterLLM(**fields)

    return make


@pytest.fixture(autouse=True)
def _restore_settings() -> Iterator[None]:
    """Tests set `Settings.llm`, `embed_model` and `callback_manager`: put them back."""
    try:
        from llama_index.core import Settings
    except ImportError:  # the llamaindex extra is missing: those tests skip themselves
        yield
        return

    saved = (Settings._llm, Settings._embed_model, Settings._callback_manager)
    yield
    Settings._llm, Settings._embed_model, Settings._callback_manager = saved


@pytest.fixture
def events() -> Iterator[list[Any]]:
    """Every instrumentation event dispatched during the test (root dispatcher)."""
    from llama_index.core.instrumentation import get_dispatcher
    from llama_index.core.instrumentation.event_handlers import BaseEventHandler

    seen: list[Any] = []

    class Collector(BaseEventHandler):
        @classmethod
        def class_name(cls) -> str:
            return "Collector"

        def handle(self, event: Any, **kwargs: Any) -> None:
            seen.append(event)

    root = get_dispatcher()
    handler = Collector()
    root.add_event_handler(handler)
    try:
        yield seen
    finally:
        root.event_handlers = [h for h in root.event_handlers if h is not handler]
