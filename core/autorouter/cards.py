"""One catalog entry, validated: a model's price, limits, speed, capabilities and the public
facts (benchmark scores, arena rating) that place it, each with its source.

`autorouter.catalog` holds these cards and re-exports every name here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from numbers import Real
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import InvalidRequestError
from .types import ModelPrice, ModelSpeed

__all__ = ["BENCHMARKS", "Capabilities", "FactSource", "ModelCard", "ModelFacts"]

# The benchmark families the shipped catalog uses; other names are allowed in user entries.
BENCHMARKS = (
    "MMLU",
    "GSM8K",
    "MATH",
    "HumanEval",
    "GPQA",
    "MBPP",
    "ARC-Challenge",
    "Winogrande",
    "HellaSwag",
)
# The card fields whose source is `facts.sources["speed"]`.
_SPEED_FIELDS = ("ttft_s", "output_tokens_per_s", "reasoning_tokens")
_AS_OF = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_ID = re.compile(r"^[^/\s]+/\S+$")

Price = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ReadOnlyDict(dict[str, Any]):
    """A dict that refuses changes: cards are shared between catalogs, so they must not change."""

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("catalog cards are immutable; change them with Catalog.override")

    __setitem__ = __delitem__ = __ior__ = _refuse  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        return (type(self), (dict(self),))

    def __deepcopy__(self, memo: dict[int, Any]) -> _ReadOnlyDict:
        return self  # nothing inside can change, so a copy may share it


class Capabilities(_Strict):
    """What a model accepts; `False` means unsupported or not documented by the provider."""

    tools: bool = False
    images: bool = False
    structured_output: bool = False  # native JSON mode or JSON-schema response_format
    reasoning: bool = False


class FactSource(_Strict):
    """Where one figure comes from and when it was true (`as_of`: YYYY, YYYY-MM or YYYY-MM-DD)."""

    source: str = Field(min_length=1)
    as_of: str
    url: str | None = None
    note: str | None = None

    @field_validator("as_of")
    @classmethod
    def _date(cls, value: str) -> str:
        if not _AS_OF.match(value):
            raise ValueError(f"as_of must look like YYYY, YYYY-MM or YYYY-MM-DD, not {value!r}")
        return value


class ModelFacts(_Strict):
    """Public facts that place a model without per-prompt data.

    `benchmarks` maps a benchmark family (see `BENCHMARKS`) to a published score in [0, 1],
    and LiveBench categories, measured by the LiveBench team with one protocol for all models,
    to their score under `LiveBench-<YYYY-MM-DD>/<Category>` (the release date, then the
    category, e.g. `LiveBench-2024-08-31/Mathematics`; releases are not on one scale, so compare
    models within one release). `arena_elo` is the Chatbot Arena rating. `sources` names the
    source of each figure under the keys `price`, `context_window`, `max_output_tokens`,
    `capabilities`, `arena_elo`, `speed` (the card's `ttft_s`, `output_tokens_per_s` and
    `reasoning_tokens`), and `benchmarks` (shared by all scores) or a benchmark's own name; a
    key with a `/` may take its source from the part before the first `/`, so one
    `LiveBench-<YYYY-MM-DD>` source covers all categories of that release (see `source_for`).
    """

    benchmarks: dict[str, float] = Field(default_factory=dict)
    arena_elo: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    sources: dict[str, FactSource] = Field(default_factory=dict)

    @field_validator("benchmarks")
    @classmethod
    def _scores(cls, value: dict[str, float]) -> dict[str, float]:
        for name, score in value.items():
            if not name.strip():
                raise ValueError("a benchmark name is empty")
            if not (math.isfinite(score) and 0.0 <= score <= 1.0):
                raise ValueError(f"score of {name!r} is {score}; scores are fractions in [0, 1]")
        return _ReadOnlyDict(value)

    @field_validator("sources")
    @classmethod
    def _read_only(cls, value: dict[str, FactSource]) -> dict[str, FactSource]:
        return _ReadOnlyDict(value)

    def source_for(self, key: str) -> FactSource | None:
        """The source of one figure, or None.

        Looked up as: the exact key; then the part before the first `/` (so
        `LiveBench-2024-08-31/Mathematics` resolves to `sources["LiveBench-2024-08-31"]`);
        then, for a benchmark score, the shared `benchmarks` source. A speed field of the card
        (`ttft_s`, `output_tokens_per_s`, `reasoning_tokens`) resolves to `speed`.
        """
        if key in self.sources:
            return self.sources[key]
        head = key.split("/", 1)[0]
        if head != key and head in self.sources:
            return self.sources[head]
        if key in self.benchmarks:
            return self.sources.get("benchmarks")
        if key in _SPEED_FIELDS:
            return self.sources.get("speed")
        return None


class ModelCard(_Strict):
    """One catalog entry. Prices are USD per 1M tokens; `None` means not publicly known.

    Speed, typical figures at the priced provider (their source is `facts.sources["speed"]`):
    `ttft_s` is the time to the first token in seconds for a short prompt (for a reasoning
    model, not including its hidden thinking); `output_tokens_per_s` is the output speed;
    `reasoning_tokens` is how many hidden thinking tokens a reasoning model typically spends
    per answer before it replies (0 for a model that does not think; `None` when not known).
    """

    id: str
    aliases: tuple[str, ...] = ()
    provider: str = Field(min_length=1)
    input_usd_per_1m: Price | None = None
    output_usd_per_1m: Price | None = None
    context_window: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    ttft_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    output_tokens_per_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    reasoning_tokens: int | None = Field(default=None, ge=0)
    capabilities: Capabilities = Field(default_factory=Capabilities)
    facts: ModelFacts = Field(default_factory=ModelFacts)
    routed_by_default: bool = False
    notes: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _provider_from_id(cls, data: Any) -> Any:
        if (
            isinstance(data, Mapping)
            and not data.get("provider")
            and isinstance(data.get("id"), str)
        ):
            data = {**data, "provider": data["id"].strip().split("/", 1)[0]}
        return data

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        value = value.strip()
        if not _ID.match(value):
            raise ValueError(f"id must look like 'provider/model', not {value!r}")
        return value

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(alias.strip() for alias in value)
        if any(not alias for alias in cleaned):
            raise ValueError("an alias is empty")
        return cleaned

    @property
    def names(self) -> tuple[str, ...]:
        """The id followed by every alias."""
        return (self.id, *self.aliases)

    @property
    def speed(self) -> ModelSpeed:
        """The speed facts as the router uses them (unknown fields stay None)."""
        return ModelSpeed(ttft_s=self.ttft_s, output_tokens_per_s=self.output_tokens_per_s,
                          reasoning_tokens=self.reasoning_tokens or 0)

    @property
    def price(self) -> ModelPrice | None:
        """The list price, or None when either side of it is unknown."""
        if self.input_usd_per_1m is None or self.output_usd_per_1m is None:
            return None
        return ModelPrice(self.input_usd_per_1m, self.output_usd_per_1m)

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD cost of one call at list price, or None when the price is unknown."""
        for label, count in (
            ("prompt_tokens", prompt_tokens),
            ("completion_tokens", completion_tokens),
        ):
            if isinstance(count, bool) or not isinstance(count, Real) or not 0 <= count < math.inf:
                raise InvalidRequestError(f"{label} must be a number >= 0, not {count!r}")
        price = self.price
        if price is None:
            return None
        return price.cost_usd(prompt_tokens, completion_tokens)

