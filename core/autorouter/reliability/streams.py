"""Fallback for streams: open each model's stream down the ranking until one yields its first
item, then hand out that stream; a break after the first item raises
`StreamInterruptedError` instead of falling back.

The sync and async forms share the flow's drivers and `_StreamState`; they differ only in
how they open, read and close a stream.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, Generic, TypeVar

from autorouter.decision import RoutingDecision
from autorouter.errors import StreamInterruptedError
from autorouter.reliability.flow import _adrive, _describe, _drive, _Run, _Try
from autorouter.reliability.retry import Classify, CooldownTracker, RetryPolicy

__all__ = [
    "AsyncFallbackStream",
    "FallbackStream",
    "astream_with_fallback",
    "stream_with_fallback",
]

T = TypeVar("T")


class _StreamState(Generic[T]):
    """What a fallback stream shares between its sync and async forms; `with state:` around
    the read of each item after the first turns a failure into what the caller sees."""

    def __init__(self, run: _Run, model: str, text_of: Callable[[T], str] | None) -> None:
        self.model = model
        self.attempts = tuple(run.attempts)
        self._run = run
        self._text_of = text_of
        self.received: list[T] = []

    def interrupted(self, exc: Exception) -> Exception:
        """What to raise for an error after the first item."""
        if isinstance(exc, StreamInterruptedError):
            self._run.cooldowns.cool(self.model, self._run.policy.cooldown_s)
            return exc
        if not self._run.retryable(exc):
            return exc
        self._run.cooldowns.cool(self.model, self._run.policy.cooldown_s)
        text = "".join(self._text_of(x) for x in self.received) if self._text_of else ""
        error = StreamInterruptedError(
            f"{self.model}: stream broke after {len(self.received)} items: {_describe(exc)}",
            model=self.model, chunks=list(self.received), text=text,
        )
        error.__cause__ = exc
        return error

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # The end of the stream, and what is not an error (a cancellation, a close), pass as
        # they are; so does an error `interrupted` keeps.
        if not isinstance(exc, Exception) or isinstance(exc, StopIteration | StopAsyncIteration):
            return
        error = self.interrupted(exc)
        if error is not exc:
            raise error from exc


class _Relay(Generic[T]):
    """The part of a fallback stream both forms share: the items read before it was handed
    out come first, then the rest of the stream; `.model` and `.attempts` say who answered."""

    def __init__(self, state: _StreamState[T], head: list[T]) -> None:
        self._state = state
        self._pending = list(reversed(head))
        state.received.extend(head)
        self.model = state.model
        self.attempts = state.attempts


class FallbackStream(_Relay[T], Iterator[T]):
    """The stream of the model that answered; `.model` and `.attempts` say which and how.

    Iterate it; close it (or use `with`) to stop early.
    """

    def __init__(self, state: _StreamState[T], head: list[T], rest: Iterator[T]) -> None:
        super().__init__(state, head)
        self._rest = rest

    def __next__(self) -> T:
        if self._pending:
            return self._pending.pop()
        with self._state:
            item = next(self._rest)
        self._state.received.append(item)
        return item

    def close(self) -> None:
        close = getattr(self._rest, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> FallbackStream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncFallbackStream(_Relay[T], AsyncIterator[T]):
    """`FallbackStream` for `async for`; `aclose()` (or `async with`) stops it early."""

    def __init__(self, state: _StreamState[T], head: list[T], rest: AsyncIterator[T]) -> None:
        super().__init__(state, head)
        self._rest = rest

    async def __anext__(self) -> T:
        if self._pending:
            return self._pending.pop()
        with self._state:
            item = await self._rest.__anext__()
        self._state.received.append(item)
        return item

    async def aclose(self) -> None:
        aclose = getattr(self._rest, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> AsyncFallbackStream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def stream_with_fallback(
    models: Sequence[str] | RoutingDecision,
    open_stream: Callable[[str], Iterable[T]],
    classify: Classify | None = None,
    *,
    policy: RetryPolicy | None = None,
    cooldowns: CooldownTracker | None = None,
    text_of: Callable[[T], str] | None = None,
) -> FallbackStream[T]:
    """Open `open_stream(model)` down the ranking until one yields its first item.

    Returns once a first item has arrived, so `.model` is known before any is consumed.
    A retryable failure later raises `StreamInterruptedError` with the items so far
    (`text_of(item)` builds its `text`); a stream that ends at once counts as answered.
    """
    run = _Run(models, classify, policy, cooldowns)
    t, (head, rest) = _drive(run, lambda t: _open(open_stream, t.model))
    run.succeeded(t)
    return FallbackStream(_StreamState(run, t.model, text_of), head, rest)


async def astream_with_fallback(
    models: Sequence[str] | RoutingDecision,
    open_stream: Callable[[str], AsyncIterable[T] | Awaitable[AsyncIterable[T]]],
    classify: Classify | None = None,
    *,
    policy: RetryPolicy | None = None,
    cooldowns: CooldownTracker | None = None,
    text_of: Callable[[T], str] | None = None,
) -> AsyncFallbackStream[T]:
    """`stream_with_fallback` for async iterators (or coroutines returning one)."""
    run = _Run(models, classify, policy, cooldowns)
    t, (head, rest) = await _adrive(run, lambda t: _aopen(run, t, open_stream))
    run.succeeded(t)
    return AsyncFallbackStream(_StreamState(run, t.model, text_of), head, rest)


# --- opening one model's stream -----------------------------------------------------------


def _open(open_stream: Callable[[str], Iterable[T]], model: str) -> tuple[list[T], Iterator[T]]:
    """Open `model`'s stream and read its first item: `([item], the rest)`, or `([], ...)`
    for a stream that ends at once; a stream that fails is closed before the error goes on."""
    iterator: Iterator[T] | None = None
    try:
        iterator = iter(open_stream(model))
        head = [next(iterator)]
    except StopIteration:  # an empty answer is still an answer
        head = []
    except Exception:
        _close_quietly(iterator)
        raise
    return head, iterator or iter(())


async def _aopen(
    run: _Run, t: _Try,
    open_stream: Callable[[str], AsyncIterable[T] | Awaitable[AsyncIterable[T]]],
) -> tuple[list[T], AsyncIterator[T]]:
    """`_open` for attempt `t` of an async stream, its first item awaited within the
    attempt's limit."""
    opened: list[AsyncIterator[T]] = []
    try:
        head = [await run.within_limit(t, _first_item(open_stream, t.model, opened))]
    except StopAsyncIteration:  # an empty answer is still an answer
        head = []
    except Exception:
        await _aclose_quietly(opened[0] if opened else None)
        raise
    return head, opened[0] if opened else _no_items()


async def _first_item(
    open_stream: Callable[[str], AsyncIterable[T] | Awaitable[AsyncIterable[T]]], model: str,
    opened: list[AsyncIterator[T]],
) -> T:
    """Open `model`'s stream (appending its iterator to `opened`, for closing) and await its
    first item."""
    stream = open_stream(model)
    if inspect.isawaitable(stream):
        stream = await stream
    iterator = stream.__aiter__()
    opened.append(iterator)
    return await iterator.__anext__()


async def _no_items() -> AsyncIterator[Any]:
    return
    yield  # an async generator that ends at once


def _close_quietly(iterator: Any) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # the stream already failed; its close error adds nothing
            pass


async def _aclose_quietly(iterator: Any) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # the stream already failed; its close error adds nothing
            pass
