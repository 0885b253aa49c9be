"""`Router`: learn from routing data which model answers which prompt best for the money."""

from __future__ import annotations

import functools
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .dataset import ModelPrice, RoutingDataset, load_dataset
from .decision import RankedModel, RoutingDecision
from .embedders import Embedder, embedder_from_config, get_embedder
from .errors import (
    EmbedderError,
    InvalidRequestError,
    NoCandidateError,
    NotFittedError,
    RouterLoadError,
    UnknownModelError,
)
from .policy import DEFAULT_TRADEOFF, TradeoffScale, check_max_cost, check_tradeoff, policy_scores, rank
from .predictors import CostModel, Prototypes, QualityModel
from .prompts import prompt_text

__all__ = ["Router"]

FORMAT = "autorouter-router"
FORMAT_VERSION = 1
_INIT_PARAMS = ("embedder", "tradeoff", "max_cost", "prices", "folds", "seed")
EmbedderSpec = Embedder | str | Callable[[list[str]], Any] | None
PriceSpec = Mapping[str, ModelPrice | tuple[float, float]]


class _fit_method:
    """Lets `Router.fit(ds)` build a default router, while `Router(...).fit(ds)` fits in place."""

    def __init__(self, func: Callable[..., Router]) -> None:
        self.func = func
        functools.update_wrapper(self, func)

    def __get__(self, obj: Router | None, cls: type[Router]) -> Callable[..., Router]:
        if obj is not None:
            return functools.partial(self.func, obj)

        @functools.wraps(self.func)
        def fit_new(dataset: Any, **kwargs: Any) -> Router:
            init = {k: kwargs.pop(k) for k in list(kwargs) if k in _INIT_PARAMS}
            return self.func(cls(**init), dataset, **kwargs)

        return fit_new


