"""The cost of one answered call, written once for every path that makes one: the core's routed
calls (`Router.complete` / `chat` and the gateway), the framework adapters
(`call_cost_usd`) and labelling runs.

A call costs what the provider reports (`usage.cost`, e.g. OpenRouter's), else its tokens at the
model's list price (`list_price`: the caller's own `prices`, such as `Router(prices=...)`, else
the catalog's), else it is unknown (None), never made up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from numbers import Real
from typing import TYPE_CHECKING, Any, Literal

from .catalog import shared_card
from .types import ModelPrice

if TYPE_CHECKING:
    from .catalog import ModelCard

__all__ = ["CostSource", "call_cost", "call_cost_usd", "list_price"]

CostSource = Literal["provider", "list_price"]
"""Where a call's cost comes from: the provider's own figure, or tokens x list price."""


def list_price(
    names: str | Sequence[str | None],
    prices: Mapping[str, Any] | None,
    card_of: Callable[[str], ModelCard | None],
) -> ModelPrice | None:
    """The list price of the model that goes by `names`, or None when nobody prices it.

    Args:
        names: the names the model goes by, the router's name for it first (an adapter adds
            its framework model's own name); empty names are skipped.
        prices: the caller's own prices by model name (a `ModelPrice` or a `(USD per 1M
            input tokens, per 1M output)` pair), e.g. `Router.prices`; they win over the catalog.
        card_of: the catalog card of a name, or None when the catalog does not know it.
    """
    known = [names] if isinstance(names, str) else [n for n in names if n]
    for name in known:
        own = (prices or {}).get(name)
        if own is not None:
            return ModelPrice.of(own)
    for name in known:
        card = card_of(name)
        if card is not None and card.price is not None:
            return card.price
    return None


def call_cost(
    price: ModelPrice | None,
    prompt_tokens: Any,
    completion_tokens: Any,
    reported: Any = None,
) -> tuple[float | None, CostSource | None]:
    """What one answered call cost in USD, and where that figure comes from.

    The provider's `reported` cost wins (`"provider"`); else the token counts at `price`
    (`"list_price"`, see `list_price`); else `(None, None)`: no price, or the counts are not
    two whole numbers >= 0 (the provider sent no usage).
    """
    if _number(reported):
        return float(reported), "provider"
    if price is None or not (_count(prompt_tokens) and _count(completion_tokens)):
        return None, None
    return price.cost_usd(prompt_tokens, completion_tokens), "list_price"


def _number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def call_cost_usd(
    names: str | Sequence[str | None],
    prompt_tokens: Any,
    completion_tokens: Any,
    *,
    router: Any = None,
    catalog: Any = None,
) -> float | None:
    """USD cost of an answered call from its token usage, as the core computes it
    (`autorouter.costs`): at `router`'s own `prices` (`Router(prices=...)`) when they price
    the model, else at the catalog's (the shipped one unless `catalog` is given) list price.

    `names` are names the model goes by (its router name, then its own model name): the
    first priced wins. None when the usage is not two token counts or no name is priced.
    """
    prices = getattr(router, "prices", None)  # a router-like wrapper may have no prices of its own
    card_of = shared_card if catalog is None else catalog.find
    return call_cost(list_price(names, prices, card_of), prompt_tokens, completion_tokens)[0]
