"""LangChain's standard conformance suites (`langchain-tests`) for `ChatAutoRouter`.

The wrapped models are real `ChatOpenAI` clients talking to the OpenAI-compatible server the
tests start on 127.0.0.1 (tests/openai_server.py), so every call crosses HTTP: chat
completions, SSE streaming with usage, tool calls, JSON mode and JSON schema.

Skipped, because they cannot pass offline:
- image, PDF and audio inputs and image/PDF tool messages: the suites download their sample
  files from the internet (and the test server does not read media);
- `test_stream_time`: a benchmark replaying recorded HTTP (VCR cassettes), which a router over
  a local server has nothing to record from;
- `test_serdes` (unit): skipped by the suite itself, as `ChatAutoRouter` is not
  LangChain-serializable (a fitted router and live clients do not belong in `dumpd`).
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from langchain_autorouter import ChatAutoRouter
from lc_support import FAST_POLICY, openai_candidates, shared_router
from openai_server import OpenAIServer

_SERVER: dict[str, OpenAIServer] = {}

# Skipped with these reasons by the hook in conftest.py (the suite forbids overriding its tests).
OFFLINE = "downloads its sample media from the internet; these tests run offline"
SKIPPED = {
    "test_image_inputs": OFFLINE,
    "test_image_tool_message": OFFLINE,
    "test_pdf_inputs": OFFLINE,
    "test_pdf_tool_message": OFFLINE,
    "test_audio_inputs": OFFLINE,
    "test_stream_time": "a benchmark replaying recorded HTTP (VCR cassettes); nothing to record offline",
}


@pytest.fixture(autouse=True)
def _server(openai_server: OpenAIServer) -> None:
    """The suites build models from properties, not fixtures: hand them the shared server."""
    _SERVER["server"] = openai_server


def _params() -> dict[str, Any]:
    return {
        "router": shared_router(),
        "candidates": openai_candidates(_SERVER["server"]),
        "retry_policy": FAST_POLICY,
    }


class TestChatAutoRouterUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatAutoRouter]:
        return ChatAutoRouter

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return _params()

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        # Without candidates the router reaches its models through OpenRouter, with the key
        # from OPENROUTER_API_KEY (building the clients sends nothing).
        return (
            {"OPENROUTER_API_KEY": "sk-or-test"},
            {"router": shared_router()},
            {"openrouter_api_key": "sk-or-test"},
        )

    @property
    def model_override_value(self) -> str:
        return "tiny"


class TestChatAutoRouterIntegration(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatAutoRouter]:
        return ChatAutoRouter

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return _params()

    @property
    def model_override_value(self) -> str:
        return "tiny"

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def supports_anthropic_inputs(self) -> bool:
        return True
