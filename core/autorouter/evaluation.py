"""Measure routing quality: cost/quality curves, their convex hull, and the AIQ family of figures.

A router is judged by the answers it buys. For each test prompt it picks one model, and the
pick earns that model's *true* score and *true* cost on that prompt (from the data, never from
the router's own prediction). Sweeping the router's cost/quality knob gives a set of
(mean cost, mean quality) points on the test split. Mixing two settings at random realises any
point between them, so a router is credited with the upper convex hull of its points, made
non-decreasing in quality (a point dearer than another but not better adds nothing).

Reference points on the same split:

- **single models**: each model's mean score and mean cost; the *best* single model is the one
  with the highest mean score (ties: the cheapest).
- **zero-router**: the hull of the single models (what random mixing of fixed models achieves).
- **oracle**: for every prompt, a model with the top score (ties: the cheapest).

Figures (`RoutingFigures`):

- **aiq**: mean, over 50 budgets spaced logarithmically from the cheapest single model's mean
  cost to the dearest one's, of the best hull quality within that budget (0 where the hull has
  no point that cheap).
- **saving95**: 1 - (cost at which the hull first reaches 95% of the best single model's
  quality) / (the best single model's cost). None when the hull never gets there.
- **lift**: hull quality at the best single model's cost minus that model's quality.
- **gap**: (highest hull quality - best single quality) / (oracle - best single quality).

The exact definitions are those of `docs/evaluation.md`. Only numpy is needed.

Example:
    >>> train, test = random_halves(len(ds), seed=7)
    >>> figs = evaluate_picks(ds.scores[test], ds.cost_usd[test], picks)
    >>> print(figs.aiq, figs.saving95, figs.lift, figs.gap)
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .errors import InvalidRequestError

__all__ = [
    "AIQ_BUDGETS",
    "Hull",
    "RoutingFigures",
    "evaluate_picks",
    "hull_curve",
    "hull_quality_at",
    "oracle_picks",
    "random_halves",
    "routing_figures",
    "single_model_points",
    "zero_router_figures",
]

#: Number of log-spaced budgets AIQ averages over.
AIQ_BUDGETS = 50
#: Share of the best single model's quality that saving95 asks for.
SAVING_TARGET = 0.95
# Budgets this close (relatively) below the cheapest hull point still count as reaching it, so
# that a budget equal to a point's cost up to float rounding is not scored 0.
_REL_TOL = 1e-9

Hull = tuple[np.ndarray, np.ndarray]
"""An upper hull as `(costs, qualities)`: costs strictly increasing, qualities increasing."""


@dataclass(frozen=True)
class RoutingFigures:
    """The figures of one router on one test split (see the module docstring).

    Attributes:
        aiq: mean best hull quality over 50 log-spaced budgets between the cheapest and the
            dearest single model's mean cost.
        saving95: 1 - cost where the hull first reaches 95% of the best single model's quality,
            divided by that model's cost; None if the hull never reaches it. Negative when the
            router needs more than the best model's cost to get there.
        lift: hull quality at the best single model's cost minus that model's quality.
        gap: share of the best-single-to-oracle gap closed by the highest hull quality; NaN
            when the oracle is no better than the best single model.
        curve_costs, curve_qualities: the router's (mean cost, mean quality) points, one per
            knob setting, in the order given.
        hull_costs, hull_qualities: the upper convex hull of those points (increasing).
        best_single_cost, best_single_quality: the best single model's point.
        oracle_quality: the oracle's mean quality.
        cost_at_95: the cost at which the hull first reaches 95% of the best single quality,
            or None.
    """

    aiq: float
    saving95: float | None
    lift: float
    gap: float
    curve_costs: tuple[float, ...]
    curve_qualities: tuple[float, ...]
    hull_costs: tuple[float, ...]
    hull_qualities: tuple[float, ...]
    best_single_cost: float
    best_single_quality: float
    oracle_quality: float
    cost_at_95: float | None

    @property
    def max_quality(self) -> float:
        """The highest quality on the hull."""
        return self.hull_qualities[-1]

    @property
    def hull(self) -> Hull:
        """The hull as numpy arrays `(costs, qualities)`, ready for `hull_quality_at`."""
        return np.asarray(self.hull_costs), np.asarray(self.hull_qualities)

    def as_dict(self) -> dict[str, Any]:
        """Plain-Python dict (lists for the curves), e.g. to dump as JSON."""
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    def summary(self) -> str:
        """One line: `AIQ 0.781  saving95 0.77  lift +0.000  gap 0.00`."""
        s95 = "  n/a" if self.saving95 is None else f"{self.saving95:5.2f}"
        return f"AIQ {self.aiq:.3f}  saving95 {s95}  lift {self.lift:+.3f}  gap {self.gap:.2f}"


# --------------------------------------------------------------------------------------------
# validation helpers


def _points(costs: Any, qualities: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        c = np.asarray(costs, dtype=np.float64)
        q = np.asarray(qualities, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidRequestError(f"{what}: costs and qualities must be numbers ({e})") from e
    if c.ndim != 1 or q.ndim != 1:
        raise InvalidRequestError(
            f"{what}: costs and qualities must be 1-D, got shapes {c.shape} and {q.shape}"
        )
    if c.shape != q.shape:
        raise InvalidRequestError(
            f"{what}: {c.size} costs but {q.size} qualities; give one of each per point"
        )
    if c.size == 0:
        raise InvalidRequestError(f"{what}: no points given")
    if not np.all(np.isfinite(c)):
        raise InvalidRequestError(f"{what}: costs contain NaN or infinite values")
    if not np.all(np.isfinite(q)):
        raise InvalidRequestError(f"{what}: qualities contain NaN or infinite values")
    if np.any(c < 0):
        raise InvalidRequestError(f"{what}: costs must be >= 0, got min {c.min()}")
    return c, q


def _matrices(scores: Any, costs: Any) -> tuple[np.ndarray, np.ndarray]:
    try:
        s = np.asarray(scores, dtype=np.float64)
        c = np.asarray(costs, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidRequestError(f"scores and costs must be numeric arrays ({e})") from e
    if s.ndim != 2:
        raise InvalidRequestError(f"scores must be (n_prompts, n_models), got shape {s.shape}")
    if c.shape != s.shape:
        raise InvalidRequestError(
            f"costs has shape {c.shape} but scores has {s.shape}; they must match "
            "(one true cost per prompt and model)"
        )
    if s.shape[0] == 0 or s.shape[1] == 0:
        raise InvalidRequestError(f"empty test set: scores has shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise InvalidRequestError("scores contain NaN or infinite values; drop those rows")
    bad = ~np.isfinite(c)
    if bad.any():
        cols = sorted(set(np.nonzero(bad)[1].tolist()))
        raise InvalidRequestError(
            f"costs contain {int(bad.sum())} NaN or infinite values (model columns {cols}); "
            "drop those rows or fill in estimated costs before evaluating"
        )
    if np.any(c < 0):
        raise InvalidRequestError(f"costs must be >= 0, got min {c.min()}")
    return s, c


# --------------------------------------------------------------------------------------------
# hull


def hull_curve(costs: Sequence[float] | np.ndarray, qualities: Sequence[float] | np.ndarray) -> Hull:
    """Upper convex hull of (mean cost, mean quality) points, made non-decreasing in quality.

    The hull starts at the cheapest point (the best one among equally cheap points) and climbs
    along the upper convex boundary up to the first point of highest quality; points that are
    dearer than another without being better, and points below a segment between two others
    (random mixing beats them), are dropped. Collinear middle points are dropped too, since
    interpolation reproduces them.

    Args:
        costs: mean cost of each point (>= 0).
        qualities: mean quality of each point.

    Returns:
        `(hull_costs, hull_qualities)`: float arrays, costs strictly increasing, qualities
        strictly increasing (a single point when the cheapest point is also the best).

    Raises:
        InvalidRequestError: empty input, mismatched lengths, NaN/inf or negative costs.
    """
    c, q = _points(costs, qualities, "hull_curve")
    order = np.lexsort((-q, c))  # by cost, then best quality first
    c, q = c[order], q[order]
    keep = np.ones(c.size, dtype=bool)
    keep[1:] = c[1:] != c[:-1]  # among equal costs, keep the best (first) point
    c, q = c[keep], q[keep]

    hc: list[float] = []
    hq: list[float] = []
    for x, y in zip(c.tolist(), q.tolist(), strict=True):
        # Pop while the last point lies on or below the chord from the one before it to (x, y).
        while len(hc) >= 2:
            cross = (hc[-1] - hc[-2]) * (y - hq[-2]) - (hq[-1] - hq[-2]) * (x - hc[-2])
            if cross >= 0:
                hc.pop()
                hq.pop()
            else:
                break
        hc.append(x)
        hq.append(y)
    hull_c, hull_q = np.array(hc), np.array(hq)
    # The upper hull is concave: it rises, then (maybe) falls. Keep the rising part, up to the
    # first (cheapest) point of top quality.
    top = int(np.argmax(hull_q))
    return hull_c[: top + 1], hull_q[: top + 1]


def hull_quality_at(hull: Hull, budget: float | Sequence[float] | np.ndarray) -> Any:
    """Best quality reachable on `hull` at mean cost <= `budget`.

    Linear between hull points (random mixing of two settings), flat at the top quality beyond
    the dearest hull point, and 0 below the cheapest one (nothing is affordable there).

    Args:
        hull: `(hull_costs, hull_qualities)` as returned by `hull_curve`.
        budget: a budget or an array of budgets (mean USD per prompt).

    Returns:
        a float for a scalar budget, else an array shaped like `budget`.

    Raises:
        InvalidRequestError: malformed hull or NaN budget.
    """
    try:
        hc, hq = (np.asarray(a, dtype=np.float64) for a in hull)
    except (TypeError, ValueError) as e:
        raise InvalidRequestError(f"hull must be a (costs, qualities) pair of arrays ({e})") from e
    hc, hq = _points(hc, hq, "hull_quality_at")
    if hc.size > 1 and np.any(np.diff(hc) <= 0):
        raise InvalidRequestError("hull costs must be strictly increasing; build it with hull_curve")
    b = np.asarray(budget, dtype=np.float64)
    if np.any(np.isnan(b)):
        raise InvalidRequestError("budget is NaN")
    out = np.interp(b, hc, hq)  # clamps to hq[-1] above the dearest point
    out = np.where(b < hc[0] * (1.0 - _REL_TOL), 0.0, out)
    return float(out) if out.ndim == 0 else out


def _cost_to_reach(hull: Hull, target: float) -> float | None:
    """Cheapest cost at which the hull reaches `target` quality, or None if it never does."""
    hc, hq = hull
    if hq[-1] < target:
        return None
    i = int(np.argmax(hq >= target))
    if i == 0:
        return float(hc[0])
    c0, c1, q0, q1 = hc[i - 1], hc[i], hq[i - 1], hq[i]
    return float(c0 + (target - q0) * (c1 - c0) / (q1 - q0))


# --------------------------------------------------------------------------------------------
# figures


def routing_figures(
    curve_costs: Sequence[float] | np.ndarray,
    curve_qualities: Sequence[float] | np.ndarray,
    single_costs: Sequence[float] | np.ndarray,
    single_qualities: Sequence[float] | np.ndarray,
    oracle_quality: float,
) -> RoutingFigures:
    """AIQ, saving95, lift and gap of a router's (cost, quality) points.

    Args:
        curve_costs, curve_qualities: the router's mean cost and mean quality per knob setting.
        single_costs, single_qualities: each single model's mean cost and quality on the same
            test split (they set the budget range and the best single model).
        oracle_quality: the oracle's mean quality on the same split.

    Raises:
        InvalidRequestError: empty or mismatched inputs, NaN values, or a cheapest single model
            with zero cost (a log-spaced budget range needs a positive start).
    """
    cc, cq = _points(curve_costs, curve_qualities, "router curve")
    sc, sq = _points(single_costs, single_qualities, "single models")
    oracle = float(oracle_quality)
    if not np.isfinite(oracle):
        raise InvalidRequestError("oracle_quality is NaN or infinite")
    lo, hi = float(sc.min()), float(sc.max())
    if lo <= 0:
        raise InvalidRequestError(
            "the cheapest single model has mean cost 0; AIQ's log-spaced budgets need costs > 0"
        )
    hull = hull_curve(cc, cq)
    budgets = np.geomspace(lo, hi, AIQ_BUDGETS) if hi > lo else np.full(AIQ_BUDGETS, lo)
    aiq = float(np.mean(hull_quality_at(hull, budgets)))

    # Best single model: highest mean quality, ties to the cheapest.
    best = int(np.lexsort((sc, -sq))[0])
    best_c, best_q = float(sc[best]), float(sq[best])
    cost95 = _cost_to_reach(hull, SAVING_TARGET * best_q)
    saving95 = None if cost95 is None or best_c <= 0 else 1.0 - cost95 / best_c
    lift = float(hull_quality_at(hull, best_c)) - best_q
    denom = oracle - best_q
    gap = float((hull[1][-1] - best_q) / denom) if denom > 0 else float("nan")
    return RoutingFigures(
        aiq=aiq,
        saving95=saving95,
        lift=lift,
        gap=gap,
        curve_costs=tuple(cc.tolist()),
        curve_qualities=tuple(cq.tolist()),
        hull_costs=tuple(hull[0].tolist()),
        hull_qualities=tuple(hull[1].tolist()),
        best_single_cost=best_c,
        best_single_quality=best_q,
        oracle_quality=oracle,
        cost_at_95=cost95,
    )


def single_model_points(scores: Any, costs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each model's `(mean cost, mean quality)` over the rows: two arrays of length n_models.

    Raises:
        InvalidRequestError: shapes differ, empty arrays, or NaN costs/scores.
    """
    s, c = _matrices(scores, costs)
    return c.mean(axis=0), s.mean(axis=0)


