"""The tradeoff knob: how settings of `tradeoff` map to the cost weight of the policy."""

from __future__ import annotations

import numpy as np

from autorouter.policy import TradeoffScale


def _two_kinds_of_training_prompts() -> tuple[np.ndarray, np.ndarray]:
    # Kind A leaves the dear model at a small cost weight (about 0.044), kind B only at a
    # large one (10): between the two, the training spend barely moves.
    q = np.array([[0.5, 0.9]] * 50 + [[0.0, 1.0]] * 50)
    c = np.array([[1.0, 10.0]] * 50 + [[1.0, 1.1]] * 50)
    return q, c


def test_knob_has_no_dead_zone_where_training_spend_is_flat():
    """Prompts unlike the training ones change their pick at other cost weights; a sweep of the
    knob in steps of 0.05 must reach them, not jump over a 200x range of weights in one step."""
    scale = TradeoffScale.calibrate(*_two_kinds_of_training_prompts())
    lams = np.array([scale.lam_for(t) for t in np.linspace(0.0, 1.0, 21)[:-1]])
    pos = lams[lams > 0]
    assert np.all(np.diff(lams) >= 0)
    assert pos.min() < 0.044 and pos.max() > 10 / 2  # the sweep spans both kinds' switches
    assert np.max(pos[1:] / pos[:-1]) < 4.0


def test_knob_ends_and_middle_follow_spend():
    q, c = _two_kinds_of_training_prompts()
    scale = TradeoffScale.calibrate(q, c)
    rows = np.arange(len(q))
    spend = [c[rows, np.argmax(q - scale.lam_for(t) * c, axis=1)].mean() if t < 1 else c.min(axis=1).mean()
             for t in (0.0, 0.5, 1.0)]
    assert spend[0] == c.max(axis=1).mean()  # 0: best predicted quality whatever it costs
    assert spend[0] > spend[1] > spend[2]  # the middle of the knob buys something in between
    assert scale.lam_for(1.0) == np.inf


def test_equal_costs_leave_nothing_to_trade():
    q = np.random.default_rng(0).random((20, 3))
    scale = TradeoffScale.calibrate(q, np.ones((20, 3)))
    assert scale.lam_for(0.5) == 0.0
