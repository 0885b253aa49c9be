"""The cost model `Router.fit` learns from a dataset: from its per-prompt costs, else from list
prices (given to the router, beside the data, or the bundled catalog's), with a warning where
costs are not learned from the data."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from .catalog import Catalog
from .dataset import RoutingDataset
from .errors import InvalidRequestError
from .predictors import CostModel, observed_cost_columns
from .types import ModelPrice


def fit_costs(
    ds: RoutingDataset, chars: np.ndarray, labels: np.ndarray, k: int, given: Mapping[str, Any] | None
) -> CostModel:
    """The cost of each of `ds`'s models, for prompts of `chars` characters in the `k` clusters
    `labels`; `given`: the router's own prices (`Router(prices=...)`)."""
    prices, from_catalog = price_table(ds, given)
    cost, guessed = CostModel.fit(
        chars, labels, k, n_models=len(ds.models), cost_usd=ds.cost_usd, output_chars=ds.output_chars, prices=prices
    )
    warn_about_costs(cost.mode, [ds.models[j] for j in guessed], from_catalog)
    return cost


def price_table(ds: RoutingDataset, given: Mapping[str, Any] | None) -> tuple[np.ndarray | None, list[str]]:
    """List prices (m, 2) for the models the data has no costs for, NaN where unknown, and
    the models priced from the bundled catalog. Prices `given` to the router win over a
    models.json beside the data, which wins over the catalog."""
    prices: dict[str, ModelPrice] = dict(ds.prices)
    for name, p in (given or {}).items():
        prices[name] = ModelPrice.of(p)
    observed = observed_cost_columns(ds.cost_usd, len(ds.models))
    need = [m for j, m in enumerate(ds.models) if m not in prices and not observed[j]]
    from_catalog = []
    if need:
        catalog = Catalog.default()
        for m in need:
            card = catalog.get(m) if m in catalog else None
            if card is not None and card.price is not None:
                prices[m] = card.price
                from_catalog.append(m)
    missing = [m for m in need if m not in prices]
    if missing and (ds.prices or given):
        raise InvalidRequestError(
            f"prices are given for some models but not for {missing}, and neither the data nor "
            "the bundled catalog has a cost for them: give a price for every model without costs"
        )
    if not prices:
        return None, []
    nan = ModelPrice(math.nan, math.nan)
    table = [[prices.get(m, nan).input_per_1m, prices.get(m, nan).output_per_1m] for m in ds.models]
    return np.array(table, dtype=np.float64), from_catalog


def warn_about_costs(cost_mode: str, guessed: list[str], from_catalog: list[str]) -> None:
    """Say where costs were not learned from the data (`fit` goes on either way): models priced
    from the catalog, no costs at all (`cost_mode` "none"), models whose cost was guessed."""
    # stacklevel 5: the warning points at the caller of `Router.fit` or `Router.fit_arrays`
    # (through `fit_costs` and `training.fit_embedded`)
    if from_catalog:
        warnings.warn(
            f"the data has no costs or prices for {from_catalog}: priced from the bundled catalog's "
            "list prices; give your own with Router(prices={...}) (CLI: train --prices FILE)",
            stacklevel=5,
        )
    if cost_mode == "none":
        warnings.warn(
            "the data has no costs (`cost_usd`) and no prices: every model is treated as costing "
            "the same, so `tradeoff` and `max_cost` change nothing; give list prices with "
            "Router(prices={model: (usd_per_1m_in, usd_per_1m_out)}) (CLI: train --prices FILE) or a "
            "models.json beside the data",
            stacklevel=5,
        )
    elif guessed:
        warnings.warn(
            f"no cost and no price for {guessed}: they are taken to cost what a typical other "
            "model costs; give their prices with Router(prices={...}) (CLI: train --prices FILE)",
            stacklevel=5,
        )
