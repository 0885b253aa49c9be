"""Typed errors raised by autorouter: each says what was wrong and how to fix it."""

from __future__ import annotations


class AutorouterError(Exception):
    """Base class of every error autorouter raises on purpose."""


class DatasetError(AutorouterError, ValueError):
    """A routing dataset file is missing, unreadable or holds invalid rows."""


class EmbedderError(AutorouterError):
    """An embedder could not be built or returned vectors of the wrong shape."""


class NotFittedError(AutorouterError):
    """A router was used before `fit` or `load`."""


class RouterLoadError(AutorouterError):
    """A saved router folder is missing, corrupt, or written by an incompatible version."""


class InvalidRequestError(AutorouterError, ValueError):
    """The caller passed something the router cannot route (bad tradeoff, empty prompt, ...)."""


class UnknownModelError(AutorouterError, KeyError):
    """A model name is not among the router's candidates."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0]) if self.args else ""


class NoCandidateError(AutorouterError):
    """Every candidate model was excluded by the request's constraints."""


# --- Calls to model providers (client.py) and the fallback policy (reliability.py). ---


class ProviderError(AutorouterError):
    """A model provider failed a call.

    `retryable` says whether the same request may succeed if sent again (rate limits,
    server errors, timeouts, dropped connections) or not (the request itself was refused).
    `provider_message` is the provider's own words, with any API key scrubbed out.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        status_code: int | None = None,
        provider_message: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.model = model
        self.status_code = status_code
        self.provider_message = provider_message
        if retryable is not None:  # else the class default stands
            self.retryable = retryable


class RateLimitError(ProviderError):
    """The provider answered 429; `retry_after` is how long it asked us to wait, if it said."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        status_code: int | None = 429,
        provider_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message, model=model, status_code=status_code, provider_message=provider_message
        )
        self.retry_after = retry_after


class ProviderServerError(ProviderError):
    """The provider failed on its side (5xx, or a body that is not an API answer)."""

    retryable = True


class ProviderTimeoutError(ProviderError):
    """The provider did not connect, answer or go on streaming within the timeout."""

    retryable = True


class AttemptTimeoutError(ProviderTimeoutError):
    """A model's answer did not start within its attempt's limit (`RetryPolicy`): it is left,
    without a retry, for the next model of the ranking."""


class ProviderConnectionError(ProviderError):
    """The connection to the provider failed or was dropped before an answer came."""

    retryable = True


class ProviderUnreachableError(ProviderConnectionError):
    """The provider's host could not be reached (refused, unknown, no route): nothing was
    sent. Other models on the same endpoint are not tried again within the call."""


class BadRequestError(ProviderError):
    """The provider refused the request itself (400, 404, 422, other 4xx): do not resend it."""


class AuthenticationError(ProviderError):
    """The provider refused the API key (401/403): check the key and its permissions."""


class StreamInterruptedError(ProviderError):
    """A stream broke after its first chunk, so it cannot be retried without repeating text.

    `chunks` holds what was received before the break and `text` their joined text.
    """

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        chunks: list[object] | None = None,
        text: str = "",
    ) -> None:
        # Never retryable: sending the request again would repeat what the caller already has.
        super().__init__(message, model=model, retryable=False)
        self.chunks = list(chunks or [])
        self.text = text


class MissingAPIKeyError(AutorouterError):
    """No API key was given and the environment variable that should hold one is unset."""

    def __init__(self, env_var: str) -> None:
        super().__init__(
            f"no API key: set the {env_var} environment variable, "
            "or pass an explicit key with Endpoint(api_key=...)"
        )
        self.env_var = env_var

    def __reduce__(self) -> tuple[type, tuple[str]]:  # args hold the message, not env_var
        return (type(self), (self.env_var,))


class UnknownResponseError(AutorouterError, LookupError):
    """Feedback named an answer id that is not among the recent answers this router gave."""


class FallbackExhaustedError(AutorouterError):
    """Every model of a ranking failed; `failures` lists each model tried and its last error."""

    def __init__(self, failures: list[tuple[str, BaseException]], reason: str = "") -> None:
        self.failures = list(failures)
        # Models that failed alike (one dead endpoint, say) are listed once, not 20 times.
        groups: dict[tuple[str, str], list[str]] = {}
        for model, error in self.failures:
            text = str(error).removeprefix(f"{model}: ")
            groups.setdefault((type(error).__name__, text), []).append(model)
        tried = "; ".join(
            f"{', '.join(models)}: {kind}: {text}" for (kind, text), models in groups.items()
        )
        why = f" ({reason})" if reason else ""
        super().__init__(f"no model answered{why}; tried {tried or 'none'}")
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[list[tuple[str, BaseException]], str]]:
        return (type(self), (self.failures, self.reason))

    @property
    def models(self) -> list[str]:
        """The models tried, in order."""
        return [model for model, _ in self.failures]


# --- The model catalog (catalog.py). ---


class CatalogError(AutorouterError, ValueError):
    """A catalog file or entry is malformed, or an added or changed entry clashes with another."""


# --- The OpenAI-compatible gateway (server.py). ---


class ServerConfigError(AutorouterError):
    """`autorouter serve` was set up unsafely or inconsistently: bound beyond 127.0.0.1
    without AUTOROUTER_SERVER_KEY, or given a setting it cannot use."""
