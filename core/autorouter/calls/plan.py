"""The plan of one routed call, whoever makes it (the core client, an adapter, the gateway):
which candidates can serve it, which model an agent run or a session keeps, the order to try
models in, and the routing report of the answer.

I/O-free: `plan_call` and `aplan_call` are thin sync and async drivers of the same steps
around the router's `route` / `aroute`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..decision import RankedModel, RoutingDecision, routing_report
from ..errors import NoCandidateError
from ..types import exclusion_reason
from .memory import RecentMap

if TYPE_CHECKING:
    from ..reliability import Attempt

__all__ = [
    "CHARS_PER_TOKEN",
    "CallPlan",
    "aplan_call",
    "eligible_candidates",
    "estimate_tokens",
    "plan_call",
    "run_key",
    "session_plan",
    "sticky_candidate",
]

CHARS_PER_TOKEN = 4.0
"""Characters per token for estimates (the router prices prompts with the same ratio)."""


def estimate_tokens(chars: int | float) -> int:
    """Tokens of a request of `chars` characters, as the router estimates them."""
    return int(round(max(0.0, float(chars)) / CHARS_PER_TOKEN))


# --- which candidates can serve a call ------------------------------------------------------


def eligible_candidates(
    capabilities: Mapping[str, Mapping[str, Any]],
    needs: Iterable[str] = (),
    prompt_tokens: int | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The candidates that can serve a call, and why each other one cannot.

    Args:
        capabilities: per candidate key, its capabilities: each of `autorouter.types.NEEDS`
            as True (has it), False (has not) or None / absent (unknown), and `context_window`
            (tokens, or None when unknown).
        needs: what the call needs, among `NEEDS`.
        prompt_tokens: the request's size in tokens (see `estimate_tokens`); None skips the
            context-window check.

    Each candidate is judged by the router's own rule (`autorouter.types.exclusion_reason`):
    left out only for a need it is known not to have, or a prompt longer than its known
    context window; a candidate nobody vouches for either way stays, as it does in the router.

    Returns:
        `(eligible keys in the given order, {excluded key: reason})`.

    Raises:
        NoCandidateError: no candidate can serve the call; the message says why.
        ValueError: a need is not one of `NEEDS`.
    """
    if not capabilities:
        raise NoCandidateError("no candidates to choose from")
    needs = list(needs)
    excluded: dict[str, str] = {}
    for key, caps in capabilities.items():
        why = exclusion_reason(caps, needs, prompt_tokens)
        if why is not None:
            excluded[key] = why
    eligible = [k for k in capabilities if k not in excluded]
    if not eligible:
        reasons = "; ".join(f"{k}: {why}" for k, why in excluded.items())
        raise NoCandidateError(
            f"no candidate can serve this call ({reasons}); add a candidate that can, or ask for less"
        )
    return eligible, excluded


# --- agent runs stay on one model -------------------------------------------------------------


def sticky_candidate(turns: Iterable[tuple[str, str | None]]) -> str | None:
    """The candidate that answered since the last user message, if one did.

    `turns` are the conversation's messages in order, each as `(role, candidate)`: the role
    normalised to "user", "assistant", "system", "tool", ...; `candidate` the key of the
    candidate that produced an assistant message (None when unknown or not an answer).

    Within an agent run, the tool-call and tool-result turns after a user message belong
    to the model that started answering it: switching providers mid-run breaks tool-call
    ids, caches and reasoning blocks. The choice is free again at the next user message.
    """
    sticky: str | None = None
    for role, candidate in turns:
        if role == "user":
            sticky = None
        elif role == "assistant" and candidate is not None:
            sticky = candidate
    return sticky


def run_key(turns: Sequence[tuple[str, str]]) -> tuple[str, bool]:
    """Identify an agent run by its messages up to and including the last user message.

    `turns` are `(role, text)` pairs with agent-internal user-role turns (e.g. ReAct's
    "Observation: ...") already given another role. Returns the key and whether the run is
    under way (turns follow that user message), i.e. whether a remembered choice applies.
    """
    last_user = max((i for i, (role, _) in enumerate(turns) if role == "user"), default=-1)
    digest = hashlib.sha1()
    for role, text in turns[: last_user + 1]:
        digest.update(f"{role}\0{text}\0".encode())
    return digest.hexdigest(), last_user < len(turns) - 1


# --- the plan ---------------------------------------------------------------------------------

_KEPT_FOR_RUN = "kept for the tool turns since the last user message"


