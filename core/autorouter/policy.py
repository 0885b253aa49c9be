"""The routing policy: turn predicted quality and cost into a ranking for a given tradeoff.

A candidate's score is `quality - lam * cost`. The user-facing `tradeoff` in [0, 1] is mapped
to `lam` by a table calibrated on the training prompts, so that equal steps of `tradeoff` give
equal ratios of expected spend: 0 buys the best predicted quality whatever it costs, 1 the
cheapest model, 0.5 about the geometric middle of the two spends.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .errors import InvalidRequestError
from .state import State, check_increasing, check_members, check_ranges, check_shapes

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

    MEMBERS: ClassVar[tuple[str, ...]] = ("scale_t", "scale_lam")

    t: np.ndarray
    lam: np.ndarray

    def state(self) -> State:
        """No router.json fields; the arrays `scale_t` and `scale_lam`."""
        return {}, {"scale_t": self.t, "scale_lam": self.lam}

    @classmethod
    def from_state(cls, fields: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> TradeoffScale:
        """The table `state()` gave; `RouterLoadError` naming the member at fault."""
        check_members(arrays, cls.MEMBERS)
        n = arrays["scale_t"].size
        check_shapes(arrays, {"scale_t": ((max(n, 1),), "a table"), "scale_lam": ((n,), "the length of 'scale_t'")})
        check_ranges(arrays, {"scale_t": (0.0, 1.0), "scale_lam": (0.0, None)})
        check_increasing(arrays, cls.MEMBERS)
        return cls(arrays["scale_t"], arrays["scale_lam"])

    @classmethod
    def calibrate(
        cls, quality: np.ndarray, cost: np.ndarray, points: int = 240, latency: np.ndarray | None = None,
        sd: np.ndarray | None = None,
    ) -> TradeoffScale:
        """Fit the table on predicted (n, m) quality and cost of the calibration prompts.

        The picks are the router's own (`decide`, with the price of `latency` and the
        quality's `sd`, each (n, m)): a table fitted on other picks would place the knob's
        steps where the router's spend does not move."""
        rows = np.arange(len(quality))
        ref = float(np.median(cost))
        lams = np.concatenate([[0.0], np.geomspace(1e-4, 1e4, points) / max(ref, 1e-12)])
        everyone = np.ones(quality.shape, dtype=bool)
        spend = np.array(
            [cost[rows, decide(quality, cost, everyone, lam, latency, sd)[1]].mean() for lam in lams]
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


#: Scores closer than this to the best are a tie, which the cheapest of them wins: the
#: predictions cannot tell a few thousandths of quality apart, and the money is real.
SCORE_TIE = 0.005
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


#: At a tradeoff above 0, a model at least this many times dearer than another must beat it
#: by more than `EDGE_CONFIDENCE` times the uncertainty of their difference.
MANY_TIMES_DEARER = 10.0
#: An edge under half the standard deviation of the difference (below a ~69% chance that the
#: dearer model is the better one) is not worth many times the money. Measured on held-out
#: outcomes (benchmarks/seed_sets.py): 1.0 sends hard maths to cheap models whose facts are too
#: loose to tell them apart from o1-mini (quality at 0.3 on MATH level 5 0.84 -> 0.45); 0.5
#: costs 0.03 there and keeps every trivial everyday prompt off dear models.
EDGE_CONFIDENCE = 0.5


def best_picks(
    scores: np.ndarray, cost: np.ndarray, eligible: np.ndarray, sd: np.ndarray | None = None,
    quality: np.ndarray | None = None,
) -> np.ndarray:
    """The chosen column per row: the best score (expected quality, less the price of its cost
    and latency), the cheapest eligible candidate winning a tie within `SCORE_TIE`.

    With `sd` (n, m), the uncertainty of each predicted quality, an edge the router cannot
    vouch for does not buy a much dearer model: if an eligible candidate at least
    `MANY_TIMES_DEARER` times cheaper than that pick is within `EDGE_CONFIDENCE` standard
    deviations of their difference below it, the best-scoring such candidate is chosen. The
    edge is in `quality` (n, m) when given (as `decide` does), else in score; in score, the
    pick's price would count twice (once in the score, once in the rule), and a hard prompt
    whose dear model is clearly better went to a cheap one at the default tradeoff.
    `decide` passes `sd` above tradeoff 0 only: at 0 the user asked for the best answer."""
    key = np.where(eligible, scores, -np.inf)
    picks = np.argmin(np.where(_tied(key, eligible), cost, np.inf), axis=1)
    if sd is None:
        return picks
    # The edge that must beat the uncertainty is the pick's predicted quality over the cheaper
    # model's, not its score's: the score already charged the pick its price once.
    edge = key if quality is None else np.where(eligible, quality, -np.inf)
    cheaper = eligible & _unproven(edge, picks, sd, eligible) & (cost * MANY_TIMES_DEARER <= _at(cost, picks))
    fallback = np.argmax(np.where(cheaper, key, -np.inf), axis=1)
    return np.where(cheaper.any(axis=1), fallback, picks)


#: Pseudo-prompts of overall strength a family's strength is shrunk toward (`family_strength`).
FAMILY_STRENGTH_PRIOR = 5.0


def family_strength(quality: np.ndarray, sd: np.ndarray, task_w: np.ndarray,
                    prior: float = FAMILY_STRENGTH_PRIOR) -> np.ndarray:
    """(T, m) how strong each of m candidates is on each of T families of prompts: its mean
    predicted quality on a sample's prompts of the family, less `EDGE_CONFIDENCE` of its
    uncertainty (so a loosely placed model is not the one to stay with on a hair's edge).
    Each prompt counts by its family weights `task_w` (n, T), and a family the sample barely
    holds is shrunk by `prior` pseudo-prompts toward the candidate's strength over all of it."""
    cautious = quality - EDGE_CONFIDENCE * sd
    overall = cautious.mean(axis=0)
    return (task_w.T @ cautious + prior * overall) / (task_w.sum(axis=0)[:, None] + prior)


def strongest_picks(
    scores: np.ndarray, cost: np.ndarray, eligible: np.ndarray, sd: np.ndarray, strength: np.ndarray
) -> np.ndarray:
    """Tradeoff 0's picks: the best expected answer (of candidates tied within `SCORE_TIE`,
    the strongest, not the cheapest: on a prompt every model answers alike, whoever asked for
    the best answer still gets the model strongest on such prompts), except that the strongest eligible
    candidate on prompts like this one (highest `strength`, (n, m) or (m,): e.g. the prompt's
    family weights times `family_strength`) is left only for a candidate whose edge on this
    prompt is more than `EDGE_CONFIDENCE` standard deviations of their difference. So the
    best-quality setting does no worse on average than always calling the strongest model
    for the kind of traffic it gets (o1-mini on competition maths, claude-3.5-sonnet on
    code), unless the router is confident: an edge of a few hundredths within a placement's
    uncertainty is as likely a placement error as a real one. The strongest model is not one
    `MANY_TIMES_DEARER` times dearer than the pick: many times the money for an answer
    expected to be worse is no hedge a careful engineer would buy."""
    rows = np.arange(len(scores))
    key = np.where(eligible, scores, -np.inf)
    strong = np.broadcast_to(strength, cost.shape)
    picks = np.argmax(np.where(_tied(key, eligible), strong, -np.inf), axis=1)
    affordable = eligible & (cost < MANY_TIMES_DEARER * _at(cost, picks))
    anchor = np.argmax(np.where(affordable, strong, -np.inf), axis=1)
    unproven = _unproven(key, picks, sd, eligible)[rows, anchor]
    return np.where(affordable[rows, anchor] & unproven, anchor, picks)


def _tied(key: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """(n, m) the eligible candidates whose score `key` is within `SCORE_TIE` of their row's best."""
    return eligible & (key >= np.max(key, axis=1, keepdims=True) - SCORE_TIE)


def _at(values: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """(n, 1) each row's value at its pick."""
    return values[np.arange(len(values)), picks][:, None]


def _unproven(key: np.ndarray, picks: np.ndarray, sd: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """(n, m) whether each candidate scores within `EDGE_CONFIDENCE` standard deviations of
    their difference below its row's pick (a row with no eligible candidate, which the caller
    refuses, has none)."""
    gap = np.where(eligible, _at(key, picks) - np.where(eligible, key, 0.0), np.inf)
    return gap <= EDGE_CONFIDENCE * np.sqrt(sd**2 + _at(sd, picks) ** 2)


def decide(
    quality: np.ndarray, cost: np.ndarray, eligible: np.ndarray, lam: float,
    latency: np.ndarray | None = None, sd: np.ndarray | None = None, strength: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and picks of (n, m) candidates at cost weight `lam`: the one decision rule, for
    routing and for the knob's calibration alike.

    `latency` (n, m) is its price in quality points, left out at tradeoff 1 (`lam` inf), where
    the cheapest model is the promise however slow. `sd`, the quality's uncertainty, counts
    above tradeoff 0 through `best_picks`' rule; at tradeoff 0, with `strength` ((n, m) or (m,)), through
    `strongest_picks`' rule."""
    scores = policy_scores(quality, cost, lam)
    if latency is not None and not math.isinf(lam):
        scores = scores - latency
    if lam > 0:
        return scores, best_picks(scores, cost, eligible, sd, quality)
    if sd is None or strength is None:
        return scores, best_picks(scores, cost, eligible)
    return scores, strongest_picks(scores, cost, eligible, sd, strength)


def order_with_pick(scores: np.ndarray, eligible: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """`rank`'s order with each row's pick moved to the front."""
    order = rank(scores, eligible)
    out = np.empty_like(order)
    for i, p in enumerate(picks):
        row = order[i]
        out[i] = np.concatenate([[p], row[row != p]])
    return out
