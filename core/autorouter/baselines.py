"""The reference routers of `docs/evaluation.md` that need nothing but numpy: RouterBench's kNN
router, and the knob sweep every baseline is evaluated with. The benchmark's other baselines
(linear head, RouteLLM's matrix factorisation, RoRF's forests) live in `benchmarks/baselines.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["Baseline", "KNNRouter", "lambda_grid", "sweep_picks"]


def lambda_grid(pred_cost: np.ndarray, n: int = 60) -> np.ndarray:
    """Cost weights from 0 (best predicted quality) to huge (cheapest predicted model).

    `n - 2` values are log-spaced over 1e-4 .. 1e4 in units of 1 / (mean predicted cost), so
    that `lambda * cost` sweeps from negligible to dominant against qualities in [0, 1]; 0 and
    1e12 / (mean predicted cost) are added at the ends.
    """
    if n < 3:
        raise ValueError(f"need at least 3 lambdas, got {n}")
    scale = float(np.nanmean(pred_cost))
    if not np.isfinite(scale) or scale <= 0:
        scale = 1.0
    mid = np.geomspace(1e-4, 1e4, n - 2) / scale
    return np.concatenate([[0.0], mid, [1e12 / scale]])


def sweep_picks(
    pred_quality: np.ndarray,
    pred_cost: np.ndarray,
    lambdas: Sequence[float] | np.ndarray | None = None,
) -> list[np.ndarray]:
    """For each lambda, every prompt's argmax over models of `quality - lambda * cost`.

    Ties (e.g. equal predicted quality at lambda = 0) go to the cheaper predicted model.

    Args:
        pred_quality: `(n, m)` predicted quality.
        pred_cost: `(n, m)` predicted cost (or `(m,)`, broadcast over prompts).
        lambdas: cost weights; default `lambda_grid(pred_cost)`.

    Returns:
        one `(n,)` int array of model columns per lambda, in the order of `lambdas`.
    """
    q = np.asarray(pred_quality, dtype=np.float64)
    c = np.broadcast_to(np.asarray(pred_cost, dtype=np.float64), q.shape)
    if q.ndim != 2:
        raise ValueError(f"pred_quality must be (n, m), got {q.shape}")
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(c))):
        raise ValueError("predicted quality and cost must be finite")
    lams = lambda_grid(c) if lambdas is None else np.asarray(lambdas, dtype=np.float64)
    # Tie-break toward the cheaper model with a nudge far below any real quality difference.
    cmax = float(np.max(np.abs(c))) or 1.0
    nudge = 1e-9 * c / cmax
    picks = []
    for lam in lams:
        # At huge lambdas, compare costs alone (quality would vanish in rounding anyway).
        u = q - lam * c - nudge if lam * cmax < 1e9 else -c + 1e-12 * q
        picks.append(np.argmax(u, axis=1).astype(np.int64))
    return picks



def _check_xy(X: Any, scores: Any, costs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    X = np.asarray(X, dtype=np.float64)
    S = np.asarray(scores, dtype=np.float64)
    if X.ndim != 2 or S.ndim != 2 or X.shape[0] != S.shape[0]:
        raise ValueError(f"X must be (n, d) and scores (n, m); got {X.shape} and {S.shape}")
    if X.shape[0] < 2:
        raise ValueError("need at least 2 training prompts")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(S))):
        raise ValueError("X and scores must be finite")
    C = None
    if costs is not None:
        C = np.asarray(costs, dtype=np.float64)
        if C.shape != S.shape:
            raise ValueError(f"costs has shape {C.shape}, scores {S.shape}")
    return X, S, C


def _l2_normalise(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norms, 1e-12)


def _is_binary(S: np.ndarray) -> bool:
    return bool(np.all((S == 0) | (S == 1)))



class Baseline:
    """Common part: remembers model means and per-model mean train cost."""

    name = "baseline"

    def __init__(self) -> None:
        self.n_models_: int | None = None
        self.mean_quality_: np.ndarray | None = None
        self.mean_cost_: np.ndarray | None = None

    def _fit_common(self, S: np.ndarray, C: np.ndarray | None) -> None:
        self.n_models_ = S.shape[1]
        self.mean_quality_ = S.mean(axis=0)
        self.mean_cost_ = None if C is None else np.nanmean(C, axis=0)

    def _check_fitted(self, X: Any) -> np.ndarray:
        if self.n_models_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit first")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"X must be (n, d), got {X.shape}")
        return X

    def fit(self, X: Any, scores: Any, costs: Any = None) -> Baseline:
        raise NotImplementedError

    def predict_quality(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def predict_cost(self, X: Any) -> np.ndarray:
        """Per-model mean train cost, repeated for every prompt: `(n, m)`."""
        X = self._check_fitted(X)
        if self.mean_cost_ is None:
            raise RuntimeError("fitted without costs: pass costs to fit to predict them")
        return np.tile(self.mean_cost_, (X.shape[0], 1))



def _topk_cosine(
    Q: np.ndarray, T: np.ndarray, k: int, exclude_self: bool = False, chunk: int = 2048
) -> np.ndarray:
    """Indices `(len(Q), k)` of the k rows of T most cosine-similar to each row of Q."""
    Qn, Tn = _l2_normalise(Q), _l2_normalise(T)
    k = min(k, Tn.shape[0] - (1 if exclude_self else 0))
    out = np.empty((Qn.shape[0], k), dtype=np.int64)
    for start in range(0, Qn.shape[0], chunk):
        sims = Qn[start : start + chunk] @ Tn.T
        if exclude_self:
            rows = np.arange(sims.shape[0])
            sims[rows, rows + start] = -np.inf
        out[start : start + chunk] = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    return out



class KNNRouter(Baseline):
    """RouterBench's kNN router: neighbours' mean score and cost, shrunk toward model means.

    Quality of model j on a prompt: `(k * mean_{neighbours} score_j + a * mean_train score_j)
    / (k + a)`, with the k nearest training prompts by cosine similarity: the model's train
    mean counts as `a` pseudo-neighbours. Default `a = 100` (= k): the neighbourhood and the
    model's overall record weigh equally, which keeps the router on the strongest model at the
    quality end unless its neighbourhood clearly says otherwise. `shrinkage="loo"` instead picks
    `a` from `shrinkage_grid` by leave-one-out squared error on train; on routerbench_subset
    with the TF-IDF stand-in embeddings that picks `a = 0`, which leaves the strongest model
    too eagerly (lift -0.009, AIQ 0.777 vs 0.782 with `a = 100`).

    Cost: the neighbours' mean cost of each model (RouterBench's kNN predicts both).
    """

    name = "kNN"

    def __init__(
        self,
        k: int = 100,
        shrinkage: float | str = 100.0,
        shrinkage_grid: Sequence[float] = (0, 5, 10, 25, 50, 100, 200, 400, 1000),
    ) -> None:
        super().__init__()
        self.k = k
        self.shrinkage = shrinkage
        self.shrinkage_grid = tuple(shrinkage_grid)

    def fit(self, X: Any, scores: Any, costs: Any = None) -> KNNRouter:
        X, S, C = _check_xy(X, scores, costs)
        self._fit_common(S, C)
        self.X_, self.S_, self.C_ = X, S, C
        if self.shrinkage == "loo":
            nb = _topk_cosine(X, X, self.k, exclude_self=True)
            knn = S[nb].mean(axis=1)
            k = nb.shape[1]
            mean = self.mean_quality_
            assert mean is not None  # set by _fit_common
            errs = [
                float(np.mean(((k * knn + a * mean) / (k + a) - S) ** 2))
                for a in self.shrinkage_grid
            ]
            self.shrinkage_ = float(self.shrinkage_grid[int(np.argmin(errs))])
            self.loo_mse_ = dict(zip(self.shrinkage_grid, errs, strict=True))
        else:
            self.shrinkage_ = float(self.shrinkage)
        return self

    def _neighbours(self, X: np.ndarray) -> np.ndarray:
        return _topk_cosine(X, self.X_, self.k)

    def predict_quality(self, X: Any) -> np.ndarray:
        X = self._check_fitted(X)
        nb = self._neighbours(X)
        k, a = nb.shape[1], self.shrinkage_
        mean = self.mean_quality_
        assert mean is not None  # fitted
        return (k * self.S_[nb].mean(axis=1) + a * mean) / (k + a)

    def predict_cost(self, X: Any) -> np.ndarray:
        X = self._check_fitted(X)
        if self.C_ is None:
            raise RuntimeError("fitted without costs: pass costs to fit to predict them")
        nb = self._neighbours(X)
        pred = np.nanmean(self.C_[nb], axis=1)
        mean_cost = self.mean_cost_
        assert mean_cost is not None  # fitted with costs
        out: np.ndarray = np.where(np.isfinite(pred), pred, mean_cost)
        return out
