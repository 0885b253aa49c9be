"""Fixtures for the LangChain adapter tests (helpers in lc_support.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import autorouter
from lc_support import FAST_POLICY, openai_candidates, shared_router
from openai_server import OpenAIServer


@pytest.fixture(scope="session")
def router() -> autorouter.Router:
    return shared_router()


@pytest.fixture
def make_llm(openai_server: OpenAIServer, router: autorouter.Router) -> Callable[..., Any]:
    """`make_llm(**fields)`: a ChatAutoRouter over ChatOpenAI clients for big/coder/tiny."""
    from langchain_autorouter import ChatAutoRouter

    def make(**fields: Any) -> Any:
        fields.setdefault("router", router)
        fields.setdefault("candidates", openai_candidates(openai_server))
        fields.setdefault("retry_policy", FAST_POLICY)
        return ChatAutoRouter(**fields)

    return make


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the standard tests that cannot run offline, each with its reason (`SKIPPED` in
    test_standard.py), without overriding them, which the suites forbid.
    """
    for item in items:
        module = getattr(item, "module", None)
        reasons = getattr(module, "SKIPPED", None)
        if isinstance(reasons, dict) and item.originalname in reasons:
            item.add_marker(pytest.mark.skip(reason=reasons[item.originalname]))
