"""The gateway's settings: its defaults, the environment variables `app_from_env` reads (the
CLI sets them for its workers), and the checks a value must pass (seconds, the server key, a
loopback host)."""

from __future__ import annotations

import ipaddress
import math
import os

from ..errors import ServerConfigError
from ..reliability import RetryPolicy

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
"""Largest request body accepted (8 MiB: room for a few base64 images); larger gets a 413."""

DEFAULT_BODY_TIMEOUT_S = 30.0
"""Seconds a request's whole body may take to arrive after its headers; slower gets a 408.
(8 MiB in 30 s is ~280 KB/s: any client that means it sends faster.)"""

DEFAULT_HEADER_TIMEOUT_S = 10.0
"""Seconds a connection may take to send a request's headers, from connecting or from the
previous answer on a kept-alive connection; slower gets a 408 and is closed."""

DEFAULT_KEEP_ALIVE_S = 5
"""Seconds uvicorn keeps a silent kept-alive connection open (its own default)."""

# Environment variables `app_from_env` reads (the CLI sets them for its workers).
ENV_ROUTER_DIR = "AUTOROUTER_ROUTER_DIR"
ENV_CATALOG = "AUTOROUTER_CATALOG"
ENV_UPSTREAM_BASE_URL = "AUTOROUTER_UPSTREAM_BASE_URL"
ENV_UPSTREAM_KEY_ENV = "AUTOROUTER_UPSTREAM_KEY_ENV"
ENV_SERVER_KEY = "AUTOROUTER_SERVER_KEY"
#: Set to 1 (as `autorouter serve` does when bound to 127.0.0.1) to let the app factory serve
#: without a key; without it the factory refuses, since it cannot know where it is bound.
ENV_ALLOW_NO_SERVER_KEY = "AUTOROUTER_ALLOW_NO_SERVER_KEY"
#: Shortest gateway key accepted: `python -c "import secrets; print(secrets.token_urlsafe(32))"`.
MIN_SERVER_KEY_CHARS = 32
ENV_MAX_BODY_BYTES = "AUTOROUTER_MAX_BODY_BYTES"
ENV_BODY_TIMEOUT_S = "AUTOROUTER_BODY_TIMEOUT_S"
#: Read by `gateway_http_protocol` for each connection (so it reaches every worker).
ENV_HEADER_TIMEOUT_S = "AUTOROUTER_HEADER_TIMEOUT_S"
#: The routed calls' `RetryPolicy` timing: total budget, one attempt's limit, a stream's silence.
ENV_TIME_BUDGET_S = "AUTOROUTER_TIME_BUDGET_S"
ENV_ATTEMPT_TIMEOUT_S = "AUTOROUTER_ATTEMPT_TIMEOUT_S"
ENV_STALL_TIMEOUT_S = "AUTOROUTER_STALL_TIMEOUT_S"
#: Where feedback is appended; unset: `default_feedback_path()`, empty: kept nowhere.
ENV_FEEDBACK_FILE = "AUTOROUTER_FEEDBACK_FILE"


def retry_policy_from_env() -> RetryPolicy:
    """The routed calls' `RetryPolicy`, its timing from the AUTOROUTER_*_S variables."""
    timing: dict[str, float] = {}
    for name, field in ((ENV_TIME_BUDGET_S, "total_budget_s"), (ENV_ATTEMPT_TIMEOUT_S, "attempt_timeout_s"),
                        (ENV_STALL_TIMEOUT_S, "stall_timeout_s")):
        if os.environ.get(name, "").strip():
            timing[field] = _env_seconds(name, 0.0)
    return RetryPolicy.model_validate(timing)


def _check_seconds(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value <= 0:
        raise ServerConfigError(f"{name} must be a number of seconds > 0, not {value!r}")
    return float(value)


def _env_seconds(name: str, default: float) -> float:
    """Seconds from the environment variable `name` (`default` if unset)."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ServerConfigError(f"{name} must be a number of seconds, not {text!r}") from None
    return _check_seconds(name, value)


def check_server_key(key: str | None) -> None:
    """A gateway key must be hard to guess: at least `MIN_SERVER_KEY_CHARS` characters."""
    if key is not None and len(key) < MIN_SERVER_KEY_CHARS:
        raise ServerConfigError(
            f"{ENV_SERVER_KEY} is {len(key)} characters; use a random token of at least "
            f"{MIN_SERVER_KEY_CHARS}, e.g. python -c \"import secrets; print(secrets.token_urlsafe(32))\""
        )


def is_loopback(host: str) -> bool:
    """True when `host` only accepts connections from this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False
