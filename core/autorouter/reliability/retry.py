"""How hard a fallback run tries, and what it leaves behind: the retry policy, the cooldowns
of models given up on, the record of each attempt, and the waits providers ask for."""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Attempt",
    "Classify",
    "CooldownTracker",
    "FallbackResult",
    "RetryPolicy",
    "default_cooldowns",
    "retry_after_from_headers",
    "retry_after_of",
]

T = TypeVar("T")

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
