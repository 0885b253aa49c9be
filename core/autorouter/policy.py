"""The routing policy: turn predicted quality and cost into a ranking for a given tradeoff.

A candidate's score is `quality - lam * cost`. The user-facing `tradeoff` in [0, 1] is mapped
to `lam` by a table calibrated on the training prompts, so that equal steps of `tradeoff` give
equal ratios of expected spend: 0 buys the best predicted quality whatever it costs, 1 the
cheapest model, 0.5 about the geometric middle of the two spends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import InvalidRequestError

DEFAULT_TRADEOFF = 0.3
#: Share of the knob spread evenly over log(lam) rather than over spend (see `calibrate`).
LOG_LAM_SHARE = 0.5
# The even-in-log(lam) part spans the lams over which the training spend falls from 98% to 2%
# of its travel: the few prompts that change their pick far outside it would otherwise take
# a large share of the knob where spend barely moves.
_TAIL = 0.02


def check_tradeoff(t: float) -> float:
    try:
        t = float(t)
    except (TypeError, ValueError):
        raise InvalidRequestError(f"tradeoff must be a number in [0, 1], got {t!r}") from None
    if math.isnan(t) or not 0.0 <= t <= 1.0:
        raise InvalidRequestError(
            f"tradeoff must be in [0, 1] (0 = best quality, 1 = cheapest), got {t}"
        )
    return t


def _positive_cap(value: float | None, name: str, unit: str) -> float | None:
    """A cap as a positive float, None for no cap; anything else is the caller's mistake."""
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidRequestError(f"{name} must be a number of {unit}, got {value!r}") from None
    if math.isnan(v) or v <= 0:
        raise InvalidRequestError(f"{name} must be a positive number of {unit}, got {v}")
    return v


def check_max_cost(c: float | None) -> float | None:
    return _positive_cap(c, "max_cost", "USD per call")


@dataclass
class TradeoffScale:
    """Monotone table from tradeoff in [0, 1) to the cost weight `lam` (USD^-1)."""

    t: np.ndarray
    lam: np.ndarray

    @classmethod
    def calibrate(cls, quality: np.ndarray, cost: np.ndarray, points: int = 240) -> TradeoffScale:
        """Fit the table on predicted (n, m) quality and cost of the training prompts."""
        rows = np.arange(len(quality))
        ref = float(np.median(cost))
        lams = np.concatenate([[0.0], np.geomspace(1e-4, 1e4, points) / max(ref, 1e-12)])
        spend = np.array(
            [cost[rows, np.argmax(quality - lam * cost, axis=1)].mean() for lam in lams]
        )
        cheapest = cost[rows, np.argmin(cost, axis=1)].mean()
        top, low = math.log(max(spend[0], 1e-12)), math.log(max(cheapest, 1e-12))
        if top - low < 1e-9:  # every model costs the same: the knob has nothing to trade
            return cls(np.array([0.0, 1.0]), np.array([0.0, 0.0]))
        t_spend = np.clip((top - np.log(np.maximum(spend, 1e-12))) / (top - low), 0.0, 1.0)
        t_spend = np.maximum.accumulate(t_spend)
        t = (1.0 - LOG_LAM_SHARE) * t_spend + LOG_LAM_SHARE * _log_lam_position(lams, t_spend)
        keep = np.concatenate([[True], np.diff(t) > 1e-9])
        return cls(t[keep], lams[keep])

    def lam_for(self, tradeoff: float) -> float:
        """The cost weight for `tradeoff` (inf at 1: cheapest model)."""
        if tradeoff >= 1.0:
            return math.inf
        if len(self.t) < 2 or tradeoff <= self.t[0]:
            return float(self.lam[0])
        if tradeoff >= self.t[-1]:
            return float(self.lam[-1]) * 10.0
        i = int(np.searchsorted(self.t, tradeoff))
        t0, t1, l0, l1 = self.t[i - 1], self.t[i], self.lam[i - 1], self.lam[i]
        if l0 <= 0:
            return float(l1 * (tradeoff - t0) / (t1 - t0))
        frac = (tradeoff - t0) / (t1 - t0)
        return float(math.exp(math.log(l0) + frac * (math.log(l1) - math.log(l0))))


