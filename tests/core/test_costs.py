"""Cost knowledge a router learns from imperfect data: no costs at all, costs for some models
only, list prices filling the gaps. A model the data says nothing about must never look free."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import autorouter
from autorouter import InvalidRequestError, Router
from synthetic import COST, hash_embed, write_jsonl

CODE = "write a python function to sort 12 lists"


def _fit(rows, tmp_path, **kw):
    return Router(embedder=hash_embed, **kw).fit(autorouter.load_dataset(write_jsonl(rows, tmp_path / "d.jsonl")))


def _without_costs(rows, models=None):
    out = []
    for r in rows:
        r = dict(r)
        if models is None:
            r.pop("cost_usd")
        else:
            r["cost_usd"] = {m: v for m, v in r["cost_usd"].items() if m not in models}
        out.append(r)
    return out


def test_no_costs_and_no_prices_warns_that_the_knob_does_nothing(rows, tmp_path):
    with pytest.warns(UserWarning, match=r"no costs .* and no prices.*Router\(prices="):
        r = _fit(_without_costs(rows), tmp_path)
    assert r.cost_.mode == "none"
    assert r.route(CODE, tradeoff=0.0).model == r.route(CODE, tradeoff=1.0).model == "big"


def test_a_model_without_costs_is_not_free(rows, tmp_path):
    with pytest.warns(UserWarning, match=r"no cost and no price for \['tiny'\]"):
        r = _fit(_without_costs(rows, {"tiny"}), tmp_path)
    _, c = r.predict([CODE])
    big, coder, tiny = c[0]
    assert coder * 0.5 < tiny < big  # a typical other model's cost, not ~0
    assert r.route(CODE, tradeoff=1.0).model == "coder"  # the cheapest the data knows of


def test_prices_fill_in_for_models_without_costs(rows, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = _fit(_without_costs(rows, {"tiny"}), tmp_path, prices={"tiny": (0.01, 0.02)})
    _, c = r.predict([CODE])
    assert c[0, 2] < c[0, 1] / 10  # priced far below coder, as its list price says
    assert r.route(CODE, tradeoff=1.0).model == "tiny"
    assert c[0, 1] == pytest.approx(COST["coder"] * (1 + len(CODE) / 200), rel=0.3)  # still observed


def test_prices_missing_for_a_model_without_costs_is_an_error(rows, tmp_path):
    with pytest.raises(InvalidRequestError, match=r"not for \['tiny'\].*give a price for every model"):
        _fit(_without_costs(rows), tmp_path, prices={"big": (10, 30), "coder": (1, 2)})


def test_no_costs_but_prices_routes_by_price(rows, tmp_path):
    prices = {"big": (10.0, 30.0), "coder": (0.5, 1.5), "tiny": (0.05, 0.1)}
    r = _fit(_without_costs(rows), tmp_path, prices=prices)
    assert r.cost_.mode == "prices"
    assert r.route(CODE, tradeoff=0.5).model == "coder"
    assert r.route(CODE, tradeoff=1.0).model == "tiny"


def test_models_the_catalog_knows_are_priced_from_it(rows, tmp_path):
    """Data without costs, for models the bundled catalog has list prices for."""
    names = {"big": "openai/gpt-4o-2024-08-06", "coder": "openai/gpt-4o-mini-2024-07-18",
             "tiny": "meta-llama/llama-3.1-8b-instruct"}
    renamed = [{**r, "scores": {names[m]: v for m, v in r["scores"].items()}} for r in _without_costs(rows)]
    with pytest.warns(UserWarning, match="priced from the bundled catalog"):
        r = _fit(renamed, tmp_path)
    assert r.cost_.mode == "prices"
    catalog = autorouter.Catalog.default()
    _, c = r.predict([CODE])
    order = [catalog.get(m).price.output_per_1m for m in r.models_]
    assert list(np.argsort(c[0])) == list(np.argsort(order))  # dearer list price, dearer call
    assert r.route(CODE, tradeoff=1.0).model == names["tiny"]
    # prices given to the router win over the catalog's
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        own = _fit(renamed, tmp_path, prices={m: (1.0, 1.0) for m in names.values()})
    _, c = own.predict([CODE])
    assert np.allclose(c[0], c[0, 0])
