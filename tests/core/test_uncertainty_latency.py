"""Decisions and the router's own uncertainty, and latency as a dimension: the best expected
score wins (near ties to the cheapest); at tradeoff 0 the strongest candidate on prompts of
the kind is left only for a confident edge, and above 0 an edge within the uncertainty does not buy a many times
dearer model; slow models are ranked and excluded by their predicted latency."""

from __future__ import annotations

import numpy as np
import pytest

from autorouter import InvalidRequestError, NoCandidateError, Router
from autorouter.policy import (
    EDGE_CONFIDENCE,
    MANY_TIMES_DEARER,
    SCORE_TIE,
    best_picks,
    decide,
    family_strength,
    policy_scores,
    strongest_picks,
)
from autorouter.types import ModelSpeed
from synthetic import hash_embed, make_rows

MATH = "prove that 17 plus 4 is an integer"
CHAT = "hello there friend number 7"


#: the speed and hidden thinking of 'dear' below, so that a model like it costs as much
THINKER = ModelSpeed(ttft_s=2.0, output_tokens_per_s=20.0, reasoning_tokens=2000)


def _fact_router(sd: float, *, fitted: Router) -> Router:
    """Two fact models: 'dear' better everywhere, 'cheap' 20x cheaper."""
    fitted.add_model("dear", task_scores={"math": 0.95, "code": 0.95, "chat": 0.95}, price=(10.0, 30.0),
                     task_score_sd=sd, speed=THINKER)
    fitted.add_model("cheap", task_scores={"math": 0.85, "code": 0.85, "chat": 0.85}, price=(0.5, 1.5),
                     task_score_sd=sd, speed=ModelSpeed(ttft_s=0.3, output_tokens_per_s=150.0))
    return fitted


def test_the_best_score_wins():
    q = np.array([[0.9, 0.8, 0.7], [0.5, 0.9, 0.7]])
    c = np.array([[3.0, 1.0, 0.1], [3.0, 1.0, 0.1]])
    s = q - 0.01 * c
    ok = np.ones_like(q, dtype=bool)
    assert best_picks(s, c, ok).tolist() == np.argmax(s, axis=1).tolist() == [0, 1]
    # an ineligible model never wins, however it scores
    ok[1, 1] = False
    assert best_picks(s, c, ok)[1] == 2


def test_a_near_tie_goes_to_the_cheapest():
    c = np.array([[0.01, 0.001, 0.0001]])
    ok = np.ones_like(c, dtype=bool)
    tie = np.array([[0.900, 0.900 - SCORE_TIE / 2, 0.800]])
    assert best_picks(tie, c, ok).tolist() == [1]
    clear = np.array([[0.900, 0.900 - 2 * SCORE_TIE, 0.800]])
    assert best_picks(clear, c, ok).tolist() == [0]


def test_an_edge_within_the_uncertainty_does_not_buy_a_many_times_dearer_model():
    """Above tradeoff 0 a model 10x dearer must beat a cheaper one by more than the router can
    vouch for; a dearer model that is not many times dearer, or a clear edge, still wins."""
    cost = np.array([[1.0, 1.0 / MANY_TIMES_DEARER, 0.5]])
    ok = np.ones_like(cost, dtype=bool)
    sd = np.full_like(cost, 0.1)
    margin = EDGE_CONFIDENCE * np.sqrt(2) * 0.1
    small = np.array([[0.90, 0.90 - margin / 2, 0.0]])
    assert best_picks(small, cost, ok).tolist() == [0]  # without sd: the best expected score
    assert best_picks(small, cost, ok, sd).tolist() == [1]  # with it: the 10x cheaper one
    clear = np.array([[0.90, 0.90 - 2 * margin, 0.0]])
    assert best_picks(clear, cost, ok, sd).tolist() == [0]
    only_2x = np.array([[0.90, 0.0, 0.90 - margin / 2]])
    assert best_picks(only_2x, cost, ok, sd).tolist() == [0]
    ok[0, 1] = False  # an ineligible cheap model is never the fallback
    assert best_picks(small, cost, ok, sd).tolist() == [0]


