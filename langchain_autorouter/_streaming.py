"""Streaming a candidate's answer through the router: what counts as output in a chunk and how
held chunks fold together (for the core's stream rule, `autorouter.calls.hold_empty_head`,
so that a failure before any output still falls back), and its chunks relayed with the
answer's id and, on the last one, the routing metadata (`Relay`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.messages.ai import add_usage
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.utils.utils import LC_ID_PREFIX

from langchain_autorouter._candidates import model_name_of
from langchain_autorouter._isolation import no_tracing
from langchain_autorouter._messages import as_chunk, outer_id
from langchain_autorouter._routing import ROUTER_KEY, Plan

if TYPE_CHECKING:
    from langchain_autorouter.chat_models import ChatAutoRouter

_END = object()  # a stream's end, for next(..., default)

# --- what counts as output in a candidate's stream (the core's rule holds the empty head) ----


def substantive(chunk: Any) -> bool:
    """Whether a chunk carries output: text or other content, a tool call, or usage."""
    return bool(
        getattr(chunk, "content", None)
        or getattr(chunk, "tool_call_chunks", None)
        or getattr(chunk, "usage_metadata", None)
        or getattr(chunk, "chunk_position", None) == "last"
    )


def merged(held: Sequence[Any]) -> Any:
    """The held leading chunks and the first with output, as one chunk (LangChain chunks add)."""
    first = held[0]
    return first + list(held[1:]) if len(held) > 1 else first


# --- the router's stream -------------------------------------------------------------------


class Relay:
    """Passes a candidate's chunks on, adding the routing metadata (and `model_name` if the
    candidate gave none) to its last chunk only: string values of chunks are concatenated
    when chunks are added, so each must appear once.

    Every chunk carries the answer's id, the one it is remembered by for `feedback`: with a
    run manager (LangChain's v2 streaming, whose message takes the run's id whatever the
    chunks say), the router's run id; else the candidate's own id, else a new one.
    """

    def __init__(
        self, owner: ChatAutoRouter, plan: Plan, key: str, attempts: Sequence[Any],
        messages: list[BaseMessage], run_manager: Any,
    ) -> None:
        self.owner, self.plan, self.key, self.attempts = owner, plan, key, attempts
        self.messages, self.run_manager = messages, run_manager
        self.answer_id: str | None = None
        self.usage: Any = None
        self.has_model_name = False
        self.done = False
        self.ended = False
        self.last: AIMessageChunk | None = None

    def pull(self, stream: Iterator[Any]) -> ChatGenerationChunk | None:
        """The next chunk to pass on, pulled from the candidate's stream with tracing off;
        at its end the closing chunk if it had no last one; then None."""
        if not self.ended:
            with no_tracing():
                chunk = next(stream, _END)
            if chunk is not _END:
                return self.chunk(chunk)
            self.ended = True
        return self.final()

    async def apull(self, stream: AsyncIterator[Any]) -> ChatGenerationChunk | None:
        """`pull` from an async stream."""
        if not self.ended:
            with no_tracing():
                chunk = await anext(stream, _END)
            if chunk is not _END:
                return self.chunk(chunk)
            self.ended = True
        return self.final()

    def _id(self, chunk_id: str | None) -> str:
        """The answer's id, recorded at its first chunk (as the gateway records a stream)."""
        if self.answer_id is None:
            own = outer_id(chunk_id)  # not the id of the candidate's own run, which no callback saw
            if self.run_manager is not None:
                own = f"{LC_ID_PREFIX}-{self.run_manager.run_id}"
            self.answer_id = self.owner._record(own, self.messages, self.key)
        return self.answer_id

    def chunk(self, chunk: Any) -> ChatGenerationChunk:
        chunk = as_chunk(chunk)
        chunk.id = self._id(chunk.id)
        if chunk.usage_metadata:
            self.usage = add_usage(self.usage, chunk.usage_metadata)
        if chunk.response_metadata.get("model_name"):
            self.has_model_name = True
        if chunk.chunk_position == "last" and not self.done:
            chunk = chunk.model_copy(update={"response_metadata": self._metadata(chunk.response_metadata)})
            self.done = True
        self.last = chunk
        return ChatGenerationChunk(message=chunk)

    def final(self) -> ChatGenerationChunk | None:
        """A closing chunk with the metadata, if the candidate's stream had no last chunk."""
        if self.done:
            return None
        self.done = True
        content: Any = "" if self.last is None or isinstance(self.last.content, str) else []
        chunk = AIMessageChunk(
            content=content,
            chunk_position="last",
            id=self._id(None),
            response_metadata=self._metadata({}),
        )
        return ChatGenerationChunk(message=chunk)

    def _metadata(self, existing: Mapping[str, Any]) -> dict[str, Any]:
        meta = dict(existing)
        if not self.has_model_name:
            meta["model_name"] = model_name_of(self.owner.candidates[self.key]) or self.key
        meta[ROUTER_KEY] = self.owner._router_info(self.key, self.plan, self.attempts, self.usage)
        return meta
