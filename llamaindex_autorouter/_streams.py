"""Streaming for `AutoRouterLLM`: what counts as output in a LlamaIndex stream item (the core's
stream rule, `autorouter.calls.hold_empty_head`, holds the empty items before it), and the
relay that tags each item of the fallback stream and ends the call's callback event once
(one loop over `Relay` per sync/async form)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator, Sequence
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
