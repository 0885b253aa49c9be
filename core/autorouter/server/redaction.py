"""Keeping upstream credentials in: the router's keys and header values blanked out of every
answer, and over the joined text of a stream (a key split over chunks is caught too)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..client import Endpoint

if TYPE_CHECKING:
    from ..router import Router

# --- redaction ----------------------------------------------------------------------------


class _Redactor:
    """Blanks out every upstream credential the router's endpoints hold (explicit keys, the
    values of their key variables, and custom header values) from text leaving the gateway.

    `secrets` are the raw values (for decoded text: a stream's deltas); calling it on JSON
    text also catches their JSON-escaped forms (a header value with a quote or a non-ASCII
    character is written escaped by `json.dumps`)."""

    def __init__(self, router: Router) -> None:
        self.secrets: list[str] = []
        endpoints = getattr(router, "endpoints", None)
        found: list[Any] = []
        if endpoints is not None:
            found = [endpoints.default, *endpoints.by_key.values()]
        else:
            found = [Endpoint()]
        for endpoint in found:
            if endpoint.api_key is not None:
                self.secrets.append(endpoint.api_key.get_secret_value())
            if endpoint.api_key_env:
                self.secrets.append(os.environ.get(endpoint.api_key_env, "").strip())
            self.secrets.extend(endpoint.headers.values())
        self.secrets = sorted({s for s in self.secrets if len(s) >= 4}, key=len, reverse=True)
        escaped = {json.dumps(s)[1:-1] for s in self.secrets} - set(self.secrets)
        self._forms = sorted({*self.secrets, *escaped}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._forms:
            if secret in text:
                text = text.replace(secret, "**********")
        return text


# Text fields of a chunk's `delta` that carry the model's words (OpenAI's, and the reasoning
# fields OpenRouter and DeepSeek add); a tool call's `function.arguments` is handled apart.
_DELTA_TEXT = ("content", "refusal", "reasoning", "reasoning_content")


class _StreamRedactor:
    """Redacts upstream secrets over the joined text of a stream, not event by event.

    A key the model echoes can arrive split over chunks ("sk-ab" then "cd..."), which no
    per-event check sees. So each text channel (a choice's content, refusal or reasoning, a
    tool call's arguments) holds back the shortest tail that could still grow into a secret
    and sends it with the channel's next delta, once it cannot or blanked out once it did;
    the choice's finishing chunk, or a last chunk at the end, carries what is still held.
    Only text that may start a secret waits (a few characters, rarely), so the stream keeps
    streaming, and the joined text is the whole answer redacted at once."""

    def __init__(self, redact: _Redactor) -> None:
        self.redact = redact
        self.secrets = redact.secrets
        self.held: dict[tuple[int, str, int], str] = {}  # (choice, field, tool call) -> tail

    def chunk(self, data: dict[str, Any]) -> dict[str, Any]:
        """`data` (an upstream chunk, not modified) with its delta texts redacted and held."""
        choices = data.get("choices")
        if not self.secrets or not isinstance(choices, list):
            return data
        out: list[Any] = []
        for position, choice in enumerate(choices):
            if not isinstance(choice, dict):
                out.append(choice)
                continue
            index = choice["index"] if isinstance(choice.get("index"), int) else position
            choice = dict(choice)
            delta = choice.get("delta")
            if isinstance(delta, dict):
                delta = dict(delta)
                for field in _DELTA_TEXT:
                    if isinstance(delta.get(field), str):
                        delta[field] = self._feed((index, field, 0), delta[field])
                if isinstance(delta.get("tool_calls"), list):
                    delta["tool_calls"] = [self._tool_call(index, n, call)
                                           for n, call in enumerate(delta["tool_calls"])]
                choice["delta"] = delta
            if choice.get("finish_reason") is not None:
                choice["delta"] = self._release(index, choice.get("delta"))
            out.append(choice)
        return {**data, "choices": out}

    def rest(self, template: dict[str, Any]) -> dict[str, Any] | None:
        """A chunk (like `template`) with every tail still held, or None: for a stream that
        ended, or broke, before a choice finished."""
        if not self.held:
            return None
        indexes = sorted({choice for choice, _, _ in self.held})
        return {**template, "choices": [
            {"index": i, "delta": self._release(i, {}), "finish_reason": None} for i in indexes]}

    def _feed(self, key: tuple[int, str, int], text: str) -> str:
        text = self.redact(self.held.pop(key, "") + text)
        hold = _secret_start_at_end(text, self.secrets)
        if hold:
            self.held[key] = text[-hold:]
            return text[:-hold]
        return text

    def _tool_call(self, choice: int, position: int, call: Any) -> Any:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("arguments"), str):
            return call
        index = call["index"] if isinstance(call.get("index"), int) else position
        arguments = self._feed((choice, "tool_calls", index), function["arguments"])
        return {**call, "function": {**function, "arguments": arguments}}

    def _release(self, choice: int, delta: Any) -> dict[str, Any]:
        """`delta` with the choice's held tails appended (they follow its own text)."""
        out = dict(delta) if isinstance(delta, dict) else {}
        for key in sorted(k for k in self.held if k[0] == choice):
            tail = self.held.pop(key)
            _, field, index = key
            if field != "tool_calls":
                out[field] = (out.get(field) or "") + tail
                continue
            calls = list(out.get("tool_calls") or [])
            for n, call in enumerate(calls):
                if (isinstance(call, dict) and call.get("index", n) == index
                        and isinstance(call.get("function"), dict)):
                    function = call["function"]
                    calls[n] = {**call, "function": {
                        **function, "arguments": (function.get("arguments") or "") + tail}}
                    break
            else:
                calls.append({"index": index, "function": {"arguments": tail}})
            out["tool_calls"] = calls
        return out


def _secret_start_at_end(text: str, secrets: Sequence[str]) -> int:
    """The length of the longest end of `text` that is the start (not the whole) of a secret:
    what must wait for the next chunk."""
    longest = 0
    for secret in secrets:
        at = text.find(secret[0], max(0, len(text) - len(secret) + 1))
        while at != -1:
            if secret.startswith(text[at:]):
                longest = max(longest, len(text) - at)
                break
            at = text.find(secret[0], at + 1)
    return longest

