"""`autorouter serve`: the router as an OpenAI-compatible HTTP endpoint, like `openrouter/auto`.

Any OpenAI SDK (or curl, or a tool that speaks the OpenAI API) sends

    POST /v1/chat/completions {"model": "auto", "messages": [...]}

and gets the routed model's answer in the OpenAI wire format, plain or streamed (SSE).

Request fields beyond OpenAI's:
    model: "auto" (also "autorouter/auto", "openrouter/auto") routes among every candidate; a
        candidate's name, catalog id or catalog alias calls that model only (still retried
        under the reliability policy, with no fallback to other models).
    models: a list of candidate names/ids: "auto" routes among these only.
    tradeoff: 0 (best predicted quality) .. 1 (cheapest) for this request.
    max_cost: USD cap per call: candidates predicted to cost more are not chosen.
    max_latency_s: cap in seconds until the whole answer has arrived: candidates predicted to
        take longer are not chosen (models of unknown speed never are excluded).
    latency_weight: quality points one second of predicted latency costs in the score (>= 0;
        the router's default, 0.0005, if absent).
    session: a key for a multi-turn conversation: it stays on one model while that model stays
        eligible and near the top of the ranking (sessions live in each worker's memory).
Every other field (temperature, max_tokens, stop, tools, tool_choice, response_format, seed,
provider-specific ones, ...) is passed to the model as given; `n` must be 1.

What the response adds (standard clients ignore it):
    model: the model that answered (after any fallback), by the router's name for it.
    usage.cost: the call's cost in USD (the provider's figure when it reports one, else tokens
        times list price; null when unknown).
    autorouter: {model, routed, forced, chosen, sticky, fell_back, fallback_from, attempts,
        tradeoff, max_cost, max_latency_s, explanation, family, difficulty, ranking, cost_usd,
        cost_source}: the routing decision and every call made (each ranking entry with its
        predicted `quality`, `cost_usd` and `latency_s`), the report the adapters attach too
        (`autorouter.decision.routing_report` documents each key). In a stream it rides on the
        first chunk, before the cost is known (its `cost_usd` is null); the usage chunk (with
        `stream_options.include_usage`) carries `usage.cost`.

Errors are OpenAI error objects `{"error": {"message", "type", "param", "code"}}`: 400 for a
malformed or invalid request (also for values JSON cannot carry: a number that overflows a
double such as 1e999, NaN, a lone UTF-16 surrogate in a string; and `no_candidate` when
constraints leave no model), 401 for a missing or wrong server key, 404 for an unknown model,
408 for a request whose headers or body did not arrive in time, 413 for a body over the limit,
502 when the upstream models failed after every retry and fallback (429 when each failure was
a rate limit), 503 when the gateway has no upstream key configured. Upstream API keys are never
sent to the caller nor logged; in a stream they are blanked out over the joined text, so a key
the model echoes split over two chunks is caught too.

A client that disconnects while the gateway waits for the upstream (a plain request, or a
stream before its first chunk) cancels the router call: its upstream connection is closed and
no further retry or fallback starts. (After the first chunk, the stream stops with the client.)

Serving beyond loopback (`--host 0.0.0.0`): what protects a public bind is
    - the bearer key (AUTOROUTER_SERVER_KEY, at least 32 characters, compared in constant time):
      `autorouter serve` and `app_from_env` refuse to serve without it off loopback;
    - the body limit (`max_body_bytes`, AUTOROUTER_MAX_BODY_BYTES, 8 MiB): larger gets a 413,
      before it is read when Content-Length says so;
    - the body deadline (`body_timeout_s`, AUTOROUTER_BODY_TIMEOUT_S, 30 s): the whole body must
      arrive within it after the headers, else a 408 and the connection is closed, so a client
      that lies about Content-Length or trickles its body holds a request that long at most;
    - the header deadline (AUTOROUTER_HEADER_TIMEOUT_S, 10 s): a connection must deliver each
      request's headers within it (from connecting, or from the previous answer when kept
      alive), else a 408 and it is closed. uvicorn has no such limit (its keep-alive timeout,
      5 s, only covers a silent kept-alive connection, and any byte resets it), so the gateway
      brings its own h11 protocol, `gateway_http_protocol`: `uvicorn_options()` gives the
      uvicorn settings that select it. Pass them wherever uvicorn runs the app
      (`uvicorn.run(app, **uvicorn_options())`, `uvicorn.Config`); `autorouter serve` does;
    - TCP_NODELAY on every connection, from the same protocol and from uvloop (the `serve`
      extra): uvicorn's multi-worker socket leaves Nagle's algorithm on under the plain asyncio
      loop, which adds ~40 ms to every kept-alive request.
A public bind still wants a reverse proxy in front for TLS and a cap on open connections
(uvicorn's `limit_concurrency` answers 503 beyond a number of connections): deadlines bound
how long one slow connection is held, not how many are open at once.

`GET /v1/models` lists `auto` and the router's candidates with their catalog facts;
`GET /health` answers load balancers (no key needed).

The app is stateless apart from the read-only router (and each worker's session LRU and
cooldowns, which only steer choices), so it scales by running more workers (`--workers N`) or
replicas behind any load balancer.

The package, one module per job (this module only re-exports their names, the private ones
included, so `autorouter.server.X` names what it always did):
    settings: defaults, the environment variables `app_from_env` reads, and their checks;
    request: the body as JSON, the request schemas, the 400 naming the field at fault;
    responses: OpenAI error objects, JSON a strict client can parse, the `autorouter` object;
    redaction: upstream credentials blanked out of answers and streams;
    disconnect: a client that leaves cancels the router call;
    gateway: the route handlers (`_Gateway`), chat completions plain and streamed;
    app: `create_app` and the `app_from_env` factory;
    protocol: `uvicorn_options` and the h11 protocol with a header deadline and TCP_NODELAY.
"""

