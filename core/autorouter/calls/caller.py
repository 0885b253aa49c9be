"""`RoutedCaller`: the runtime side of a router's calls (endpoints, retry policy, cooldowns,
sessions) and the routed call of the core client: route, plan, call over the OpenAI-compatible
client, fall back down the ranking under the one reliability policy (`autorouter.reliability`).

    router.set_endpoints({"openai": Endpoint(base_url="https://api.openai.com/v1",
                                             api_key_env="OPENAI_API_KEY")})
    answer = router.complete([{"role": "user", "content": "Sort [3, 1, 2] in Python"}])
    answer.text, answer.model, answer.usage, answer.cost_usd

A `Router` holds one `RoutedCaller` (`router.caller`) and forwards its call methods and
settings to it, so learned state and runtime state stay apart: the caller is never saved,
and a copy of a router starts with no sessions.

Every request is routed first (the router filters candidates by context window, tools, images,
structured output, `max_cost` and `max_latency_s`, and raises `NoCandidateError` with the reason
per model when none is left), then sent to the chosen model; a transient failure (429, 5xx,
timeout, dropped connection) is retried and then handed to the next eligible model of the
ranking. A request the provider refuses (400, 401, 403) surfaces at once. A stream falls back
only before its first chunk; once text has arrived, a break raises `StreamInterruptedError`
carrying it.

Multi-turn stickiness: calls that pass the same `session` key stay on the model that answered the
previous turn while it is still eligible and its policy score is within `session_margin` of the
top of the new ranking. Sessions live in this process only, in a bounded LRU of
`session_capacity` keys per router.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar

from ..catalog import Catalog
from ..client import ChatChunk, Endpoint
from ..decision import RoutingDecision
from ..errors import InvalidRequestError
from ..policy import check_latency_weight, check_max_latency, check_tradeoff
from ..prompts import prompt_info
from ..reliability import (
    AsyncFallbackStream,
    CooldownTracker,
    RetryPolicy,
    arun_with_fallback,
    astream_with_fallback,
    run_with_fallback,
    stream_with_fallback,
)
from .endpoints import Endpoints, shared_endpoints
from .memory import RecentMap
from .plan import session_plan
from .streams import AsyncRoutedStream, RoutedStream, chunk_text
from .twins import options_of, parameters_of
from .upstream import RoutedCompletion, UpstreamCall

__all__ = [
    "DEFAULT_SESSION_CAPACITY",
    "DEFAULT_SESSION_MARGIN",
    "RoutedCaller",
    "forwarded",
    "forwarded_setting",
    "wire_messages",
]

DEFAULT_SESSION_MARGIN = 0.05
"""How far below the top of a ranking a session's model may fall and still keep the session:
0.05 of policy score, i.e. 5 points of predicted quality net of the cost term. At tradeoff 1,
where the score is minus the predicted cost, it means at most 5% dearer than the cheapest."""

DEFAULT_SESSION_CAPACITY = 10_000
"""Sessions remembered per router; the least recently used are forgotten first."""

_WIRE_ROLES = {"human": "user", "ai": "assistant", "model": "assistant", "chatbot": "assistant"}


class RoutingModel(Protocol):
    """What the caller needs of a router: its decisions and its own prices."""

    prices: Any

    @property
    def route(self) -> Callable[..., RoutingDecision]: ...

    @property
    def aroute(self) -> Callable[..., Awaitable[RoutingDecision]]: ...


class RoutedCaller:
    """The calls of one router, and their runtime settings (none is learned or saved).

    Attributes:
        router: the router that decides.
        endpoints: an `Endpoints` (set it with `set_endpoints`); None calls OpenRouter.
        retry_policy: the `RetryPolicy` of every call; None uses its defaults.
        cooldowns: the `CooldownTracker` of failing models; None shares the process-wide one.
        session_margin: how far (in policy score) a session's model may fall below the top of
            the ranking and still keep the session; see `DEFAULT_SESSION_MARGIN`.
        session_capacity: sessions remembered (least recently used forgotten first).
    """

    def __init__(self, router: RoutingModel) -> None:
        self.router = router
        self.endpoints: Endpoints | None = None
        self.retry_policy: RetryPolicy | None = None
        self.cooldowns: CooldownTracker | None = None
        self.session_margin: float = DEFAULT_SESSION_MARGIN
        self.session_capacity: int = DEFAULT_SESSION_CAPACITY
        self.sessions = RecentMap(DEFAULT_SESSION_CAPACITY)

    def __repr__(self) -> str:
        return f"RoutedCaller(endpoints={self.endpoints!r}, {len(self.sessions)} sessions)"

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
        return self.router

    def forget_session(self, session: Hashable | None = None) -> None:
        """Forget which model `session` is on (every session if None)."""
        self.sessions.forget(session)

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
        request = _Request(self, messages, tradeoff, max_cost, max_latency_s, latency_weight,
                           candidates, session, tools, tool_choice, response_format, endpoints, body)
        call = request.call(self.router.route(messages, **request.route_options))
        result = run_with_fallback(call.order, call.call, policy=self.retry_policy, cooldowns=self.cooldowns)
        call.answered(result.model)
        return call.result(result.value, result.model, result.attempts)

    @parameters_of(complete)
    async def acomplete(self, messages: Any, **options: Any) -> RoutedCompletion:
        """`complete` for asyncio (the embedding runs off the event loop)."""
        request = _Request.of(self, messages, options)
        call = request.call(await self.router.aroute(messages, **request.route_options))
        result = await arun_with_fallback(call.order, call.acall, policy=self.retry_policy, cooldowns=self.cooldowns)
        call.answered(result.model)
        return call.result(result.value, result.model, result.attempts)

    @parameters_of(complete)
    def stream(self, messages: Any, **options: Any) -> RoutedStream:
        """Route `messages` and stream the chosen model's answer as `ChatChunk`s.

        Returns once the first chunk has arrived (so `.model` is known); falls back only
        before it. A break after it raises `StreamInterruptedError` with the text so far.
        Arguments as in `complete`.
        """
        request = _Request.of(self, messages, options)
        call = request.call(self.router.route(messages, **request.route_options))
        stream = stream_with_fallback(call.order, call.open_stream, policy=self.retry_policy,
                                      cooldowns=self.cooldowns, text_of=chunk_text)
        return RoutedStream(call, stream)

    @parameters_of(stream)
    def astream(self, messages: Any, **options: Any) -> AsyncRoutedStream:
        """`stream` for asyncio: `async for chunk in router.astream(...)`, or
        `s = await router.astream(...)` to open it (and learn `s.model`) first.

        The request is checked at once; routing and the call start on the first iteration.
        """
        request = _Request.of(self, messages, options)

        async def opener() -> tuple[UpstreamCall, AsyncFallbackStream[ChatChunk]]:
            call = request.call(await self.router.aroute(messages, **request.route_options))
            stream = await astream_with_fallback(call.order, call.aopen_stream, policy=self.retry_policy,
                                                 cooldowns=self.cooldowns, text_of=chunk_text)
            return call, stream

        return AsyncRoutedStream(opener)

    def _sessions(self) -> RecentMap:
        self.sessions.capacity = max(1, int(self.session_capacity))  # a changed setting applies at once
        return self.sessions


class _Request:
    """One request to the core client, checked: the wire messages, body and routing options,
    and, given the router's decision, the planned call."""

    def __init__(
        self,
        caller: RoutedCaller,
        messages: Any,
        tradeoff: float | None,
        max_cost: float | None,
        max_latency_s: float | None,
        latency_weight: float | None,
        candidates: Sequence[str] | None,
        session: Hashable | None,
        tools: Sequence[Any] | None,
        tool_choice: Any,
        response_format: Any,
        endpoints: Endpoints | Mapping[str, Endpoint] | None,
        body: dict[str, Any],
    ) -> None:
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
        self.caller, self.session, self.params = caller, session, params
        self.wire = wire_messages(messages)
        self.route_options: dict[str, Any] = {
            "tradeoff": tradeoff, "max_cost": max_cost, "max_latency_s": max_latency_s,
            "latency_weight": latency_weight, "candidates": candidates,
            "tools": bool(tools), "structured_output": response_format is not None,
        }
        base = caller.endpoints if caller.endpoints is not None else shared_endpoints()
        if isinstance(endpoints, Mapping) and not endpoints:
            endpoints = None
        self.endpoints = base.merged(endpoints) if endpoints is not None else base

    @classmethod
    def of(cls, caller: RoutedCaller, messages: Any, options: Mapping[str, Any]) -> _Request:
        """The request of a call that takes `complete`'s parameters as `**options` (`acomplete`,
        `stream`, `astream`): split as `complete` splits its arguments, into its named options
        and the `**body` of other request fields."""
        return cls(caller, messages, **options_of(RoutedCaller.complete, options))

    def call(self, decision: RoutingDecision) -> UpstreamCall:
        sessions = self.caller._sessions()
        plan = session_plan(decision, sessions, self.session, self.caller.session_margin)
        return UpstreamCall(plan, self.wire, self.params, self.endpoints,
                            prices=self.caller.router.prices, sessions=sessions, session=self.session)


