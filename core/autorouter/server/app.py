"""Building the ASGI app: `create_app` (routes, error handlers, lifespan around a `_Gateway`)
and `app_from_env`, the factory `autorouter serve` and its workers configure from the
environment."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..catalog import Catalog
from ..client import DEFAULT_API_KEY_ENV, DEFAULT_BASE_URL, Endpoint, aclose_pools
from ..errors import ServerConfigError
from ..feedback import FeedbackLog, default_feedback_path
from ..router import Router
from .gateway import _Gateway
from .responses import _APIError
from .settings import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_HEADER_TIMEOUT_S,
    DEFAULT_MAX_BODY_BYTES,
    ENV_ALLOW_NO_SERVER_KEY,
    ENV_BODY_TIMEOUT_S,
    ENV_CATALOG,
    ENV_FEEDBACK_FILE,
    ENV_HEADER_TIMEOUT_S,
    ENV_MAX_BODY_BYTES,
    ENV_ROUTER_DIR,
    ENV_SERVER_KEY,
    ENV_UPSTREAM_BASE_URL,
    ENV_UPSTREAM_KEY_ENV,
    MIN_SERVER_KEY_CHARS,
    _check_seconds,
    _env_seconds,
    check_server_key,
    retry_policy_from_env,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

logger = logging.getLogger("autorouter.server")



def create_app(
    router: Router,
    *,
    catalog: Catalog | None = None,
    server_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
    feedback_log: FeedbackLog | str | Path | None = None,
    learn_from_feedback: bool = True,
) -> Starlette:
    """The OpenAI-compatible ASGI app serving `router` (see the `autorouter.server` docstring).

    The app guards what it reads (the key, the body's size and arrival time); the request's
    headers come before the app sees a request, so their deadline is the server's: serve it
    with `uvicorn_options()` (as `autorouter serve` does) on anything but loopback.

    Args:
        router: a fitted router, with its endpoints, retry policy and limits set; it is only
            read (apart from its session LRU and cooldowns).
        catalog: names, aliases and facts of the models (`/v1/models`, resolving `model`);
            the router's endpoints' catalog, else `Catalog.default()`, if None.
        server_key: when set, every route but `/health` needs `Authorization: Bearer <key>`.
        max_body_bytes: larger request bodies get a 413.
        body_timeout_s: a request body not all arrived this many seconds after the headers
            gets a 408 and the connection is closed (a Content-Length larger than what is
            sent, a slow trickle), so one connection holds a request that long at most.
        feedback_log: where `POST /v1/feedback` records are appended (a `FeedbackLog` or a
            path); None keeps no record.
        learn_from_feedback: update the router with each feedback (`Router.partial_fit`);
            with several workers, each learns from the feedback it receives, and replaying
            the log (`autorouter train --feedback`) gives every one all of it.
    """
    # starlette is the `serve` extra: imported here so `autorouter.server` imports without it
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    if max_body_bytes <= 0:
        raise ServerConfigError(f"max_body_bytes must be > 0, not {max_body_bytes!r}")
    _check_seconds("body_timeout_s", body_timeout_s)
    check_server_key(server_key)
    log = FeedbackLog(feedback_log) if isinstance(feedback_log, str | Path) else feedback_log
    gateway = _Gateway(router, catalog, server_key, max_body_bytes, body_timeout_s, log,
                       learn_from_feedback)

    def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _APIError)
        return JSONResponse(exc.payload(), status_code=exc.status, headers=exc.headers)

    def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        what = (f"Unknown route {request.method} {request.url.path}."
                if exc.status_code in (404, 405) else str(exc.detail))
        return api_error(request, _APIError(exc.status_code, what, code=code,
                                            headers=exc.headers))

    def server_error(request: Request, exc: Exception) -> Response:
        return api_error(request, gateway._upstream_error(exc))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await aclose_pools()

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", gateway.chat, methods=["POST"]),
            Route("/chat/completions", gateway.chat, methods=["POST"]),
            Route("/v1/feedback", gateway.feedback, methods=["POST"]),
            Route("/v1/models", gateway.list_models, methods=["GET"]),
            Route("/models", gateway.list_models, methods=["GET"]),
            Route("/health", gateway.health, methods=["GET", "HEAD"]),
        ],
        exception_handlers={_APIError: api_error, HTTPException: http_error,
                            Exception: server_error},
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app


def app_from_env() -> Starlette:
    """The app as `autorouter serve` configures it, from environment variables: a factory for
    `uvicorn autorouter.server:app_from_env --factory` and for `--workers` > 1.

    AUTOROUTER_ROUTER_DIR: a saved router folder (the bundled default router if unset).
    AUTOROUTER_CATALOG: a catalog file (the bundled catalog if unset).
    AUTOROUTER_UPSTREAM_BASE_URL: the OpenAI-compatible API the models are called at
        (OpenRouter if unset); AUTOROUTER_UPSTREAM_KEY_ENV: the variable holding its key
        (OPENROUTER_API_KEY if unset; empty for an endpoint that needs none).
    AUTOROUTER_SERVER_KEY: the bearer token callers must send, at least 32 characters; without
        it the factory refuses to start unless AUTOROUTER_ALLOW_NO_SERVER_KEY=1 (loopback only).
    AUTOROUTER_MAX_BODY_BYTES: the request-body limit.
    AUTOROUTER_BODY_TIMEOUT_S: seconds the body may take to arrive (30 if unset).
    AUTOROUTER_HEADER_TIMEOUT_S: seconds the headers may take (10 if unset); read by
        `gateway_http_protocol` for each connection, and checked here so a bad value stops
        the start rather than being ignored.
    AUTOROUTER_TIME_BUDGET_S, AUTOROUTER_ATTEMPT_TIMEOUT_S, AUTOROUTER_STALL_TIMEOUT_S: the
        upstream calls' `RetryPolicy` (total budget, one model's limit for its answer to
        start, a stream's longest silence); its defaults where unset.
    AUTOROUTER_FEEDBACK_FILE: the file `POST /v1/feedback` appends to (unset: the state
        directory's autorouter/feedback.jsonl; empty: none is kept, feedback is only learned).
    """
    env = os.environ
    server_key = env.get(ENV_SERVER_KEY, "").strip() or None
    if server_key is None and env.get(ENV_ALLOW_NO_SERVER_KEY, "").strip() not in ("1", "true", "yes"):
        raise ServerConfigError(
            f"refusing to serve without a key: set {ENV_SERVER_KEY} to a random token of at least "
            f"{MIN_SERVER_KEY_CHARS} characters, or, bound to 127.0.0.1 only, {ENV_ALLOW_NO_SERVER_KEY}=1"
        )
    router_dir = env.get(ENV_ROUTER_DIR, "").strip()
    router = Router.load(router_dir) if router_dir else Router.default()
    catalog_file = env.get(ENV_CATALOG, "").strip()
    catalog = Catalog.from_file(catalog_file) if catalog_file else None
    base_url = env.get(ENV_UPSTREAM_BASE_URL, "").strip() or DEFAULT_BASE_URL
    key_env = env.get(ENV_UPSTREAM_KEY_ENV, DEFAULT_API_KEY_ENV).strip() or None
    router.set_endpoints(default=Endpoint(base_url=base_url, api_key_env=key_env),
                         catalog=catalog)
    limit = env.get(ENV_MAX_BODY_BYTES, "").strip()
    try:
        max_body = int(limit) if limit else DEFAULT_MAX_BODY_BYTES
    except ValueError:
        raise ServerConfigError(f"{ENV_MAX_BODY_BYTES} must be a number of bytes") from None
    body_timeout = _env_seconds(ENV_BODY_TIMEOUT_S, DEFAULT_BODY_TIMEOUT_S)
    _env_seconds(ENV_HEADER_TIMEOUT_S, DEFAULT_HEADER_TIMEOUT_S)
    router.retry_policy = retry_policy_from_env()
    if key_env is not None and not env.get(key_env, "").strip():
        logger.warning("%s is not set: calls will answer 503 until it is", key_env)
    feedback_file = env.get(ENV_FEEDBACK_FILE)
    if feedback_file is None:
        feedback_file = str(default_feedback_path())
    return create_app(router, catalog=catalog, server_key=server_key, max_body_bytes=max_body,
                      body_timeout_s=body_timeout, feedback_log=feedback_file.strip() or None)