from __future__ import annotations

# What `autorouter.server` imported from the rest of the package, still reachable here
# (the CLI reads `autorouter.server.ServerConfigError`).
from ..catalog import Catalog as Catalog
from ..decision import routing_report as routing_report
from ..errors import (
    AuthenticationError as AuthenticationError,
)
from ..errors import (
    AutorouterError as AutorouterError,
)
from ..errors import (
    BadRequestError as BadRequestError,
)
from ..errors import (
    FallbackExhaustedError as FallbackExhaustedError,
)
from ..errors import (
    InvalidRequestError as InvalidRequestError,
)
from ..errors import (
    MissingAPIKeyError as MissingAPIKeyError,
)
from ..errors import (
    NoCandidateError as NoCandidateError,
)
from ..errors import (
    ProviderError as ProviderError,
)
from ..errors import (
    RateLimitError as RateLimitError,
)
from ..errors import (
    ServerConfigError as ServerConfigError,
)
from ..errors import (
    UnknownModelError as UnknownModelError,
)
from ..errors import (
    UnknownResponseError as UnknownResponseError,
)
from ..feedback import (
    AnswerLedger as AnswerLedger,
)
from ..feedback import (
    FeedbackLog as FeedbackLog,
)
from ..feedback import (
    default_feedback_path as default_feedback_path,
)
from ..feedback import (
    give_feedback as give_feedback,
)
from ..prompts import prompt_text as prompt_text
from ..reliability import RetryPolicy as RetryPolicy
from .app import (
    app_from_env as app_from_env,
)
from .app import (
    create_app as create_app,
)
from .disconnect import (
    T as T,
)
from .disconnect import (
    _disconnected as _disconnected,
)
from .disconnect import (
    _quiet_close as _quiet_close,
)
from .disconnect import (
    _unless_client_leaves as _unless_client_leaves,
)
from .gateway import (
    _Gateway as _Gateway,
)
from .gateway import (
    logger as logger,
)
from .protocol import (
    _guarded_h11 as _guarded_h11,
)
from .protocol import (
    _header_timeout_from_env as _header_timeout_from_env,
)
from .protocol import (
    _set_nodelay as _set_nodelay,
)
from .protocol import (
    gateway_http_protocol as gateway_http_protocol,
)
from .protocol import (
    uvicorn_options as uvicorn_options,
)
from .redaction import (
    _DELTA_TEXT as _DELTA_TEXT,
)
from .redaction import (
    _Redactor as _Redactor,
)
from .redaction import (
    _secret_start_at_end as _secret_start_at_end,
)
from .redaction import (
    _StreamRedactor as _StreamRedactor,
)
from .request import (
    _LONE_SURROGATE as _LONE_SURROGATE,
)
from .request import (
    _OWN_FIELDS as _OWN_FIELDS,
)
from .request import (
    _SURROGATE_ESCAPE as _SURROGATE_ESCAPE,
)
from .request import (
    _UNION_TAGS as _UNION_TAGS,
)
from .request import (
    AUTO_MODELS as AUTO_MODELS,
)
from .request import (
    ChatRequest as ChatRequest,
)
from .request import (
    FeedbackRequest as FeedbackRequest,
)
from .request import (
    _Body as _Body,
)
from .request import (
    _check_values as _check_values,
)
from .request import (
    _Function as _Function,
)
from .request import (
    _Message as _Message,
)
from .request import (
    _Name as _Name,
)
from .request import (
    _no_constant as _no_constant,
)
from .request import (
    _NotJSON as _NotJSON,
)
from .request import (
    _param as _param,
)
from .request import (
    _parse_json as _parse_json,
)
from .request import (
    _ResponseFormat as _ResponseFormat,
)
from .request import (
    _StreamOptions as _StreamOptions,
)
from .request import (
    _Strict as _Strict,
)
from .request import (
    _Tool as _Tool,
)
from .request import (
    _validation_error as _validation_error,
)
from .responses import (
    _APIError as _APIError,
)
from .responses import (
    _ClientGone as _ClientGone,
)
from .responses import (
    _describe_failure as _describe_failure,
)
from .responses import (
    _describe_failures as _describe_failures,
)
from .responses import (
    _dumps as _dumps,
)
from .responses import (
    _extra as _extra,
)
from .responses import (
    _failure_kind as _failure_kind,
)
from .responses import (
    _finite as _finite,
)
from .responses import (
    _new_id as _new_id,
)
from .responses import (
    _retry_after_s as _retry_after_s,
)
from .settings import (
    DEFAULT_BODY_TIMEOUT_S as DEFAULT_BODY_TIMEOUT_S,
)
from .settings import (
    DEFAULT_HEADER_TIMEOUT_S as DEFAULT_HEADER_TIMEOUT_S,
)
from .settings import (
    DEFAULT_KEEP_ALIVE_S as DEFAULT_KEEP_ALIVE_S,
)
from .settings import (
    DEFAULT_MAX_BODY_BYTES as DEFAULT_MAX_BODY_BYTES,
)
from .settings import (
    ENV_ALLOW_NO_SERVER_KEY as ENV_ALLOW_NO_SERVER_KEY,
)
from .settings import (
    ENV_ATTEMPT_TIMEOUT_S as ENV_ATTEMPT_TIMEOUT_S,
)
from .settings import (
    ENV_BODY_TIMEOUT_S as ENV_BODY_TIMEOUT_S,
)
from .settings import (
    ENV_CATALOG as ENV_CATALOG,
)
from .settings import (
    ENV_FEEDBACK_FILE as ENV_FEEDBACK_FILE,
)
from .settings import (
    ENV_HEADER_TIMEOUT_S as ENV_HEADER_TIMEOUT_S,
)
from .settings import (
    ENV_MAX_BODY_BYTES as ENV_MAX_BODY_BYTES,
)
from .settings import (
    ENV_ROUTER_DIR as ENV_ROUTER_DIR,
)
from .settings import (
    ENV_SERVER_KEY as ENV_SERVER_KEY,
)
from .settings import (
    ENV_STALL_TIMEOUT_S as ENV_STALL_TIMEOUT_S,
)
from .settings import (
    ENV_TIME_BUDGET_S as ENV_TIME_BUDGET_S,
)
from .settings import (
    ENV_UPSTREAM_BASE_URL as ENV_UPSTREAM_BASE_URL,
)
from .settings import (
    ENV_UPSTREAM_KEY_ENV as ENV_UPSTREAM_KEY_ENV,
)
from .settings import (
    MIN_SERVER_KEY_CHARS as MIN_SERVER_KEY_CHARS,
)
from .settings import (
    _check_seconds as _check_seconds,
)
from .settings import (
    _env_seconds as _env_seconds,
)
from .settings import (
    check_server_key as check_server_key,
)
from .settings import (
    is_loopback as is_loopback,
)
from .settings import (
    retry_policy_from_env as retry_policy_from_env,
)

__all__ = [
    "AUTO_MODELS",
    "DEFAULT_BODY_TIMEOUT_S",
    "DEFAULT_HEADER_TIMEOUT_S",
    "DEFAULT_MAX_BODY_BYTES",
    "ChatRequest",
    "app_from_env",
    "create_app",
    "gateway_http_protocol",
    "is_loopback",
    "uvicorn_options",
]
