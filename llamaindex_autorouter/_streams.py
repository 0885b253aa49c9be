"""Streaming for `AutoRouterLLM`: a candidate's stream without its empty head (so that a
failure before the first output still falls back), and the relay that tags each item of the
fallback stream and ends the call's callback event once. Each sync/async pair is one loop
over shared state (`_Head`, `Relay`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import ToolCallBlock

from ._messages import tagged, usage

if TYPE_CHECKING:
    from ._callbacks import LLMRun


def chat_has_output(item: Any) -> bool:
    """Whether a chat stream item holds output: text, a tool call or thinking."""
    message = getattr(item, "message", None)
    return bool(
        getattr(item, "delta", None)
        or (message is not None and (
            message.content
            or any(isinstance(b, ToolCallBlock) for b in message.blocks)
            or (message.additional_kwargs or {}).get("tool_calls")
        ))
        or (item.additional_kwargs or {}).get("thinking_delta")
    )


def completion_has_output(item: Any) -> bool:
    """Whether a completion stream item holds text."""
    return bool(getattr(item, "delta", None) or getattr(item, "text", None))


def output_test(kind: str) -> Callable[[Any], bool]:
    """The test for output of a stream of `kind` ("chat" or "completion")."""
    return chat_has_output if kind == "chat" else completion_has_output


def delta(item: Any) -> str:
    """The new text of a stream item (what the fallback stream counts as output)."""
    value = getattr(item, "delta", None)
    return value if isinstance(value, str) else ""


# --- the candidate's stream ----------------------------------------------------------------


class _Head:
    """The empty items before a stream's first output: held back, and the last of them
    given out only if the stream never has any output."""

    def __init__(self, has_output: Callable[[Any], bool]) -> None:
        self.has_output = has_output
        self.held: Any = None
        self.started = False

    def passes(self, item: Any) -> bool:
        """Whether `item` goes out now (it, or an item before it, has output)."""
        if not self.started and not self.has_output(item):
            self.held = item
            return False
        self.started = True
        return True

    def rest(self) -> list[Any]:
        """What goes out at the end: the last item of an answer that is empty throughout."""
        return [self.held] if not self.started and self.held is not None else []


def skip_empty_head(stream: Iterator[Any], has_output: Callable[[Any], bool]) -> Iterator[Any]:
    """The stream without the empty items before its first output (OpenAI first sends the
    role alone), so that a failure before any output still counts as "before the first
    item" and falls back. LlamaIndex stream items hold the whole message so far, so
    nothing is lost; an answer that is empty throughout yields its last item."""
    head = _Head(has_output)
    try:
        for item in stream:
            if head.passes(item):
                yield item
        yield from head.rest()
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


async def askip_empty_head(stream: AsyncIterator[Any], has_output: Callable[[Any], bool]) -> AsyncIterator[Any]:
    """`skip_empty_head` for async streams."""
    head = _Head(has_output)
    try:
        async for item in stream:
            if head.passes(item):
                yield item
        for item in head.rest():
            yield item
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


# --- the router's stream -------------------------------------------------------------------


class Relay:
    """One routed stream on its way to the caller: each item of the fallback `stream`
    (`autorouter.reliability`'s, which knows the model answering and the attempts so far)
    tagged with the candidate, the routing report and the answer's id; the call's callback
    event `run` ended once, with the last item sent.

    `record(raw, key)` remembers the answer for `feedback` and returns its id; `info(key,
    attempts, usage)` is the routing report."""

    def __init__(
        self,
        stream: Any,
        run: LLMRun,
        record: Callable[[Any, str], str],
        info: Callable[[str, Sequence[Any], tuple[int, int] | None], dict[str, Any]],
    ) -> None:
        self.stream = stream
        self.run = run
        self.record = record
        self.info = info
        self.usage: tuple[int, int] | None = None
        self.answer_id: str | None = None
        self.last: Any = None

    def tag(self, item: Any) -> Any:
        """The item as the caller gets it."""
        model = self.stream.model
        self.usage = usage(item) or self.usage
        if self.answer_id is None:  # recorded at the first item, as the gateway records a stream
            self.answer_id = self.record(getattr(item, "raw", None), model)
        self.last = tagged(item, model, self.info(model, self.stream.attempts, self.usage), self.answer_id)
        return self.last

    def stop(self, exc: BaseException) -> None:
        """The stream ended by `exc`: closed early by the caller (the call still happened,
        with what was received), or failed."""
        if isinstance(exc, GeneratorExit):
            self.run.end(self.last)
        else:
            self.run.fail(exc)

    def end(self) -> None:
        self.run.end(self.last)


def relay(relayed: Relay) -> Generator[Any, None, None]:
    """The tagged items of a sync routed stream."""
    try:
        for item in relayed.stream:
            yield relayed.tag(item)
    except BaseException as exc:
        relayed.stop(exc)
        raise
    finally:
        relayed.stream.close()
    relayed.end()


async def arelay(relayed: Relay) -> AsyncGenerator[Any, None]:
    """The tagged items of an async routed stream."""
    try:
        async for item in relayed.stream:
            yield relayed.tag(item)
    except BaseException as exc:
        relayed.stop(exc)
        raise
    finally:
        await relayed.stream.aclose()
    relayed.end()
