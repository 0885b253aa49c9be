"""The instrumentation event `AutoRouterLLM` emits for each routing decision."""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import Field
from llama_index.core.instrumentation.events.base import BaseEvent

__all__ = ["RoutingDecisionEvent"]


class RoutingDecisionEvent(BaseEvent):
    """A call was routed: which candidates will be tried, in order, and why.

    Emitted on the `llamaindex_autorouter` dispatcher (which propagates to the root one)
    inside the router's span, before the first candidate is called. The model that finally
    answered, and the call's cost, are in the response's `additional_kwargs["autorouter"]`.
    """

    model: str = Field(description="the candidate tried first (the router's choice)")
    order: list[str] = Field(default_factory=list, description="candidates in the order they will be tried")
    info: dict[str, Any] = Field(
        default_factory=dict,
        description="the routing report: ranking with predicted quality and cost, explanation, ...",
    )

    @classmethod
    def class_name(cls) -> str:
        return "RoutingDecisionEvent"
