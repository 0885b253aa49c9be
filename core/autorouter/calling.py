"""Routed calls: pick a model for a request, call it over the OpenAI-compatible client, and fall
back down the ranking under the one reliability policy (`autorouter.reliability`).

    router.set_endpoints({"openai": Endpoint(base_url="https://api.openai.com/v1",
                                             api_key_env="OPENAI_API_KEY")})
    answer = router.complete([{"role": "user", "content": "Sort [3, 1, 2] in Python"}])
    answer.text, answer.model, answer.usage, answer.cost_usd

Every request is routed first (the router filters candidates by context window, tools, images,
structured output, `max_cost` and `max_latency_s`, and raises `NoCandidateError` with the reason
per model when none is left), then sent to the chosen model; a transient failure (429, 5xx,
timeout, dropped connection) is retried and then handed to the next eligible model of the
ranking. A request the provider refuses (400, 401, 403) surfaces at once. A stream falls back
only before its first chunk; once text has arrived, a break raises `StreamInterruptedError`
carrying it.

Where each model is called (`Endpoints`): by default OpenRouter, with the request's `model` set
to the catalog id (OpenRouter's ids). Any candidate can be sent elsewhere by its name, and any
provider (the catalog's `provider`, else the part of the name before "/") by its provider name;
a model's own entry wins over its provider's, which wins over the default.

Multi-turn stickiness: calls that pass the same `session` key stay on the model that answered the
previous turn while it is still eligible and its policy score is within `session_margin` of the
top of the new ranking (see `CallingMixin.session_margin`). Sessions live in this process only, in
a bounded LRU of `session_capacity` keys per router.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Hashable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Self

from .catalog import Catalog
from .costs import CostSource, call_cost, list_price
from .decision import RankedModel, RoutingDecision
from .errors import (
    InvalidRequestError,
    MissingAPIKeyError,
    ProviderConnectionError,
    ProviderError,
    ProviderUnreachableError,
    StreamInterruptedError,
    UnknownModelError,
)
from .policy import check_latency_weight, check_max_latency, check_tradeoff
from .prompts import prompt_info

if TYPE_CHECKING:  # the client (httpx2) loads on the first call
    from .catalog import ModelCard
    from .client import ChatChunk, ChatClient, ChatCompletion, Endpoint, ToolCall, Usage
    from .reliability import (
        AsyncFallbackStream,
        Attempt,
        CooldownTracker,
        FallbackStream,
        RetryPolicy,
    )

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

logger = logging.getLogger("autorouter.calling")

DEFAULT_SESSION_MARGIN = 0.05
"""How far below the top of a ranking a session's model may fall and still keep the session:
0.05 of policy score, i.e. 5 points of predicted quality net of the cost term. At tradeoff 1,
where the score is minus the predicted cost, it means at most 5% dearer than the cheapest."""

DEFAULT_SESSION_CAPACITY = 10_000
"""Sessions remembered per router; the least recently used are forgotten first."""

_WIRE_ROLES = {"human": "user", "ai": "assistant", "model": "assistant", "chatbot": "assistant"}


# --- where a model is called -------------------------------------------------------------


@dataclass(frozen=True)
class EndpointTarget:
    """Where one candidate is called: the endpoint, the name sent as the request's `model`, and
    which rule chose them (`via`: "model", "provider" or "default")."""

    endpoint: Endpoint
    upstream_model: str
    via: Literal["model", "provider", "default"]
    provider: str | None = None
    card: ModelCard | None = None


class Endpoints:
    """Which OpenAI-compatible endpoint each candidate model is called at, and under what name.

    Args:
        endpoints: `{key: Endpoint}`, where a key is a candidate's name (or its catalog id) or a
            provider ("openai", "anthropic", ...: the catalog's provider, else the part of the
            name before "/"). A model's own entry wins over its provider's, which wins over
            `default`.
        default: where every other model is called; OpenRouter (`OPENROUTER_API_KEY`) if None.
        model_names: `{candidate name: name the upstream knows it by}`, for endpoints that name
            models their own way (vLLM, Ollama, a company gateway). Without an entry the
            request names the catalog id (OpenRouter's id, e.g. "openai/gpt-4o-mini-2024-07-18"),
            or the candidate's own name when the catalog does not know it; at an endpoint chosen
            by provider the "provider/" prefix is dropped ("gpt-4o-mini-2024-07-18" for OpenAI's
            own API).
        catalog: the catalog that maps names to ids, providers and list prices
            (`Catalog.default()` if None).
    """

    def __init__(
        self,
        endpoints: Mapping[str, Endpoint | Mapping[str, Any]] | None = None,
        *,
        default: Endpoint | Mapping[str, Any] | None = None,
        model_names: Mapping[str, str] | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        if endpoints is not None and not isinstance(endpoints, Mapping):
            raise InvalidRequestError(
                "endpoints must be a mapping {model or provider name: Endpoint(...)}, "
                f"not {type(endpoints).__name__}"
            )
        if default is None:
            from .client import Endpoint

            default = Endpoint()
        self.default = _endpoint(default, "default")
        self.by_key: dict[str, Endpoint] = {
            _key(k): _endpoint(v, k) for k, v in (endpoints or {}).items()
        }
        names = dict(model_names or {})
        bad = [k for k, v in names.items() if not (isinstance(v, str) and v.strip())]
        if bad:
            raise InvalidRequestError(f"model_names must map to non-empty names; check {bad}")
        self.model_names: dict[str, str] = {_key(k): v.strip() for k, v in names.items()}
        self.catalog = catalog
        self._targets: dict[str, EndpointTarget] = {}

    def __repr__(self) -> str:
        # Base URLs only: an Endpoint's key is a SecretStr, and its headers may hold credentials.
        entries = ", ".join(f"{k!r}: {e.base_url!r}" for k, e in self.by_key.items())
        return f"Endpoints(default={self.default.base_url!r}, {{{entries}}})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_endpoints, (self.by_key, self.default, self.model_names, self.catalog))

    def merged(
        self, other: Endpoints | Mapping[str, Endpoint | Mapping[str, Any]] | None
    ) -> Endpoints:
        """These endpoints with `other`'s entries (and, if `other` is an `Endpoints`, its default,
        names and catalog) laid over them."""
        if other is None:
            return self
        if isinstance(other, Endpoints):
            return Endpoints(
                {**self.by_key, **other.by_key}, default=other.default,
                model_names={**self.model_names, **other.model_names},
                catalog=other.catalog if other.catalog is not None else self.catalog,
            )
        return Endpoints(
            {**self.by_key, **other}, default=self.default, model_names=self.model_names,
            catalog=self.catalog,
        )

    def card(self, model: str) -> ModelCard | None:
        """The catalog card of `model`, or None when the catalog does not know the name."""
        catalog = self.catalog if self.catalog is not None else Catalog.shared()
        try:
            return catalog.get(model)
        except UnknownModelError:  # also an ambiguous bare name: better unknown than wrong
            return None

    def target(self, model: str) -> EndpointTarget:
        """Where `model` is called and under which name."""
        found = self._targets.get(model)
        if found is None:
            found = self._targets[model] = self._resolve(model)
        return found

    def _resolve(self, model: str) -> EndpointTarget:
        card = self.card(model)
        full = card.id if card is not None else model
        if card is not None:
            provider: str | None = card.provider
        else:
            provider = model.split("/", 1)[0] if "/" in model else None
        endpoint: Endpoint | None = None
        via: Literal["model", "provider", "default"] = "default"
        for name in (model, full):
            if _key(name) in self.by_key:
                endpoint, via = self.by_key[_key(name)], "model"
                break
        if endpoint is None and provider is not None and _key(provider) in self.by_key:
            endpoint, via = self.by_key[_key(provider)], "provider"
        if endpoint is None:
            endpoint = self.default
        upstream = self.model_names.get(_key(model)) or self.model_names.get(_key(full))
        if upstream is None:
            upstream = full
            if via == "provider" and provider and upstream.lower().startswith(provider.lower() + "/"):
                upstream = upstream[len(provider) + 1:]
        return EndpointTarget(endpoint, upstream, via, provider, card)


def _key(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequestError(f"endpoint keys are model or provider names, not {name!r}")
    return name.strip().lower()


def _endpoint(value: Any, key: str) -> Endpoint:
    from .client import Endpoint

    if isinstance(value, Endpoint):
        return value
    if isinstance(value, Mapping):
        return Endpoint(**value)
    raise InvalidRequestError(
        f"the endpoint for {key!r} must be an Endpoint(base_url=..., api_key_env=...), "
        f"not {type(value).__name__}"
    )


def _rebuild_endpoints(
    by_key: dict[str, Endpoint], default: Endpoint, names: dict[str, str], catalog: Any
) -> Endpoints:
    return Endpoints(by_key, default=default, model_names=names, catalog=catalog)



# --- what a routed call returns --------------------------------------------------------------


@dataclass(frozen=True)
class RoutedCompletion:
    """The answer to a routed call, which model gave it, and what it cost.

    `cost_usd` is the provider's reported cost when the response carries `usage.cost`
    (`cost_source="provider"`, e.g. OpenRouter), else tokens x list price (`"list_price"`: the
    router's `prices`, else the catalog's), else None (no usage, or the price is unknown).
    """

    text: str  # '' when the model only called tools
    tool_calls: list[ToolCall]
    finish_reason: str | None
    model: str  # the candidate that answered, by the router's name for it
    upstream_model: str  # the model the provider says answered
    usage: Usage | None
    cost_usd: float | None
    cost_source: CostSource | None
    decision: RoutingDecision = field(repr=False)
    attempts: tuple[Attempt, ...] = field(default=(), repr=False)  # every call made, in order
    session: Hashable | None = field(default=None, repr=False)
    sticky: bool = False  # the session kept the request on its model though another ranked first
    completion: ChatCompletion | None = field(default=None, repr=False)  # the provider's answer

    @property
    def fell_back(self) -> bool:
        """True when the model that answered is not the one tried first."""
        return bool(self.attempts) and self.attempts[0].model != self.model


class _Call:
    """One routed request, planned: the models to try in order and how to call each."""

    def __init__(
        self,
        router: CallingMixin,
        decision: RoutingDecision,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        session: Hashable | None,
        endpoints: Endpoints,
    ) -> None:
        self.router = router
        self.decision = decision
        self.messages = messages
        self.session = session
        self.endpoints = endpoints
        self.order, self.sticky = router._call_order(decision, session)
        self.targets: dict[str, tuple[ChatClient, EndpointTarget, dict[str, Any]]] = {}
        self.unreachable: set[str] = set()  # base URLs that refused a connection this call
        from .client import ChatClient

        for i, model in enumerate(self.order):
            target = endpoints.target(model)
            try:
                client = ChatClient(target.endpoint)
            except MissingAPIKeyError:
                if i == 0:  # the model the request is meant for: say which variable to set
                    raise
                logger.warning(
                    "skipping fallback %s: no API key for %s", model, target.endpoint.base_url
                )
                continue
            # OpenRouter reports each call's cost in `usage.cost` unasked (its old
            # `usage: {include: true}` flag is deprecated), so the body is sent as given.
            self.targets[model] = (client, target, params)
        self.order = [m for m in self.order if m in self.targets]
        logger.debug("routed to %s; will try %s", decision.model, self.order)

    def call(self, model: str) -> ChatCompletion:
        client, target, body = self._target(model)
        with self._noting_unreachable(target):
            return client.complete(target.upstream_model, self.messages, **body)

    async def acall(self, model: str) -> ChatCompletion:
        client, target, body = self._target(model)
        with self._noting_unreachable(target):
            return await client.acomplete(target.upstream_model, self.messages, **body)

    def open_stream(self, model: str) -> Iterator[ChatChunk]:
        client, target, body = self._target(model)
        chunks = client.stream(target.upstream_model, self.messages, **body)
        return _skip_empty_head(self._stream_noting_unreachable(chunks, target))

    def aopen_stream(self, model: str) -> AsyncIterator[ChatChunk]:
        client, target, body = self._target(model)
        chunks = client.astream(target.upstream_model, self.messages, **body)
        return _askip_empty_head(self._astream_noting_unreachable(chunks, target))

    def _target(self, model: str) -> tuple[ChatClient, EndpointTarget, dict[str, Any]]:
        client, target, body = self.targets[model]
        base_url = target.endpoint.base_url
        if base_url in self.unreachable:  # one refused connection per endpoint and call
            raise ProviderUnreachableError(
                f"{model}: not tried: {base_url} could not be reached", model=model
            )
        return client, target, body

    @contextlib.contextmanager
    def _noting_unreachable(self, target: EndpointTarget) -> Iterator[None]:
        """Remember the endpoint if the call inside finds it unreachable (see `_target`)."""
        try:
            yield
        except ProviderUnreachableError:
            self.unreachable.add(target.endpoint.base_url)
            raise

    def _stream_noting_unreachable(
        self, chunks: Iterator[ChatChunk], target: EndpointTarget
    ) -> Iterator[ChatChunk]:
        with self._noting_unreachable(target):
            yield from chunks

    async def _astream_noting_unreachable(
        self, chunks: AsyncIterator[ChatChunk], target: EndpointTarget
    ) -> AsyncIterator[ChatChunk]:
        try:
            with self._noting_unreachable(target):
                async for chunk in chunks:
                    yield chunk
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    def answered(self, model: str) -> None:
        if self.session is not None:
            self.router._session_store().put(self.session, model)

    def cost(self, model: str, usage: Usage | None) -> tuple[float | None, CostSource | None]:
        """What the call to `model` cost (`autorouter.costs`): the router's own `prices`
        come before the catalog's."""
        if usage is None:
            return None, None
        price = list_price(model, self.router.prices, self.endpoints.card)
        return call_cost(price, usage.prompt_tokens, usage.completion_tokens, usage.cost)

    def result(
        self, completion: ChatCompletion, model: str, attempts: tuple[Attempt, ...]
    ) -> RoutedCompletion:
        cost, source = self.cost(model, completion.usage)
        return RoutedCompletion(
            text=completion.text,
            tool_calls=completion.tool_calls,
            finish_reason=completion.finish_reason,
            model=model,
            upstream_model=completion.model,
            usage=completion.usage,
            cost_usd=cost,
            cost_source=source,
            decision=self.decision,
            attempts=attempts,
            session=self.session,
            sticky=self.sticky and model == self.order[0],
            completion=completion,
        )


