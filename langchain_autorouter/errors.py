"""Which errors of LangChain chat models are worth another try: the `classify` hook that
autorouter's one retry-and-fallback policy (`autorouter.reliability`) calls."""

from __future__ import annotations

import sys

__all__ = ["classify_error"]

# The openai SDK (and SDKs generated like it: anthropic, groq, ...) retries these itself.
_RETRYABLE_STATUS = frozenset({408, 409, 429})
_TRANSIENT_NAMES = frozenset(
    {"APIConnectionError", "APITimeoutError", "RateLimitError", "InternalServerError",
     "ServiceUnavailableError", "OverloadedError"}
)


def classify_error(exc: BaseException) -> bool | None:
    """True: transient (retry, then fall back to the next model); False: the request itself
    is wrong (surface it unchanged); None: not ours to judge (autorouter's own
    `ProviderError`s carry `retryable`; anything else surfaces unchanged).

    In order: LangChain's `ModelError`s say it with `is_retryable`; the openai SDK's rate
    limit, connection, timeout and 5xx errors are transient, its other status errors are
    not; httpx (and httpx2) transport errors and timeouts are transient; any other exception with an
    HTTP `status_code` is transient for 408/409/429/5xx and permanent for other 4xx.
    """
    from langchain_core.exceptions import ModelError

    core_errors = sys.modules.get("autorouter.errors")
    if core_errors is not None and isinstance(exc, core_errors.AutorouterError):
        return None  # the policy reads a ProviderError's own `retryable`
    if isinstance(exc, ModelError):
        return bool(exc.is_retryable)
    openai = sys.modules.get("openai")  # no need to import it: it raised nothing if absent
    if openai is not None:
        if isinstance(exc, openai.RateLimitError | openai.APIConnectionError | openai.InternalServerError):
            return True
        if isinstance(exc, openai.APIStatusError):
            return _status_retryable(exc.status_code)
    for name in ("httpx", "httpx2"):  # openai>=3 speaks httpx2, an httpx look-alike
        httpx = sys.modules.get(name)
        if httpx is not None and isinstance(
            exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError
        ):
            return True
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool) and 400 <= status <= 599:
        return _status_retryable(status)
    if any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__):
        return True
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    return None


def _status_retryable(status: int) -> bool:
    return status in _RETRYABLE_STATUS or status >= 500
