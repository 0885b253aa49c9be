"""Shared fixtures: the OpenAI-compatible test server every provider-facing test talks to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from autorouter.reliability import default_cooldowns
from openai_server import OpenAIServer


@pytest.fixture(scope="session")
def openai_server_session() -> Iterator[OpenAIServer]:
    """One real server for the whole run: starting uvicorn per test would be slow."""
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def openai_server(openai_server_session: OpenAIServer) -> OpenAIServer:
    """The shared server with its scripts, counters and settings reset for this test."""
    openai_server_session.reset()
    return openai_server_session


@pytest.fixture(autouse=True)
def _fresh_cooldowns() -> Iterator[None]:
    """A model one test made fail must not be tried last in the next test."""
    default_cooldowns.clear()
    yield
    default_cooldowns.clear()
