"""What a model is, as facts: its list price, what it can take, how fast it answers, and the
one rule of which needs of a request a model lacks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .errors import InvalidRequestError

__all__ = ["NEEDS", "ModelLimits", "ModelPrice", "ModelSpeed", "exclusion_reason"]


@dataclass(frozen=True)
class ModelPrice:
    """List price of a model in USD per million input and output tokens."""

    input_per_1m: float
    output_per_1m: float

    @classmethod
    def of(cls, price: ModelPrice | Sequence[float]) -> ModelPrice:
        """A `ModelPrice` as given, or from an `(input, output)` pair of USD per 1M tokens."""
        if isinstance(price, ModelPrice):
            return price
        try:
            pin, pout = (float(v) for v in price)
        except (TypeError, ValueError):
            raise InvalidRequestError(
                f"a price is (USD per 1M input tokens, USD per 1M output tokens), got {price!r}"
            ) from None
        return cls(pin, pout)

    def cost_usd(self, prompt_tokens: float, completion_tokens: float) -> float:
        """USD cost of a call of these token counts at this price."""
        return (prompt_tokens * self.input_per_1m + completion_tokens * self.output_per_1m) / 1e6


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
