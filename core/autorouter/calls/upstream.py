"""A planned call made over the OpenAI-compatible client (`autorouter.client`): where each model
of the plan is called and with which client, one refused connection per endpoint and call,
and the answer as a `RoutedCompletion` with its cost (`autorouter.costs`)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Hashable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..client import ChatChunk, ChatClient, ChatCompletion, ToolCall, Usage
from ..costs import CostSource, call_cost, list_price
from ..decision import RoutingDecision
from ..errors import MissingAPIKeyError, ProviderUnreachableError
from .endpoints import Endpoints, EndpointTarget
from .memory import RecentMap
from .plan import CallPlan
from .streams import ahold_empty_head, broke_early, hold_empty_head, says_something

if TYPE_CHECKING:
    from ..reliability import Attempt

__all__ = ["RoutedCompletion", "UpstreamCall"]

logger = logging.getLogger("autorouter.calls")


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


class UpstreamCall:
    """One routed request, planned: the models to try in order and how to call each.

    Args:
        plan: the call's plan (`CallPlan`, from the router's decision and the session).
        messages: the wire messages (OpenAI chat dicts).
        params: the rest of the request body.
        endpoints: where each model is called.
        prices: the router's own prices (`Router(prices=...)`), before the catalog's.
        sessions, session: the session memory the answer is recorded in, and the key.
    """

    def __init__(
        self,
        plan: CallPlan,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        endpoints: Endpoints,
        *,
        prices: Any = None,
        sessions: RecentMap | None = None,
        session: Hashable | None = None,
    ) -> None:
        self.plan = plan
        self.messages = messages
        self.endpoints = endpoints
        self.prices = prices
        self.sessions = sessions
        self.session = session
        self.targets: dict[str, tuple[ChatClient, EndpointTarget, dict[str, Any]]] = {}
        self.unreachable: set[str] = set()  # base URLs that refused a connection this call
        for i, model in enumerate(plan.order):
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
        self.order = [m for m in plan.order if m in self.targets]
        logger.debug("routed to %s; will try %s", plan.order[0], self.order)

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
        chunks = self._stream_noting_unreachable(
            client.stream(target.upstream_model, self.messages, **body), target
        )
        return hold_empty_head(chunks, says_something, keep_empty_answer=False, head_error=broke_early)

    def aopen_stream(self, model: str) -> AsyncIterator[ChatChunk]:
        client, target, body = self._target(model)
        chunks = self._astream_noting_unreachable(
            client.astream(target.upstream_model, self.messages, **body), target
        )
        return ahold_empty_head(chunks, says_something, keep_empty_answer=False, head_error=broke_early)

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
        """Record that `model` answered, for the session's next turn."""
        if self.sessions is not None and self.session is not None:
            self.sessions.put(self.session, model)

    def cost(self, model: str, usage: Usage | None) -> tuple[float | None, CostSource | None]:
        """What the call to `model` cost (`autorouter.costs`): the router's own `prices`
        come before the catalog's."""
        if usage is None:
            return None, None
        price = list_price(model, self.prices, self.endpoints.card)
        return call_cost(price, usage.prompt_tokens, usage.completion_tokens, usage.cost)

    def result(
        self, completion: ChatCompletion, model: str, attempts: tuple[Attempt, ...]
    ) -> RoutedCompletion:
        cost, source = self.cost(model, completion.usage)
        assert self.plan.decision is not None  # the core client always routes
        return RoutedCompletion(
            text=completion.text,
            tool_calls=completion.tool_calls,
            finish_reason=completion.finish_reason,
            model=model,
            upstream_model=completion.model,
            usage=completion.usage,
            cost_usd=cost,
            cost_source=source,
            decision=self.plan.decision,
            attempts=attempts,
            session=self.session,
            sticky=self.plan.answered_by_kept(model),
            completion=completion,
        )
