"""LlamaIndex messages and responses in the terms the router and the candidates need: the
routing input and what it needs beyond text, the turns that keep an agent run on its model,
the messages a candidate is sent, and of an answer its tool calls, token usage and ids, and
the tags the router puts on it. Pure functions: no LLM, no state."""

from __future__ import annotations

import json
from collections.abc import Container, Iterator, Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse, ToolCallBlock
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.llms.utils import parse_partial_json

from autorouter.calls import adapter_support as support
from autorouter.errors import InvalidRequestError, UnknownResponseError

ROUTER_KEY = support.ROUTER_KEY
"""`additional_kwargs` key of every response holding the routing report."""
CANDIDATE_KEY = support.CANDIDATE_KEY
"""`additional_kwargs` key (of the response and of its message) naming the candidate that answered."""
RESPONSE_ID_KEY = support.RESPONSE_ID_KEY
"""`additional_kwargs` key of every response holding the answer's id, which `feedback` names it by."""

_ASSISTANT_ROLES = {"assistant", "chatbot", "model"}
_ROUTING_ROLES = {"system", "developer", "user", "assistant", "tool", "function", "chatbot", "model"}
_BLOCK_NEEDS = {"image": "images", "document": "pdf", "audio": "audio", "video": "video"}


# --- what the router reads -----------------------------------------------------------------


def role(message: ChatMessage) -> str:
    value = message.role
    return str(getattr(value, "value", value) or "").lower()


def turn_role(message: ChatMessage) -> str:
    """The message's role, with ReAct's observations (user-role messages the agent writes
    itself) counted as tool turns rather than as the user speaking."""
    value = role(message)
    if value == "user" and (message.content or "").lstrip().startswith("Observation:"):
        return "tool"
    return value


def turns(messages: Sequence[ChatMessage], candidates: Container[str]) -> Iterator[tuple[str, str | None]]:
    """(role, candidate key) per message, as `autorouter.calls.plan.sticky_candidate` reads
    them: assistant turns under one role name, with the candidate their tag names (when it
    is one of `candidates`)."""
    for m in messages:
        value = role(m)
        key = None
        if value in _ASSISTANT_ROLES:
            value = "assistant"
            tag = (m.additional_kwargs or {}).get(CANDIDATE_KEY)
            key = tag if tag in candidates else None
        yield value, key


def routing_messages(messages: Sequence[ChatMessage]) -> tuple[list[dict[str, Any]], set[str]]:
    """The messages as role/content dicts the core's prompt reader understands, and what
    they need beyond text (images, pdf, audio, video). Tool calls count as text (they are
    paid for). If no message holds text, a placeholder user message stands in, so the router
    can still rank."""
    out: list[dict[str, Any]] = []
    needs: set[str] = set()
    for m in messages:
        parts: list[dict[str, Any]] = []
        for block in m.blocks:
            kind = getattr(block, "block_type", None)
            if kind in _BLOCK_NEEDS:
                needs.add(_BLOCK_NEEDS[kind])
                if kind == "image":
                    parts.append({"type": "image_url"})
            elif isinstance(block, ToolCallBlock):
                args = block.tool_kwargs if isinstance(block.tool_kwargs, str) else json.dumps(block.tool_kwargs, default=str)
                parts.append({"type": "text", "text": f"{block.tool_name}({args})"})
            else:
                text = getattr(block, "text", None)
                if not isinstance(text, str):
                    text = getattr(block, "content", None)  # ThinkingBlock
                if isinstance(text, str) and text:
                    parts.append({"type": "text", "text": text})
        value = role(m)
        out.append({"role": value if value in _ROUTING_ROLES else "user", "content": parts})
    if not any(p.get("text", "").strip() for d in out for p in d["content"]):
        kinds = sorted(needs) or ["empty"]
        out.append({"role": "user", "content": [{"type": "text", "text": f"({', '.join(kinds)} input)"}]})
    return out, needs


def chars(messages: list[dict[str, Any]]) -> int:
    """The length of the text of `routing_messages`' dicts."""
    return sum(len(p.get("text", "")) for d in messages for p in d["content"])


def recorded_prompt(prompt: Any) -> Any:
    """What an answer is remembered under for `feedback`: the prompt as given, or the
    routing input of the messages."""
    return prompt if isinstance(prompt, str) else routing_messages(prompt or [])[0]