# --- streams ---------------------------------------------------------------------------------


def _says_something(chunk: ChatChunk) -> bool:
    return bool(chunk.text or chunk.tool_calls or chunk.finish_reason or chunk.usage)


def _broke_early(error: StreamInterruptedError) -> ProviderError:
    """What a break before anything was passed on really is: the failure that caused it
    (retryable or not, as it says), or a dropped connection."""
    cause = error.__cause__
    if isinstance(cause, ProviderError) and not isinstance(cause, StreamInterruptedError):
        return cause
    return ProviderConnectionError(
        f"{error.model}: the stream broke before any text: {error}", model=error.model
    )


def _skip_empty_head(chunks: Iterator[ChatChunk]) -> Iterator[ChatChunk]:
    """`chunks` without the empty ones before the first that says something (the bare
    `{"role": "assistant"}` delta most providers open with), so that a stream which breaks
    before any text still falls back to the next model."""
    try:
        try:
            for chunk in chunks:
                if _says_something(chunk):
                    yield chunk
                    break
        except StreamInterruptedError as error:
            raise _broke_early(error) from error
        yield from chunks
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


async def _askip_empty_head(chunks: AsyncIterator[ChatChunk]) -> AsyncIterator[ChatChunk]:
    """`_skip_empty_head` for async streams."""
    head = True
    try:
        async for chunk in chunks:
            if head and not _says_something(chunk):
                continue
            head = False
            yield chunk
    except StreamInterruptedError as error:
        if not head:
            raise
        raise _broke_early(error) from error
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


