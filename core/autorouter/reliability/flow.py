"""The one flow of a fallback run, I/O-free (`_Run`), and its two thin drivers: the sync
one sleeps between tries, the async one awaits and bounds each attempt by its deadline.

`run_with_fallback` and `arun_with_fallback` are the drivers applied to a plain call;
`autorouter.reliability.streams` applies them to opening a stream.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from autorouter.decision import RoutingDecision
from autorouter.errors import (
    AttemptTimeoutError,
    FallbackExhaustedError,
    InvalidRequestError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnreachableError,
)
from autorouter.reliability.retry import (
    Attempt,
    Classify,
    CooldownTracker,
    FallbackResult,
    RetryPolicy,
    default_cooldowns,
    retry_after_of,
)

__all__ = [
    "AttemptLimits",
    "arun_with_fallback",
    "current_attempt_limits",
    "run_with_fallback",
]

T = TypeVar("T")

# One logger for the whole policy, whichever of its modules logs.
logger = logging.getLogger("autorouter.reliability")


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
    `tries()` yields each attempt to make; the driver makes the call inside `attempt(t)`,
    which records a failure, and waits `delay` seconds before asking for the next, or reports
    `succeeded`. The sync and async drivers (`_drive`, `_adrive`) differ only in how they call
    and wait; an async attempt is also bounded by `within_limit`."""

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

    @contextmanager
    def attempt(self, t: _Try) -> Iterator[None]:
        """Make attempt `t` inside this block: its limits are `current_attempt_limits()`, and
        a failure is recorded, then swallowed when the run goes on (see `delay`) or re-raised
        unchanged when it must surface."""
        with t.scope():
            try:
                yield
            except Exception as exc:
                if not self.failed_try(t, exc):
                    raise

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


def _loop_time_of(deadline: float) -> float:
    """A `time.monotonic()` instant on the running loop's clock (they may differ)."""
    return asyncio.get_running_loop().time() + (deadline - time.monotonic())


# --- the drivers --------------------------------------------------------------------------


def _drive(run: _Run, attempt: Callable[[_Try], T]) -> tuple[_Try, T]:
    """`attempt(t)` for each try of `run`, sleeping between them, until one returns: that try
    and its value. Raises the first error that must surface, unchanged, or
    `FallbackExhaustedError` (caused by the last error) when every try failed."""
    for t in run.tries():
        with run.attempt(t):
            return t, attempt(t)
        if run.delay:
            time.sleep(run.delay)
    raise run.exhausted() from run.last_error()


async def _adrive(run: _Run, attempt: Callable[[_Try], Awaitable[T]]) -> tuple[_Try, T]:
    """`_drive` for an attempt to await."""
    for t in run.tries():
        with run.attempt(t):
            return t, await attempt(t)
        if run.delay:
            await asyncio.sleep(run.delay)
    raise run.exhausted() from run.last_error()


# --- calls --------------------------------------------------------------------------------


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
    t, value = _drive(run, lambda t: call(t.model))
    return FallbackResult(value, t.model, run.succeeded(t))


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
    t, value = await _adrive(run, lambda t: run.within_limit(t, call(t.model)))
    return FallbackResult(value, t.model, run.succeeded(t))