class Router:
    """Routes each prompt to the candidate model with the best predicted quality for the money.

    Follows scikit-learn conventions: the constructor only stores settings, `fit` learns from a
    `RoutingDataset` and returns the router, and everything learned ends in `_`.
    `Router.fit(dataset)` on the class builds a router with default settings and fits it.

    Args:
        embedder: how prompts become vectors: None or "default" (bundled MiniLM, offline),
            "static" (bundled static embeddings, fastest), any `Embedder`, or a callable
            `list[str] -> array (n, dim)`.
        tradeoff: default knob in [0, 1]: 0 = best predicted quality whatever it costs,
            1 = the cheapest model. Calibrated so that equal steps give equal ratios of spend.
        max_cost: default cap in USD per call; candidates predicted to cost more are excluded.
        prices: list prices per model (USD per 1M input and output tokens) for data without
            per-prompt costs; overrides a `models.json` found beside the data.
        folds: cross-validation folds used to tune the quality predictor.
        seed: random seed for clustering and folds.
    """

    def __init__(
        self,
        embedder: EmbedderSpec = None,
        *,
        tradeoff: float = DEFAULT_TRADEOFF,
        max_cost: float | None = None,
        prices: PriceSpec | None = None,
        folds: int = 3,
        seed: int = 0,
    ) -> None:
        self.embedder = embedder
        self.tradeoff = tradeoff
        self.max_cost = max_cost
        self.prices = prices
        self.folds = folds
        self.seed = seed

    def __repr__(self) -> str:
        state = f"{len(self.models_)} models" if self._fitted() else "not fitted"
        return f"Router({state}, tradeoff={self.tradeoff}, embedder={self._embedder_name()})"

    def _embedder_name(self) -> str:
        e = getattr(self, "embedder_", None)
        return type(e).__name__ if e is not None else repr(self.embedder or "default")

    # ------------------------------------------------------------------ learning
    @_fit_method
    def fit(
        self,
        dataset: RoutingDataset | str | Path | Sequence[str | Path],
        *,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> Router:
        """Learn quality and cost predictors from routing data; returns the fitted router.

        Args:
            dataset: a `RoutingDataset`, or path(s) that `load_dataset` reads.
            progress: optional callback `(stage, done, total)` for progress bars.
        """
        check_tradeoff(self.tradeoff)
        check_max_cost(self.max_cost)
        ds = dataset if isinstance(dataset, RoutingDataset) else load_dataset(dataset)
        if len(ds) < 2:
            raise InvalidRequestError(f"need at least 2 prompts to fit a router, got {len(ds)}")
        report = progress or (lambda stage, done, total: None)
        self.embedder_ = get_embedder(self.embedder)
        texts, chars = zip(*(prompt_text(p) for p in ds.prompts))
        x = self._embed_in_batches(list(texts), report)
        chars_arr = np.asarray(chars, dtype=np.float64)

        report("fit", 0, 3)
        self.prototypes_, labels = Prototypes.fit(x, seed=self.seed)
        k = len(self.prototypes_.centroids)
        self.quality_ = QualityModel.fit(
            x, np.clip(ds.scores, 0.0, 1.0), self.prototypes_, labels, folds=self.folds, seed=self.seed
        )
        report("fit", 1, 3)
        self.cost_ = CostModel.fit(
            chars_arr,
            labels,
            k,
            cost_usd=ds.cost_usd,
            output_chars=ds.output_chars,
            prices=self._price_array(ds),
        )
        self.models_ = list(ds.models)
        proto_w = self.prototypes_.weights(x)
        q = self.quality_.predict(x, proto_w)
        c = self.cost_.predict(chars_arr, proto_w)
        self.scale_ = TradeoffScale.calibrate(q, c)
        self.difficulty_cuts_ = np.quantile(q.mean(axis=1), [1 / 3, 2 / 3]).astype(np.float64)
        self.proto_groups_ = self._cluster_groups(labels, k, ds.groups)
        self.n_train_ = len(ds)
        report("fit", 3, 3)
        return self

    def _embed_in_batches(self, texts: list[str], report: Callable[[str, int, int], None]) -> np.ndarray:
        out, step = [], 256
        for i in range(0, len(texts), step):
            report("embed", i, len(texts))
            out.append(self.embedder_.embed(texts[i : i + step]))
        report("embed", len(texts), len(texts))
        return np.concatenate(out)

    def _price_array(self, ds: RoutingDataset) -> np.ndarray | None:
        prices: dict[str, ModelPrice] = dict(ds.prices)
        for name, p in (self.prices or {}).items():
            prices[name] = p if isinstance(p, ModelPrice) else ModelPrice(float(p[0]), float(p[1]))
        if not prices:
            return None
        missing = [m for m in ds.models if m not in prices]
        if missing:
            raise InvalidRequestError(
                f"prices are given for some models but not for {missing}; give all or none"
            )
        return np.array([[prices[m].input_per_1m, prices[m].output_per_1m] for m in ds.models])

    @staticmethod
    def _cluster_groups(labels: np.ndarray, k: int, groups: list[str] | None) -> list[str]:
        if not groups:
            return ["" for _ in range(k)]
        out = []
        for c in range(k):
            members = Counter(g for g, lab in zip(groups, labels) if lab == c and g)
            out.append(members.most_common(1)[0][0] if members else "")
        return out

    # ------------------------------------------------------------------ routing
    def _fitted(self) -> bool:
        return hasattr(self, "scale_")

    def _check_fitted(self) -> None:
        if not self._fitted():
            raise NotFittedError(
                "this Router is not fitted yet: call Router.fit(dataset) or Router.load(folder)"
            )

    def predict(self, prompts: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted quality and USD cost, each `(len(prompts), n_models)`, columns as `models_`."""
        self._check_fitted()
        texts, chars = self._texts(prompts)
        x = self._embed_checked(self.embedder_.embed(texts))
        return self._predict_from(x, chars)[:2]

    def _texts(self, prompts: Sequence[Any]) -> tuple[list[str], np.ndarray]:
        if isinstance(prompts, str):
            raise InvalidRequestError("route_batch takes a list of prompts; use route() for one")
        pairs = [prompt_text(p) for p in prompts]
        return [t for t, _ in pairs], np.array([c for _, c in pairs], dtype=np.float64)

    def _embed_checked(self, x: np.ndarray) -> np.ndarray:
        d = self.prototypes_.centroids.shape[1]
        if x.ndim != 2 or x.shape[1] != d:
            raise EmbedderError(
                f"the embedder returned vectors of dim {x.shape[-1]}, but this router was "
                f"trained on dim {d}: load it with the embedder it was trained with"
            )
        return x

    def _predict_from(self, x: np.ndarray, chars: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        proto_w = self.prototypes_.weights(x)
        return self.quality_.predict(x, proto_w), self.cost_.predict(chars, proto_w), proto_w

    def route(
        self,
        prompt: Any,
        *,
        tradeoff: float | None = None,
        max_cost: float | None = None,
        candidates: Sequence[str] | None = None,
    ) -> RoutingDecision:
        """Choose a model for one prompt (a string, or a list of chat messages).

        Args:
            prompt: the prompt text, or chat messages (OpenAI dicts, LangChain or LlamaIndex
                messages); the last user message decides, every message counts for cost.
            tradeoff: overrides the router's default knob for this call.
            max_cost: overrides the router's default USD cap for this call.
            candidates: restrict the choice to these models (the others are ranked as excluded).
        """
        return self.route_batch([prompt], tradeoff=tradeoff, max_cost=max_cost, candidates=candidates)[0]

    async def aroute(
        self,
        prompt: Any,
        *,
        tradeoff: float | None = None,
        max_cost: float | None = None,
        candidates: Sequence[str] | None = None,
    ) -> RoutingDecision:
        """Async `route`: the embedding runs without blocking the event loop."""
        self._check_fitted()
        texts, chars = self._texts([prompt])
        x = self._embed_checked(await self.embedder_.aembed(texts))
        return self._decide(x, chars, tradeoff, max_cost, candidates)[0]

    def route_batch(
        self,
        prompts: Sequence[Any],
        *,
        tradeoff: float | None = None,
        max_cost: float | None = None,
        candidates: Sequence[str] | None = None,
    ) -> list[RoutingDecision]:
        """Choose a model for each prompt; the same as calling `route` on each, but vectorised."""
        self._check_fitted()
        texts, chars = self._texts(prompts)
        if not texts:
            return []
        x = self._embed_checked(self.embedder_.embed(texts))
        return self._decide(x, chars, tradeoff, max_cost, candidates)

    def _decide(
        self,
        x: np.ndarray,
        chars: np.ndarray,
        tradeoff: float | None,
        max_cost: float | None,
        candidates: Sequence[str] | None,
    ) -> list[RoutingDecision]:
        t = check_tradeoff(self.tradeoff if tradeoff is None else tradeoff)
        cap = check_max_cost(self.max_cost if max_cost is None else max_cost)
        allowed = self._allowed(candidates)
        q, c, proto_w = self._predict_from(x, chars)
        lam = self.scale_.lam_for(t)
        scores = policy_scores(q, c, lam)
        eligible = np.broadcast_to(allowed, q.shape).copy()
        if cap is not None:
            eligible &= c <= cap
        order = rank(scores, eligible)
        decisions = []
        for i in range(len(q)):
            if not eligible[i].any():
                raise NoCandidateError(self._why_none(c[i], allowed, cap))
            ranking = [
                RankedModel(
                    model=self.models_[j],
                    quality=float(q[i, j]),
                    cost_usd=float(c[i, j]),
                    score=float(scores[i, j]),
                    eligible=bool(eligible[i, j]),
                    excluded_because=None if eligible[i, j] else self._why_excluded(j, c[i, j], allowed, cap),
                )
                for j in order[i]
            ]
            decisions.append(
                RoutingDecision(
                    model=ranking[0].model,
                    ranking=ranking,
                    tradeoff=t,
                    max_cost=cap,
                    explanation=self._explain(ranking, q[i], proto_w[i], t),
                )
            )
        return decisions

    def _allowed(self, candidates: Sequence[str] | None) -> np.ndarray:
        if candidates is None:
            return np.ones(len(self.models_), dtype=bool)
        if isinstance(candidates, str):
            candidates = [candidates]
        unknown = [m for m in candidates if m not in self.models_]
        if unknown:
            raise UnknownModelError(
                f"unknown model(s) {unknown}; this router knows {self.models_}"
            )
        return np.array([m in set(candidates) for m in self.models_])

    def _why_excluded(self, j: int, cost: float, allowed: np.ndarray, cap: float | None) -> str:
        if not allowed[j]:
            return "not among the allowed candidates"
        return f"predicted cost ${cost:.6f} is above max_cost ${cap:.6f}"

    def _why_none(self, cost: np.ndarray, allowed: np.ndarray, cap: float | None) -> str:
        reasons = "; ".join(
            f"{m}: {self._why_excluded(j, cost[j], allowed, cap)}" for j, m in enumerate(self.models_)
        )
        return f"no candidate model fits this request ({reasons}); raise max_cost or allow more models"

    def _explain(self, ranking: list[RankedModel], q: np.ndarray, proto_w: np.ndarray, t: float) -> str:
        chosen = ranking[0]
        best = max((r for r in ranking if r.eligible), key=lambda r: r.quality)
        mean_q = float(q.mean())
        difficulty = (
            "hard" if mean_q < self.difficulty_cuts_[0] else "easy" if mean_q > self.difficulty_cuts_[1] else "medium"
        )
        domain = self.proto_groups_[int(np.argmax(proto_w))]
        looks = f"looks like {domain}, " if domain else ""
        if chosen.model == best.model:
            why = f"highest predicted quality {chosen.quality:.2f}"
        else:
            ratio = best.cost_usd / max(chosen.cost_usd, 1e-12)
            why = (
                f"predicted quality {chosen.quality:.2f} vs {best.quality:.2f} for {best.model} "
                f"at {ratio:.1f}x less cost"
            )
        return (
            f"{chosen.model}: {why}, ~${chosen.cost_usd:.6f} per call; prompt {looks}{difficulty} "
            f"difficulty; tradeoff {t:.2f}"
        )

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | Path) -> Path:
        """Write the fitted router to `folder` as `router.json` plus `arrays.npz` (no pickle)."""
        self._check_fitted()
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        emb_cfg = self.embedder_.config()
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "autorouter_version": __version__,
            "params": {"tradeoff": self.tradeoff, "max_cost": self.max_cost, "folds": self.folds, "seed": self.seed},
            "embedder": emb_cfg,
            "models": self.models_,
            "n_train": self.n_train_,
            "cost_mode": self.cost_.mode,
            "quality": {"blend": self.quality_.blend, "l2": self.quality_.l2, "shrink": self.quality_.shrink},
            "prototypes": {"temperature": self.prototypes_.temperature, "top": self.prototypes_.top},
            "proto_groups": self.proto_groups_,
        }
        arrays = {
            "centroids": self.prototypes_.centroids,
            "counts": self.prototypes_.counts,
            "logit_w": self.quality_.logit_w,
            "proto_means": self.quality_.proto_means,
            "cost_base": self.cost_.base,
            "cost_per_char": self.cost_.per_char,
            "cost_proto_extra": self.cost_.proto_extra,
            "cost_floor": self.cost_.floor,
            "scale_t": self.scale_.t,
            "scale_lam": self.scale_.lam,
            "difficulty_cuts": self.difficulty_cuts_,
        }
        np.savez(path / "arrays.npz", **arrays)
        (path / "router.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder: str | Path, *, embedder: EmbedderSpec = None) -> Router:
        """Read a router written by `save`.

        Args:
            folder: the folder `save` wrote.
            embedder: the embedder to use, required when the router was trained with a
                callable (which cannot be saved); otherwise rebuilt from the saved config.

        Raises:
            RouterLoadError: the folder is missing, corrupt, or not an autorouter router of a
                version this one reads.
        """
        path = Path(folder)
        meta_path, arr_path = path / "router.json", path / "arrays.npz"
        if not meta_path.is_file() or not arr_path.is_file():
            raise RouterLoadError(
                f"{path} is not a saved router: expected router.json and arrays.npz in it"
            )
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RouterLoadError(f"{meta_path} is not valid JSON: {e}") from e
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise RouterLoadError(f"{meta_path} was not written by autorouter's Router.save")
        if meta.get("format_version") != FORMAT_VERSION:
            raise RouterLoadError(
                f"{path} holds router format {meta.get('format_version')!r}; this autorouter "
                f"({__version__}) reads format {FORMAT_VERSION}: retrain it with `autorouter train`"
            )
        try:
            with np.load(arr_path, allow_pickle=False) as z:
                a = {k: z[k] for k in z.files}
            p = meta["params"]
            router = cls(tradeoff=p["tradeoff"], max_cost=p["max_cost"], folds=p["folds"], seed=p["seed"])
            router.models_ = list(meta["models"])
            m = len(router.models_)
            router.prototypes_ = Prototypes(
                a["centroids"], a["counts"], meta["prototypes"]["temperature"], meta["prototypes"]["top"]
            )
            k, d = a["centroids"].shape
            qm = meta["quality"]
            router.quality_ = QualityModel(a["logit_w"], a["proto_means"], qm["blend"], qm["l2"], qm["shrink"])
            router.cost_ = CostModel(
                meta["cost_mode"], a["cost_base"], a["cost_per_char"], a["cost_proto_extra"], a["cost_floor"]
            )
            from .policy import TradeoffScale as _Scale

            router.scale_ = _Scale(a["scale_t"], a["scale_lam"])
            router.difficulty_cuts_ = a["difficulty_cuts"]
            router.proto_groups_ = list(meta["proto_groups"])
            router.n_train_ = int(meta["n_train"])
            shapes_ok = (
                a["logit_w"].shape == (d + 1, m)
                and a["proto_means"].shape == (k, m)
                and a["cost_proto_extra"].shape == (k, m)
                and a["cost_base"].shape == (m,)
                and len(router.proto_groups_) == k
            )
        except (KeyError, TypeError, ValueError, OSError) as e:
            raise RouterLoadError(f"{path} is corrupt or incomplete: {e!r}") from e
        if not shapes_ok:
            raise RouterLoadError(f"{path} is corrupt: its arrays do not match {m} models")
        if embedder is not None:
            router.embedder, router.embedder_ = embedder, get_embedder(embedder)
        elif meta.get("embedder") is None:
            raise RouterLoadError(
                f"{path} was trained with a custom embedding function that cannot be saved; "
                "pass it again: Router.load(folder, embedder=your_function)"
            )
        else:
            router.embedder_ = embedder_from_config(meta["embedder"])
            router.embedder = meta["embedder"].get("kind")
        return router
