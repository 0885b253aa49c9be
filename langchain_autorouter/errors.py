"""Which errors of LangChain chat models are worth another try: the `classify` hook that
autorouter's one retry-and-fallback policy (`autorouter.reliability`) calls."""

from __future__ import annotations

__all__ = ["classify_error"]


def classify_error(exc: BaseException) -> bool | None:
    """True: transient (retry, then fall back to the next model); False: the request itself
    is wrong (surface it unchanged); None: not ours to judge (autorouter's own
    `ProviderError`s carry `retryable`; anything else surfaces unchanged).

    LangChain's `ModelError`s say it with `is_retryable`; every other error is judged by
    `autorouter.calls.sdk_errors.classify_error`, the hook all adapters share (the openai SDK's
    rate limit, connection, timeout and 5xx errors are transient, its other status errors
    are not; httpx (and httpx2) transport errors and timeouts are transient; any other
    exception with an HTTP `status_code` or `status` is transient for 408/409/429/5xx and
    permanent for other 4xx).
    """
    # Imported here, not at the top: `from langchain_autorouter import classify_error` stays cheap.
    from langchain_core.exceptions import ModelError

    from autorouter.calls.sdk_errors import classify_error as classify_provider_error
    from autorouter.errors import AutorouterError

    if isinstance(exc, ModelError) and not isinstance(exc, AutorouterError):
        return bool(exc.is_retryable)
    return classify_provider_error(exc)
