"""Predict, for every candidate model, the quality of its answer and the cost of the call.

Quality blends two learners on the prompt embedding, weighted by cross-validation on the
training data: per-model logistic regression (a smooth, global view) and a prototype model
(spherical k-means clusters of the training prompts holding each model's shrunken mean score
per cluster: a local view that also names the prompt's domain). Cost comes from per-prompt
costs where the data has them (a per-model linear model in prompt length plus a per-cluster
correction for answer length), else from list prices and a predicted answer length.

Each learner saves itself: `state()` gives its router.json fields and arrays.npz members,
`from_state` checks them and rebuilds it (see `autorouter.state`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ._linalg import fit_logistic_multi, group_sums, sigmoid, small_product, spherical_kmeans
from .errors import RouterLoadError
from .state import Dims, State, check_members, check_number, check_object, check_ranges, check_shapes, shown

CHARS_PER_TOKEN = 4.0
#: assumed answer length when the data says nothing about it
DEFAULT_OUTPUT_TOKENS = 300.0
#: How `CostModel` predicts: from per-prompt costs, from list prices, or not at all.
COST_MODES = ("observed", "prices", "none")


def n_prototypes(n: int) -> int:
    return int(np.clip(n // 12, 4, 256))


def unit_scores(scores: np.ndarray) -> np.ndarray:
    """Scores as learned: as given when they lie in [0, 1], else rescaled linearly to [0, 1].

    Scores on another scale (a 1-10 judge rating, a reward) would otherwise be clipped to 0 or 1
    and every model would look alike; a linear rescaling keeps who beats whom and by how much,
    and the calibrated tradeoff absorbs the change of scale."""
    lo, hi = float(np.min(scores)), float(np.max(scores))
    if lo >= 0.0 and hi <= 1.0:
        return scores
    if hi - lo <= 0.0:
        return np.zeros_like(scores)
    warnings.warn(
        f"scores span [{lo:g}, {hi:g}], not [0, 1]: rescaled linearly to [0, 1] for learning; "
        "predicted quality is reported on that [0, 1] scale",
        stacklevel=3,  # the caller of `Router.fit`
    )
    return (scores - lo) / (hi - lo)


@dataclass
class Prototypes:
    """Cluster centres of the training prompts and a soft assignment rule."""

    MEMBERS: ClassVar[tuple[str, ...]] = ("centroids", "counts")

    centroids: np.ndarray  # (k, d) unit rows
    counts: np.ndarray  # (k,)
    temperature: float = 0.05
    top: int = 8

    @classmethod
    def fit(cls, x: np.ndarray, seed: int = 0) -> tuple[Prototypes, np.ndarray]:
        c, labels = spherical_kmeans(x, n_prototypes(len(x)), seed=seed)
        counts = np.bincount(labels, minlength=len(c)).astype(np.float64)
        return cls(c, counts), labels

    def weights(self, x: np.ndarray) -> np.ndarray:
        """(n, k) soft assignment: softmax of similarity over the `top` nearest centres."""
        sim = small_product(x, self.centroids)
        k = sim.shape[1]
        if k > self.top:
            cut = np.partition(sim, k - self.top, axis=1)[:, k - self.top][:, None]
            sim = np.where(sim >= cut, sim, -np.inf)
        z = (sim - sim.max(axis=1, keepdims=True)) / self.temperature
        w = np.exp(z)
        return w / w.sum(axis=1, keepdims=True)

    def state(self) -> State:
        """router.json's `prototypes` (temperature, top) and the arrays `centroids`, `counts`."""
        return (
            {"prototypes": {"temperature": self.temperature, "top": self.top}},
            {"centroids": self.centroids, "counts": self.counts},
        )

    @classmethod
    def from_state(cls, fields: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Prototypes:
        """The prototypes `state()` gave; `RouterLoadError` naming the field or member at fault.
        Their clusters set the sizes the other learners' arrays are checked against (`dims`)."""
        settings = check_object(fields, "prototypes")
        check_number(settings, "temperature", "prototypes", above=True)
        check_number(settings, "top", "prototypes", lo=1, integer=True)
        check_members(arrays, cls.MEMBERS)
        c = arrays["centroids"]
        if c.ndim != 2 or min(c.shape) < 1:
            raise RouterLoadError(f"arrays.npz member 'centroids' has shape {c.shape}, not (clusters, dim)")
        norm = float(np.max(np.linalg.norm(c.astype(np.float64), axis=1)))
        if norm > 1.001:  # spherical k-means: unit rows
            raise RouterLoadError(f"arrays.npz member 'centroids' holds a row of norm {norm:.3g}, not unit vectors")
        check_shapes(arrays, {"counts": ((len(c),), Dims(*c.shape).of_clusters)})
        check_ranges(arrays, {"counts": (0.0, None)})
        return cls(c, arrays["counts"], settings["temperature"], settings["top"])

    def dims(self, data_models: int = 0, models: int = 0) -> Dims:
        """The sizes of a router with these clusters and that many (data) models."""
        k, d = self.centroids.shape
        return Dims(k, d, data_models, models)


def cluster_means(labels: np.ndarray, k: int, y: np.ndarray, prior: np.ndarray, strength: float) -> np.ndarray:
    """Per-cluster means of `y` (n, m), shrunk toward `prior` (m,) with `strength` pseudo-rows."""
    sums = group_sums(labels, k, y.astype(np.float64))
    counts = np.bincount(labels, minlength=k)[:, None]
    return (sums + strength * prior) / (counts + strength)


def answer_tokens_per_cluster(labels: np.ndarray, k: int, output_chars: np.ndarray | None) -> np.ndarray:
    """(k,) the typical answer's tokens per cluster, from the answer lengths (n, m) the data
    has (NaN where unknown), shrunk toward their mean; `DEFAULT_OUTPUT_TOKENS` without any."""
    if output_chars is None or not np.isfinite(output_chars).any():
        return np.full(k, DEFAULT_OUTPUT_TOKENS)
    known = np.isfinite(output_chars)
    n_known = known.sum(axis=1)
    total = np.where(known, output_chars, 0.0).sum(axis=1)
    per_row = np.where(n_known > 0, total / np.maximum(n_known, 1) / CHARS_PER_TOKEN, DEFAULT_OUTPUT_TOKENS)
    prior = float(np.mean(per_row))
    return cluster_means(labels, k, per_row[:, None], np.array([prior]), 5.0)[:, 0]


@dataclass
class QualityModel:
    """Predicted quality in [0, 1] per model for an embedded prompt."""

    MEMBERS: ClassVar[tuple[str, ...]] = ("logit_w", "proto_means", "quality_prior")

    logit_w: np.ndarray  # (d + 1, m)
    proto_means: np.ndarray  # (k, m)
    blend: float  # weight of the logistic part
    l2: float
    shrink: float
    prior: np.ndarray | None = None  # (m,) each model's mean score
    prior_weight: float = 0.0  # how far predictions are pulled toward `prior`

    @staticmethod
    def _fit_parts(
        x: np.ndarray, y: np.ndarray, protos: Prototypes, labels: np.ndarray, l2: float, shrink: float
    ) -> tuple[np.ndarray, np.ndarray]:
        w = fit_logistic_multi(x, y, l2=l2)
        means = cluster_means(labels, len(protos.centroids), y, y.mean(axis=0), shrink)
        return w, means

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        protos: Prototypes,
        labels: np.ndarray,
        *,
        folds: int = 3,
        seed: int = 0,
        l2_grid: tuple[float, ...] = (1.0, 4.0, 16.0, 64.0),
        shrink: float = 10.0,
    ) -> QualityModel:
        """Fit both parts; choose the L2 strength, the blend and how far to pull predictions
        toward each model's mean by K-fold cross-validation.

        Folds are random, not grouped by task: grouping (tried) makes every task-specific skill
        look like noise when tasks are few, and routing within known tasks suffers badly."""
        n = len(x)
        mean = y.mean(axis=0)
        best_l2, blend, pull = max(l2_grid), 0.0, 0.0
        if n >= 30:
            fold = np.random.default_rng(seed).permutation(n) % folds
            oof_lin = {l2: np.zeros_like(y) for l2 in l2_grid}
            oof_proto = np.zeros_like(y)
            oof_mean = np.zeros_like(y)
            for f in range(folds):
                tr, te = fold != f, fold == f
                if not te.any() or not tr.any():
                    continue
                p_f, lab_f = Prototypes.fit(x[tr], seed=seed)
                means = cluster_means(lab_f, len(p_f.centroids), y[tr], y[tr].mean(axis=0), shrink)
                oof_proto[te] = p_f.weights(x[te]) @ means
                oof_mean[te] = y[tr].mean(axis=0)
                for l2 in l2_grid:
                    w = fit_logistic_multi(x[tr], y[tr], l2=l2)
                    oof_lin[l2][te] = sigmoid(x[te] @ w[:-1] + w[-1])
            best_l2 = min(l2_grid, key=lambda l2: float(np.mean((oof_lin[l2] - y) ** 2)))
            best = (np.inf, 0.0, 0.0)
            for b in np.linspace(0.0, 1.0, 11):
                mix = b * oof_lin[best_l2] + (1 - b) * oof_proto
                for g in (0.0, 0.25, 0.5, 0.75, 1.0):
                    err = float(np.mean(((1 - g) * mix + g * oof_mean - y) ** 2))
                    if err < best[0] - 1e-12:
                        best = (err, float(b), g)
            _, blend, pull = best
        w, means = cls._fit_parts(x, y, protos, labels, best_l2, shrink)
        return cls(w.astype(np.float32), means.astype(np.float32), blend, best_l2, shrink,
                   mean.astype(np.float32), pull)

    def predict(self, x: np.ndarray, proto_w: np.ndarray) -> np.ndarray:
        q_lin = sigmoid(x @ self.logit_w[:-1] + self.logit_w[-1])
        q_proto = proto_w @ self.proto_means
        q = self.blend * q_lin + (1 - self.blend) * q_proto
        if self.prior is not None and self.prior_weight > 0:
            q = (1 - self.prior_weight) * q + self.prior_weight * self.prior
        return np.clip(q, 0.0, 1.0)

    def state(self) -> State:
        """router.json's `quality` (blend, l2, shrink, prior_weight) and the arrays `logit_w`,
        `proto_means`, `quality_prior`."""
        assert self.prior is not None  # `fit` always learns it
        settings = {"blend": self.blend, "l2": self.l2, "shrink": self.shrink, "prior_weight": self.prior_weight}
        return {"quality": settings}, {"logit_w": self.logit_w, "proto_means": self.proto_means,
                                       "quality_prior": self.prior}

    @classmethod
    def from_state(cls, fields: Mapping[str, Any], arrays: Mapping[str, np.ndarray], dims: Dims) -> QualityModel:
        """The model `state()` gave, for `dims.data_models` models on the clusters of `dims`;
        `RouterLoadError` naming the field or member at fault."""
        settings = check_object(fields, "quality")
        for key in ("blend", "prior_weight"):
            check_number(settings, key, "quality", hi=1.0)
        for key in ("l2", "shrink"):
            check_number(settings, key, "quality")
        check_members(arrays, cls.MEMBERS)
        n, why = dims.data_models, dims.of_data_models
        check_shapes(arrays, {
            "logit_w": ((dims.dim + 1, n), why), "proto_means": ((dims.clusters, n), why), "quality_prior": ((n,), why),
        })
        check_ranges(arrays, {"proto_means": (0.0, 1.0), "quality_prior": (0.0, 1.0)})
        return cls(arrays["logit_w"], arrays["proto_means"], settings["blend"], settings["l2"], settings["shrink"],
                   arrays["quality_prior"], settings["prior_weight"])


