"""The calling half of `Router` while it moves to `autorouter.calls` (a `RoutedCaller` composed
into the router). Kept for one release: import from `autorouter` or `autorouter.calls`."""

from __future__ import annotations

from .calls.caller import (
    DEFAULT_SESSION_CAPACITY,
    DEFAULT_SESSION_MARGIN,
    RoutedCaller,
    forwarded,
    forwarded_setting,
)
from .calls.endpoints import Endpoints, EndpointTarget
from .calls.streams import AsyncRoutedStream, RoutedStream
from .calls.upstream import RoutedCompletion
from .reliability import CooldownTracker, RetryPolicy

__all__ = [
    "DEFAULT_SESSION_CAPACITY",
    "DEFAULT_SESSION_MARGIN",
    "AsyncRoutedStream",
    "CallingMixin",
    "EndpointTarget",
    "Endpoints",
    "RoutedCompletion",
    "RoutedStream",
]


class CallingMixin:
    """`Router`'s calls, forwarded to its `RoutedCaller` (`router.caller`)."""

    @property
    def caller(self) -> RoutedCaller:
        """The router's calls and their runtime settings (made on first use, never saved)."""
        found = self.__dict__.get("_caller")
        if found is None:
            found = self.__dict__.setdefault("_caller", RoutedCaller(self))  # type: ignore[arg-type]
        return found  # type: ignore[no-any-return]

    set_endpoints = forwarded(RoutedCaller.set_endpoints)
    forget_session = forwarded(RoutedCaller.forget_session)
    complete = forwarded(RoutedCaller.complete)
    acomplete = forwarded(RoutedCaller.acomplete)
    stream = forwarded(RoutedCaller.stream)
    astream = forwarded(RoutedCaller.astream)
    endpoints = forwarded_setting[Endpoints | None]("where each candidate is called (`set_endpoints`)")
    retry_policy = forwarded_setting[RetryPolicy | None]("the `RetryPolicy` of every call")
    cooldowns = forwarded_setting[CooldownTracker | None]("the `CooldownTracker` of failing models")
    session_margin = forwarded_setting[float]("how far a session's model may fall below the top")
    session_capacity = forwarded_setting[int]("sessions remembered")