def oracle_picks(scores: Any, costs: Any) -> np.ndarray:
    """Per prompt, the column of a model with the top score (ties: the cheapest). Shape (n,)."""
    s, c = _matrices(scores, costs)
    top = s == s.max(axis=1, keepdims=True)
    return np.argmin(np.where(top, c, np.inf), axis=1).astype(np.int64)


def _pick_points(s: np.ndarray, c: np.ndarray, picks: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(picks, np.ndarray) and picks.ndim == 1:
        picks = [picks]  # a single setting
    try:
        settings = list(picks)
    except TypeError as e:
        raise InvalidRequestError("picks must be a list of (n_prompts,) int arrays") from e
    if not settings:
        raise InvalidRequestError("picks is empty: give at least one knob setting")
    n, m = s.shape
    rows = np.arange(n)
    costs, quals = [], []
    for k, p in enumerate(settings):
        p = np.asarray(p)
        if p.shape != (n,):
            raise InvalidRequestError(
                f"picks[{k}] has shape {p.shape}, expected ({n},): one model column per prompt"
            )
        if p.dtype.kind not in "iu":
            if p.dtype.kind == "f" and np.all(np.isfinite(p)) and np.all(p == np.round(p)):
                p = p.astype(np.int64)
            else:
                raise InvalidRequestError(
                    f"picks[{k}] must hold integer model columns, got dtype {p.dtype}"
                )
        if p.min() < 0 or p.max() >= m:
            raise InvalidRequestError(
                f"picks[{k}] holds column {int(p.min() if p.min() < 0 else p.max())}, "
                f"outside 0..{m - 1}"
            )
        costs.append(c[rows, p].mean())
        quals.append(s[rows, p].mean())
    return np.array(costs), np.array(quals)


def evaluate_picks(scores: Any, costs: Any, picks: Sequence[np.ndarray] | np.ndarray) -> RoutingFigures:
    """Figures of a router from its picks on a test split, scored with the TRUE scores and costs.

    Args:
        scores: `(n, m)` true quality of each model on each test prompt.
        costs: `(n, m)` true cost in USD of each model on each test prompt.
        picks: one `(n,)` int array of chosen model columns per knob setting (e.g. from a
            sweep of the tradeoff from best quality to cheapest).

    Raises:
        InvalidRequestError: mismatched shapes, NaN costs, empty input, picks out of range.
    """
    s, c = _matrices(scores, costs)
    curve_c, curve_q = _pick_points(s, c, picks)
    single_c, single_q = c.mean(axis=0), s.mean(axis=0)
    oracle_q = float(s[np.arange(s.shape[0]), oracle_picks(s, c)].mean())
    return routing_figures(curve_c, curve_q, single_c, single_q, oracle_q)


def zero_router_figures(scores: Any, costs: Any) -> RoutingFigures:
    """Figures of the zero-router: the hull of the single models alone (no per-prompt routing)."""
    s, c = _matrices(scores, costs)
    single_c, single_q = c.mean(axis=0), s.mean(axis=0)
    oracle_q = float(s.max(axis=1).mean())
    return routing_figures(single_c, single_q, single_c, single_q, oracle_q)


# --------------------------------------------------------------------------------------------
# split


def random_halves(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices 0..n-1 into random (train, test) halves.

    Convention (the one that reproduces `docs/evaluation.md`): shuffle `list(range(n))` with
    Python's `random.Random(seed).shuffle`; the first `n // 2` shuffled indices are the train
    half and the remaining `n - n // 2` the test half, each kept in shuffled order.

    The reference figures of `docs/evaluation.md` (best single model 0.874, oracle 0.973,
    zero-router AIQ 0.756, saving95 0.40) come out of this split over the 3,164 rows of
    `routerbench_subset/prompts_scores.jsonl.gz` in file order, i.e. *before* `load_dataset`
    drops its 2 duplicate-prompt rows. To use the same split on a loaded dataset, split the
    file's row positions and map them to dataset rows by an id (e.g. `meta["prompt_id"]`).

    Raises:
        InvalidRequestError: n < 2.
    """
    if isinstance(n, bool) or int(n) != n or n < 2:
        raise InvalidRequestError(f"random_halves needs at least 2 rows, got n={n}")
    order = list(range(int(n)))
    random.Random(seed).shuffle(order)
    perm = np.asarray(order, dtype=np.int64)
    half = int(n) // 2
    return perm[:half], perm[half:]
