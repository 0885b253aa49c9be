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
        sums = group_sums(labels, len(c), x)
        empty = np.linalg.norm(sums, axis=1) < 1e-9
        sums[empty] = c[empty]  # keep an empty cluster's centre rather than lose it
        c = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    return c.astype(np.float32), labels


def group_sums(labels: np.ndarray, k: int, y: np.ndarray) -> np.ndarray:
    """Row sums of `y` per label, (k, y.shape[1]); a one-hot product is far faster than add.at."""
    onehot = np.zeros((len(labels), k), dtype=y.dtype if y.dtype.kind == "f" else np.float64)
    onehot[np.arange(len(labels)), labels] = 1.0
    return onehot.T @ y


def fit_logistic_multi(
    x: np.ndarray, y: np.ndarray, *, l2: float, iters: int = 60, tol: float = 1e-5
) -> np.ndarray:
    """L2 logistic regression of every column of soft targets `y` (n, m) at once.

    Uses Böhning's bound (the Hessian never exceeds X^T X / 4), so one factorisation serves
    every iteration and every column: the cost is a few matrix products per step, which keeps
    `fit` fast on tens of thousands of prompts. Returns weights (d + 1, m), intercept last.
    """
    n, d = x.shape
    xa = np.hstack([x, np.ones((n, 1), dtype=x.dtype)]).astype(np.float64)
    reg = np.full(d + 1, l2)
    reg[-1] = 1e-6
    bound = xa.T @ xa / 4.0 + np.diag(reg)
    inv = np.linalg.inv(bound)  # once: every step is then a matrix product
    p0 = np.clip(y.mean(axis=0), 1e-3, 1 - 1e-3)
    w = np.zeros((d + 1, y.shape[1]))
    w[-1] = np.log(p0 / (1 - p0))
    for _ in range(iters):
        p = sigmoid(xa @ w)
        g = xa.T @ (p - y) + reg[:, None] * w
        step = inv @ g
        w -= step
        if np.max(np.abs(step)) < tol:
            break
    return w


def fit_softmax(x: np.ndarray, onehot: np.ndarray, *, l2: float, iters: int = 150, tol: float = 1e-5) -> np.ndarray:
    """Multinomial logistic regression (softmax) by the same bound trick as `fit_logistic_multi`:
    the Hessian never exceeds (X^T X / 2) per class. Returns weights (d + 1, K)."""
    n, d = x.shape
    xa = np.hstack([x, np.ones((n, 1), dtype=x.dtype)]).astype(np.float64)
    reg = np.full(d + 1, l2)
    reg[-1] = 1e-6
    inv = np.linalg.inv(xa.T @ xa / 2.0 + np.diag(reg))
    w = np.zeros((d + 1, onehot.shape[1]))
    for _ in range(iters):
        p = softmax(xa @ w)
        step = inv @ (xa.T @ (p - onehot) + reg[:, None] * w)
        w -= step
        if np.max(np.abs(step)) < tol:
            break
    return w


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


#: Up to this many rows, `small_product` multiplies without BLAS.
SMALL_ROWS = 8


def small_product(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """`x @ m.T` for (n, d) `x` and (k, d) `m`. A routed call has one or a few rows: OpenBLAS
    runs such a product on its worker threads, and once another thread (onnxruntime, a busy
    gateway) holds the second core it waits for a time slice: 6-8 ms instead of 0.02 ms, on
    2 cores. numpy's own loops (einsum, single-threaded) take about 0.1 ms whatever the load;
    batches keep BLAS."""
    if len(x) <= SMALL_ROWS:
        return np.einsum("nd,kd->nk", x, m)
    return x @ m.T