def wire_messages(messages: Any) -> list[dict[str, Any]]:
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


# --- how a router exposes its caller ------------------------------------------------------

P = ParamSpec("P")
R = TypeVar("R")
V = TypeVar("V")


class HasCaller(Protocol):
    @property
    def caller(self) -> RoutedCaller: ...


class _Forwarded(Generic[P, R]):
    def __init__(self, method: Callable[Concatenate[RoutedCaller, P], R]) -> None:
        self.method = method
        functools.update_wrapper(self, method)  # type: ignore[arg-type]

    def __get__(self, obj: HasCaller | None, owner: type | None = None) -> Callable[P, R]:
        if obj is None:
            return self  # type: ignore[return-value]  # the class attribute, for help()
        return functools.partial(self.method, obj.caller)


def forwarded(method: Callable[Concatenate[RoutedCaller, P], R]) -> _Forwarded[P, R]:
    """A router method that is `RoutedCaller.<method>` of the router's `caller`, with its
    signature, types and docstring."""
    return _Forwarded(method)


class forwarded_setting(Generic[V]):  # noqa: N801 - used like `property`
    """A router attribute that reads and sets the same attribute of the router's `caller`."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: HasCaller | None, owner: type | None = None) -> V:
        if obj is None:
            return self  # type: ignore[return-value]
        value: V = getattr(obj.caller, self.name)
        return value

    def __set__(self, obj: HasCaller, value: V) -> None:
        setattr(obj.caller, self.name, value)