class _StreamBase:
    """What the sync and async routed streams share."""

    decision: RoutingDecision

    def __init__(self) -> None:
        self.model: str | None = None
        self.attempts: tuple[Attempt, ...] = ()
        self.sticky = False
        self.result: RoutedCompletion | None = None
        self._chunks: list[ChatChunk] = []
        self._call: _Call | None = None

    @property
    def text(self) -> str:
        """The text received so far."""
        return "".join(c.text for c in self._chunks)

    @property
    def usage(self) -> Usage | None:
        """Token usage, once the stream has ended (if the provider sent it)."""
        return self.result.usage if self.result is not None else None

    @property
    def cost_usd(self) -> float | None:
        """The call's cost, once the stream has ended (see `RoutedCompletion.cost_usd`)."""
        return self.result.cost_usd if self.result is not None else None

    def _opened(self, call: _Call, stream: FallbackStream[ChatChunk] | AsyncFallbackStream[ChatChunk]) -> None:
        self._call = call
        self.decision = call.decision
        self.model = stream.model
        self.attempts = stream.attempts
        self.sticky = call.sticky and stream.model == call.order[0]
        call.answered(stream.model)

    def _finish(self) -> None:
        if self.result is None and self._call is not None and self.model is not None:
            from .client import ChatCompletion

            completion = ChatCompletion.from_chunks(self._chunks)
            self.result = self._call.result(completion, self.model, self.attempts)

    def __repr__(self) -> str:
        state = "done" if self.result is not None else f"{len(self._chunks)} chunks so far"
        return f"{type(self).__name__}(model={self.model!r}, {state})"


