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

Its parts: `retry` (the policy, cooldowns and the record of attempts), `flow` (the one
I/O-free flow of a run, its sync and async drivers, and plain calls), `streams` (streams).
Import every name from here.
"""

from autorouter.reliability.flow import (
    AttemptLimits,
    arun_with_fallback,
    current_attempt_limits,
    run_with_fallback,
)
from autorouter.reliability.retry import (
    Attempt,
    Classify,
    CooldownTracker,
    FallbackResult,
    RetryPolicy,
    default_cooldowns,
    retry_after_from_headers,
    retry_after_of,
)
from autorouter.reliability.streams import (
    AsyncFallbackStream,
    FallbackStream,
    astream_with_fallback,
    stream_with_fallback,
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
