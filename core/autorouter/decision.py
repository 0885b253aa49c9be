"""`RoutingDecision`: which model a prompt goes to, the full ranking, and why."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ModelLimits", "RankedModel", "RoutingDecision"]


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
    explanation: str = Field(description="one line a person can read")

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
