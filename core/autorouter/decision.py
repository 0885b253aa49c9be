"""`RoutingDecision`: which model a prompt goes to, the full ranking, and why; and
`routing_report`, the one report of a routed call the gateway and the adapters attach."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

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


class ModelLimits(BaseModel):
    """What a candidate can take: requests it cannot serve are never routed to it.

    `None` means unknown, which excludes nothing.
    """

    model_config = ConfigDict(frozen=True)

    context_window: int | None = Field(default=None, description="max prompt + answer tokens")
    tools: bool | None = Field(default=None, description="supports tool / function calling")
    images: bool | None = Field(default=None, description="accepts image inputs")
    structured_output: bool | None = Field(default=None, description="JSON mode / schemas")


class ModelSpeed(BaseModel):
    """How fast a candidate answers: typical time to first token, output speed, and the hidden
    thinking tokens a reasoning model spends (paid for and waited for) before it answers.

    `None` means unknown: such a model gets no predicted latency and `max_latency_s` never
    excludes it.
    """

    model_config = ConfigDict(frozen=True)

    ttft_s: float | None = Field(default=None, ge=0.0, allow_inf_nan=False, description="seconds to the first token")
    output_tokens_per_s: float | None = Field(
        default=None, gt=0.0, allow_inf_nan=False, description="output tokens per second"
    )
    reasoning_tokens: int = Field(default=0, ge=0, description="hidden thinking tokens per answer")

    def latency_s(self, answer_tokens: float) -> float | None:
        """Predicted seconds until an answer of `answer_tokens` has fully arrived."""
        if self.ttft_s is None or self.output_tokens_per_s is None:
            return None
        return self.ttft_s + (answer_tokens + self.reasoning_tokens) / self.output_tokens_per_s


# --- who can serve a request ---------------------------------------------------------------

NEEDS = ("tools", "tool_choice", "images", "pdf", "audio", "video", "structured_output")
"""The capabilities a request may need beyond text. A model has each as True (has it), False
(has not) or None (unknown)."""

_LACKS = {
    "tools": "does not support tool calling",
    "tool_choice": "does not support forcing a tool choice",
    "images": "does not accept images",
    "pdf": "does not accept pdf inputs",
    "audio": "does not accept audio inputs",
    "video": "does not accept video inputs",
    "structured_output": "does not support structured output",
}


def exclusion_reason(
    capabilities: ModelLimits | Mapping[str, Any],
    needs: Iterable[str] = (),
    prompt_tokens: float | None = None,
) -> str | None:
    """Why a model cannot serve a request, or None if it can: the eligibility rule the router
    applies to its `ModelLimits` (`Router.route`'s checks of tools, images, structured output
    and context window, which tests pin to this) and the adapters to their candidates.

    Only what is known excludes: a model is left out for a need it is known not to have
    (False), never for one nobody vouches for either way (None or absent), and for a prompt
    longer than its known context window.

    Args:
        capabilities: the model's `ModelLimits`, or a mapping with each of `NEEDS` and
            `context_window` (tokens; None when unknown).
        needs: what the request needs, among `NEEDS`.
        prompt_tokens: the request's size in tokens; None skips the context-window check.

    Raises:
        ValueError: a need is not one of `NEEDS`.
    """
    wanted = set(needs)
    unknown = sorted(wanted - set(NEEDS))
    if unknown:
        raise ValueError(f"unknown need {unknown[0]!r}; expected one of {NEEDS}")
    for need in NEEDS:  # in a fixed order, so that a model lacking two is told the same first
        if need in wanted and _known(capabilities, need) is False:
            return _LACKS[need]
    window = _known(capabilities, "context_window")
    has_window = isinstance(window, int) and not isinstance(window, bool) and window > 0
    if prompt_tokens is not None and has_window and prompt_tokens > window:
        return f"prompt (~{prompt_tokens:.0f} tokens) exceeds its context window of {window}"
    return None


def _known(capabilities: ModelLimits | Mapping[str, Any], name: str) -> Any:
    if isinstance(capabilities, Mapping):
        return capabilities.get(name)
    return getattr(capabilities, name, None)


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
