"""The stream rules of a routed call, written once for every surface: a stream falls back only
before its first item with output, so the empty items providers open with (the bare
`{"role": "assistant"}` delta) are held until one says something (`hold_empty_head`); and the
streamed answer of the core client (`RoutedStream`, `AsyncRoutedStream`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from ..client import ChatCompletion
from ..errors import ProviderConnectionError, ProviderError, StreamInterruptedError

if TYPE_CHECKING:
    from ..client import ChatChunk, Usage
    from ..decision import RoutingDecision
    from ..reliability import AsyncFallbackStream, Attempt, FallbackStream
    from .upstream import RoutedCompletion, UpstreamCall

T = TypeVar("T")

__all__ = ["AsyncRoutedStream", "RoutedStream", "ahold_empty_head", "hold_empty_head"]


def _last(held: Sequence[T]) -> T:
    return held[-1]


class _Head(Generic[T]):
    """The I/O-free part of `hold_empty_head`: what to pass on for each item and at the end."""

    def __init__(
        self,
        has_output: Callable[[T], bool],
        fold: Callable[[Sequence[T]], T],
        keep_empty_answer: bool,
        head_error: Callable[[BaseException], BaseException | None] | None,
    ) -> None:
        self.has_output, self.fold = has_output, fold
        self.keep_empty_answer, self.head_error = keep_empty_answer, head_error
        self.held: list[T] = []
        self.started = False

    def feed(self, item: T) -> list[T]:
        if self.started:
            return [item]
        self.held.append(item)
        if not self.has_output(item):
            return []
        self.started = True
        out, self.held = self.fold(self.held), []
        return [out]

    def end(self) -> list[T]:
        return [self.fold(self.held)] if self.held and self.keep_empty_answer else []

    def error(self, exc: BaseException) -> BaseException | None:
        """What a failure before any output is raised as (None: as it is)."""
        return self.head_error(exc) if self.head_error is not None and not self.started else None


def hold_empty_head(
    items: Iterator[T],
    has_output: Callable[[T], bool],
    *,
    fold: Callable[[Sequence[T]], T] = _last,
    keep_empty_answer: bool = True,
    head_error: Callable[[BaseException], BaseException | None] | None = None,
) -> Iterator[T]:
    """`items` with the ones before the first with output held back, then passed on as
    `fold(held + [first])` (by default the first with output alone), so that a failure before
    any output still counts as "before the first item" and falls back to the next model.

    Args:
        items: the stream; closed when this generator is.
        has_output: whether an item says something.
        fold: what to pass on for the held items and the first with output.
        keep_empty_answer: whether a stream with no output at all passes on `fold(held)`.
        head_error: what a failure before any output is raised as (None: as it is).
    """
    head = _Head(has_output, fold, keep_empty_answer, head_error)
    try:
        try:
            for item in items:
                yield from head.feed(item)
        except Exception as exc:
            if (mapped := head.error(exc)) is not None:
                raise mapped from exc
            raise
        yield from head.end()
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


async def ahold_empty_head(
    items: AsyncIterator[T],
    has_output: Callable[[T], bool],
    *,
    fold: Callable[[Sequence[T]], T] = _last,
    keep_empty_answer: bool = True,
    head_error: Callable[[BaseException], BaseException | None] | None = None,
) -> AsyncIterator[T]:
    """`hold_empty_head` for async streams."""
    head = _Head(has_output, fold, keep_empty_answer, head_error)
    try:
        try:
            async for item in items:
                for out in head.feed(item):
                    yield out
        except Exception as exc:
            if (mapped := head.error(exc)) is not None:
                raise mapped from exc
            raise
        for out in head.end():
            yield out
    finally:
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()


# --- the core client's chunks ------------------------------------------------------------


def says_something(chunk: ChatChunk) -> bool:
    """Whether a chunk of the core client carries output (text, tool calls, an end, usage)."""
    return bool(chunk.text or chunk.tool_calls or chunk.finish_reason or chunk.usage)


def broke_early(error: BaseException) -> BaseException | None:
    """What a break of the core client's stream before anything was passed on really is: the
    failure that caused it (retryable or not, as it says), or a dropped connection."""
    if not isinstance(error, StreamInterruptedError):
        return None
    cause = error.__cause__
    if isinstance(cause, ProviderError) and not isinstance(cause, StreamInterruptedError):
        return cause
    return ProviderConnectionError(
        f"{error.model}: the stream broke before any text: {error}", model=error.model
    )


def chunk_text(chunk: ChatChunk) -> str:
    return chunk.text


class _StreamBase:
    """What the sync and async routed streams share."""

    decision: RoutingDecision

    def __init__(self) -> None:
        self.model: str | None = None
        self.attempts: tuple[Attempt, ...] = ()
        self.sticky = False
        self.result: RoutedCompletion | None = None
        self._chunks: list[ChatChunk] = []
        self._call: UpstreamCall | None = None

    @property
    def text(self) -> str:
        """The text received so far."""
        return "".join(c.text for c in self._chunks)

    @property
    def usage(self) -> Usage | None:
        """Token usage, once the stream has ended (if the provider sent it)."""
        return self.result.usage if self.result is not None else None

    @property
    def cost_usd(self) -> float | None:
        """The call's cost, once the stream has ended (see `RoutedCompletion.cost_usd`)."""
        return self.result.cost_usd if self.result is not None else None

    def _opened(
        self, call: UpstreamCall, stream: FallbackStream[ChatChunk] | AsyncFallbackStream[ChatChunk]
    ) -> None:
        self._call = call
        assert call.plan.decision is not None  # the core client always routes
        self.decision = call.plan.decision
        self.model = stream.model
        self.attempts = stream.attempts
        self.sticky = call.plan.answered_by_kept(stream.model)
        call.answered(stream.model)

    def _finish(self) -> None:
        if self.result is None and self._call is not None and self.model is not None:
            completion = ChatCompletion.from_chunks(self._chunks)
            self.result = self._call.result(completion, self.model, self.attempts)

    def _received(self, chunk: ChatChunk) -> ChatChunk:
        self._chunks.append(chunk)
        return chunk

    def __repr__(self) -> str:
        state = "done" if self.result is not None else f"{len(self._chunks)} chunks so far"
        return f"{type(self).__name__}(model={self.model!r}, {state})"


