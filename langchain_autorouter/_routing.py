"""Routing one call: the call as the router sees it (`Request`), which candidates can serve
it, the candidate an agent run sticks with, what the router's `route` is asked, and the
`Plan`: the core's plan of the call (`autorouter.calls.CallPlan`) and what to send."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.messages.utils import count_tokens_approximately

from autorouter.calls import CallPlan
from autorouter.calls.adapter_support import ROUTER_KEY as ROUTER_KEY
from autorouter.calls.plan import eligible_candidates, sticky_candidate
from langchain_autorouter._candidates import model_name_of
from langchain_autorouter._messages import content_needs

ROUTER_KWARGS = ("model", "tradeoff", "max_cost", "max_latency_s", "latency_weight", "stream")
"""Call kwargs the router consumes (the tool-calling ones are `_candidates.TOOL_KWARGS`)."""

_NOT_FORCING = (None, False, "auto", "none")


@dataclass
class Plan:
    """One call, planned: the core's plan (the candidates to try in order, the decision, the
    model an agent run keeps, the report) and what to send the candidates."""

    call: CallPlan
    stop: list[str] | None
    bind: dict[str, Any]  # tools & co., for the candidate's bind_tools
    rest: dict[str, Any]  # every other kwarg, passed through unchanged

    @property
    def order(self) -> list[str]:
        return list(self.call.order)


@dataclass
class Request:
    """A call before routing: what it needs and what the router is asked; then the
    router's decision on it."""

    messages: list[BaseMessage]
    stop: list[str] | None
    bind: dict[str, Any]
    rest: dict[str, Any]
    forced: str | None = None
    eligible: list[str] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)
    sticky: str | None = None
    tradeoff: float | None = None
    max_cost: float | None = None
    max_latency_s: float | None = None
    latency_weight: float | None = None

    def planned(self, call: CallPlan) -> Plan:
        """The call's plan, given the core's (`autorouter.calls.plan_call`)."""
        return Plan(call, self.stop, self.bind, self.rest)


def eligible(
    caps: Mapping[str, Mapping[str, Any]], messages: list[BaseMessage], bind: Mapping[str, Any]
) -> tuple[list[str], dict[str, str]]:
    """The candidates (of these capabilities) that can serve the call, and why each other
    one cannot."""
    needs: list[str] = []
    if bind.get("tools"):
        needs.append("tools")
        if bind.get("tool_choice") not in _NOT_FORCING:
            needs.append("tool_choice")
    if bind.get("response_format"):
        needs.append("structured_output")
    needs += sorted(content_needs(messages))
    tokens = None
    if any(c["context_window"] for c in caps.values()):
        tokens = count_tokens_approximately(messages)
    return eligible_candidates(caps, needs, tokens)


def sticky_key(messages: Iterable[BaseMessage], candidates: Mapping[str, Any]) -> str | None:
    """The candidate that answered since the last user message, if one did."""
    return sticky_candidate(
        ("user", None) if m.type in ("human", "HumanMessageChunk")
        else ("assistant", key_of_answer(m, candidates)) if m.type in ("ai", "AIMessageChunk")
        else (m.type, None)
        for m in messages
    )


def key_of_answer(message: BaseMessage, candidates: Mapping[str, Any]) -> str | None:
    """The candidate that gave this answer: the one our routing report names, else the one
    whose model name the answer's `model_name` is (or starts with)."""
    meta = message.response_metadata or {}
    ours = meta.get(ROUTER_KEY)
    if isinstance(ours, Mapping) and ours.get("model") in candidates:
        return str(ours["model"])
    name = meta.get("model_name")
    if not isinstance(name, str) or not name:
        return None
    if name in candidates:
        return name
    # Providers answer with a dated name ("gpt-4o-2024-08-06"): the longest prefix wins.
    matches = [
        (len(own), k)
        for k, m in candidates.items()
        if (own := model_name_of(m) or k) and (name == own or name.startswith(own))
    ]
    return max(matches)[1] if matches else None


def route_kwargs(req: Request, router: Any) -> dict[str, Any]:
    """The keyword arguments of `router.route` for this call."""
    kwargs: dict[str, Any] = {
        "tradeoff": req.tradeoff, "max_cost": req.max_cost, "max_latency_s": req.max_latency_s,
        "latency_weight": req.latency_weight, "candidates": req.eligible,
    }
    # The router also knows limits of its own (tools, structured output, images,
    # context windows, from the catalog) and applies them, where it takes these flags.
    accepted = route_flags(type(router))  # type: ignore[arg-type]
    if "tools" in accepted:
        kwargs["tools"] = bool(req.bind.get("tools"))
    if "structured_output" in accepted:
        kwargs["structured_output"] = bool(req.bind.get("response_format"))
    return kwargs


@functools.lru_cache(maxsize=16)
def route_flags(router_type: type) -> frozenset[str]:
    """Which of the flags `tools` / `structured_output` the router's `route` takes."""
    try:
        params = inspect.signature(getattr(router_type, "route")).parameters  # noqa: B009
    except (TypeError, ValueError):
        return frozenset()
    return frozenset(p for p in ("tools", "structured_output") if p in params)

