"""Pure converters of LangChain messages and chunks: what a call's messages need (images,
pdf, ...), the role/content dicts the router routes on, a candidate's stream item as a chunk,
and the ids answers are remembered and named by for `feedback`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration

from autorouter.errors import InvalidRequestError, UnknownResponseError

# --- what a request needs -------------------------------------------------------------

_BLOCK_NEEDS = {
    "image_url": "images", "image": "images", "input_image": "images",
    "file": "pdf", "input_file": "pdf", "document": "pdf",
    "audio": "audio", "input_audio": "audio",
    "video": "video",
}


def content_needs(messages: Sequence[BaseMessage]) -> set[str]:
    """The input modalities beyond text in the messages: images, pdf, audio, video."""
    needs: set[str] = set()
    for m in messages:
        content = m.content
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict):
                    need = _BLOCK_NEEDS.get(str(block.get("type")))
                    if need:
                        needs.add(need)
    return needs


# --- what the router routes on --------------------------------------------------------

_ROLES = {
    "human": "user", "ai": "assistant", "system": "system", "tool": "tool",
    "function": "function", "developer": "developer",
}
_ROUTING_ROLES = {"user", "assistant", "system", "developer", "tool", "function"}


def routing_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """The messages as role/content dicts the core's prompt reader understands (chunks and
    `ChatMessage`s with custom roles included). If no message holds any text (an image on
    its own), one placeholder user message stands in, so the router can still rank."""
    out = []
    for m in messages:
        kind = m.type.removesuffix("MessageChunk").lower()
        role = _ROLES.get(kind)
        if role is None:  # ChatMessage(role=...) or an unknown kind
            custom = str(getattr(m, "role", "") or "").lower()
            role = custom if custom in _ROUTING_ROLES else "user"
        out.append({"role": role, "content": m.content})
    if not any(_has_text(d["content"]) for d in out):
        kinds = sorted(content_needs(messages)) or ["empty"]
        out.append({"role": "user", "content": f"({', '.join(kinds)} input)"})
    return out


def _has_text(content: Any) -> bool:
    if isinstance(content, str):
        return bool(content.strip())
    if isinstance(content, list):
        return any(
            (isinstance(b, str) and b.strip())
            or (isinstance(b, dict) and isinstance(b.get("text"), str) and b["text"].strip())
            for b in content
        )
    return False


# --- a candidate's output -------------------------------------------------------------


def as_chunk(message: Any) -> AIMessageChunk:
    """A stream item as a chunk: a model without native streaming yields its whole answer
    (an `AIMessage`) as the one item of its stream."""
    if isinstance(message, AIMessageChunk):
        return message
    if not isinstance(message, AIMessage):
        raise TypeError(f"a candidate streamed a {type(message).__name__}, not message chunks")
    return AIMessageChunk(
        content=message.content,
        additional_kwargs=message.additional_kwargs,
        response_metadata=message.response_metadata,
        usage_metadata=message.usage_metadata,
        name=message.name,
        id=message.id,
        tool_call_chunks=[
            tool_call_chunk(name=call["name"], args=json.dumps(call["args"]), id=call["id"], index=i)
            for i, call in enumerate(message.tool_calls)
        ],
        chunk_position="last",
    )


def chunk_text(chunk: Any) -> str:
    """A stream item's text ("" when it has none): what a stream has output so far."""
    text = getattr(chunk, "text", "")
    return text if isinstance(text, str) else ""


# --- answer ids -----------------------------------------------------------------------


def outer_id(message_id: str | None) -> str | None:
    """A message id worth keeping: a provider's; not the id of the candidate's own run,
    which no callback saw (LangChain then gives the message the router's run id)."""
    if message_id is not None and message_id.startswith("lc_run-"):
        return None
    return message_id


def response_id(response: Any) -> Any:
    """The id `feedback` names an answer by: a message's `id`, a generation's message's, or
    the string given."""
    if isinstance(response, str):
        return response
    if isinstance(response, ChatGeneration):
        response = response.message
    if isinstance(response, BaseMessage):
        if not response.id:
            raise UnknownResponseError(
                f"this {type(response).__name__} has no id, so it is no answer of a ChatAutoRouter"
            )
        return response.id
    raise InvalidRequestError(
        "feedback takes an answer of this router (an AIMessage, AIMessageChunk or "
        f"ChatGeneration) or its id, not a {type(response).__name__}"
    )
