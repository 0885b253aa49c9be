"""The `classify` hook of the one retry-and-fallback policy (`autorouter.reliability`) for the
errors of the usual provider SDKs (openai and SDKs generated like it, httpx, httpx2), which a
framework adapter's candidates raise. Nothing here imports an SDK: it reads `sys.modules`."""

from __future__ import annotations

import sys

__all__ = ["classify_error"]

_RETRYABLE_STATUS = frozenset({408, 409, 429})
_TRANSIENT_NAMES = frozenset(
    {"APIConnectionError", "APITimeoutError", "RateLimitError", "InternalServerError",
     "ServiceUnavailableError", "OverloadedError"}
)


def classify_error(exc: BaseException) -> bool | None:
    """The `classify` hook of `autorouter.reliability` for provider SDK errors.

    True: transient (retry, then fall back to the next model); False: the request itself is
    wrong (surface it unchanged); None: not known here (autorouter's own `ProviderError`s
    carry `retryable`; anything else surfaces unchanged).

    In order: autorouter's own errors are left to the policy; the openai SDK's rate-limit,
    connection, timeout and 5xx errors are transient, its other status errors are not;
    httpx (and httpx2) transport errors and timeouts are transient; any other exception
    with an HTTP `status_code` (or `status`) is transient for 408/409/429/5xx and permanent
    for other 4xx; exceptions named like the usual SDKs' transient errors, `TimeoutError`
    and `ConnectionError` are transient. A framework adapter checks its framework's own
    error classes first, then calls this.
    """
    core_errors = sys.modules.get("autorouter.errors")
    if core_errors is not None and isinstance(exc, core_errors.AutorouterError):
        return None  # the policy reads a ProviderError's own `retryable`
    openai = sys.modules.get("openai")  # not imported here: it raised nothing if absent
    if openai is not None:
        if isinstance(exc, openai.RateLimitError | openai.APIConnectionError | openai.InternalServerError):
            return True  # APITimeoutError is an APIConnectionError
        if isinstance(exc, openai.APIStatusError):
            return _status_retryable(exc.status_code)
    for name in ("httpx", "httpx2"):  # openai>=3 speaks httpx2, an httpx look-alike
        httpx = sys.modules.get(name)
        if httpx is not None and isinstance(
            exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError
        ):
            return True
    for attr in ("status_code", "status"):
        status = getattr(exc, attr, None)
        if isinstance(status, int) and not isinstance(status, bool) and 400 <= status <= 599:
            return _status_retryable(status)
    if any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__):
        return True
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    return None


def _status_retryable(status: int) -> bool:
    return status in _RETRYABLE_STATUS or status >= 500