class RoutedStream(_StreamBase, Iterator["ChatChunk"]):
    """The streamed answer of a routed call: iterate it for `ChatChunk`s.

    `model`, `decision` and `attempts` are known from the start; `usage`, `cost_usd` and
    `result` (a `RoutedCompletion`) once the stream has ended. `close()` (or `with`) stops early.
    """

    def __init__(self, call: _Call, stream: FallbackStream[ChatChunk]) -> None:
        super().__init__()
        self._stream = stream
        self._opened(call, stream)

    def __next__(self) -> ChatChunk:
        try:
            chunk = next(self._stream)
        except StopIteration:
            self._finish()
            raise
        self._chunks.append(chunk)
        return chunk

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncRoutedStream(_StreamBase, AsyncIterator["ChatChunk"]):
    """`RoutedStream` for asyncio: `async for chunk in router.astream(...)`.

    Routing and the first chunk happen on the first iteration; `await router.astream(...)`
    does them at once and returns the stream, with `model` known.
    """

    def __init__(self, opener: Any) -> None:
        super().__init__()
        self._opener = opener
        self._stream: AsyncFallbackStream[ChatChunk] | None = None

    async def _open(self) -> Self:
        if self._stream is None:
            call, stream = await self._opener()
            self._stream = stream
            self._opened(call, stream)
        return self

    def __await__(self) -> Generator[Any, None, Self]:
        return self._open().__await__()

    async def __anext__(self) -> ChatChunk:
        await self._open()
        assert self._stream is not None
        try:
            chunk = await self._stream.__anext__()
        except StopAsyncIteration:
            self._finish()
            raise
        self._chunks.append(chunk)
        return chunk

    async def aclose(self) -> None:
        if self._stream is not None:
            await self._stream.aclose()

    async def __aenter__(self) -> Self:
        return await self._open()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


