"""`RoutingDecision`: which model a prompt goes to, the full ranking, and why."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ModelLimits", "ModelSpeed", "RankedModel", "RoutingDecision"]


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
