"""Tests of autorouter.evaluation on small hand-computed cases (and the reference split)."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest

from autorouter.errors import InvalidRequestError
from autorouter.evaluation import (
    RoutingFigures,
    evaluate_picks,
    hull_curve,
    hull_quality_at,
    oracle_picks,
    random_halves,
    routing_figures,
    single_model_points,
    zero_router_figures,
)

ROUTERBENCH = (
    Path(__file__).resolve().parents[3]
    / "shared/data/routerbench_subset/prompts_scores.jsonl.gz"
)

# Two models, four prompts: model 0 costs 1 per prompt, model 1 costs 2.
# Means: model 0 quality .5, model 1 quality .75 (the best single model).
# Oracle: prompt 0 -> 0, 1 -> 1, 2 -> tie, cheapest = 0, 3 -> 1; quality 1.0, cost 1.5.
SCORES = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 1.0]])
COSTS = np.array([[1.0, 2.0]] * 4)


# --- hull -------------------------------------------------------------------------------------


def test_hull_drops_points_under_a_chord_and_after_the_top():
    costs = [1.0, 1.5, 2.0, 2.5, 3.0, 4.0]
    quals = [0.5, 0.5, 0.6, 0.55, 0.9, 0.8]
    # (2, .6) lies under the chord (1, .5)-(3, .9), which is .7 at cost 2; (4, .8) is dearer
    # and worse than (3, .9); (1.5, .5) is dearer and no better than (1, .5).
    hc, hq = hull_curve(costs, quals)
    np.testing.assert_allclose(hc, [1.0, 3.0])
    np.testing.assert_allclose(hq, [0.5, 0.9])


def test_hull_keeps_convex_points_and_sorts():
    hc, hq = hull_curve([4.0, 1.0, 2.0], [0.9, 0.2, 0.7])
    np.testing.assert_allclose(hc, [1.0, 2.0, 4.0])
    np.testing.assert_allclose(hq, [0.2, 0.7, 0.9])


def test_hull_collinear_and_equal_cost_points():
    hc, hq = hull_curve([1.0, 2.0, 3.0], [0.5, 0.6, 0.7])
    np.testing.assert_allclose(hc, [1.0, 3.0])
    np.testing.assert_allclose(hq, [0.5, 0.7])
    hc, hq = hull_curve([1.0, 1.0], [0.4, 0.6])
    np.testing.assert_allclose(hc, [1.0])
    np.testing.assert_allclose(hq, [0.6])


def test_hull_of_cheapest_best_point_is_that_point():
    hc, hq = hull_curve([1.0, 2.0, 3.0], [0.9, 0.8, 0.85])
    np.testing.assert_allclose(hc, [1.0])
    np.testing.assert_allclose(hq, [0.9])


def test_hull_quality_at_interpolates_and_is_zero_below_cheapest():
    hull = (np.array([1.0, 3.0]), np.array([0.5, 0.9]))
    assert hull_quality_at(hull, 0.5) == 0.0
    assert hull_quality_at(hull, 1.0) == pytest.approx(0.5)
    assert hull_quality_at(hull, 2.0) == pytest.approx(0.7)
    assert hull_quality_at(hull, 10.0) == pytest.approx(0.9)
    np.testing.assert_allclose(hull_quality_at(hull, [0.5, 2.0, 3.0]), [0.0, 0.7, 0.9])


# --- figures ----------------------------------------------------------------------------------


def test_aiq_of_a_single_point():
    # Budgets: 50 log-spaced from 1 to 100; exponents i*2/49 >= 1 for i = 25..49 -> 25 of them
    # reach the router's only point (cost 10, quality .8): AIQ = 25/50 * .8.
    f = routing_figures([10.0], [0.8], [1.0, 100.0], [0.5, 0.7], oracle_quality=0.9)
    assert f.aiq == pytest.approx(0.4)
    assert f.hull_costs == (10.0,)


def test_router_equal_to_the_oracle():
    picks = oracle_picks(SCORES, COSTS)
    np.testing.assert_array_equal(picks, [0, 1, 0, 1])
    f = evaluate_picks(SCORES, COSTS, [picks])
    assert isinstance(f, RoutingFigures)
    assert f.oracle_quality == pytest.approx(1.0)
    assert f.best_single_quality == pytest.approx(0.75)
    assert f.best_single_cost == pytest.approx(2.0)
    assert f.curve_costs == (1.5,) and f.curve_qualities == (1.0,)
    assert f.gap == pytest.approx(1.0)
    assert f.lift == pytest.approx(0.25)  # quality 1.0 at cost 2 vs model 1's .75
    assert f.saving95 == pytest.approx(1 - 1.5 / 2.0)  # reaches .7125 already at cost 1.5
    # Budgets log-spaced 1..2: exponents i/49 >= log2(1.5) = .585 for i = 29..49 -> 21 of 50.
    assert f.aiq == pytest.approx(21 / 50)


def test_saving95_interpolates_on_the_hull():
    # Best single: quality .8 at cost 10; target .76. Hull (1, .5) -> (5, .9): reaches .76 at
    # 1 + (.26 / .4) * 4 = 3.6 -> saving95 = 1 - 3.6 / 10.
    f = routing_figures([1.0, 5.0], [0.5, 0.9], [1.0, 10.0], [0.5, 0.8], oracle_quality=1.0)
    assert f.cost_at_95 == pytest.approx(3.6)
    assert f.saving95 == pytest.approx(0.64)
    assert f.lift == pytest.approx(0.1)
    assert f.gap == pytest.approx((0.9 - 0.8) / (1.0 - 0.8))


def test_saving95_is_none_when_the_router_never_gets_there():
    f = routing_figures([1.0, 2.0], [0.3, 0.5], [1.0, 10.0], [0.5, 0.8], oracle_quality=0.9)
    assert f.saving95 is None and f.cost_at_95 is None
    assert "n/a" in f.summary()
    assert f.gap < 0


def test_lift_sign():
    singles = ([1.0, 10.0], [0.5, 0.8])
    worse = routing_figures([1.0, 10.0], [0.5, 0.7], *singles, oracle_quality=0.9)
    better = routing_figures([1.0, 5.0], [0.5, 0.85], *singles, oracle_quality=0.9)
    assert worse.lift == pytest.approx(-0.1)
    assert better.lift == pytest.approx(0.05)


def test_zero_router_lift_and_gap_are_zero():
    f = zero_router_figures(SCORES, COSTS)
    assert f.lift == pytest.approx(0.0)
    assert f.gap == pytest.approx(0.0)
    # Hull of the two models: (1, .5) -> (2, .75); AIQ over budgets 2**(i/49).
    budgets = np.geomspace(1.0, 2.0, 50)
    assert f.aiq == pytest.approx(np.mean(0.5 + 0.25 * (budgets - 1.0)))
    c, q = single_model_points(SCORES, COSTS)
    np.testing.assert_allclose(c, [1.0, 2.0])
    np.testing.assert_allclose(q, [0.5, 0.75])


def test_best_single_ties_go_to_the_cheapest_and_gap_nan_without_headroom():
    f = routing_figures([1.0], [0.8], [1.0, 3.0], [0.8, 0.8], oracle_quality=0.8)
    assert f.best_single_cost == 1.0
    assert math.isnan(f.gap)


def test_oracle_ties_go_to_the_cheapest():
    scores = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    costs = np.array([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]])
    np.testing.assert_array_equal(oracle_picks(scores, costs), [1, 2])


def test_as_dict_is_plain():
    f = zero_router_figures(SCORES, COSTS)
    d = f.as_dict()
    assert isinstance(d["hull_costs"], list) and d["aiq"] == f.aiq
    json.dumps(d)


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "costs, quals, match",
    [
        ([], [], "no points"),
        ([1.0, 2.0], [0.5], "1 qualities"),
        ([1.0, float("nan")], [0.5, 0.6], "NaN"),
        ([1.0, 2.0], [0.5, float("nan")], "NaN"),
        ([-1.0], [0.5], ">= 0"),
        ([[1.0]], [[0.5]], "1-D"),
    ],
)
def test_hull_curve_errors(costs, quals, match):
    with pytest.raises(InvalidRequestError, match=match):
        hull_curve(costs, quals)


def test_evaluate_picks_errors():
    picks = [np.zeros(4, dtype=int)]
    with pytest.raises(InvalidRequestError, match="shape"):
        evaluate_picks(SCORES, COSTS[:3], picks)
    nan_costs = COSTS.copy()
    nan_costs[2, 1] = np.nan
    with pytest.raises(InvalidRequestError, match="NaN"):
        evaluate_picks(SCORES, nan_costs, picks)
    with pytest.raises(InvalidRequestError, match="empty"):
        evaluate_picks(np.zeros((0, 2)), np.zeros((0, 2)), picks)
    with pytest.raises(InvalidRequestError, match="picks is empty"):
        evaluate_picks(SCORES, COSTS, [])
    with pytest.raises(InvalidRequestError, match="expected"):
        evaluate_picks(SCORES, COSTS, [np.zeros(3, dtype=int)])
    with pytest.raises(InvalidRequestError, match="outside"):
        evaluate_picks(SCORES, COSTS, [np.array([0, 1, 2, 0])])
    with pytest.raises(InvalidRequestError, match="integer"):
        evaluate_picks(SCORES, COSTS, [np.array([0.5, 1, 0, 0])])
    with pytest.raises(InvalidRequestError, match="n_prompts, n_models"):
        evaluate_picks(SCORES[:, 0], COSTS[:, 0], picks)


def test_routing_figures_errors():
    with pytest.raises(InvalidRequestError, match="cost 0"):
        routing_figures([1.0], [0.5], [0.0, 1.0], [0.4, 0.5], oracle_quality=0.9)
    with pytest.raises(InvalidRequestError, match="oracle"):
        routing_figures([1.0], [0.5], [1.0, 2.0], [0.4, 0.5], oracle_quality=float("nan"))
    with pytest.raises(InvalidRequestError, match="strictly increasing"):
        hull_quality_at((np.array([2.0, 1.0]), np.array([0.5, 0.6])), 1.5)


# --- split ------------------------------------------------------------------------------------


def test_random_halves_partition():
    train, test = random_halves(11, seed=3)
    assert len(train) == 5 and len(test) == 6
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(11))
    t2, _ = random_halves(11, seed=3)
    np.testing.assert_array_equal(train, t2)
    with pytest.raises(InvalidRequestError):
        random_halves(1)


@pytest.mark.skipif(not ROUTERBENCH.is_file(), reason="shared routerbench_subset data not present")
def test_reference_figures_of_evaluation_md():
    """Random halves, seed 7, over the file's 3,164 rows reproduce docs/evaluation.md."""
    with gzip.open(ROUTERBENCH, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    models = sorted(rows[0]["scores"])
    scores = np.array([[r["scores"][m] for m in models] for r in rows])
    costs = np.array([[r["cost_usd"][m] for m in models] for r in rows])
    _, test = random_halves(len(rows), seed=7)
    f = zero_router_figures(scores[test], costs[test])
    assert round(f.best_single_quality, 3) == 0.874
    assert round(f.oracle_quality, 3) == 0.973
    assert round(f.aiq, 3) == 0.756
    assert round(f.saving95, 2) == 0.40
