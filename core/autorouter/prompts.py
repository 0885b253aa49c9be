"""Turn what a caller routes (a string or chat messages in OpenAI, LangChain or LlamaIndex form)
into the text the router embeds and the length it prices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import InvalidRequestError

USER_ROLES = {"user", "human"}
KNOWN_ROLES = USER_ROLES | {"system", "developer", "assistant", "ai", "tool", "function", "chatbot", "model"}


IMAGE_PART_TYPES = {"image_url", "image", "input_image"}


def _has_image(content: Any) -> bool:
    if isinstance(content, str) or not isinstance(content, Sequence):
        return False
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else getattr(part, "block_type", None)
        if kind in IMAGE_PART_TYPES:
            return True
    return False


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
            elif isinstance(getattr(part, "text", None), str):  # LlamaIndex TextBlock
                parts.append(part.text)
        return "\n".join(parts)
    return str(content)


def _role_and_content(msg: Any, i: int) -> tuple[str, Any]:
    if isinstance(msg, dict):
        role, content = msg.get("role"), msg.get("content")
    else:
        # LangChain messages carry `.type` ("human", "ai", ...); LlamaIndex ones `.role`.
        role = getattr(msg, "role", None) or getattr(msg, "type", None)
        content = getattr(msg, "content", None)
        if content is None and hasattr(msg, "blocks"):
            content = msg.blocks
    role = getattr(role, "value", role)  # enums such as LlamaIndex's MessageRole
    if not isinstance(role, str):
        raise InvalidRequestError(
            f"message {i} has no role; give each message a role such as 'user' or 'assistant'"
        )
    role = role.lower()
    if role not in KNOWN_ROLES:
        raise InvalidRequestError(
            f"message {i} has unknown role {role!r}; use one of {sorted(KNOWN_ROLES)}"
        )
    return role, content


def prompt_info(prompt: Any) -> tuple[str, int, bool]:
    """Return (text to embed, total characters of the request, whether it holds images)."""
    if isinstance(prompt, str):
        text, chars = prompt_text(prompt)
        return text, chars, False
    text, chars = prompt_text(prompt)
    images = any(_has_image(_role_and_content(m, i)[1]) for i, m in enumerate(prompt))
    return text, chars, images


def prompt_text(prompt: Any) -> tuple[str, int]:
    """Return (text to embed, total characters of the request).

    For chat messages the text is the last user message, which is what decides how hard the
    request is; the length counts every message, since every message is paid for.
    """
    if isinstance(prompt, str):
        if not prompt.strip():
            raise InvalidRequestError("the prompt is empty; pass some text to route")
        return prompt, len(prompt)
    if not isinstance(prompt, Sequence) or isinstance(prompt, (bytes, bytearray)):
        raise InvalidRequestError(
            f"expected a prompt string or a list of chat messages, got {type(prompt).__name__}"
        )
    if len(prompt) == 0:
        raise InvalidRequestError("the message list is empty; pass at least one user message")
    msgs = [(r, _content_text(c)) for r, c in (_role_and_content(m, i) for i, m in enumerate(prompt))]
    total = sum(len(t) for _, t in msgs)
    user = [t for r, t in msgs if r in USER_ROLES and t.strip()]
    text = user[-1] if user else "\n".join(t for _, t in msgs if t.strip())
    if not text.strip():
        raise InvalidRequestError("the messages hold no text to route on")
    return text, total
