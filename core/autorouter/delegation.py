"""What every framework adapter does around one routed call, by its old names: each now lives
in `autorouter.calls` (the plan, the stream rules, adapter support, answers, names), cost in
`autorouter.costs`. Kept while the adapters move over; import from the new homes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .calls.adapter_support import (
    CANDIDATE_KEY,
    OPENROUTER_KEY_ENV,
    RESPONSE_ID_KEY,
    ROUTER_KEY,
    LoopLocal,
    candidates_by_name,
    check_arguments,
    check_candidate_keys,
    default_router,
    forced_candidate,
    no_candidates_message,
    openrouter_api_key,
    own_retries_warning,
    retry_policy,
    router_models,
    warn_caller,
)
from .calls.answers import AnswerBook, feedback_log, new_answer_id
from .calls.memory import RecentMap
from .calls.names import catalog_card, resolve_name
from .calls.plan import (
    CHARS_PER_TOKEN,
    CallPlan,
    eligible_candidates,
    estimate_tokens,
    run_key,
    sticky_candidate,
)
from .calls.sdk_errors import classify_error
from .costs import call_cost_usd
from .decision import NEEDS

__all__ = [
    "CANDIDATE_KEY",
    "CHARS_PER_TOKEN",
    "NEEDS",
    "OPENROUTER_KEY_ENV",
    "RESPONSE_ID_KEY",
    "ROUTER_KEY",
    "AnswerBook",
    "LoopLocal",
    "RunMemory",
    "call_cost_usd",
    "call_order",
    "candidates_by_name",
    "catalog_card",
    "check_arguments",
    "check_candidate_keys",
    "classify_error",
    "decision_info",
    "default_router",
    "eligible_candidates",
    "estimate_tokens",
    "feedback_log",
    "forced_candidate",
    "new_answer_id",
    "no_candidates_message",
    "openrouter_api_key",
    "own_retries_warning",
    "resolve_name",
    "retry_policy",
    "router_models",
    "run_key",
    "sticky_candidate",
    "warn_caller",
]


class RunMemory(RecentMap):
    """`RecentMap` by its old method names."""

    def __init__(self, capacity: int = 4096) -> None:
        super().__init__(capacity)

    def remember(self, key: str, candidate: str) -> None:
        self.put(key, candidate)

    def recall(self, key: str) -> str | None:
        return self.get(key)


def call_order(decision: Any, sticky: str | None = None) -> list[str]:
    """`CallPlan.routed(decision, kept=sticky).order`, as a list."""
    return list(CallPlan.routed(decision, kept=sticky).order)


def decision_info(
    model: str,
    decision: Any = None,
    attempts: Sequence[Any] = (),
    *,
    forced: bool = False,
    sticky: str | None = None,
    excluded: Any = None,
    cost_usd: float | None = None,
) -> dict[str, Any]:
    """`CallPlan.report` of the plan these arguments describe (list-price cost, with the
    deprecated ranking aliases)."""
    plan = CallPlan((model,), decision, forced=forced, kept=sticky, kept_for="run" if sticky else None,
                    excluded=dict(excluded or {}))
    return plan.report(model, attempts, cost_usd=cost_usd, cost_source="list_price", ranking_aliases=True)
