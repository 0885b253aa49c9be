"""The values of one chat-completions call: the endpoint it goes to, and the completion (or
the streamed chunks) it comes back as, with token usage and tool calls.

`autorouter.client` makes the call and re-exports every name here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from autorouter.errors import MissingAPIKeyError

__all__ = [
    "DEFAULT_API_KEY_ENV",
    "DEFAULT_BASE_URL",
    "ChatChunk",
    "ChatCompletion",
    "Endpoint",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
]

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
DEFAULT_API_KEY_ENV = "OPENROUTER_API_KEY"


# --- what goes in -------------------------------------------------------------------


class Endpoint(BaseModel):
    """Where an OpenAI-compatible API lives and how to authenticate to it.

    The key is `api_key` if given, else the value of the `api_key_env` environment
    variable; with both None no Authorization header is sent (a local server, say).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(default=DEFAULT_BASE_URL, description="API root, e.g. .../v1")
    api_key: SecretStr | None = Field(default=None, description="explicit key; wins over env")
    api_key_env: str | None = Field(
        default=DEFAULT_API_KEY_ENV, description="environment variable holding the key"
    )
    # Hidden from repr: callers sometimes put credentials in custom headers too.
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    timeout: float = Field(
        default=60.0, gt=0, description="seconds to connect, and to wait for each read; a "
        "fallback run's attempt and stall limits (`RetryPolicy`) shorten it per attempt"
    )

    def resolve_api_key(self) -> SecretStr | None:
        """The key to send, or None when this endpoint needs none.

        Raises `MissingAPIKeyError` naming the variable when it should be set but is not.
        """
        if self.api_key is not None:
            return self.api_key
        if self.api_key_env is None:
            return None
        value = os.environ.get(self.api_key_env, "").strip()
        if not value:
            raise MissingAPIKeyError(self.api_key_env)
        return SecretStr(value)


# --- what comes out -----------------------------------------------------------------


class Usage(BaseModel):
    """Token counts of one call, and its cost in USD when the provider reports it."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: float | None = Field(default=None, description="USD, e.g. OpenRouter's usage.cost")


class ToolCall(BaseModel):
    """A function call the model asked for; `arguments` is the JSON text it wrote."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    arguments: str = ""

    def parse_arguments(self) -> Any:
        """`arguments` decoded from JSON (raises `json.JSONDecodeError` if the model erred)."""
        return json.loads(self.arguments or "{}")


class ChatCompletion(BaseModel):
    """One answer: its text, tool calls, why it stopped, token usage and the raw body."""

    model_config = ConfigDict(frozen=True)

    model: str = Field(description="the model the provider says answered")
    text: str = Field(default="", description="the message content; '' with only tool calls")
    tool_calls: list[ToolCall] = Field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    @property
    def cost(self) -> float | None:
        """USD cost as reported by the provider, if it reported one."""
        return self.usage.cost if self.usage is not None else None

    @classmethod
    def from_chunks(cls, chunks: Iterable[ChatChunk]) -> ChatCompletion:
        """Assemble the answer a stream delivered."""
        chunks = list(chunks)
        calls: dict[int, dict[str, str]] = {}
        finish_reason: str | None = None
        usage: Usage | None = None
        for chunk in chunks:
            for delta in chunk.tool_calls:
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = call["id"] or (delta.id or "")
                call["name"] = call["name"] or (delta.name or "")
                call["arguments"] += delta.arguments
            finish_reason = chunk.finish_reason or finish_reason
            usage = chunk.usage or usage
        return cls(
            model=chunks[0].model if chunks else "",
            text="".join(c.text for c in chunks),
            tool_calls=[ToolCall(**calls[i]) for i in sorted(calls)],
            finish_reason=finish_reason,
            usage=usage,
            raw={"chunks": [c.raw for c in chunks]},
        )


class ToolCallDelta(BaseModel):
    """A piece of a streamed tool call; pieces with the same `index` form one call."""

    model_config = ConfigDict(frozen=True)

    index: int = 0
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class ChatChunk(BaseModel):
    """One streamed event: a piece of text or of tool calls, the finish reason, or usage."""

    model_config = ConfigDict(frozen=True)

    model: str
    text: str = ""
    tool_calls: list[ToolCallDelta] = Field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)