def _log_lam_position(lams: np.ndarray, t_spend: np.ndarray) -> np.ndarray:
    """Position in [0, 1] of each lam on a log scale spanning where most picks change."""
    moving = np.flatnonzero((t_spend > _TAIL) & (t_spend < 1.0 - _TAIL))
    pos = lams > 0
    if len(moving) == 0 or not pos.any():
        return t_spend
    lo = math.log(max(lams[max(moving[0] - 1, 0)], lams[pos][0]))
    hi = math.log(lams[min(moving[-1] + 1, len(lams) - 1)])
    out = np.zeros_like(t_spend)
    out[pos] = np.clip((np.log(lams[pos]) - lo) / (hi - lo), 0.0, 1.0)
    return out


def policy_scores(quality: np.ndarray, cost: np.ndarray, lam: float) -> np.ndarray:
    """Score of every candidate (higher is better); ties in quality go to the cheaper model."""
    if math.isinf(lam):
        # The cheapest model, ties broken by quality; scaled so the score still reads as "-cost".
        return -cost + 1e-12 * quality
    return quality - lam * cost - 1e-9 * cost / max(float(np.max(cost)), 1e-12)


def rank(scores: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Column order per row: eligible candidates by descending score, then the excluded ones."""
    key = np.where(eligible, scores, -np.inf)
    order = np.argsort(-key, axis=-1, kind="stable")
    return order


#: An edge in predicted quality counts only beyond this many standard deviations of its own
#: uncertainty (that of the difference between the two models).
CONFIDENCE_Z = 1.0
#: Above tradeoff 0, an edge within the uncertainty never buys a model this many times dearer.
DEARER_RATIO = 2.0
#: Default weight of predicted latency in the score: quality points per second (0.0005: a
#: minute of waiting weighs as much as 0.03 of quality; a tie-breaker, not a driver).
DEFAULT_LATENCY_WEIGHT = 0.0005


def check_max_latency(s: float | None) -> float | None:
    return _positive_cap(s, "max_latency_s", "seconds")


def check_latency_weight(w: float) -> float:
    try:
        w = float(w)
    except (TypeError, ValueError):
        raise InvalidRequestError(f"latency_weight must be a number >= 0, got {w!r}") from None
    if not math.isfinite(w) or w < 0:
        raise InvalidRequestError(f"latency_weight must be a finite number >= 0 (quality per second), got {w}")
    return w


def confident_picks(
    quality: np.ndarray,
    sd: np.ndarray,
    cost: np.ndarray,
    scores: np.ndarray,
    eligible: np.ndarray,
    tradeoff: float,
    strength: np.ndarray,
) -> np.ndarray:
    """The chosen column per row, respecting the router's own uncertainty `sd` (n, m).

    At tradeoff 0 the pick is the strongest candidate overall (`strength`, its mean predicted
    quality on typical prompts) unless another one is better on this prompt by more than
    `CONFIDENCE_Z` standard deviations of the difference. Above 0 the best-scoring candidate is
    kept unless a candidate `DEARER_RATIO` times cheaper is within that uncertainty of it; then
    the best-scoring of those cheaper ones is chosen. With no uncertainty (sd = 0) this is
    exactly the best score (at 0: the best quality)."""
    n, m = quality.shape
    key = np.where(eligible, scores, -np.inf)
    picks = np.argmax(key, axis=1)
    if m < 2:
        return picks
    rows = np.arange(n)
    if tradeoff <= 0.0:
        anchor = np.argmax(np.where(eligible, strength[None, :], -np.inf), axis=1)
        best = picks
        margin = CONFIDENCE_Z * np.sqrt(sd[rows, anchor] ** 2 + sd[rows, best] ** 2)
        leave = quality[rows, best] - quality[rows, anchor] > margin
        return np.where(leave, best, anchor)
    margin = CONFIDENCE_Z * np.sqrt(sd[rows, picks][:, None] ** 2 + sd**2)
    within = quality[rows, picks][:, None] - quality <= margin
    cheaper = cost * DEARER_RATIO <= cost[rows, picks][:, None]
    alt = eligible & within & cheaper
    alt_key = np.where(alt, scores, -np.inf)
    alt_pick = np.argmax(alt_key, axis=1)
    return np.where(alt.any(axis=1), alt_pick, picks)


def order_with_pick(scores: np.ndarray, eligible: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """`rank`'s order with each row's pick moved to the front."""
    order = rank(scores, eligible)
    out = np.empty_like(order)
    for i, p in enumerate(picks):
        row = order[i]
        out[i] = np.concatenate([[p], row[row != p]])
    return out