def test_the_edge_weighed_against_the_uncertainty_is_in_quality_not_in_price():
    """A dear model whose predicted quality is clearly higher keeps the pick even where its
    price, already charged once in the score, brings the score gap within the uncertainty: a
    hard prompt's clearly better answer is not given up to charge the price twice."""
    cost = np.array([[1.0, 1.0 / MANY_TIMES_DEARER]])
    ok = np.ones_like(cost, dtype=bool)
    sd = np.full_like(cost, 0.1)
    margin = EDGE_CONFIDENCE * np.sqrt(2) * 0.1
    quality = np.array([[0.90, 0.90 - 1.5 * margin]])  # a clear edge in quality
    scores = policy_scores(quality, cost, lam=margin)  # the price takes most of it back
    assert scores[0, 0] - scores[0, 1] < margin
    assert best_picks(scores, cost, ok, sd, quality).tolist() == [0]
    # within the uncertainty in quality too: the cheap one
    close = np.array([[0.90, 0.90 - margin / 2]])
    assert best_picks(policy_scores(close, cost, lam=0.01), cost, ok, sd, close).tolist() == [1]


def test_tradeoff_0_leaves_the_strongest_model_only_for_a_confident_edge():
    """At tradeoff 0 the strongest candidate overall answers unless another's edge on the
    prompt is more than the router can vouch for; an ineligible strongest model changes nothing."""
    cost = np.array([[1.0, 1.0, 0.1]])
    ok = np.ones_like(cost, dtype=bool)
    sd = np.full_like(cost, 0.1)
    strength = np.array([0.8, 0.9, 0.5])  # column 1 is the strongest overall
    margin = EDGE_CONFIDENCE * np.sqrt(2) * 0.1
    small = np.array([[0.90, 0.90 - margin / 2, 0.0]])
    assert best_picks(small, cost, ok).tolist() == [0]
    assert strongest_picks(small, cost, ok, sd, strength).tolist() == [1]
    clear = np.array([[0.90, 0.90 - 2 * margin, 0.0]])
    assert strongest_picks(clear, cost, ok, sd, strength).tolist() == [0]
    ok[0, 1] = False
    assert strongest_picks(small, cost, ok, sd, strength).tolist() == [0]
    ok[0, 1] = True
    # nor is a many times dearer strongest model bought for an answer expected to be worse
    dear = np.array([[0.1, 0.1 * MANY_TIMES_DEARER, 0.01]])
    assert strongest_picks(small, dear, ok, sd, strength).tolist() == [0]
    # decide applies it at tradeoff 0 only; above it, the many-times-dearer rule
    assert decide(small, cost, ok, 0.0, sd=sd, strength=strength)[1].tolist() == [1]
    assert decide(small, cost, ok, 1e-9, sd=sd, strength=strength)[1].tolist() == [0]


def test_a_tie_at_tradeoff_0_goes_to_the_strongest_not_the_cheapest():
    """Above 0 a tie goes to the cheapest; at 0 the money does not count, so it goes to the
    candidate strongest on prompts like this one, however many times dearer."""
    cost = np.array([[1.0, 0.01, 0.02]])
    ok = np.ones_like(cost, dtype=bool)
    sd = np.full_like(cost, 0.01)
    strength = np.array([0.9, 0.7, 0.8])
    tie = np.array([[0.950, 0.952, 0.951]])  # within SCORE_TIE of one another
    assert best_picks(tie, cost, ok).tolist() == [1]
    assert strongest_picks(tie, cost, ok, sd, strength).tolist() == [0]
    ok[0, 0] = False
    assert strongest_picks(tie, cost, ok, sd, strength).tolist() == [2]


def test_the_router_stays_with_its_strongest_model_at_tradeoff_0_unless_confident(fitted):
    """A specialist a hair better on maths, placed loosely, does not take maths prompts from the
    model that is strongest everywhere (at a similar price); placed tightly with a clear edge,
    it does."""
    r = _fact_router(0.3, fitted=fitted)
    r.add_model("loose", task_scores={"math": 0.96, "code": 0.6, "chat": 0.6}, price=(10.0, 30.0),
                task_score_sd=1.0, speed=THINKER)
    d = r.route(MATH, tradeoff=0.0, latency_weight=0.0, candidates=["dear", "loose"])
    assert d.model == "dear", d.explanation
    r.add_model("sure", task_scores={"math": 0.995, "code": 0.6, "chat": 0.6}, price=(10.0, 30.0),
                task_score_sd=0.05, speed=THINKER)
    d = r.route(MATH, tradeoff=0.0, latency_weight=0.0, candidates=["dear", "sure"])
    assert d.model == "sure", d.explanation


