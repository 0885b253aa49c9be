"""Baseline routers the benchmark compares autorouter against, and a quick end-to-end run.

Every baseline is trained on the same train split and the same prompt embeddings (an `(n, d)`
float array handed to it: baselines never embed text themselves) and exposes

    fit(X, scores, costs) -> self        # X (n, d), scores (n, m), costs (n, m) or None
    predict_quality(X) -> (n, m)         # predicted quality of each model on each prompt
    predict_cost(X) -> (n, m)            # predicted cost; the per-model mean train cost
                                         # unless the baseline has a better one (kNN)

`sweep_picks` turns predictions into one pick array per setting of the cost/quality knob
(argmax of quality - lambda * cost), ready for `autorouter.evaluation.evaluate_picks`.

Baselines:

- `KNNRouter`: RouterBench's kNN. Mean score (and mean cost) of the k=100 nearest training
  prompts by cosine similarity, shrunk toward each model's train mean:
  `q = (k * knn_mean + a * model_mean) / (k + a)`, i.e. the model mean counts as `a` pseudo-
  neighbours; `a = 100` (= k) by default, or picked by leave-one-out error with `"loo"`.
- `LinearRouter`: a linear head per model on the (standardised) embeddings: logistic
  regression for 0/1 scores, ridge regression otherwise; the L2 strength is chosen by
  cross-validation on the train split only (`LogisticRegressionCV` / `RidgeCV`).
- `MatrixFactorizationRouter`: RouteLLM's matrix factorisation ("MF") re-implemented in numpy
  (see its docstring for the exact model and what had to be added for more than two models).
- `RoRFRouter`: RoRF's random forest (scikit-learn `RandomForestClassifier` with RoRF's
  defaults) extended from one forest per model *pair* to one forest per *model* predicting
  the chance that the model answers correctly.

Dependencies: numpy and scikit-learn (`KNNRouter` and `sweep_picks` need numpy only). Neither
`routellm` nor `rorf` is imported: both pull torch, transformers, openai, datasets and more
(see the `MatrixFactorizationRouter` and `RoRFRouter` docstrings).

Quick run (TF-IDF + SVD stand-in embeddings, random halves, seed 7):

    python benchmarks/baselines.py [--data FILE] [--routers knn,linear,mf,rorf]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autorouter.baselines import (  # noqa: F401
    Baseline,
    KNNRouter,
    _check_xy,
    _is_binary,
    _l2_normalise,
    _topk_cosine,
    lambda_grid,
    sweep_picks,
)
from autorouter.evaluation import (
    RoutingFigures,
    evaluate_picks,
    random_halves,
    zero_router_figures,
)

__all__ = [
    "Baseline",
    "KNNRouter",
    "LinearRouter",
    "MatrixFactorizationRouter",
    "ModelMeansRouter",
    "RoRFRouter",
    "lambda_grid",
    "sweep_picks",
    "evaluate_router",
    "tfidf_svd_embeddings",
]

# --------------------------------------------------------------------------------------------
# baselines (kNN, the knob sweep and the shared base class live in autorouter.baselines)


class ModelMeansRouter(Baseline):
    """A router that ignores the prompt: each model's mean train score and mean train cost.

    Its picks are fixed models, chosen by the training split's averages; the gap between it and
    the zero-router (which knows the *test* split's averages) is what misjudging the test tasks
    costs, and the gap between it and a learned router is what reading the prompt buys."""

    name = "model-means"

    def fit(self, X: Any, scores: Any, costs: Any = None) -> ModelMeansRouter:
        X, S, C = _check_xy(X, scores, costs)
        self._fit_common(S, C)
        return self

    def predict_quality(self, X: Any) -> np.ndarray:
        X = self._check_fitted(X)
        return np.tile(self.mean_quality_, (X.shape[0], 1))


class LinearRouter(Baseline):
    """A linear head per model on standardised embeddings, L2 strength chosen by CV on train.

    0/1 scores: `LogisticRegressionCV` per model (Cs log-spaced 1e-4..1e2, 5 stratified folds,
    log-loss), predicting P(correct). Other scores: one `RidgeCV` (alphas 1e-2..1e4, efficient
    leave-one-out, a separate alpha per model), predictions clipped to [0, 1]. A model whose
    train scores are constant is predicted as that constant.
    """

    name = "linear"

    def __init__(self, kind: str = "auto", cv: int = 5, seed: int = 0) -> None:
        super().__init__()
        if kind not in ("auto", "logistic", "ridge"):
            raise ValueError("kind must be 'auto', 'logistic' or 'ridge'")
        self.kind, self.cv, self.seed = kind, cv, seed

    def fit(self, X: Any, scores: Any, costs: Any = None) -> LinearRouter:
        from sklearn.linear_model import LogisticRegressionCV, RidgeCV
        from sklearn.model_selection import StratifiedKFold
        from sklearn.preprocessing import StandardScaler

        X, S, C = _check_xy(X, scores, costs)
        self._fit_common(S, C)
        self.scaler_ = StandardScaler().fit(X)
        Z = self.scaler_.transform(X)
        kind = self.kind if self.kind != "auto" else ("logistic" if _is_binary(S) else "ridge")
        self.kind_ = kind
        self.heads_: list[Any] = []
        if kind == "ridge":
            self.ridge_ = RidgeCV(alphas=np.logspace(-2, 4, 13), alpha_per_target=True).fit(Z, S)
            return self
        for j in range(S.shape[1]):
            y = S[:, j].astype(int)
            counts = np.bincount(y, minlength=2)
            if counts.min() < self.cv:  # (nearly) constant: CV folds would lack a class
                self.heads_.append(float(S[:, j].mean()))
                continue
            folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.seed)
            with warnings.catch_warnings():  # sklearn 1.8+ deprecation chatter about defaults
                warnings.simplefilter("ignore", FutureWarning)
                head = LogisticRegressionCV(
                    Cs=np.logspace(-4, 2, 13), cv=folds, scoring="neg_log_loss", max_iter=5000
                ).fit(Z, y)
            self.heads_.append(head)
        return self

    def predict_quality(self, X: Any) -> np.ndarray:
        X = self._check_fitted(X)
        Z = self.scaler_.transform(X)
        if self.kind_ == "ridge":
            return np.clip(self.ridge_.predict(Z), 0.0, 1.0)
        out = np.empty((X.shape[0], self.n_models_))
        for j, head in enumerate(self.heads_):
            out[:, j] = head if isinstance(head, float) else head.predict_proba(Z)[:, 1]
        return out


def _one_blas_thread() -> Any:
    """Limit BLAS to one thread: the MF's many tiny matmuls only lose to thread hand-offs
    (badly so when another process competes for the cores)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl comes with scikit-learn; without it, run as is
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _platt(s: np.ndarray, y: np.ndarray, ridge: float = 1e-3, iters: int = 100) -> tuple[float, float]:
    """Fit P(y) = sigmoid(a * s + b) by Newton's method (soft labels allowed)."""
    A = np.stack([s, np.ones_like(s)], axis=1)
    w = np.array([0.0, np.log((y.mean() + 1e-3) / (1 - y.mean() + 1e-3))])
    reg = np.diag([ridge, 1e-8])
    for _ in range(iters):
        p = _sigmoid(A @ w)
        grad = A.T @ (p - y) / len(y) + reg @ w
        H = (A * (p * (1 - p))[:, None]).T @ A / len(y) + reg
        step = np.linalg.solve(H, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return float(w[0]), float(w[1])


class MatrixFactorizationRouter(Baseline):
    """RouteLLM's matrix factorisation router, re-implemented in numpy and trained from scratch.

    Model (routellm 0.2.0, `routers/matrix_factorization/{model,train_matrix_factorization}.py`):
    each model m has a vector `P[m]` (dim 128, N(0, 1) init), used L2-normalised; a prompt
    embedding x is projected by `W` (d x dim, no bias) and the score of model m is
    `s_m(x) = w . (P[m]/|P[m]| * (W x))` with a bias-free classifier `w`. Training maximises
    `sigmoid(s_win(x) - s_lose(x))` (binary cross-entropy on winner-first pairs) over
    pairwise battles, with Gaussian noise (`noise` = 0.1) added to the prompt embedding during
    training, Adam (lr 3e-4, weight decay 1e-5), batch 64, 100 epochs: RouteLLM's example
    hyper-parameters.

    What differs, and why:
    - Battles: RouteLLM trains on Chatbot Arena battles. Here every pair of models that scored
      differently on a train prompt is a battle (winner = higher score); ties are dropped, as
      RouteLLM drops ties.
    - Prompt embeddings: whatever `X` is given (L2-normalised, like the OpenAI embeddings
      RouteLLM uses), not `text-embedding-3-small`.
    - Quality: RouteLLM only outputs the win rate of a strong vs a weak model. To route among m
      models with a cost knob we need a quality per model, so each model's score `s_m` is mapped
      to P(correct) by a per-model Platt scaling `sigmoid(a_m s_m + b_m)` fitted on
      out-of-fold scores (`calibration_folds` MF models trained on the other folds); the final
      MF is then trained on the whole train split.
    - numpy instead of torch (manual gradients, same Adam update), so no torch is needed.
    """

    name = "RouteLLM-MF"

    def __init__(
        self,
        dim: int = 128,
        epochs: int = 100,
        batch_size: int = 64,
        lr: float = 3e-4,
        weight_decay: float = 1e-5,
        noise: float = 0.1,
        calibration_folds: int = 3,
        seed: int = 42,
    ) -> None:
        super().__init__()
        self.dim, self.epochs, self.batch_size = dim, epochs, batch_size
        self.lr, self.weight_decay, self.noise = lr, weight_decay, noise
        self.calibration_folds, self.seed = calibration_folds, seed

    # -- the MF model -------------------------------------------------------------------------
    def _train_mf(self, X: np.ndarray, S: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        n, d = X.shape
        m = S.shape[1]
        rows, win, lose = np.nonzero(S[:, :, None] > S[:, None, :])
        dim = self.dim
        params = {
            "P": rng.standard_normal((m, dim)),
            "W": rng.uniform(-1, 1, (d, dim)) / np.sqrt(d),
            "w": rng.uniform(-1, 1, dim) / np.sqrt(dim),
        }
        if rows.size == 0:
            return params
        mom = {k: np.zeros_like(v) for k, v in params.items()}
        vel = {k: np.zeros_like(v) for k, v in params.items()}
        b1, b2, eps = 0.9, 0.999, 1e-8
        t = 0
        for _ in range(self.epochs):
            order = rng.permutation(rows.size)
            for start in range(0, rows.size, self.batch_size):
                idx = order[start : start + self.batch_size]
                B = idx.size
                xb = X[rows[idx]] + self.noise * rng.standard_normal((B, d))
                _, grads = self._loss_grads(params, xb, win[idx], lose[idx])
                t += 1
                for k, p in params.items():
                    gk = grads[k] + self.weight_decay * p  # torch Adam's L2 weight decay
                    mom[k] = b1 * mom[k] + (1 - b1) * gk
                    vel[k] = b2 * vel[k] + (1 - b2) * gk * gk
                    mhat = mom[k] / (1 - b1**t)
                    vhat = vel[k] / (1 - b2**t)
                    p -= self.lr * mhat / (np.sqrt(vhat) + eps)
        return params

    @staticmethod
    def _loss_grads(
        params: dict[str, np.ndarray], xb: np.ndarray, a: np.ndarray, b: np.ndarray
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Mean BCE of `sigmoid(s_a(x) - s_b(x))` against label 1, and its gradients."""
        P, W, w = params["P"], params["W"], params["w"]
        norms = np.linalg.norm(P, axis=1)
        Ph = P / norms[:, None]
        z = xb @ W
        u = Ph[a] - Ph[b]
        logit = (u * z) @ w
        loss = float(np.mean(np.logaddexp(0.0, -logit)))
        g = (_sigmoid(logit) - 1.0) / xb.shape[0]  # d loss / d logit
        grads = {"w": (u * z).T @ g, "W": xb.T @ (g[:, None] * (u * w))}
        du = g[:, None] * (z * w)
        dPh = np.zeros_like(P)
        np.add.at(dPh, a, du)
        np.add.at(dPh, b, -du)
        grads["P"] = (dPh - Ph * np.sum(Ph * dPh, axis=1, keepdims=True)) / norms[:, None]
        return loss, grads

    @staticmethod
    def _scores(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
        P = params["P"]
        Ph = P / np.linalg.norm(P, axis=1, keepdims=True)
        return (X @ params["W"]) @ (Ph * params["w"]).T  # (n, m): s_m(x)

    # -- Baseline API ---------------------------------------------------------------------------
    def fit(self, X: Any, scores: Any, costs: Any = None) -> MatrixFactorizationRouter:
        X, S, C = _check_xy(X, scores, costs)
        self._fit_common(S, C)
        X = _l2_normalise(X)
        with _one_blas_thread():
            self._fit_mf(X, S)
        return self

    def _fit_mf(self, X: np.ndarray, S: np.ndarray) -> None:
        n, m = S.shape
        if self.calibration_folds >= 2:
            oof = np.empty((n, m))
            folds = np.random.default_rng(self.seed).permutation(n) % self.calibration_folds
            for f in range(self.calibration_folds):
                held = folds == f
                p = self._train_mf(X[~held], S[~held], seed=self.seed + 1 + f)
                oof[held] = self._scores(p, X[held])
        self.params_ = self._train_mf(X, S, seed=self.seed)
        if self.calibration_folds < 2:
            oof = self._scores(self.params_, X)
        self.platt_ = [_platt(oof[:, j], S[:, j]) for j in range(m)]

    def predict_quality(self, X: Any) -> np.ndarray:
        X = _l2_normalise(self._check_fitted(X))
        s = self._scores(self.params_, X)
        a = np.array([p[0] for p in self.platt_])
        b = np.array([p[1] for p in self.platt_])
        return _sigmoid(a * s + b)


class RoRFRouter(Baseline):
    """RoRF's random forest on prompt embeddings, one forest per model.

    RoRF (rorf 0.1.3, `router/rorf.py`, `trainer.py`) trains, for one (strong, weak) model
    pair, a scikit-learn `RandomForestClassifier(n_estimators=100, max_depth=20,
    max_features=1.0, random_state=420, n_jobs=-1)` on the prompt embedding with 4 labels
    (A wins / both wrong / both right / B wins) and routes to A when P(A wins or both wrong)
    passes a threshold. A pairwise forest gives no quality per model for m > 2 models, so here
    the same forest (same hyper-parameters) is trained *per model* on "did this model answer
    correctly" (a classifier for 0/1 scores, predicting P(correct); a `RandomForestRegressor`
    with the same settings for graded scores). A model whose train scores are constant is
    predicted as that constant.
    """

    name = "RoRF"

    def __init__(
        self,
        n_estimators: int = 100,
        max_depth: int | None = 20,
        max_features: float | str = 1.0,
        random_state: int = 420,
        n_jobs: int = -1,
    ) -> None:
        super().__init__()
        self.n_estimators, self.max_depth, self.max_features = n_estimators, max_depth, max_features
        self.random_state, self.n_jobs = random_state, n_jobs

    def fit(self, X: Any, scores: Any, costs: Any = None) -> RoRFRouter:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        X, S, C = _check_xy(X, scores, costs)
        self._fit_common(S, C)
        binary = _is_binary(S)
        kw = dict(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            max_features=self.max_features,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        )
        self.forests_: list[Any] = []
        for j in range(S.shape[1]):
            y = S[:, j]
            if np.all(y == y[0]):
                self.forests_.append(float(y[0]))
            elif binary:
                self.forests_.append(RandomForestClassifier(**kw).fit(X, y.astype(int)))
            else:
                self.forests_.append(RandomForestRegressor(**kw).fit(X, y))
        return self

    def predict_quality(self, X: Any) -> np.ndarray:
        X = self._check_fitted(X)
        out = np.empty((X.shape[0], self.n_models_))
        for j, f in enumerate(self.forests_):
            if isinstance(f, float):
                out[:, j] = f
            elif hasattr(f, "predict_proba"):
                out[:, j] = f.predict_proba(X)[:, list(f.classes_).index(1)]
            else:
                out[:, j] = f.predict(X)
        return out


# --------------------------------------------------------------------------------------------
# evaluation glue


def evaluate_router(
    router: Baseline,
    X_train: np.ndarray,
    S_train: np.ndarray,
    C_train: np.ndarray,
    X_test: np.ndarray,
    S_test: np.ndarray,
    C_test: np.ndarray,
    lambdas: Sequence[float] | None = None,
) -> RoutingFigures:
    """Fit on train, sweep the knob on test predictions, score picks with the TRUE test data."""
    router.fit(X_train, S_train, C_train)
    q = router.predict_quality(X_test)
    c = router.predict_cost(X_test)
    return evaluate_picks(S_test, C_test, sweep_picks(q, c, lambdas))


def tfidf_svd_embeddings(
    train_texts: Sequence[str], texts: Sequence[str], dim: int = 256, seed: int = 0
) -> np.ndarray:
    """Cheap stand-in embedding: TF-IDF (word 1-2 grams) + truncated SVD, fitted on train only.

    Returns L2-normalised float32 vectors `(len(texts), dim)` (dim capped by the vocabulary).
    """
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, max_features=50_000)
    T = vec.fit_transform(train_texts)
    dim = min(dim, T.shape[1] - 1, T.shape[0] - 1)
    svd = TruncatedSVD(dim, random_state=seed).fit(T)
    E = svd.transform(vec.transform(texts))
    return _l2_normalise(E).astype(np.float32)


# --------------------------------------------------------------------------------------------
# quick end-to-end run

DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared/data/routerbench_subset/prompts_scores.jsonl.gz"
)

ROUTERS = {
    "knn": KNNRouter,
    "linear": LinearRouter,
    "mf": MatrixFactorizationRouter,
    "rorf": RoRFRouter,
}


def _load(path: str, keep_duplicates: bool) -> tuple[Any, np.ndarray, int]:
    """The dataset, each dataset row's position in the file, and the file's row count.

    The split is drawn over the file's rows in file order (`random_halves(n_file_rows, seed)`),
    which is how docs/evaluation.md's reference numbers were made. `load_dataset` drops rows
    whose prompt text repeats an earlier one; with `keep_duplicates` the file is read as is
    (exactly the reference rows), otherwise the dropped rows leave the split.
    """
    import gzip

    from autorouter.dataset import RoutingDataset, load_dataset

    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if keep_duplicates:
        models = sorted({m for r in rows for m in r["scores"]})
        ds = RoutingDataset(
            prompts=[r["prompt"] for r in rows],
            models=models,
            scores=np.array([[r["scores"][m] for m in models] for r in rows]),
            cost_usd=np.array([[r["cost_usd"][m] for m in models] for r in rows]),
            groups=[r.get("eval_name", "") for r in rows],
            meta=[{"question": r.get("question", r["prompt"])} for r in rows],
        )
        file_pos = np.arange(len(rows))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = load_dataset(path)
        first: dict[str, int] = {}
        for i, r in enumerate(rows):
            first.setdefault(r["prompt"], i)
        file_pos = np.array([first[p] for p in ds.prompts])
    return ds, file_pos, len(rows)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="routing data (.jsonl[.gz])")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--routers", default="knn,linear,mf,rorf")
    ap.add_argument("--dim", type=int, default=256, help="TF-IDF+SVD embedding size")
    ap.add_argument(
        "--keep-duplicates",
        action="store_true",
        help="read the file as is (the exact reference rows) instead of via load_dataset",
    )
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)

    ds, file_pos, n_file = _load(args.data, args.keep_duplicates)
    _, te_file = random_halves(n_file, seed=args.seed)
    in_test = np.isin(file_pos, te_file)
    train, test = np.flatnonzero(~in_test), np.flatnonzero(in_test)
    texts = [str(m.get("question") or p) for m, p in zip(ds.meta, ds.prompts, strict=True)]
    t0 = time.time()
    E = tfidf_svd_embeddings([texts[i] for i in train], texts, dim=args.dim)
    print(
        f"{len(ds)} rows ({len(train)} train / {len(test)} test), embeddings {E.shape} "
        f"in {time.time() - t0:.1f}s",
        file=sys.stderr,
    )
    S, C = ds.scores, ds.cost_usd
    zero = zero_router_figures(S[test], C[test])
    results: dict[str, dict[str, Any]] = {"zero-router": zero.as_dict()}
    print(f"best single {zero.best_single_quality:.3f} @ ${zero.best_single_cost:.5f}  "
          f"oracle {zero.oracle_quality:.3f}")
    print(f"{'router':14s} {'AIQ':>6s} {'saving95':>9s} {'lift':>7s} {'gap':>6s} {'maxQ':>6s} {'time':>6s}")

    def row(name: str, f: RoutingFigures, secs: float) -> None:
        s95 = "n/a" if f.saving95 is None else f"{f.saving95:.2f}"
        print(f"{name:14s} {f.aiq:6.3f} {s95:>9s} {f.lift:+7.3f} {f.gap:6.2f} "
              f"{f.max_quality:6.3f} {secs:5.0f}s", flush=True)

    row("zero-router", zero, 0.0)
    for key in [r.strip() for r in args.routers.split(",") if r.strip()]:
        router = ROUTERS[key]()
        t0 = time.time()
        f = evaluate_router(router, E[train], S[train], C[train], E[test], S[test], C[test])
        row(router.name, f, time.time() - t0)
        results[router.name] = f.as_dict()
        if isinstance(router, KNNRouter):
            results[router.name]["shrinkage"] = router.shrinkage_
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
