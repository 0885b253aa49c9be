"""Small numpy learners the predictors are built from: spherical k-means and L2 logistic regression."""

from __future__ import annotations

import numpy as np


def spherical_kmeans(
    x: np.ndarray, k: int, *, iters: int = 25, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster unit vectors by cosine similarity. Returns (unit centroids (k, d), labels (n,))."""
    n = x.shape[0]
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    # k-means++ seeding on cosine distance, so clusters start spread over the data.
    centers = [x[rng.integers(n)]]
    dist = 1.0 - x @ centers[0]
    for _ in range(1, k):
        p = np.clip(dist, 0, None) ** 2
        total = p.sum()
        i = rng.integers(n) if total <= 0 else rng.choice(n, p=p / total)
        centers.append(x[i])
        dist = np.minimum(dist, 1.0 - x @ x[i])
    c = np.stack(centers).astype(np.float32)
    labels = np.zeros(n, dtype=np.int64)
    for it in range(iters):
        new = np.argmax(x @ c.T, axis=1)
        if it and np.array_equal(new, labels):
            break
        labels = new
        sums = np.zeros_like(c)
        np.add.at(sums, labels, x)
        empty = np.linalg.norm(sums, axis=1) < 1e-9
        sums[empty] = c[empty]  # keep an empty cluster's centre rather than lose it
        c = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    return c.astype(np.float32), labels


def fit_logistic(
    x: np.ndarray, y: np.ndarray, *, l2: float, iters: int = 12, w0: np.ndarray | None = None
) -> np.ndarray:
    """L2-regularised logistic regression on soft targets in [0, 1] by Newton's method.

    `x` is (n, d), `y` is (n,). Returns weights (d + 1,), the last being the intercept
    (not penalised). Soft targets (e.g. a fraction of samples correct) are used as is.
    """
    n, d = x.shape
    xa = np.hstack([x, np.ones((n, 1), dtype=x.dtype)]).astype(np.float64)
    w = np.zeros(d + 1) if w0 is None else w0.astype(np.float64).copy()
    if w0 is None:
        p0 = np.clip(y.mean(), 1e-3, 1 - 1e-3)
        w[-1] = np.log(p0 / (1 - p0))
    reg = np.full(d + 1, l2)
    reg[-1] = 1e-6
    for _ in range(iters):
        z = np.clip(xa @ w, -30, 30)
        p = 1.0 / (1.0 + np.exp(-z))
        g = xa.T @ (p - y) + reg * w
        h = (xa * (p * (1 - p))[:, None]).T @ xa + np.diag(reg)
        step = np.linalg.solve(h, g)
        w -= step
        if np.max(np.abs(step)) < 1e-6:
            break
    return w


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
