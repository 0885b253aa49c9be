"""One retry-and-fallback policy for every way autorouter calls a model.

A transient failure (rate limit, 5xx, timeout, dropped connection) is retried on the same
model with exponential backoff and jitter, within a time budget; then the next model of
the ranking is tried. A model given up on cools down: while it cools, later rankings try
it last. A failure that says the request itself is wrong (400, 401, 403) surfaces at once,
unchanged. A model whose answer has not started within the attempt's time limit (a share
of the budget, so the next model still has time) is left at once, without a retry. A stream
falls back only before its first item; once the caller has text, a break raises
`StreamInterruptedError` instead.

The policy knows nothing of HTTP: callers pass their own call function and, if their
exceptions are not autorouter's `ProviderError`s, a `classify` function for them.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import inspect
import logging
import random
import threading
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from autorouter.decision import RoutingDecision
from autorouter.errors import (
    AttemptTimeoutError,
    FallbackExhaustedError,
    InvalidRequestError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnreachableError,
    StreamInterruptedError,
)

__all__ = [
    "Attempt",
    "AttemptLimits",
    "AsyncFallbackStream",
    "Classify",
    "CooldownTracker",
    "FallbackResult",
    "FallbackStream",
    "RetryPolicy",
    "arun_with_fallback",
    "astream_with_fallback",
    "current_attempt_limits",
    "default_cooldowns",
    "retry_after_from_headers",
    "retry_after_of",
    "run_with_fallback",
    "stream_with_fallback",
]

T = TypeVar("T")

logger = logging.getLogger("autorouter.reliability")

Classify = Callable[[BaseException], "bool | None"]
"""Says whether an exception is transient (True: retry, then fall back), permanent
(False: re-raise at once), or unknown to it (None: autorouter decides; its own
`ProviderError`s carry `retryable`, anything else is re-raised at once)."""


class RetryPolicy(BaseModel):
    """How hard to try: attempts per model, backoff, total time, and cooldown length."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts_per_model: int = Field(default=2, ge=1, description="tries per model")
    base_delay: float = Field(default=0.25, ge=0, description="first backoff, seconds")
    max_delay: float = Field(
        default=4.0, ge=0, description="longest wait before a retry; a longer Retry-After "
        "makes us move to the next model instead"
    )
    jitter: bool = Field(default=True, description="randomise backoffs so clients spread out")
    total_budget_s: float = Field(
        default=120.0, gt=0, description="no new attempt starts after this many seconds"
    )
    attempt_timeout_s: float | None = Field(
        default=None, gt=0, description="longest wait for one attempt's answer to start (a "
        "plain call's response, a stream's first chunk); then the next model is tried. "
        "None: half of total_budget_s, so a model that hangs leaves the next one time"
    )
    stall_timeout_s: float = Field(
        default=30.0, gt=0, description="longest silence on the connection while a stream is "
        "read: a stream quiet for longer is broken off"
    )
    cooldown_s: float = Field(
        default=30.0, ge=0, description="how long a model given up on is tried last; 0: never"
    )

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number `retry` (1 = the first retry)."""
        delay: float = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        if self.jitter:  # "equal jitter": spread out, yet never retry immediately
            delay = delay / 2 + (rng or random).uniform(0, delay / 2)
        return delay

    @property
    def attempt_limit_s(self) -> float:
        """Seconds one attempt may wait for its answer to start."""
        if self.attempt_timeout_s is not None:
            return self.attempt_timeout_s
        return self.total_budget_s / 2


@dataclass(frozen=True)
class AttemptLimits:
    """The time limits of the attempt in progress, for the code that makes the call.

    A client bounds its socket waits by them: `first_byte_left()` for the response to a
    plain call and a stream's first chunk, `stall_s` for a silence inside a stream.
    """

    deadline: float  # time.monotonic() by which the answer must have started
    stall_s: float

    def first_byte_left(self) -> float:
        """Seconds left until the deadline (never below a millisecond, so it stays a limit)."""
        return max(0.001, self.deadline - time.monotonic())


_attempt_limits: contextvars.ContextVar[AttemptLimits | None] = contextvars.ContextVar(
    "autorouter_attempt_limits", default=None
)


def current_attempt_limits() -> AttemptLimits | None:
    """The limits of the attempt a fallback run is making now; None outside one."""
    return _attempt_limits.get()


class CooldownTracker:
    """Which models failed recently and until when; thread-safe.

    `clock` returns seconds (monotonic); tests pass a fake one.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def cool(self, model: str, seconds: float) -> None:
        """Put `model` at the back of rankings for `seconds` (never shortening a cooldown)."""
        if seconds <= 0:
            return
        with self._lock:
            until = self._clock() + seconds
            self._until[model] = max(until, self._until.get(model, until))

    def remaining(self, model: str) -> float:
        """Seconds until `model` is no longer cooling; 0 if it is not."""
        with self._lock:
            left = self._until.get(model, 0.0) - self._clock()
            if left <= 0:
                self._until.pop(model, None)
                return 0.0
            return left

    def is_cooling(self, model: str) -> bool:
        return self.remaining(model) > 0

    def order(self, models: Iterable[str]) -> list[str]:
        """`models` with the cooling ones moved to the end, each group in its own order."""
        models = list(models)
        cooling = {m for m in models if self.is_cooling(m)}
        return [m for m in models if m not in cooling] + [m for m in models if m in cooling]

    def clear(self, model: str | None = None) -> None:
        """End the cooldown of `model`, or of every model."""
        with self._lock:
            if model is None:
                self._until.clear()
            else:
                self._until.pop(model, None)


