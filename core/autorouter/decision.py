"""`RoutingDecision`: which model a prompt goes to, the full ranking, and why; and
`routing_report`, the one report of a routed call the gateway and the adapters attach."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

# re-exported for compatibility: these model facts now live in `autorouter.types`
from .types import NEEDS, ModelLimits, ModelSpeed, exclusion_reason

if TYPE_CHECKING:
    from .reliability import Attempt

__all__ = [
    "NEEDS",
    "RANKING_ALIASES",
    "ModelLimits",
    "ModelSpeed",
    "RankedModel",
    "RoutingDecision",
    "exclusion_reason",
    "routing_report",
]


class RankedModel(BaseModel):
    """One candidate as the router saw it for one prompt."""

    model_config = ConfigDict(frozen=True)

    model: str = Field(description="candidate model name")
    quality: float = Field(description="predicted quality in [0, 1] on this prompt")
    cost_usd: float = Field(description="predicted cost of this call in USD")
    score: float = Field(description="the policy's score: higher ranks first")
    eligible: bool = Field(
        default=True, description="False when a constraint (e.g. max_cost) excludes it"
    )
    excluded_because: str | None = Field(
        default=None, description="why the candidate is not eligible, if it is not"
    )
    latency_s: float | None = Field(
        default=None, description="predicted seconds until the whole answer has arrived; None if unknown"
    )
    uncertainty: float = Field(
        default=0.0, description="standard deviation of the predicted quality (0: not estimated)"
    )


class RoutingDecision(BaseModel):
    """The router's choice for one prompt.

    `ranking` lists every candidate, best first, eligible ones before excluded ones, so a
    caller can fall back down it when the chosen model fails.
    """

    model_config = ConfigDict(frozen=True)

    model: str = Field(description="the chosen model")
    ranking: list[RankedModel] = Field(description="every candidate, best first")
    tradeoff: float = Field(description="the tradeoff used: 0 = best quality, 1 = cheapest")
    max_cost: float | None = Field(default=None, description="the USD cap per call, if any")
    max_latency_s: float | None = Field(
        default=None, description="the cap on predicted seconds per answer, if any"
    )
    explanation: str = Field(description="one line a person can read")
    family: str | None = Field(
        default=None, description="what the prompt looks like: the family (or task) the explanation names"
    )
    difficulty: str | None = Field(
        default=None, description="how hard the prompt is for this router's candidates: easy, medium or hard"
    )

    @property
    def chosen(self) -> RankedModel:
        """The ranking entry of the chosen model."""
        return self.ranking[0]

    @property
    def fallbacks(self) -> list[str]:
        """Eligible models after the chosen one, in order."""
        return [r.model for r in self.ranking[1:] if r.eligible]

    def __str__(self) -> str:
        return f"{self.model}: {self.explanation}"


# --- the report of a routed call --------------------------------------------------------------

RANKING_ALIASES = {"predicted_quality": "quality", "predicted_cost_usd": "cost_usd"}
"""Deprecated ranking-entry keys the adapters' reports still carry, for one release, each with
the value of the `RankedModel` field it names (`routing_report(..., ranking_aliases=True)`)."""


def routing_report(
    model: str,
    decision: RoutingDecision | None,
    attempts: Sequence[Attempt] = (),
    *,
    forced: bool = False,
    sticky: bool = False,
    explanation: str | None = None,
    excluded: Mapping[str, str] | None = None,
    cost_usd: float | None = None,
    cost_source: str | None = None,
    ranking_aliases: bool = False,
) -> dict[str, Any]:
    """The routing report of one answered call, as plain JSON-able values: the one schema of
    the gateway's `autorouter` object (`autorouter.server`) and of the adapters' reports
    (`autorouter.calls.CallPlan.report`, under `response_metadata["autorouter"]` in
    LangChain and `additional_kwargs["autorouter"]` in LlamaIndex). Every surface reports
    every key; a key that does not apply is None, [] or False.

    Keys:
        model: the model that answered (after any fallback), by the router's name for it (an
            adapter's candidate key).
        routed: True when the router chose the model: there is a decision and the call did
            not name its model (False when `forced`, and when an adapter's agent run kept its
            model with no decision to be had).
        forced: the call named its model: the gateway's request `model` is a concrete model
            rather than "auto"; an adapter call's `model=` argument.
        chosen: the decision's pick (`RoutingDecision.model`), which differs from `model`
            after a fallback or when `sticky`; None with no decision.
        sticky: the model that answered was kept for continuity: a gateway `session` kept it
            though another model ranked first; an adapter kept the model an agent run started
            with for its tool turns.
        fell_back: the model that answered is not the first one tried.
        fallback_from: the models that failed before the answer came, each once, in the order
            tried ([] when the first model tried answered).
        attempts: every call made, in order, each `{"model", "number" (1 for a model's first
            try), "error" (the exception's class name; None for the answer), "status_code" (the
            error's HTTP status, if any), "elapsed_ms"}`; [] before any call (LlamaIndex's
            `RoutingDecisionEvent`).
        tradeoff, max_cost, max_latency_s: the knob and caps the decision used; None with no
            decision.
        explanation: one line a person can read: the decision's explanation, or the
            surface's `explanation` for a model the decision did not pick (forced, kept for an
            agent run); after a fallback, "; answered by <model> after <models> failed".
        family, difficulty: what the prompt looks like, and how hard it is for these
            candidates (`RoutingDecision.family`, `.difficulty`); None with no decision.
        ranking: every candidate, best first, each with the fields of `RankedModel`:
            `{"model", "quality", "cost_usd", "score", "eligible", "excluded_because",
            "latency_s", "uncertainty"}` (`quality`, `cost_usd` and `latency_s` predicted for
            this prompt; `latency_s` None when the model's speed is unknown;
            `excluded_because` None for an eligible one); [] with no decision. With
            `ranking_aliases` (the adapters, for one release) each entry also carries the
            deprecated `RANKING_ALIASES`: `predicted_quality` (= `quality`) and
            `predicted_cost_usd` (= `cost_usd`).
        cost_usd: the call's cost in USD; None when unknown (no usage or no price, and on the
            first chunk of a gateway stream, which rides ahead of the cost).
        cost_source: where `cost_usd` comes from: "provider" (the provider reported it),
            "list_price" (tokens times the router's `prices`, else the catalog's); None when
            `cost_usd` is None.

    Args:
        model: the model that answered.
        decision: the router's decision, or None (an adapter's forced call, or its agent run
            kept on its model when routing excluded every model).
        attempts: the `autorouter.reliability.Attempt`s of the fallback run.
        forced: the call named its model.
        sticky: the model was kept for continuity (see the key).
        explanation: what to say instead of the decision's explanation (required with no
            decision); the fallback note is added to it.
        excluded: why candidates left out before routing were excluded; replaces the
            router's generic reason in their ranking entries.
        cost_usd: the call's cost, None when unknown.
        cost_source: where `cost_usd` comes from.
        ranking_aliases: add the deprecated `RANKING_ALIASES` to each ranking entry.
    """
    failed = list(dict.fromkeys(a.model for a in attempts if a.error is not None and a.model != model))
    if explanation is None:
        explanation = decision.explanation if decision is not None else f"{model}: answered without a routing decision"
    if failed:
        explanation += f"; answered by {model} after {', '.join(failed)} failed"
    reasons = dict(excluded or {})
    ranking = []
    for r in decision.ranking if decision is not None else []:
        entry = r.model_dump(mode="json")
        entry["excluded_because"] = None if r.eligible else reasons.get(r.model, r.excluded_because)
        if ranking_aliases:
            entry.update({alias: entry[field] for alias, field in RANKING_ALIASES.items()})
        ranking.append(entry)
    return {
        "model": model,
        "routed": decision is not None and not forced,
        "forced": forced,
        "chosen": decision.model if decision is not None else None,
        "sticky": sticky,
        "fell_back": bool(attempts) and attempts[0].model != model,
        "fallback_from": failed,
        "attempts": [_attempt(a) for a in attempts],
        "tradeoff": decision.tradeoff if decision is not None else None,
        "max_cost": decision.max_cost if decision is not None else None,
        "max_latency_s": decision.max_latency_s if decision is not None else None,
        "explanation": explanation,
        "family": decision.family if decision is not None else None,
        "difficulty": decision.difficulty if decision is not None else None,
        "ranking": ranking,
        "cost_usd": cost_usd,
        "cost_source": cost_source if cost_usd is not None else None,
    }


def _attempt(a: Attempt) -> dict[str, Any]:
    status = getattr(a.error, "status_code", None)
    return {
        "model": a.model,
        "number": a.number,
        "error": type(a.error).__name__ if a.error is not None else None,
        "status_code": status if isinstance(status, int) and not isinstance(status, bool) else None,
        "elapsed_ms": round(a.elapsed_s * 1000, 1),
    }
