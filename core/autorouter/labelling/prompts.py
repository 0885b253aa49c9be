"""The prompts to label: `LabelPrompt` (a conversation cut after its last user turn, with its
key) and reading them from text, JSON Lines and chat-log files, from the strings a caller
gives, or back from the journal."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..dataset import _text_lines
from ..errors import DatasetError, InvalidRequestError
from ..prompts import _content_text, prompt_info
from .journal import _digest

logger = logging.getLogger("autorouter.labelling")

_WIRE_ROLES = {"human": "user", "ai": "assistant", "model": "assistant", "chatbot": "assistant"}
# The message fields sent on: anything else in a logged message (ids, timestamps) could make a
# provider refuse the request.
_MESSAGE_FIELDS = ("role", "content", "name", "tool_calls", "tool_call_id")


@dataclass(frozen=True, eq=False)
class LabelPrompt:
    """One prompt to label: the chat messages sent to each candidate (the conversation up to
    its last user turn), the text routing data stores as `prompt` (the last user message, which
    is what a router embeds), where it came from, and its key (a hash of the messages)."""

    messages: list[dict[str, Any]]
    text: str
    source: str = ""
    key: str = ""

    @classmethod
    def from_text(cls, text: str, source: str = "") -> LabelPrompt:
        """A one-message prompt."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidRequestError(f"{source or 'a prompt'}: the prompt is empty")
        return cls.from_messages([{"role": "user", "content": text}], source)

    @classmethod
    def from_messages(cls, messages: Sequence[Mapping[str, Any]], source: str = "") -> LabelPrompt:
        """A conversation, cut after its last user turn (roles such as "human" become "user").

        Raises:
            InvalidRequestError: not a list of messages with roles, no user turn, or no text.
        """
        where = f"{source}: " if source else ""
        if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence) or not messages:
            raise InvalidRequestError(f"{where}`messages` must be a non-empty list of chat messages")
        wire: list[dict[str, Any]] = []
        for i, m in enumerate(messages):
            if not isinstance(m, Mapping):
                raise InvalidRequestError(f"{where}message {i} is not an object with a role and content")
            role = m.get("role")
            if not isinstance(role, str) or not role.strip():
                raise InvalidRequestError(f"{where}message {i} has no role")
            role = _WIRE_ROLES.get(role.strip().lower(), role.strip().lower())
            wire.append({k: (role if k == "role" else m[k]) for k in _MESSAGE_FIELDS if k in m})
        users = [i for i, m in enumerate(wire) if m["role"] == "user"]
        if not users:
            raise InvalidRequestError(f"{where}the conversation has no user message")
        wire = wire[: users[-1] + 1]
        try:
            text, _, _ = prompt_info(wire)
        except InvalidRequestError as e:
            raise InvalidRequestError(f"{where}{e}") from None
        return cls(wire, text, source, _digest("prompt", wire)[:32])

    @property
    def question(self) -> str:
        """What the judge is shown as the question: the prompt, or for a conversation (several
        messages, a system prompt included) its transcript."""
        if len(self.messages) == 1:
            return _content_text(self.messages[0].get("content"))
        labels = {"system": "System", "developer": "System", "user": "User", "assistant": "Assistant"}
        blocks = []
        for m in self.messages:
            label = labels.get(m["role"], m["role"].capitalize())
            blocks.append(f"[{label}]\n{_content_text(m.get('content'))}")
        return "\n\n".join(blocks)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelPrompt) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)


def _detect_format(path: Path) -> Literal["text", "jsonl"]:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith(".txt"):
        return "text"
    for line in _lines(path):
        s = line.strip()
        if not s:
            continue
        if s.startswith("{"):
            try:
                obj = json.loads(s)
            except (json.JSONDecodeError, RecursionError):
                return "text"
            if isinstance(obj, dict) and {"prompt", "messages", "request", "body"} & set(obj):
                return "jsonl"
        return "text"
    return "text"


def _lines(path: Path) -> Iterator[str]:
    try:
        yield from _text_lines(path)
    except OSError as e:
        raise DatasetError(f"cannot read {path}: {e}") from e