default_cooldowns = CooldownTracker()
"""The process-wide tracker every fallback uses unless given another one."""


@dataclass(frozen=True)
class Attempt:
    """One call of one model: `error` is None for the one that answered."""

    model: str
    number: int  # 1 for the first try of this model
    error: BaseException | None
    elapsed_s: float


class FallbackResult(NamedTuple, Generic[T]):
    """What answered: the value, the model that gave it, and every attempt made."""

    value: T
    model: str
    attempts: tuple[Attempt, ...]


def retry_after_from_headers(headers: Mapping[str, str]) -> float | None:
    """Seconds a provider asked us to wait: `retry-after-ms`, or `retry-after` in seconds or
    as an HTTP date; None if it did not say."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        value = lowered.get("retry-after")
        if value is None:
            return None
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# --- the shared bookkeeping of one fallback run -----------------------------------------


def _model_names(models: Sequence[str] | RoutingDecision) -> list[str]:
    if isinstance(models, RoutingDecision):
        names = [models.model, *models.fallbacks]
    elif isinstance(models, str):  # one model, not a sequence of characters
        names = [models]
    else:
        names = list(models)
    unique = list(dict.fromkeys(names))  # a model listed twice is still tried once
    if not unique:
        raise InvalidRequestError("no models to try: the ranking is empty")
    return unique


def retry_after_of(exc: BaseException) -> float | None:
    """The wait an error asks for: its `retry_after`, or its HTTP response's headers
    (as on the openai SDK's errors)."""
    value = getattr(exc, "retry_after", None)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(0.0, float(value))
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if isinstance(headers, Mapping):
        return retry_after_from_headers(headers)
    return None


@dataclass(frozen=True)
class _Try:
    """One attempt the flow asks its driver to make: which model, its try number, when it
    started and its time limits."""

    model: str
    number: int
    t0: float
    limits: AttemptLimits

    @contextmanager
    def scope(self) -> Iterator[None]:
        """The attempt's limits as `current_attempt_limits()` while its call runs."""
        token = _attempt_limits.set(self.limits)
        try:
            yield
        finally:
            _attempt_limits.reset(token)


class _Run:
    """One fallback down a ranking, as an I/O-free flow (the shape of httpx's `auth_flow`):
    `tries()` yields each attempt to make; the driver makes the call, reports the outcome
    (`failed_try` or `succeeded`) and waits `delay` seconds before asking for the next. The
    sync and async drivers below differ only in how they call, wait and bound an attempt."""

    def __init__(
        self,
        models: Sequence[str] | RoutingDecision,
        classify: Classify | None,
        policy: RetryPolicy | None,
        cooldowns: CooldownTracker | None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.cooldowns = default_cooldowns if cooldowns is None else cooldowns
        self.classify = classify
        self.order = self.cooldowns.order(_model_names(models))
        self.started = time.monotonic()
        self.attempts: list[Attempt] = []
        self.failures: dict[str, BaseException] = {}
        self.reason = ""
        #: seconds to wait before the next try of the same model; None: go to the next model
        self.delay: float | None = 0.0

    def tries(self) -> Iterator[_Try]:
        """Every attempt of the run, in order, until the time budget is spent: up to
        `max_attempts_per_model` per model, fewer when a failure gives up on it."""
        for model in self.order:
            if self.out_of_time():
                return
            for number in range(1, self.policy.max_attempts_per_model + 1):
                self.delay = 0.0
                yield _Try(model, number, time.monotonic(), self.limits())
                if self.delay is None:
                    break

    def failed_try(self, t: _Try, exc: BaseException) -> bool:
        """Record that attempt `t` raised `exc` and set `delay`; False when `exc` must surface
        unchanged (the driver re-raises it)."""
        error = self.failed(t.model, t.number, exc, t.t0, t.limits)
        if error is None:
            return False
        self.delay = self.retry_delay(t.model, t.number, error)
        return True

    def retryable(self, exc: BaseException) -> bool:
        verdict = self.classify(exc) if self.classify is not None else None
        if verdict is None:
            verdict = isinstance(exc, ProviderError) and exc.retryable
        return verdict

    def limits(self) -> AttemptLimits:
        """The limits of an attempt starting now."""
        return AttemptLimits(
            time.monotonic() + self.policy.attempt_limit_s, self.policy.stall_timeout_s
        )

    def deadline_error(self, model: str) -> AttemptTimeoutError:
        return AttemptTimeoutError(
            f"{model}: no answer within the attempt limit of "
            f"{self.policy.attempt_limit_s:g}s", model=model,
        )

    def out_of_time(self) -> bool:
        if time.monotonic() - self.started < self.policy.total_budget_s:
            return False
        self.reason = f"time budget of {self.policy.total_budget_s:g}s spent"
        return True

    def failed(
        self, model: str, number: int, exc: BaseException, t0: float, limits: AttemptLimits
    ) -> BaseException | None:
        """Record a failed attempt: the error to go on from, or None when `exc` must
        surface unchanged."""
        if (isinstance(exc, ProviderTimeoutError) and not isinstance(exc, AttemptTimeoutError)
                and time.monotonic() >= limits.deadline):
            # The client's socket wait ran into the attempt's deadline: same as our own.
            cause, exc = exc, self.deadline_error(model)
            exc.__cause__ = cause
        self.attempts.append(Attempt(model, number, exc, time.monotonic() - t0))
        if not self.retryable(exc):
            logger.info("%s failed with %s: not retryable", model, _describe(exc))
            return None
        self.failures[model] = exc
        return exc

    def retry_delay(self, model: str, number: int, exc: BaseException) -> float | None:
        """Seconds to wait before retrying `model`, or None to give up on it."""
        delay: float | None
        asked = retry_after_of(exc)
        if number >= self.policy.max_attempts_per_model or isinstance(
            exc, AttemptTimeoutError | ProviderUnreachableError
        ):
            # A model that let its attempt time run out would likely do it again, and a host
            # that refuses connections refuses them a moment later too.
            delay = None
        elif asked is not None:
            # Honour Retry-After; if it asks for longer than we wait, try the next model.
            delay = asked if asked <= self.policy.max_delay else None
        else:
            delay = self.policy.backoff(number)
        left = self.policy.total_budget_s - (time.monotonic() - self.started)
        if delay is not None and delay >= left:
            delay = None
            self.reason = f"time budget of {self.policy.total_budget_s:g}s spent"
        if delay is None:
            if self.policy.cooldown_s > 0:  # a long Retry-After lengthens the cooldown
                self.cooldowns.cool(model, max(self.policy.cooldown_s, asked or 0.0))
            logger.warning("%s failed with %s: giving up on it", model, _describe(exc))
        else:
            logger.info("%s failed with %s: retry in %.2fs", model, _describe(exc), delay)
        return delay

    def succeeded(self, t: _Try) -> tuple[Attempt, ...]:
        self.attempts.append(Attempt(t.model, t.number, None, time.monotonic() - t.t0))
        self.cooldowns.clear(t.model)  # it answers again: no reason to keep it at the back
        if len(self.attempts) > 1:
            logger.info("%s answered after %d attempts", t.model, len(self.attempts))
        return tuple(self.attempts)

    async def within_limit(self, t: _Try, work: Awaitable[T]) -> T:
        """`await work`, or `AttemptTimeoutError` once attempt `t`'s deadline passes (async
        calls are bounded here; sync ones by the client's socket waits)."""
        try:
            async with asyncio.timeout_at(_loop_time_of(t.limits.deadline)):
                return await work
        except TimeoutError as exc:
            raise self.deadline_error(t.model) from exc

    def exhausted(self) -> FallbackExhaustedError:
        return FallbackExhaustedError(list(self.failures.items()), self.reason)

    def last_error(self) -> BaseException | None:
        return self.attempts[-1].error if self.attempts else None


def _describe(exc: BaseException) -> str:
    # Type and status only: a provider's message may quote what it was sent.
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "")


# --- calls ------------------------------------------------------------------------------


def run_with_fallback(
    models: Sequence[str] | RoutingDecision,
    call: Callable[[str], T],
    classify: Classify | None = None,
    *,
    policy: RetryPolicy | None = None,
    cooldowns: CooldownTracker | None = None,
) -> FallbackResult[T]:
    """Call `call(model)` down the ranking until one answers.

    Returns `(value, model, attempts)`. Raises the first non-retryable error unchanged, or
    `FallbackExhaustedError` (caused by the last error) when every model failed.
    """
    run = _Run(models, classify, policy, cooldowns)
    for t in run.tries():
        with t.scope():
            try:
                value = call(t.model)
            except Exception as exc:
                if not run.failed_try(t, exc):
                    raise
            else:
                return FallbackResult(value, t.model, run.succeeded(t))
        if run.delay:
            time.sleep(run.delay)
    raise run.exhausted() from run.last_error()


async def arun_with_fallback(
    models: Sequence[str] | RoutingDecision,
    call: Callable[[str], Awaitable[T]],
    classify: Classify | None = None,
    *,
    policy: RetryPolicy | None = None,
    cooldowns: CooldownTracker | None = None,
) -> FallbackResult[T]:
    """`run_with_fallback` for a coroutine function."""
    run = _Run(models, classify, policy, cooldowns)
    for t in run.tries():
        with t.scope():
            try:
                value = await run.within_limit(t, call(t.model))
            except Exception as exc:
                if not run.failed_try(t, exc):
                    raise
            else:
                return FallbackResult(value, t.model, run.succeeded(t))
        if run.delay:
            await asyncio.sleep(run.delay)
    raise run.exhausted() from run.last_error()


# --- streams ----------------------------------------------------------------------------


class _StreamState(Generic[T]):
    """What a fallback stream shares between its sync and async forms."""

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


class FallbackStream(Iterator[T], Generic[T]):
    """The stream of the model that answered; `.model` and `.attempts` say which and how.

    Iterate it; close it (or use `with`) to stop early.
    """

    def __init__(self, state: _StreamState[T], head: list[T], rest: Iterator[T]) -> None:
        self._state = state
        self._pending = list(reversed(head))
        state.received.extend(head)
        self._rest = rest
        self.model = state.model
        self.attempts = state.attempts

    def __next__(self) -> T:
        if self._pending:
            return self._pending.pop()
        try:
            item = next(self._rest)
        except StopIteration:
            raise
        except Exception as exc:
            error = self._state.interrupted(exc)
            if error is exc:
                raise
            raise error from exc
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


class AsyncFallbackStream(AsyncIterator[T], Generic[T]):
    """`FallbackStream` for `async for`; `aclose()` (or `async with`) stops it early."""

    def __init__(self, state: _StreamState[T], head: list[T], rest: AsyncIterator[T]) -> None:
        self._state = state
        self._pending = list(reversed(head))
        state.received.extend(head)
        self._rest = rest
        self.model = state.model
        self.attempts = state.attempts

    async def __anext__(self) -> T:
        if self._pending:
            return self._pending.pop()
        try:
            item = await self._rest.__anext__()
        except StopAsyncIteration:
            raise
        except Exception as exc:
            error = self._state.interrupted(exc)
            if error is exc:
                raise
            raise error from exc
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
    for t in run.tries():
        iterator: Iterator[T] | None = None
        head: list[T] | None = None
        with t.scope():
            try:
                iterator = iter(open_stream(t.model))
                head = [next(iterator)]
            except StopIteration:  # an empty answer is still an answer
                head = []
            except Exception as exc:
                _close_quietly(iterator)
                if not run.failed_try(t, exc):
                    raise
        if head is not None:
            run.succeeded(t)
            return FallbackStream(_StreamState(run, t.model, text_of), head, iterator or iter(()))
        if run.delay:
            time.sleep(run.delay)
    raise run.exhausted() from run.last_error()


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
    for t in run.tries():
        opened: list[AsyncIterator[T]] = []
        head: list[T] | None = None
        with t.scope():
            try:
                head = [await run.within_limit(t, _first_item(open_stream, t.model, opened))]
            except StopAsyncIteration:  # an empty answer is still an answer
                head = []
            except Exception as exc:
                await _aclose_quietly(opened[0] if opened else None)
                if not run.failed_try(t, exc):
                    raise
        if head is not None:
            run.succeeded(t)
            rest = opened[0] if opened else _no_items()
            return AsyncFallbackStream(_StreamState(run, t.model, text_of), head, rest)
        if run.delay:
            await asyncio.sleep(run.delay)
    raise run.exhausted() from run.last_error()


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


def _loop_time_of(deadline: float) -> float:
    """A `time.monotonic()` instant on the running loop's clock (they may differ)."""
    return asyncio.get_running_loop().time() + (deadline - time.monotonic())


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