# --- what the candidate is sent ------------------------------------------------------------


def untagged(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """The messages without the router's tag, which is for the router alone: some
    integrations send an assistant message's `additional_kwargs` along with it."""
    out = []
    for m in messages:
        extra = m.additional_kwargs or {}
        if CANDIDATE_KEY in extra:
            m = m.model_copy(update={"additional_kwargs": {k: v for k, v in extra.items() if k != CANDIDATE_KEY}})
        out.append(m)
    return out


# --- what the answer says ------------------------------------------------------------------


def tool_calls_from_blocks(response: ChatResponse, error_on_no_tool_call: bool) -> list[ToolSelection]:
    """The tool calls of a response, read from its message's `ToolCallBlock`s."""
    calls = []
    for i, block in enumerate(b for b in response.message.blocks if isinstance(b, ToolCallBlock)):
        kwargs: Any = block.tool_kwargs
        if isinstance(kwargs, str):
            try:
                kwargs = parse_partial_json(kwargs) if kwargs.strip() else {}
            except (ValueError, TypeError):
                kwargs = {}
        calls.append(ToolSelection(tool_id=block.tool_call_id or f"call_{i}", tool_name=block.tool_name, tool_kwargs=kwargs))
    if not calls and error_on_no_tool_call:
        raise ValueError("Expected at least one tool call, but got 0 tool calls.")
    return calls


def answering_candidate(response: ChatResponse) -> Any:
    """The candidate key a response (or its message) is tagged with, if any."""
    return (response.additional_kwargs or {}).get(CANDIDATE_KEY) or (
        response.message.additional_kwargs or {}
    ).get(CANDIDATE_KEY)


def usage(response: Any) -> tuple[int, int] | None:
    """(prompt tokens, completion tokens) of a response, from its `additional_kwargs` (as
    OpenAI's LLMs report them) or its `raw` usage; None when neither says."""
    for source in (response.additional_kwargs, _raw_usage(getattr(response, "raw", None))):
        if not source:
            continue
        get = source.get if isinstance(source, Mapping) else (lambda k, s=source: getattr(s, k, None))
        for p_key, c_key in (("prompt_tokens", "completion_tokens"), ("input_tokens", "output_tokens")):
            p, c = get(p_key), get(c_key)
            if isinstance(p, int) and isinstance(c, int):
                return p, c
    return None


def _raw_usage(raw: Any) -> Any:
    if raw is None:
        return None
    if isinstance(raw, Mapping):
        return raw.get("usage") or raw.get("usage_metadata")
    return getattr(raw, "usage", None)


def upstream_id(raw: Any) -> str | None:
    """The id a candidate's raw response carries (OpenAI's `chatcmpl-...`), if any."""
    if raw is None:
        return None
    value = raw.get("id") if isinstance(raw, Mapping) else getattr(raw, "id", None)
    return value if isinstance(value, str) and value else None


def response_id(response: Any) -> Any:
    """The id `feedback` names an answer by: a response's `additional_kwargs["response_id"]`,
    or the string given."""
    if isinstance(response, str):
        return response
    if isinstance(response, ChatResponse | CompletionResponse):
        answer_id = (response.additional_kwargs or {}).get(RESPONSE_ID_KEY)
        if not isinstance(answer_id, str) or not answer_id:
            raise UnknownResponseError(
                f"this {type(response).__name__} has no additional_kwargs[{RESPONSE_ID_KEY!r}], so "
                "it is no answer of an AutoRouterLLM"
            )
        return answer_id
    raise InvalidRequestError(
        "feedback takes an answer of this router (a ChatResponse or CompletionResponse) or its "
        f"id, not a {type(response).__name__}"
    )


def tagged(response: Any, key: str, info: dict[str, Any], answer_id: str) -> Any:
    """A copy of the candidate's response carrying the candidate's key, the report and
    the answer's id."""
    extra = {
        **(response.additional_kwargs or {}), CANDIDATE_KEY: key, ROUTER_KEY: info,
        RESPONSE_ID_KEY: answer_id,
    }
    update: dict[str, Any] = {"additional_kwargs": extra}
    message = getattr(response, "message", None)
    if isinstance(message, ChatMessage):
        update["message"] = message.model_copy(
            update={"additional_kwargs": {**(message.additional_kwargs or {}), CANDIDATE_KEY: key}}
        )
    return response.model_copy(update=update)
