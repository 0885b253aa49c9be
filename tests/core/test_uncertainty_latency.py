"""Decisions that respect the router's own uncertainty, and latency as a dimension: an edge
smaller than the uncertainty never buys a much dearer model, tradeoff 0 stays on the strongest
candidate unless another is confidently better, and slow models are ranked and excluded by their
predicted latency."""

from __future__ import annotations

import numpy as np
import pytest

from autorouter import InvalidRequestError, NoCandidateError, Router
from autorouter.decision import ModelSpeed
from autorouter.policy import confident_picks

from synthetic import hash_embed, make_rows

MATH = "prove that 17 plus 4 is an integer"
CHAT = "hello there friend number 7"


def _fact_router(sd: float, *, fitted: Router) -> Router:
    """Two fact models: 'dear' better everywhere, 'cheap' 20x cheaper."""
    fitted.add_model("dear", task_scores={"math": 0.95, "code": 0.95, "chat": 0.95}, price=(10.0, 30.0),
                     task_score_sd=sd, speed=ModelSpeed(ttft_s=2.0, output_tokens_per_s=20.0, reasoning_tokens=2000))
    fitted.add_model("cheap", task_scores={"math": 0.85, "code": 0.85, "chat": 0.85}, price=(0.5, 1.5),
                     task_score_sd=sd, speed=ModelSpeed(ttft_s=0.3, output_tokens_per_s=150.0))
    return fitted


def test_policy_without_uncertainty_is_the_best_score():
    q = np.array([[0.9, 0.8, 0.7]])
    c = np.array([[3.0, 1.0, 0.1]])
    s = q - 0.05 * c
    ok = np.ones_like(q, dtype=bool)
    assert confident_picks(q, np.zeros_like(q), c, s, ok, 0.3, q[0]).tolist() == [int(np.argmax(s))]
    assert confident_picks(q, np.zeros_like(q), c, q, ok, 0.0, np.array([0.5, 0.9, 0.1])).tolist() == [0]


def test_an_edge_within_the_uncertainty_does_not_buy_a_dearer_model():
    q = np.array([[0.95, 0.94]])
    c = np.array([[0.01, 0.001]])
    s = q - 0.1 * c  # the dear model scores higher
    ok = np.ones_like(q, dtype=bool)
    assert int(np.argmax(s)) == 0
    assert confident_picks(q, np.full_like(q, 0.02), c, s, ok, 0.3, q[0]).tolist() == [1]
    # a clear edge (beyond the uncertainty) still buys it
    assert confident_picks(np.array([[0.99, 0.90]]), np.full_like(q, 0.02), c, s, ok, 0.3, q[0]).tolist() == [0]


def test_tradeoff_0_stays_on_the_strongest_unless_another_is_confidently_better():
    q = np.array([[0.80, 0.82], [0.80, 0.95]])
    c = np.array([[1.0, 0.5], [1.0, 0.5]])
    ok = np.ones_like(q, dtype=bool)
    strength = np.array([0.9, 0.7])  # model 0 is the strongest overall
    picks = confident_picks(q, np.full_like(q, 0.03), c, q, ok, 0.0, strength)
    assert picks.tolist() == [0, 1]


def test_uncertain_facts_send_near_ties_to_the_cheaper_model(fitted):
    sure = _fact_router(0.0, fitted=fitted)
    picks_sure = {sure.route(p, tradeoff=0.02, latency_weight=0.0, candidates=["dear", "cheap"]).model
                  for p in (MATH, CHAT)}
    assert picks_sure == {"dear"}
    unsure = _fact_router(1.0, fitted=Router(embedder=hash_embed).fit(_load()))
    for p in (MATH, CHAT):
        d = unsure.route(p, tradeoff=0.02, latency_weight=0.0, candidates=["dear", "cheap"])
        assert d.model == "cheap", d.explanation
        assert d.chosen.uncertainty > 0
        assert "uncertainty" in d.explanation


def _load():
    import tempfile
    from pathlib import Path

    import autorouter
    from synthetic import write_jsonl

    path = write_jsonl(make_rows(), Path(tempfile.mkdtemp()) / "train.jsonl.gz")
    return autorouter.load_dataset(path)


def test_latency_is_predicted_ranked_and_explained(fitted):
    r = _fact_router(0.3, fitted=fitted)
    d = r.route(MATH, tradeoff=0.5)
    lat = {x.model: x.latency_s for x in d.ranking}
    assert lat["dear"] > 100 > lat["cheap"] > 0.3  # 2000 thinking tokens at 20/s
    assert all(v is None for m, v in lat.items() if m not in ("dear", "cheap"))
    assert "s;" in d.explanation or f"{d.chosen.latency_s:.1f}s" in d.explanation


def test_max_latency_excludes_slow_models_and_only_those(fitted):
    r = _fact_router(0.3, fitted=fitted)
    d = r.route(MATH, tradeoff=0.0, max_latency_s=30, candidates=["dear", "cheap"])
    assert d.model == "cheap"
    dear = next(x for x in d.ranking if x.model == "dear")
    assert not dear.eligible and "latency" in dear.excluded_because
    with pytest.raises(NoCandidateError):
        r.route(MATH, max_latency_s=0.1, candidates=["dear", "cheap"])
    # models of unknown speed are never excluded by a latency cap
    assert r.route(MATH, max_latency_s=0.1).model not in ("dear", "cheap")


def test_latency_weight_moves_a_near_tie_to_the_fast_model(fitted):
    r = _fact_router(0.0, fitted=fitted)
    slow = r.route(CHAT, tradeoff=0.02, latency_weight=0.0, candidates=["dear", "cheap"]).model
    fast = r.route(CHAT, tradeoff=0.02, latency_weight=0.01, candidates=["dear", "cheap"]).model
    assert (slow, fast) == ("dear", "cheap")


@pytest.mark.parametrize("kw", [{"max_latency_s": -1}, {"max_latency_s": float("nan")}, {"latency_weight": -0.1},
                                {"latency_weight": "fast"}])
def test_bad_latency_options_are_clear_errors(fitted, kw):
    with pytest.raises(InvalidRequestError, match="latency"):
        fitted.route(MATH, **kw)


def test_uncertainty_and_speeds_survive_save_and_load(fitted, tmp_path):
    r = _fact_router(0.7, fitted=fitted)
    r.save(tmp_path / "r")
    back = Router.load(tmp_path / "r", embedder=hash_embed)
    a, b = r.route(MATH, tradeoff=0.3), back.route(MATH, tradeoff=0.3)
    assert a.model == b.model
    assert [(x.model, x.latency_s, round(x.uncertainty, 9)) for x in a.ranking] == \
        [(x.model, x.latency_s, round(x.uncertainty, 9)) for x in b.ranking]