class RoutedStream(_StreamBase, Iterator["ChatChunk"]):
    """The streamed answer of a routed call: iterate it for `ChatChunk`s.

    `model`, `decision` and `attempts` are known from the start; `usage`, `cost_usd` and
    `result` (a `RoutedCompletion`) once the stream has ended. `close()` (or `with`) stops early.
    """

    def __init__(self, call: UpstreamCall, stream: FallbackStream[ChatChunk]) -> None:
        super().__init__()
        self._stream = stream
        self._opened(call, stream)

    def __next__(self) -> ChatChunk:
        try:
            return self._received(next(self._stream))
        except StopIteration:
            self._finish()
            raise

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncRoutedStream(_StreamBase, AsyncIterator["ChatChunk"]):
    """`RoutedStream` for asyncio: `async for chunk in router.astream(...)`.

    Routing and the first chunk happen on the first iteration; `await router.astream(...)`
    does them at once and returns the stream, with `model` known.
    """

    def __init__(self, opener: Callable[[], Any]) -> None:
        super().__init__()
        self._opener = opener
        self._stream: AsyncFallbackStream[ChatChunk] | None = None

    async def _open(self) -> Self:
        if self._stream is None:
            call, stream = await self._opener()
            self._stream = stream
            self._opened(call, stream)
        return self

    def __await__(self) -> Generator[Any, None, Self]:
        return self._open().__await__()

    async def __anext__(self) -> ChatChunk:
        await self._open()
        assert self._stream is not None
        try:
            return self._received(await self._stream.__anext__())
        except StopAsyncIteration:
            self._finish()
            raise

    async def aclose(self) -> None:
        if self._stream is not None:
            await self._stream.aclose()

    async def __aenter__(self) -> Self:
        return await self._open()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