def observed_cost_columns(cost_usd: np.ndarray | None, n_models: int) -> np.ndarray:
    """(n_models,) bool: which models the data has enough per-prompt costs for to learn from."""
    if cost_usd is None:
        return np.zeros(n_models, bool)
    return np.isfinite(cost_usd).sum(axis=0) >= 2


@dataclass
class CostModel:
    """Predicted USD cost per model of answering a prompt.

    `mode` is "observed" (learned from per-prompt costs), "prices" (list prices times
    predicted tokens) or "none" (no cost information: every model costs the same).
    """

    MEMBERS: ClassVar[tuple[str, ...]] = ("cost_base", "cost_per_char", "cost_proto_extra", "cost_floor")

    mode: str
    base: np.ndarray  # (m,) USD per call independent of length
    per_char: np.ndarray  # (m,) USD per prompt character
    proto_extra: np.ndarray  # (k, m) per-cluster USD correction (answer length)
    floor: np.ndarray  # (m,) smallest plausible cost

    @classmethod
    def fit(
        cls,
        chars: np.ndarray,
        proto_labels: np.ndarray,
        k: int,
        *,
        n_models: int,
        cost_usd: np.ndarray | None,
        output_chars: np.ndarray | None,
        prices: np.ndarray | None,
    ) -> tuple[CostModel, list[int]]:
        """Learn the cost of each of `n_models` models; returns the model and the columns whose
        cost had to be guessed (no observed cost and no price: they cost what the others do)."""
        m = n_models
        answer = cls._answer_tokens(proto_labels, k, m, output_chars)
        observed = observed_cost_columns(cost_usd, m)
        priced = ~observed & (np.all(np.isfinite(prices), axis=1) if prices is not None else np.zeros(m, bool))
        if not observed.any() and not priced.any():
            return cls("none", np.ones(m) * 1e-6, np.zeros(m), np.zeros((k, m)), np.zeros(m)), []
        base, per_char = np.zeros(m), np.zeros(m)
        extra, floor = np.zeros((k, m)), np.zeros(m)
        if observed.any():
            assert cost_usd is not None  # observed columns come from it
            resid = np.zeros((len(chars), m))
            for j in np.flatnonzero(observed):
                ok = np.isfinite(cost_usd[:, j])
                a = np.c_[np.ones(ok.sum()), chars[ok]]
                coef, *_ = np.linalg.lstsq(a, cost_usd[ok, j], rcond=None)
                base[j], per_char[j] = coef
                if per_char[j] < 0:  # cost cannot fall with length; fall back to a mean
                    base[j], per_char[j] = cost_usd[ok, j].mean(), 0.0
                resid[ok, j] = cost_usd[ok, j] - (base[j] + per_char[j] * chars[ok])
                floor[j] = max(np.min(cost_usd[ok, j]), 0.0) * 0.5
            extra = cluster_means(proto_labels, k, resid, np.zeros(m), 5.0)
        if priced.any():  # list price x tokens for every model without observed costs
            assert prices is not None  # priced columns come from it
            per_char[priced] = prices[priced, 0] / 1e6 / CHARS_PER_TOKEN
            extra[:, priced] = answer[:, priced] * prices[priced, 1] / 1e6
        # neither: such a model costs what a typical other model costs
        known = observed | priced
        guessed = [int(j) for j in np.flatnonzero(~known)]
        for g in guessed:
            base[g], per_char[g] = np.median(base[known]), np.median(per_char[known])
            extra[:, g] = np.median(extra[:, known], axis=1)
            floor[g] = np.median(floor[known])
        return cls("observed" if observed.any() else "prices", base, per_char, extra, floor), guessed

    @staticmethod
    def _answer_tokens(labels: np.ndarray, k: int, m: int, output_chars: np.ndarray | None) -> np.ndarray:
        """(k, m) predicted answer tokens per cluster and model, from answer lengths where known."""
        known = np.isfinite(output_chars) if output_chars is not None else np.zeros((0, m), bool)
        if not known.any():
            return np.full((k, m), DEFAULT_OUTPUT_TOKENS)
        assert output_chars is not None  # else nothing is known
        values = np.where(known, output_chars, 0.0)
        counts = known.sum(axis=0)
        overall = values.sum() / counts.sum()
        col_mean = np.where(counts > 0, values.sum(axis=0) / np.maximum(counts, 1), overall)
        filled = np.where(known, output_chars, col_mean)  # a model without lengths: its mean
        return cluster_means(labels, k, filled, col_mean, 5.0) / CHARS_PER_TOKEN

    def with_priced_model(
        self, per_char: float, answer_cost_per_cluster: np.ndarray, base: float = 0.0
    ) -> CostModel:
        """A copy with one more column: a model priced per token, answer length per cluster, and
        `base` USD per call whatever the prompt (a reasoning model's hidden thinking)."""
        return CostModel(
            self.mode,
            np.append(self.base, base),
            np.append(self.per_char, per_char),
            np.hstack([self.proto_extra, answer_cost_per_cluster[:, None]]),
            np.append(self.floor, 0.0),
        )

    def with_list_price(
        self, usd_per_1m_in: float, usd_per_1m_out: float, answer_tokens: np.ndarray, thinking_tokens: float = 0
    ) -> CostModel:
        """A copy with one more column: a model at a list price whose answers run to
        `answer_tokens` (k,) per cluster, plus `thinking_tokens` hidden ones on every call."""
        return self.with_priced_model(
            usd_per_1m_in / 1e6 / CHARS_PER_TOKEN, answer_tokens * usd_per_1m_out / 1e6,
            base=thinking_tokens * usd_per_1m_out / 1e6,
        )

    def without_column(self, j: int) -> CostModel:
        return CostModel(
            self.mode,
            np.delete(self.base, j),
            np.delete(self.per_char, j),
            np.delete(self.proto_extra, j, axis=1),
            np.delete(self.floor, j),
        )

    def predict(self, chars: np.ndarray, proto_w: np.ndarray) -> np.ndarray:
        c = self.base + np.outer(chars, self.per_char) + proto_w @ self.proto_extra
        return np.maximum(c, np.maximum(self.floor, 1e-9))

    def state(self) -> State:
        """router.json's `cost_mode` and the arrays `cost_base`, `cost_per_char`,
        `cost_proto_extra`, `cost_floor`."""
        return {"cost_mode": self.mode}, dict(zip(self.MEMBERS, (self.base, self.per_char, self.proto_extra,
                                                                 self.floor), strict=True))

    @classmethod
    def from_state(cls, fields: Mapping[str, Any], arrays: Mapping[str, np.ndarray], dims: Dims) -> CostModel:
        """The model `state()` gave, for `dims.models` models on the clusters of `dims`;
        `RouterLoadError` naming the field or member at fault."""
        if fields.get("cost_mode") not in COST_MODES:
            raise RouterLoadError(
                f"router.json field 'cost_mode' must be {', '.join(COST_MODES[:-1])} or {COST_MODES[-1]}, "
                f"got {shown(fields.get('cost_mode'))}"
            )
        check_members(arrays, cls.MEMBERS)
        m, why = dims.models, dims.of_models
        check_shapes(arrays, {
            "cost_base": ((m,), why), "cost_per_char": ((m,), why), "cost_proto_extra": ((dims.clusters, m), why),
            "cost_floor": ((m,), why),
        })
        check_ranges(arrays, {"cost_per_char": (0.0, None), "cost_floor": (0.0, None)})
        return cls(fields["cost_mode"], *(arrays[name] for name in cls.MEMBERS))
