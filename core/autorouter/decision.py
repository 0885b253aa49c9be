"""`RoutingDecision`: which model a prompt goes to, the full ranking, and why."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["NEEDS", "ModelLimits", "ModelSpeed", "RankedModel", "RoutingDecision", "exclusion_reason"]


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