def _prompt_from_record(obj: Any, where: str) -> LabelPrompt:
    if not isinstance(obj, dict):
        raise DatasetError(f"{where}: expected a JSON object per line, with `prompt` or `messages`")
    try:
        if "messages" in obj:
            return LabelPrompt.from_messages(obj["messages"], where)
        if "prompt" in obj:
            value = obj["prompt"]
            if isinstance(value, list):
                return LabelPrompt.from_messages(value, where)
            if isinstance(value, str):
                return LabelPrompt.from_text(value, where)
            raise InvalidRequestError(f"{where}: `prompt` must be a string or a list of messages")
    except InvalidRequestError as e:
        raise DatasetError(str(e)) from None
    for name in ("request", "body"):
        inner = obj.get(name)
        if isinstance(inner, dict) and ("messages" in inner or "prompt" in inner):
            return _prompt_from_record(inner, where)
    raise DatasetError(
        f"{where}: no prompt: expected a `prompt` string, a `messages` list, or a `request` / "
        f"`body` object holding one; the line has {sorted(obj)[:8]}"
    )


def read_prompts(
    path: str | Path | Sequence[str | Path],
    *,
    format: Literal["auto", "text", "jsonl"] = "auto",
    on_invalid: Literal["error", "skip"] = "error",
) -> list[LabelPrompt]:
    """Read prompts to label from one or more files (UTF-8, optionally gzip'd).

    Formats (`"auto"`: by the name, `.txt` text and `.jsonl` / `.ndjson` / `.json` JSON Lines,
    else by the first line):
        text: one prompt per line; blank lines are skipped.
        jsonl: one JSON object per line: `{"prompt": "..."}`, `{"messages": [...]}` (a request
            body or a logged conversation, e.g. `{"messages": [...], "response": {...}}`), or
            `{"request": {"messages": [...]}, ...}` / `{"body": {...}}` (OpenAI batch input).
            A conversation is cut after its last user turn; an assistant reply after it is not
            sent to the candidates.

    A prompt whose text repeats an earlier one is dropped (routing data holds each prompt once).

    Args:
        on_invalid: "error" raises on the first bad line; "skip" drops bad lines with a warning.

    Raises:
        DatasetError: a file is missing or unreadable, a line is not valid JSON or holds no
            prompt (naming the file and the line), or no prompt is left.
    """
    if on_invalid not in ("error", "skip"):
        raise InvalidRequestError(f"on_invalid must be 'error' or 'skip', not {on_invalid!r}")
    if format not in ("auto", "text", "jsonl"):
        raise InvalidRequestError(f"format must be 'auto', 'text' or 'jsonl', not {format!r}")
    paths = [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]
    if not paths:
        raise DatasetError("no prompt file given")
    out: list[LabelPrompt] = []
    seen: set[str] = set()
    skipped: list[str] = []
    duplicates = 0
    for p in paths:
        if not p.is_file():
            raise DatasetError(f"prompt file not found: {p}")
        fmt = _detect_format(p) if format == "auto" else format
        for n, line in enumerate(_lines(p), 1):
            if not line.strip():
                continue
            where = f"{p}, line {n}"
            try:
                if fmt == "text":
                    item = LabelPrompt.from_text(line.strip(), where)
                else:
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise DatasetError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
                    except RecursionError:
                        raise DatasetError(f"{where}: JSON nested too deeply to read") from None
                    item = _prompt_from_record(obj, where)
            except (DatasetError, InvalidRequestError) as e:
                if on_invalid == "error":
                    raise DatasetError(str(e)) from None
                skipped.append(str(e))
                continue
            if item.text in seen:
                duplicates += 1
                continue
            seen.add(item.text)
            out.append(item)
    if skipped:
        warnings.warn(f"read_prompts skipped {len(skipped)} bad lines; the first: {skipped[0]}", stacklevel=2)
    if duplicates:
        logger.info("dropped %d repeated prompts", duplicates)
    if not out:
        raise DatasetError(f"no prompts in {', '.join(map(str, paths))}")
    return out


def _prompt_list(prompts: Sequence[LabelPrompt | str]) -> list[LabelPrompt]:
    if isinstance(prompts, str):
        prompts = [prompts]
    out: list[LabelPrompt] = []
    seen: set[str] = set()
    for i, p in enumerate(prompts):
        item = p if isinstance(p, LabelPrompt) else LabelPrompt.from_text(p, f"prompt {i + 1}") if isinstance(p, str) else None
        if item is None:
            raise InvalidRequestError(f"prompt {i + 1} is a {type(p).__name__}; give strings or LabelPrompts")
        if item.text not in seen:
            seen.add(item.text)
            out.append(item)
    if not out:
        raise InvalidRequestError("no prompts to label")
    return out


def _prompt_of_record(key: str, rec: Mapping[str, Any]) -> LabelPrompt | None:
    text = rec.get("prompt")
    if not isinstance(text, str):
        return None
    messages = rec.get("messages")
    if not isinstance(messages, list):
        messages = [{"role": "user", "content": text}]
    return LabelPrompt(messages, text, str(rec.get("source") or ""), key)
