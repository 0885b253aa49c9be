"""The `serve` command: the router as an OpenAI-compatible endpoint, on uvicorn."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from ..errors import AutorouterError
from ._common import (
    ApiKeyEnvOption,
    AttemptTimeoutOption,
    RouterFolder,
    StallTimeoutOption,
    TimeBudgetOption,
    err,
    fail,
    seconds_setting,
)

__all__ = ["serve"]


def serve(
    host: Annotated[str, typer.Option(help="address to bind; beyond 127.0.0.1 needs AUTOROUTER_SERVER_KEY")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    router: RouterFolder = None,
    catalog: Annotated[Path | None, typer.Option(help="a catalog file (default: the bundled one)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="worker processes (each loads the router)")] = 1,
    base_url: Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible API root the models are called at (default: OpenRouter)")] = None,
    api_key_env: ApiKeyEnvOption = "OPENROUTER_API_KEY",
    max_body_bytes: Annotated[int | None, typer.Option(min=1, help="request-body limit (default 8 MiB)")] = None,
    access_log: Annotated[bool, typer.Option(help="log each request line")] = True,
    time_budget: TimeBudgetOption = None,
    attempt_timeout: AttemptTimeoutOption = None,
    stall_timeout: StallTimeoutOption = None,
    body_timeout: Annotated[float | None, typer.Option("--body-timeout", min=0.001, help="seconds a request body may take to arrive (default 30)")] = None,
    header_timeout: Annotated[float | None, typer.Option("--header-timeout", min=0.001, help="seconds request headers may take to arrive (default 10)")] = None,
    feedback: Annotated[str | None, typer.Option("--feedback", help="file POST /v1/feedback appends to (default: ~/.local/state/autorouter/feedback.jsonl; '' keeps none)")] = None,
) -> None:
    """Serve the router as an OpenAI-compatible endpoint: POST /v1/chat/completions with
    model "auto" (or a model id), GET /v1/models, GET /health.

    Callers must send `Authorization: Bearer $AUTOROUTER_SERVER_KEY` when that variable is set;
    it must be set to bind beyond 127.0.0.1. A model that has not started answering within
    --attempt-timeout is left for the next one; slow clients are cut off by --header-timeout
    and --body-timeout (408).
    """
    from .. import server as gateway  # only `serve` loads the gateway, not every command at start-up

    key = os.environ.get(gateway.ENV_SERVER_KEY, "").strip()
    try:
        gateway.check_server_key(key or None)
    except gateway.ServerConfigError as e:
        fail(e)
    if not gateway.is_loopback(host) and not key:
        fail(gateway.ServerConfigError(
            f"refusing to serve on {host} without a key: set {gateway.ENV_SERVER_KEY} to a long "
            "random token that callers send as 'Authorization: Bearer <token>', or bind 127.0.0.1"
        ))
    try:  # uvicorn is the `serve` extra
        import uvicorn
    except ImportError:
        fail(gateway.ServerConfigError("serving needs uvicorn and starlette: pip install 'autorouter[serve]'"))
    settings = {
        gateway.ENV_ROUTER_DIR: str(router.resolve()) if router is not None else "",
        gateway.ENV_CATALOG: str(catalog.resolve()) if catalog is not None else "",
        gateway.ENV_UPSTREAM_BASE_URL: base_url or "",
        gateway.ENV_UPSTREAM_KEY_ENV: api_key_env,
        gateway.ENV_MAX_BODY_BYTES: str(max_body_bytes or ""),
        gateway.ENV_ALLOW_NO_SERVER_KEY: "1" if gateway.is_loopback(host) else "",
        gateway.ENV_TIME_BUDGET_S: seconds_setting(time_budget),
        gateway.ENV_ATTEMPT_TIMEOUT_S: seconds_setting(attempt_timeout),
        gateway.ENV_STALL_TIMEOUT_S: seconds_setting(stall_timeout),
        gateway.ENV_BODY_TIMEOUT_S: seconds_setting(body_timeout),
        gateway.ENV_HEADER_TIMEOUT_S: seconds_setting(header_timeout),
    }
    if feedback is not None:
        settings[gateway.ENV_FEEDBACK_FILE] = feedback
    os.environ.update(settings)  # read by app_from_env, here and in every worker
    try:
        app_obj = gateway.app_from_env()  # fails here, before binding, on a bad router or catalog
    except (AutorouterError, OSError, json.JSONDecodeError) as e:
        fail(e)
    n = len(app_obj.state.gateway.models)
    auth = "bearer key required" if key else "no key (loopback only)"
    err.print(f"serving {n} models on http://{host}:{port}/v1 ({workers} worker(s), {auth})", highlight=False)
    # The gateway's own HTTP protocol: header deadlines and TCP_NODELAY on every connection.
    options = gateway.uvicorn_options()
    if workers > 1:
        del app_obj
        uvicorn.run("autorouter.server:app_from_env", factory=True, host=host, port=port, workers=workers,
                    access_log=access_log, timeout_graceful_shutdown=10, **options)
    else:
        uvicorn.run(app_obj, host=host, port=port, access_log=access_log, timeout_graceful_shutdown=10,
                    **options)