@dataclass(frozen=True)
class CallPlan:
    """One routed call, planned.

    Attributes:
        order: the models (candidate keys) to try, best first; the fallback flow
            (`autorouter.reliability`) walks it.
        decision: the router's decision; None when the call named its model (`forced`) or an
            agent run kept its model with no decision to be had.
        forced: the call named its model.
        kept: the model continuity put first, if any: the one an agent run started with
            (`kept_for="run"`), or a session's model that another model outranked
            (`kept_for="session"`).
        excluded: why the candidates left out before routing were left out.
    """

    order: tuple[str, ...]
    decision: RoutingDecision | None = None
    forced: bool = False
    kept: str | None = None
    kept_for: Literal["run", "session"] | None = None
    excluded: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def routed(
        cls,
        decision: RoutingDecision | None,
        *,
        kept: str | None = None,
        excluded: Mapping[str, str] | None = None,
    ) -> CallPlan:
        """The decision's choice and its eligible fallbacks, after `kept` (an agent run's
        model, which answers its tool turns whatever the ranking says)."""
        order = [] if kept is None else [kept]
        if decision is not None:
            order += [decision.model, *decision.fallbacks]
        if not order:
            raise ValueError("nothing to call: no decision and no model kept for the run")
        return cls(tuple(dict.fromkeys(order)), decision, kept=kept,
                   kept_for=None if kept is None else "run", excluded=dict(excluded or {}))

    @classmethod
    def forced_to(cls, model: str) -> CallPlan:
        """The plan of a call that named its model."""
        return cls((model,), forced=True)

    def answered_by_kept(self, model: str) -> bool:
        """Whether `model`, which answered, is the one continuity kept."""
        return self.kept is not None and model == self.kept

    def report(
        self,
        model: str,
        attempts: Sequence[Attempt] = (),
        *,
        cost_usd: float | None = None,
        cost_source: str | None = None,
        ranking_aliases: bool = False,
    ) -> dict[str, Any]:
        """The routing report of the answer `model` gave after `attempts`, in the one schema
        (`autorouter.decision.routing_report`, which documents every key)."""
        decision = self.decision
        explanation: str | None = None  # the decision's own
        if self.forced:
            explanation = f"{model}: forced by the call's model= argument"
        elif decision is None:
            explanation = f"{model}: {_KEPT_FOR_RUN}"
        elif self.kept_for == "run" and self.kept == model and decision.model != model:
            explanation = (
                f"{model}: {_KEPT_FOR_RUN} (for a new conversation the router would pick {decision.model})"
            )
        return routing_report(
            model, decision, attempts, forced=self.forced, sticky=self.answered_by_kept(model),
            explanation=explanation, excluded=self.excluded, cost_usd=cost_usd,
            cost_source=cost_source, ranking_aliases=ranking_aliases,
        )


def plan_call(
    route: Callable[[], RoutingDecision],
    *,
    forced: str | None = None,
    kept: str | None = None,
    excluded: Mapping[str, str] | None = None,
) -> CallPlan:
    """Plan a call: the `forced` model, else `route()`'s choice after the run's `kept` model.

    When `kept` is set and routing finds no eligible model (a cap excludes the model the run
    started with), the run stays on `kept` rather than fail mid-run.
    """
    if forced is not None:
        return CallPlan.forced_to(forced)
    try:
        decision: RoutingDecision | None = route()
    except NoCandidateError:
        if kept is None:
            raise
        decision = None
    return CallPlan.routed(decision, kept=kept, excluded=excluded)


async def aplan_call(
    aroute: Callable[[], Awaitable[RoutingDecision]],
    *,
    forced: str | None = None,
    kept: str | None = None,
    excluded: Mapping[str, str] | None = None,
) -> CallPlan:
    """`plan_call` with the router's `aroute`."""
    if forced is not None:
        return CallPlan.forced_to(forced)
    try:
        decision: RoutingDecision | None = await aroute()
    except NoCandidateError:
        if kept is None:
            raise
        decision = None
    return CallPlan.routed(decision, kept=kept, excluded=excluded)


# --- sessions -------------------------------------------------------------------------------


def session_plan(
    decision: RoutingDecision,
    sessions: RecentMap | None = None,
    session: Hashable | None = None,
    margin: float = math.inf,
) -> CallPlan:
    """The plan of a call in `session`: the decision's eligible ranking, with the model the
    session answered its last turn with moved to the front while it is eligible and its policy
    score is within `margin` of the top (see `score_gap`)."""
    eligible = [r for r in decision.ranking if r.eligible]
    order = tuple(r.model for r in eligible)
    pinned = sessions.get(session) if sessions is not None and session is not None else None
    entry = next((r for r in eligible if r.model == pinned), None)
    if entry is None or entry is eligible[0] or score_gap(eligible[0], entry, decision.tradeoff) > margin:
        return CallPlan(order, decision)
    moved = (entry.model, *(m for m in order if m != entry.model))
    return CallPlan(moved, decision, kept=entry.model, kept_for="session")


def score_gap(top: RankedModel, other: RankedModel, tradeoff: float) -> float:
    """How far `other` ranks below `top`: score points, or at tradeoff 1 (where the score is
    minus the cost) the fraction by which it is dearer."""
    if tradeoff >= 1.0:
        return (other.cost_usd - top.cost_usd) / max(top.cost_usd, 1e-12)
    gap = top.score - other.score
    return gap if math.isfinite(gap) else math.inf
