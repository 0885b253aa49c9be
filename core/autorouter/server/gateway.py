"""The gateway's route handlers (`_Gateway`): model names, the server key and the request
body, then `/health`, `/v1/models`, `/v1/feedback` and `/v1/chat/completions` (plain and
streamed), and the mapping of a failed routed call to an OpenAI error."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..catalog import Catalog
from ..errors import (
    AuthenticationError,
    AutorouterError,
    BadRequestError,
    FallbackExhaustedError,
    InvalidRequestError,
    MissingAPIKeyError,
    NoCandidateError,
    ProviderError,
    RateLimitError,
    UnknownModelError,
    UnknownResponseError,
)
from ..feedback import AnswerLedger, FeedbackLog, give_feedback
from ..prompts import prompt_text
from ..reliability import RetryPolicy
from .disconnect import _quiet_close, _unless_client_leaves
from .redaction import _Redactor, _StreamRedactor
from .request import (
    _OWN_FIELDS,
    AUTO_MODELS,
    ChatRequest,
    FeedbackRequest,
    _Body,
    _parse_json,
    _validation_error,
)
from .responses import (
    _APIError,
    _ClientGone,
    _describe_failure,
    _describe_failures,
    _dumps,
    _extra,
    _new_id,
    _retry_after_s,
)
from .settings import DEFAULT_BODY_TIMEOUT_S

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from ..router import Router

logger = logging.getLogger("autorouter.server")


# --- the gateway --------------------------------------------------------------------------


class _Gateway:
    def __init__(
        self, router: Router, catalog: Catalog | None, server_key: str | None,
        max_body_bytes: int, body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
        feedback_log: FeedbackLog | None = None, learn_from_feedback: bool = True,
    ) -> None:
        router.check_fitted()
        self.router = router
        self.ledger = AnswerLedger()  # answer id -> (prompt, model), for POST /v1/feedback
        self.feedback_log = feedback_log
        self.learn_from_feedback = learn_from_feedback
        self.learning = asyncio.Lock()  # one update of the router at a time
        if catalog is None:
            endpoints = getattr(router, "endpoints", None)
            catalog = endpoints.catalog if endpoints is not None else None
        if catalog is None:
            catalog = Catalog.shared()
        self.catalog = catalog
        self.server_key = server_key or None
        self.max_body_bytes = int(max_body_bytes)
        self.body_timeout_s = float(body_timeout_s)
        self.models: list[str] = list(router.models_)
        self.redact = _Redactor(router)
        self.cards: dict[str, Any] = {model: self.catalog.find(model) for model in self.models}
        self.model_list = self._model_list()

    def _cooldown_s(self) -> float:
        """How long a failed model sits out (the router's retry policy)."""
        policy = getattr(self.router, "retry_policy", None) or RetryPolicy()
        return float(policy.cooldown_s)

    # --- names

    def resolve(self, name: str, param: str) -> str:
        """The candidate `name` means (its own name, a catalog id or alias)."""
        found = self.catalog.match(name, self.models)
        if found is None:
            shown = ", ".join(self.models[:8]) + (" ..." if len(self.models) > 8 else "")
            raise _APIError(
                404 if param == "model" else 400,
                f"The model `{name[:200]}` does not exist among this gateway's models "
                f"({shown}); use \"auto\" to route, or GET /v1/models for the list.",
                param=param, code="model_not_found",
            )
        return found

    # --- auth and body

    def check_key(self, request: Request) -> None:
        if self.server_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.server_key.encode()
        ):
            raise _APIError(
                401, "Missing or incorrect API key: send 'Authorization: Bearer <key>' with "
                "this gateway's key (AUTOROUTER_SERVER_KEY).",
                code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"},
            )

    async def read_request(self, request: Request, schema: type[_Body]) -> tuple[dict[str, Any], _Body]:
        """The checked key, then the body as JSON and as `schema` (400s that name the field)."""
        self.check_key(request)
        body = _parse_json(await self.read_body(request))
        try:
            return body, schema.model_validate(body)
        except ValidationError as exc:
            raise _validation_error(exc) from None

    async def read_body(self, request: Request) -> bytes:
        """The request body: a 413 past `max_body_bytes`, a 408 (closing the connection) when
        it has not all arrived within `body_timeout_s` (a Content-Length larger than what is
        sent, a trickle), `_ClientGone` when the client leaves half-way."""
        from starlette.requests import ClientDisconnect  # the `serve` extra: autorouter.server imports without it

        too_big = _APIError(
            413, f"The request body is larger than this gateway accepts "
            f"({self.max_body_bytes} bytes).", code="request_too_large",
        )
        declared = request.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_body_bytes:
            raise too_big
        parts: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout_s):
                async for part in request.stream():
                    size += len(part)
                    if size > self.max_body_bytes:
                        raise too_big
                    parts.append(part)
        except TimeoutError:
            logger.info("request body incomplete after %gs (%d bytes): answered 408",
                        self.body_timeout_s, size)
            raise _APIError(
                408, f"The request body did not arrive within {self.body_timeout_s:g} seconds "
                f"({size} bytes came); send it at once, with a Content-Length that matches it.",
                code="request_timeout", headers={"Connection": "close"},
            ) from None
        except ClientDisconnect:
            logger.info("the client disconnected while sending its request body")
            raise _ClientGone("while sending its request body") from None
        return b"".join(parts)

    # --- endpoints

    async def health(self, request: Request) -> Response:
        from starlette.responses import JSONResponse  # the `serve` extra: autorouter.server imports without it

        return JSONResponse({"status": "ok", "models": len(self.models)})

    async def feedback(self, request: Request) -> Response:
        """Record (and learn from) how good one of this gateway's answers was."""
        from starlette.responses import JSONResponse  # the `serve` extra: autorouter.server imports without it

        _, req = await self.read_request(request, FeedbackRequest)
        try:
            async with self.learning:  # partial_fit embeds the prompt: off the event loop
                record = await asyncio.to_thread(
                    give_feedback, self.router, self.ledger, req.id, req.score,
                    log=self.feedback_log, learn=self.learn_from_feedback,
                )
        except UnknownResponseError as exc:
            raise _APIError(404, str(exc), param="id", code="unknown_response") from None
        except (InvalidRequestError, UnknownModelError) as exc:
            raise _APIError(400, str(exc), param="score", code="invalid_value") from None
        return JSONResponse({"object": "feedback", "id": req.id, "model": record.model,
                             "score": record.score, "learned": self.learn_from_feedback})

    async def list_models(self, request: Request) -> Response:
        from starlette.responses import JSONResponse  # the `serve` extra: autorouter.server imports without it

        self.check_key(request)
        return JSONResponse(self.model_list)

    def _model_list(self) -> dict[str, Any]:
        data: list[dict[str, Any]] = [{
            "id": "auto", "object": "model", "created": 0, "owned_by": "autorouter",
            "aliases": sorted(AUTO_MODELS - {"auto"}),
            "description": "routes each request to the candidate with the best predicted "
                           "quality for the money",
        }]
        prices = getattr(self.router, "prices", None) or {}
        limits = getattr(self.router, "limits_", {}) or {}
        for model in self.models:
            card = self.cards[model]
            entry: dict[str, Any] = {
                "id": model, "object": "model", "created": 0,
                "owned_by": card.provider if card is not None else (
                    model.split("/", 1)[0] if "/" in model else "unknown"),
            }
            price = prices.get(model) if isinstance(prices, Mapping) else None
            if price is not None:
                inp, out = (price.input_per_1m, price.output_per_1m) if hasattr(
                    price, "input_per_1m") else (float(price[0]), float(price[1]))
                entry["pricing"] = {"input_usd_per_1m": inp, "output_usd_per_1m": out}
            if card is not None:
                entry["catalog_id"] = card.id
                entry["aliases"] = list(card.aliases)
                entry.setdefault("pricing", {"input_usd_per_1m": card.input_usd_per_1m,
                                             "output_usd_per_1m": card.output_usd_per_1m})
                entry["context_window"] = card.context_window
                entry["max_output_tokens"] = card.max_output_tokens
                entry["capabilities"] = card.capabilities.model_dump(mode="json")
            lim = limits.get(model)
            if lim is not None:
                entry["limits"] = lim.model_dump(mode="json")
            data.append(entry)
        return {"object": "list", "data": data}

    async def chat(self, request: Request) -> Response:
        started = time.perf_counter()
        body, req = await self.read_request(request, ChatRequest)
        routed = req.model.strip().casefold() in AUTO_MODELS
        if routed:
            candidates = (
                list(dict.fromkeys(self.resolve(m, "models") for m in req.models))
                if req.models is not None else None
            )
        else:
            if req.models is not None:
                raise _APIError(
                    400, "'models' restricts the candidates of model \"auto\"; with a "
                    "concrete model leave it out (or send model \"auto\" with your list).",
                    param="models", code="invalid_value",
                )
            candidates = [self.resolve(req.model, "model")]
        kwargs: dict[str, Any] = {k: v for k, v in body.items() if k not in _OWN_FIELDS}
        for name in ("tools", "tool_choice", "response_format"):
            if body.get(name) is not None:
                kwargs[name] = body[name]
        call = dict(
            tradeoff=req.tradeoff, max_cost=req.max_cost, max_latency_s=req.max_latency_s,
            latency_weight=req.latency_weight, candidates=candidates, session=req.session, **kwargs,
        )
        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            return await self._stream(request, body["messages"], call, routed, include_usage,
                                      started)
        try:
            answer = await _unless_client_leaves(
                request, self.router.acomplete(body["messages"], **call))
        except _ClientGone:
            logger.info("chat model=%s: the client disconnected after %.0fms; the upstream "
                        "call was cancelled", req.model[:80], (time.perf_counter() - started) * 1000)
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error object
            raise self._upstream_error(exc) from None
        from starlette.responses import Response  # the `serve` extra: autorouter.server imports without it

        raw = answer.completion.raw if answer.completion is not None else {}
        out: dict[str, Any] = {
            "id": raw.get("id") or _new_id(),
            "object": "chat.completion",
            "created": raw.get("created") or int(time.time()),
            **{k: v for k, v in raw.items() if k not in ("id", "object", "created")},
            "model": answer.model,
        }
        self.ledger.record(out["id"], prompt_text(body["messages"])[0], answer.model)
        usage = out.get("usage") if isinstance(out.get("usage"), dict) else None
        if not usage and answer.usage is not None:
            usage = answer.usage.model_dump(exclude={"cost"})
        if usage is not None:
            out["usage"] = {**usage, "cost": answer.cost_usd}
        out["autorouter"] = _extra(
            answer.decision, routed=routed, model=answer.model, attempts=answer.attempts,
            cost=answer.cost_usd, cost_source=answer.cost_source, sticky=answer.sticky,
        )
        logger.info("chat model=%s answered=%s attempts=%d %.0fms", req.model[:80], answer.model,
                    len(answer.attempts), (time.perf_counter() - started) * 1000)
        return Response(self.redact(_dumps(out)), media_type="application/json")

    async def _stream(
        self, request: Request, messages: Any, call: dict[str, Any], routed: bool,
        include_usage: bool, started: float,
    ) -> Response:
        from starlette.responses import StreamingResponse  # the `serve` extra: autorouter.server imports without it

        stream = self.router.astream(messages, **call)
        try:
            # Routes and waits for the first chunk, so failures still get a status; a client
            # that leaves meanwhile cancels it (after it, the streaming response notices).
            await _unless_client_leaves(request, stream)
        except _ClientGone:
            await _quiet_close(stream)
            logger.info("chat stream: the client disconnected after %.0fms, before the first "
                        "chunk; the upstream call was cancelled",
                        (time.perf_counter() - started) * 1000)
            raise
        except Exception as exc:  # noqa: BLE001
            await _quiet_close(stream)
            raise self._upstream_error(exc) from None
        assert stream.model is not None
        model = stream.model
        extra = _extra(stream.decision, routed=routed, model=model, attempts=stream.attempts,
                       cost=None, cost_source=None, sticky=stream.sticky)
        ident = _new_id()
        redact = self.redact
        joined = _StreamRedactor(redact)  # secrets split over chunks; `redact` then per event
        ledger, prompt = self.ledger, prompt_text(messages)[0]

        def event(data: dict[str, Any]) -> bytes:
            return f"data: {redact(_dumps(data))}\n\n".encode()

        async def events() -> AsyncIterator[bytes]:
            first = True
            ident_used = ident
            held: list[dict[str, Any]] = []  # usage chunks: sent last, with the cost

            def rest() -> dict[str, Any] | None:
                """What the redactor still holds, as a last content chunk."""
                return joined.rest({
                    "id": ident_used, "object": "chat.completion.chunk",
                    "created": int(time.time()), "model": model,
                    **({"usage": None} if include_usage else {}),
                })

            try:
                async for chunk in stream:
                    data = dict(chunk.raw)
                    data["id"] = data.get("id") or ident
                    data["object"] = "chat.completion.chunk"
                    data.setdefault("created", int(time.time()))
                    data["model"] = model
                    if first:
                        choices = list(data.get("choices") or [])
                        if choices and isinstance(choices[0], dict):
                            delta = dict(choices[0].get("delta") or {})
                            delta.setdefault("role", "assistant")
                            choices[0] = {**choices[0], "delta": delta}
                            data["choices"] = choices
                        data["autorouter"] = extra
                        ident_used = data["id"]
                        ledger.record(ident_used, prompt, model)
                        first = False
                    if data.get("usage"):
                        # The usage waits for the cost (known at the end) on a chunk of its
                        # own, as OpenAI sends it; any choices it came with go now, in order.
                        if not data.get("choices"):
                            held.append(data)
                            continue
                        held.append({**{k: v for k, v in data.items() if k != "autorouter"},
                                     "choices": []})
                    if include_usage:
                        data["usage"] = None
                    else:
                        data.pop("usage", None)
                    yield event(joined.chunk(data))
                if (tail := rest()) is not None:
                    yield event(tail)
                result = stream.result
                for data in held:
                    usage = {**data["usage"], "cost": result.cost_usd if result else None}
                    if include_usage:
                        yield event({**data, "usage": usage})
                if include_usage and not held and result is not None and result.usage is not None:
                    yield event({
                        "id": ident_used, "object": "chat.completion.chunk",
                        "created": int(time.time()), "model": model, "choices": [],
                        "usage": {**result.usage.model_dump(exclude={"cost"}),
                                  "cost": result.cost_usd},
                    })
                yield b"data: [DONE]\n\n"
                logger.info("chat stream answered=%s attempts=%d %.0fms", model,
                            len(stream.attempts), (time.perf_counter() - started) * 1000)
            except Exception as exc:  # noqa: BLE001 - a break after the first chunk
                error = self._upstream_error(exc)
                logger.warning("stream from %s broke: %s", model, type(exc).__name__)
                if (tail := rest()) is not None:  # the text that came, before the error
                    yield event(tail)
                yield event(error.payload())
            finally:
                await _quiet_close(stream)

        return StreamingResponse(
            events(), media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    # --- mapping failures

    def _upstream_error(self, exc: BaseException) -> _APIError:
        if isinstance(exc, _APIError):
            return exc
        if isinstance(exc, NoCandidateError):
            return _APIError(400, self.redact(str(exc)), code="no_candidate")
        if isinstance(exc, UnknownModelError):
            return _APIError(404, self.redact(str(exc)), param="models", code="model_not_found")
        if isinstance(exc, InvalidRequestError):
            return _APIError(400, self.redact(str(exc)), param="messages", code="invalid_value")
        if isinstance(exc, MissingAPIKeyError):
            logger.error("no upstream API key: set %s", exc.env_var)
            return _APIError(503, "The gateway has no API key configured for the upstream "
                             "provider of this model; the operator should set it.",
                             kind="server_error", code="upstream_not_configured")
        if isinstance(exc, AuthenticationError):
            logger.error("the upstream refused the gateway's key for %s (HTTP %s)", exc.model,
                         exc.status_code)
            return _APIError(502, f"The upstream provider refused the gateway's credentials "
                             f"for {exc.model}; the operator should check them.",
                             kind="upstream_error", code="upstream_auth_failed")
        if isinstance(exc, BadRequestError):
            status = exc.status_code if exc.status_code in (400, 422) else 502
            detail = self.redact(exc.provider_message or str(exc))
            return _APIError(status, f"The model {exc.model} refused the request: {detail}",
                             kind="invalid_request_error" if status < 500 else "upstream_error",
                             code="upstream_bad_request")
        if isinstance(exc, FallbackExhaustedError):
            tried = _describe_failures(exc.failures)
            why = f" ({exc.reason})" if exc.reason else ""
            if exc.failures and all(isinstance(e, RateLimitError) for _, e in exc.failures):
                return _APIError(429, self.redact(f"Every model is rate limited{why}: {tried}"),
                                 kind="rate_limit_error", code="rate_limit_exceeded",
                                 headers={"Retry-After": str(_retry_after_s(exc.failures, self._cooldown_s()))})
            return _APIError(502, self.redact(f"No model answered{why}; tried {tried}."),
                             kind="upstream_error", code="upstream_failed")
        if isinstance(exc, ProviderError):
            return _APIError(502, self.redact(f"The upstream failed: {_describe_failure(exc.model or '?', exc)}"),
                             kind="upstream_error", code="upstream_failed")
        if isinstance(exc, AutorouterError):
            return _APIError(400, self.redact(str(exc)), code="invalid_value")
        logger.error("unexpected %s in a chat request", type(exc).__name__,
                     exc_info=(type(exc), exc, exc.__traceback__))
        return _APIError(500, "The gateway failed on its side; the operator can find the "
                         "details in its log.", kind="server_error", code="internal_error")