# --- sessions --------------------------------------------------------------------------------


class _SessionStore:
    """session key -> the model that answered its last turn; a thread-safe bounded LRU."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, int(capacity))
        self._models: OrderedDict[Hashable, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> str | None:
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
            return model

    def put(self, key: Hashable, model: str) -> None:
        with self._lock:
            self._models[key] = model
            self._models.move_to_end(key)
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)

    def forget(self, key: Hashable | None = None) -> None:
        with self._lock:
            if key is None:
                self._models.clear()
            else:
                self._models.pop(key, None)

    def __len__(self) -> int:
        return len(self._models)

    def __reduce__(self) -> tuple[Any, ...]:  # sessions are process-local: a copy starts empty
        return (_SessionStore, (self.capacity,))


# --- the mixin -------------------------------------------------------------------------------


class CallingMixin:
    """The calling half of `Router`: `complete`, `acomplete`, `stream`, `astream`.

    Settings (plain attributes; none is learned or saved with the router):
        endpoints: an `Endpoints` (set it with `set_endpoints`); None calls OpenRouter.
        retry_policy: the `RetryPolicy` of every call; None uses its defaults.
        cooldowns: the `CooldownTracker` of failing models; None shares the process-wide one.
        session_margin: how far (in policy score) a session's model may fall below the top of
            the ranking and still keep the session; see `DEFAULT_SESSION_MARGIN`.
        session_capacity: sessions remembered (least recently used forgotten first).
    """

    endpoints: Endpoints | None = None
    retry_policy: RetryPolicy | None = None
    cooldowns: CooldownTracker | None = None
    session_margin: float = DEFAULT_SESSION_MARGIN
    session_capacity: int = DEFAULT_SESSION_CAPACITY

    if TYPE_CHECKING:  # provided by Router
        prices: Any

        # Router's own signatures: the calls pass its keyword options through.
        route: Callable[..., RoutingDecision]
        aroute: Callable[..., Awaitable[RoutingDecision]]

    # --- configuration

    def set_endpoints(
        self,
        endpoints: Mapping[str, Endpoint | Mapping[str, Any]] | Endpoints | None = None,
        *,
        default: Endpoint | Mapping[str, Any] | None = None,
        model_names: Mapping[str, str] | None = None,
        catalog: Catalog | None = None,
    ) -> Any:
        """Say where each candidate is called (see `Endpoints`); returns the router.

            router.set_endpoints(
                {"openai": Endpoint(base_url="https://api.openai.com/v1",
                                    api_key_env="OPENAI_API_KEY"),
                 "my-llama": Endpoint(base_url="http://localhost:11434/v1", api_key_env=None)},
                model_names={"my-llama": "llama3.1:8b"},
            )
        """
        if isinstance(endpoints, Endpoints):
            if default is not None or model_names is not None or catalog is not None:
                raise InvalidRequestError("pass either an Endpoints or its parts, not both")
            self.endpoints = endpoints
        else:
            self.endpoints = Endpoints(
                endpoints, default=default, model_names=model_names, catalog=catalog
            )
        return self

    def forget_session(self, session: Hashable | None = None) -> None:
        """Forget which model `session` is on (every session if None)."""
        self._session_store().forget(session)

    # --- calls

    def complete(
        self,
        messages: Any,
        *,
        tradeoff: float | None = None,
        max_cost: float | None = None,
        max_latency_s: float | None = None,
        latency_weight: float | None = None,
        candidates: Sequence[str] | None = None,
        session: Hashable | None = None,
        tools: Sequence[Any] | None = None,
        tool_choice: Any = None,
        response_format: Any = None,
        endpoints: Endpoints | Mapping[str, Endpoint] | None = None,
        **body: Any,
    ) -> RoutedCompletion:
        """Route `messages` and call the chosen model, falling back down the ranking.

        Args:
            messages: a prompt string, or chat messages (OpenAI dicts; LangChain / LlamaIndex
                messages are converted by role and content, so give dicts for tool turns).
            tradeoff, max_cost, max_latency_s, latency_weight, candidates: as in `route`
                (`max_latency_s` caps the predicted seconds until the whole answer has
                arrived; `latency_weight` is the quality one second of it costs).
            session: a key for a multi-turn conversation: it stays on one model while that
                model stays eligible and near the top of the ranking.
            tools, tool_choice, response_format: sent to the model; `tools` restricts routing
                to tool-capable models, `response_format` to structured-output ones.
            endpoints: where to call models for this request, laid over `router.endpoints`.
            **body: any other request field (temperature, max_tokens, stop, ...), sent as is.

        Raises:
            InvalidRequestError, UnknownModelError, NoCandidateError: before any call.
            MissingAPIKeyError: the chosen model's endpoint has no key (names the variable).
            BadRequestError, AuthenticationError: the provider refused the request.
            FallbackExhaustedError: every eligible model failed.
        """
        wire, params, route_kw = self._prepare(
            messages, tradeoff, max_cost, max_latency_s, latency_weight, candidates, tools,
            tool_choice, response_format, body,
        )
        from .reliability import run_with_fallback

        decision = self.route(messages, **route_kw)
        call = _Call(self, decision, wire, params, session, self._endpoints(endpoints))
        result = run_with_fallback(
            call.order, call.call, policy=self.retry_policy, cooldowns=self.cooldowns
        )
        call.answered(result.model)
        return call.result(result.value, result.model, result.attempts)

    async def acomplete(
        self,
        messages: Any,
        *,
        tradeoff: float | None = None,
        max_cost: float | None = None,
        max_latency_s: float | None = None,
        latency_weight: float | None = None,
        candidates: Sequence[str] | None = None,
        session: Hashable | None = None,
        tools: Sequence[Any] | None = None,
        tool_choice: Any = None,
        response_format: Any = None,
        endpoints: Endpoints | Mapping[str, Endpoint] | None = None,
        **body: Any,
    ) -> RoutedCompletion:
        """`complete` for asyncio (the embedding runs off the event loop)."""
        wire, params, route_kw = self._prepare(
            messages, tradeoff, max_cost, max_latency_s, latency_weight, candidates, tools,
            tool_choice, response_format, body,
        )
        from .reliability import arun_with_fallback

        decision = await self.aroute(messages, **route_kw)
        call = _Call(self, decision, wire, params, session, self._endpoints(endpoints))
        result = await arun_with_fallback(
            call.order, call.acall, policy=self.retry_policy, cooldowns=self.cooldowns
        )
        call.answered(result.model)
        return call.result(result.value, result.model, result.attempts)

    def stream(
        self,
        messages: Any,
        *,
        tradeoff: float | None = None,
        max_cost: float | None = None,
        max_latency_s: float | None = None,
        latency_weight: float | None = None,
        candidates: Sequence[str] | None = None,
        session: Hashable | None = None,
        tools: Sequence[Any] | None = None,
        tool_choice: Any = None,
        response_format: Any = None,
        endpoints: Endpoints | Mapping[str, Endpoint] | None = None,
        **body: Any,
    ) -> RoutedStream:
        """Route `messages` and stream the chosen model's answer as `ChatChunk`s.

        Returns once the first chunk has arrived (so `.model` is known); falls back only
        before it. A break after it raises `StreamInterruptedError` with the text so far.
        Arguments as in `complete`.
        """
        wire, params, route_kw = self._prepare(
            messages, tradeoff, max_cost, max_latency_s, latency_weight, candidates, tools,
            tool_choice, response_format, body,
        )
        from .reliability import stream_with_fallback

        decision = self.route(messages, **route_kw)
        call = _Call(self, decision, wire, params, session, self._endpoints(endpoints))
        stream = stream_with_fallback(
            call.order, call.open_stream, policy=self.retry_policy, cooldowns=self.cooldowns,
            text_of=_chunk_text,
        )
        return RoutedStream(call, stream)

    def astream(
        self,
        messages: Any,
        *,
        tradeoff: float | None = None,
        max_cost: float | None = None,
        max_latency_s: float | None = None,
        latency_weight: float | None = None,
        candidates: Sequence[str] | None = None,
        session: Hashable | None = None,
        tools: Sequence[Any] | None = None,
        tool_choice: Any = None,
        response_format: Any = None,
        endpoints: Endpoints | Mapping[str, Endpoint] | None = None,
        **body: Any,
    ) -> AsyncRoutedStream:
        """`stream` for asyncio: `async for chunk in router.astream(...)`, or
        `s = await router.astream(...)` to open it (and learn `s.model`) first.

        The request is checked at once; routing and the call start on the first iteration.
        """
        wire, params, route_kw = self._prepare(
            messages, tradeoff, max_cost, max_latency_s, latency_weight, candidates, tools,
            tool_choice, response_format, body,
        )
        chosen = self._endpoints(endpoints)

        async def opener() -> tuple[_Call, AsyncFallbackStream[ChatChunk]]:
            from .reliability import astream_with_fallback

            decision = await self.aroute(messages, **route_kw)
            call = _Call(self, decision, wire, params, session, chosen)
            stream = await astream_with_fallback(
                call.order, call.aopen_stream, policy=self.retry_policy,
                cooldowns=self.cooldowns, text_of=_chunk_text,
            )
            return call, stream

        return AsyncRoutedStream(opener)

    # --- internals

    def _prepare(
        self,
        messages: Any,
        tradeoff: float | None,
        max_cost: float | None,
        max_latency_s: float | None,
        latency_weight: float | None,
        candidates: Sequence[str] | None,
        tools: Sequence[Any] | None,
        tool_choice: Any,
        response_format: Any,
        body: dict[str, Any],
    ) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
        """Check the request and build the wire messages, body and routing arguments."""
        for name, hint in (
            ("model", "the router picks the model; restrict it with candidates=[...]"),
            ("stream", "use stream() / astream() to stream"),
        ):
            if name in body:
                raise InvalidRequestError(f"pass no {name!r} argument: {hint}")
        if tradeoff is not None:
            check_tradeoff(tradeoff)
        if max_latency_s is not None:
            check_max_latency(max_latency_s)
        if latency_weight is not None:
            check_latency_weight(latency_weight)
        prompt_info(messages)  # empty, text-less or unknown-role messages fail here, typed
        params = dict(body)
        if tools:
            params["tools"] = list(tools)
        if tool_choice is not None:
            params["tool_choice"] = tool_choice
        if response_format is not None:
            params["response_format"] = response_format
        route_kw = {
            "tradeoff": tradeoff, "max_cost": max_cost, "max_latency_s": max_latency_s,
            "latency_weight": latency_weight, "candidates": candidates,
            "tools": bool(tools), "structured_output": response_format is not None,
        }
        return _wire_messages(messages), params, route_kw

    def _endpoints(self, override: Endpoints | Mapping[str, Endpoint] | None) -> Endpoints:
        base = self.endpoints if self.endpoints is not None else _shared_endpoints()
        if isinstance(override, Mapping) and not override:
            override = None
        return base.merged(override) if override is not None else base

    def _session_store(self) -> _SessionStore:
        store = self.__dict__.get("_sessions")
        if store is None:
            store = self.__dict__.setdefault("_sessions", _SessionStore(self.session_capacity))
        store.capacity = max(1, int(self.session_capacity))  # a changed setting applies at once
        return store

    def _call_order(
        self, decision: RoutingDecision, session: Hashable | None
    ) -> tuple[list[str], bool]:
        """The models to try, best first, and whether the session moved its model to the front."""
        eligible = [r for r in decision.ranking if r.eligible]
        order = [r.model for r in eligible]
        if session is None:
            return order, False
        pinned = self._session_store().get(session)
        entry = next((r for r in eligible if r.model == pinned), None)
        if entry is None or entry is eligible[0]:
            return order, False
        gap = _score_gap(eligible[0], entry, decision.tradeoff)
        if gap > self.session_margin:
            logger.debug("session leaves %s: %.3g below the top", pinned, gap)
            return order, False
        return [entry.model, *(m for m in order if m != entry.model)], True


_shared: Endpoints | None = None


def _shared_endpoints() -> Endpoints:
    """The endpoints of routers given none: OpenRouter for every model."""
    global _shared
    if _shared is None:
        _shared = Endpoints()
    return _shared


def _score_gap(top: RankedModel, other: RankedModel, tradeoff: float) -> float:
    """How far `other` ranks below `top`: score points, or at tradeoff 1 (where the score is
    minus the cost) the fraction by which it is dearer."""
    if tradeoff >= 1.0:
        return (other.cost_usd - top.cost_usd) / max(top.cost_usd, 1e-12)
    gap = top.score - other.score
    return gap if math.isfinite(gap) else math.inf


def _chunk_text(chunk: ChatChunk) -> str:
    return chunk.text


def _wire_messages(messages: Any) -> list[dict[str, Any]]:
    """Messages as OpenAI chat dicts (`prompt_info` has already checked them)."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out: list[dict[str, Any]] = []
    for msg in messages:
        if isinstance(msg, Mapping):
            out.append(dict(msg))
            continue
        role = getattr(msg, "role", None) or getattr(msg, "type", None)
        role = str(getattr(role, "value", role)).lower()
        content = getattr(msg, "content", None)
        if not isinstance(content, str | list):
            content = "" if content is None else str(content)
        out.append({"role": _WIRE_ROLES.get(role, role), "content": content})
    return out