def test_tradeoff_0_stays_with_the_strongest_model_for_the_kind_of_prompt(fitted):
    """The model to stay with is the strongest on prompts like this one, not overall: a maths
    specialist takes maths prompts from a generalist that is stronger on everything else, even
    where its edge on one prompt is within the uncertainty; chat stays with the generalist."""
    same = {"price": (3.0, 15.0), "task_score_sd": 1.0, "speed": THINKER}
    fitted.add_model("generalist", task_scores={"math": 0.93, "code": 0.97, "chat": 0.97}, **same)
    fitted.add_model("mathy", task_scores={"math": 0.95, "code": 0.85, "chat": 0.85}, **same)
    both = ["generalist", "mathy"]
    d = fitted.route(MATH, tradeoff=0.0, latency_weight=0.0, candidates=both)
    assert d.model == "mathy", d.explanation
    gap = d.chosen.quality - next(r.quality for r in d.ranking if r.model == "generalist")
    assert 0 < gap <= EDGE_CONFIDENCE * np.sqrt(2) * d.chosen.uncertainty  # not a confident edge
    assert fitted.route(CHAT, tradeoff=0.0, latency_weight=0.0, candidates=both).model == "generalist"
    # per prompt, strength may be given as (n, m): each row stays with its own strongest model
    scores = np.array([[0.90, 0.91], [0.90, 0.91]])
    strength = np.array([[0.9, 0.5], [0.5, 0.9]])
    ok = np.ones_like(scores, dtype=bool)
    picks = strongest_picks(scores, np.ones_like(scores), ok, np.full_like(scores, 0.1), strength)
    assert picks.tolist() == [0, 1]


def test_a_loosely_placed_model_is_not_a_family_anchor_on_a_hairs_edge():
    """A family's strongest model is judged with caution: a hair's better mean placed loosely
    loses to a tightly placed one; a clear edge still wins; a family with no prompts in the
    sample falls back on the models' strength over all of it."""
    task_w = np.array([[1.0, 0.0]] * 50 + [[0.0, 1.0]])  # 50 prompts of family 0, one of 1
    quality = np.array([[0.90, 0.91]] * 50 + [[0.95, 0.80]])
    tight, loose = np.full_like(quality, 0.01), np.tile([0.01, 0.2], (51, 1))
    assert family_strength(quality, tight, task_w)[0].argmax() == 1
    assert family_strength(quality, loose, task_w)[0].argmax() == 0
    clear = quality.copy()
    clear[:50, 1] = 1.0
    assert family_strength(clear, loose, task_w)[0].argmax() == 1
    empty = family_strength(quality, tight, np.array([[1.0, 0.0]] * 51))
    np.testing.assert_allclose(empty[1], (quality - EDGE_CONFIDENCE * tight).mean(axis=0))


def test_uncertainty_does_not_hold_a_pick_on_the_dearer_favourite(fitted):
    """An edge within the uncertainty is still the expected edge: at tradeoff 0 the model
    predicted best for the prompt answers, and the explanation says the edge is uncertain."""
    r = _fact_router(1.0, fitted=fitted)
    r.add_model("specialist", task_scores={"math": 0.99, "code": 0.5, "chat": 0.5}, price=(1.0, 2.0),
                task_score_sd=1.0)
    d = r.route(MATH, tradeoff=0.0, latency_weight=0.0, candidates=["dear", "cheap", "specialist"])
    assert d.model == "specialist", d.explanation
    assert d.chosen.uncertainty > 0
    worse = r.route(CHAT, tradeoff=0.0, latency_weight=0.0, candidates=["dear", "specialist"])
    assert worse.model == "dear"


def test_a_slow_thinking_model_does_not_answer_small_talk_at_tradeoff_0(fitted):
    r = _fact_router(0.3, fitted=fitted)
    r.add_model("thinker", task_scores={"math": 0.97, "code": 0.97, "chat": 0.97}, price=(1.0, 4.0),
                speed=ModelSpeed(ttft_s=5.0, output_tokens_per_s=30.0, reasoning_tokens=3000))
    r.add_model("chatty", task_scores={"math": 0.90, "code": 0.90, "chat": 0.95}, price=(1.0, 4.0),
                speed=ModelSpeed(ttft_s=0.4, output_tokens_per_s=100.0))
    assert r.route(CHAT, tradeoff=0.0, candidates=["thinker", "chatty"]).model == "chatty"
    assert r.route(CHAT, tradeoff=0.0, latency_weight=0.0, candidates=["thinker", "chatty"]).model == "thinker"


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
    slow = r.route(CHAT, tradeoff=0.0, latency_weight=0.0, candidates=["dear", "cheap"]).model
    fast = r.route(CHAT, tradeoff=0.0, latency_weight=0.01, candidates=["dear", "cheap"]).model
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
