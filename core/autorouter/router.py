"""`Router`: learn from routing data which model answers which prompt best for the money."""

from __future__ import annotations

import functools
import math
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._linalg import spherical_kmeans
from .calling import CallingMixin
from .dataset import ModelPrice, RoutingDataset, load_dataset
from .decision import ModelLimits, ModelSpeed, RoutingDecision, exclusion_reason
from .embedders import Embedder, embedder_from_config, get_embedder
from .errors import (
    EmbedderError,
    InvalidRequestError,
    NoCandidateError,
    NotFittedError,
    RouterLoadError,
    UnknownModelError,
)
from .families import FAMILIES, family_of_benchmark
from .feedback import DEFAULT_FEEDBACK_STRENGTH, Feedback, OutcomeCorrection, outcome_scores
from .persistence import format_fields, load_prices, read_folder, shown, write_folder
from .placement import PLACEMENT_ERROR_SD
from .policy import (
    DEFAULT_LATENCY_WEIGHT,
    DEFAULT_TRADEOFF,
    TradeoffScale,
    check_latency_weight,
    check_max_cost,
    check_max_latency,
    check_tradeoff,
    decide,
    order_with_pick,
)
from .predictors import (
    CHARS_PER_TOKEN,
    DEFAULT_OUTPUT_TOKENS,
    CostModel,
    Prototypes,
    QualityModel,
    cluster_means,
    observed_cost_columns,
)
from .profiles import TaskProfile
from .prompts import prompt_info, prompt_text

__all__ = ["Router"]

CALIBRATION_SAMPLE = 1024
#: Reasoning models spend hidden thinking tokens: without a catalog figure for them, answers
#: cost this many times a plain one.
REASONING_ANSWER_FACTOR = 5.0
#: Uncertainty (sd, logit units) of task scores given to `add_model` without one.
DEFAULT_TASK_SCORE_SD = 0.3
#: Embedders a saved router may rebuild by itself: bundled, offline, no network.
_BUNDLED_EMBEDDERS = ("minilm", "static")
_INIT_PARAMS = ("embedder", "tradeoff", "max_cost", "max_latency_s", "latency_weight", "prices", "folds", "seed")
EmbedderSpec = Embedder | str | Callable[[list[str]], Any] | None
PriceSpec = Mapping[str, ModelPrice | tuple[float, float]]


class _fit_method:
    """Lets `Router.fit(ds)` build a default router, while `Router(...).fit(ds)` fits in place."""

    def __init__(self, func: Callable[..., Router]) -> None:
        self.func = func
        functools.update_wrapper(self, func)  # type: ignore[arg-type]  # a descriptor, not a function

    def __get__(self, obj: Router | None, cls: type[Router]) -> Callable[..., Router]:
        if obj is not None:
            return functools.partial(self.func, obj)

        @functools.wraps(self.func)
        def fit_new(dataset: Any, **kwargs: Any) -> Router:
            init = {k: kwargs.pop(k) for k in list(kwargs) if k in _INIT_PARAMS}
            return self.func(cls(**init), dataset, **kwargs)

        return fit_new


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
        stacklevel=3,
    )
    return (scores - lo) / (hi - lo)


def _latency_for_scoring(lat: np.ndarray) -> np.ndarray:
    """Predicted latency (n, m) with a model of unknown speed taken as a typical known one
    (the row's median): unknown must not mean instant, or it would beat every timed model."""
    known = np.isfinite(lat)
    if known.all():
        return lat
    if not known.any():
        return np.zeros_like(lat)
    typical = np.array([[float(np.median(row[k])) if k.any() else 0.0] for row, k in zip(lat, known, strict=True)])
    return np.where(known, lat, typical)


@functools.lru_cache(maxsize=32)
def _speed_table(speeds: tuple[ModelSpeed | None, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time to first token, output speed and thinking tokens per model; NaN where unknown."""
    nan = float("nan")
    ttft = np.array([nan if s is None or s.ttft_s is None else s.ttft_s for s in speeds])
    tps = np.array([nan if s is None or s.output_tokens_per_s is None else s.output_tokens_per_s for s in speeds])
    thinking = np.array([0.0 if s is None else float(s.reasoning_tokens) for s in speeds])
    return ttft, tps, thinking


@dataclass(frozen=True)
class EmbeddedPrompts:
    """Prompts as a router reads them, from `Router.embed_prompts`, for `Router.route_embedded`.

    Attributes:
        x: (n, d) the embeddings.
        chars: (n,) each request's length in characters (every message counts, for cost).
        images: (n,) whether each request holds images.
    """

    x: np.ndarray
    chars: np.ndarray
    images: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


#: A prompt is "hard" where the typical candidate answers it well less than 70% of the time and
#: "easy" from 90%: what the words mean to a reader, the same for every router (quantiles of the
#: calibration prompts made a third of any traffic "hard", everyday small talk included).
DIFFICULTY_CUTS = (0.7, 0.9)


class Router(CallingMixin):
    """Routes each prompt to the candidate model with the best predicted quality for the money.

    Follows scikit-learn conventions: the constructor only stores settings, `fit` learns from a
    `RoutingDataset` and returns the router, and everything learned ends in `_`.
    `Router.fit(dataset)` on the class builds a router with default settings and fits it.

    Args:
        embedder: how prompts become vectors: None, "default" or "static" (the bundled static
            embeddings, offline, fastest), "minilm" (the bundled MiniLM, which the default
            router uses), any `Embedder`, or a callable
            `list[str] -> array (n, dim)`.
        tradeoff: default knob in [0, 1]: 0 = best predicted quality whatever it costs,
            1 = the cheapest model. Calibrated so that equal steps give equal ratios of spend.
        max_cost: default cap in USD per call; candidates predicted to cost more are excluded.
        max_latency_s: default cap in seconds until the whole answer has arrived; candidates
            predicted to take longer are excluded (models of unknown speed never are).
        latency_weight: quality points one second of predicted latency costs in the score
            (default 0.0005: a tie-breaker; 0 ignores latency).
        prices: list prices per model (USD per 1M input and output tokens) for data without
            per-prompt costs; overrides a `models.json` found beside the data.
        folds: cross-validation folds used to tune the quality predictor.
        seed: random seed for clustering and folds.
    """

    # Learned state, set by `fit` (or `load`); each is documented where it is learned.
    quality_: QualityModel | None
    data_models_: list[str]
    fact_models_: list[str]
    limits_: dict[str, ModelLimits]
    speeds_: dict[str, ModelSpeed]
    feedback_: OutcomeCorrection
    #: (models,) each candidate's mean predicted quality on the calibration sample: the
    #: strongest of the eligible ones is what tradeoff 0 leaves only with confidence.
    strength_: np.ndarray | None

    def __init__(
        self,
        embedder: EmbedderSpec = None,
        *,
        tradeoff: float = DEFAULT_TRADEOFF,
        max_cost: float | None = None,
        max_latency_s: float | None = None,
        latency_weight: float = DEFAULT_LATENCY_WEIGHT,
        prices: PriceSpec | None = None,
        folds: int = 3,
        seed: int = 0,
    ) -> None:
        self.embedder = embedder
        self.tradeoff = tradeoff
        self.max_cost = max_cost
        self.max_latency_s = max_latency_s
        self.latency_weight = latency_weight
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

        Scores are learned on [0, 1]: scores on another scale (e.g. 1-10 judge ratings) are
        rescaled linearly, with a warning, and predicted quality is reported on that scale.

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
        texts, chars = zip(*(prompt_text(p) for p in ds.prompts), strict=True)
        x = self._embed_in_batches(list(texts), report)
        chars_arr = np.asarray(chars, dtype=np.float64)

        report("fit", 0, 3)
        y = unit_scores(ds.scores)
        labels = self._fit_shared(x, chars_arr, ds.groups, y, ds.output_chars)
        k = len(self.prototypes_.centroids)
        self.quality_ = QualityModel.fit(
            x, y, self.prototypes_, labels, folds=self.folds, seed=self.seed
        )
        report("fit", 1, 3)
        prices, from_catalog = self._price_array(ds)
        self.cost_, guessed = CostModel.fit(
            chars_arr,
            labels,
            k,
            n_models=len(ds.models),
            cost_usd=ds.cost_usd,
            output_chars=ds.output_chars,
            prices=prices,
        )
        self._warn_about_costs([ds.models[j] for j in guessed], from_catalog)
        self.data_models_ = list(ds.models)
        self.feedback_ = OutcomeCorrection.empty(k, len(ds.models))
        self._calibrate()
        report("fit", 3, 3)
        return self

    def _fit_shared(
        self,
        x: np.ndarray,
        chars: np.ndarray,
        groups: Sequence[str] | None,
        scores: np.ndarray,
        output_chars: np.ndarray | None,
        levels: Sequence[str | None] | None = None,
        level_offsets: Mapping[str, Mapping[str, float]] | None = None,
    ) -> np.ndarray:
        """Learn what does not depend on the candidates: prompt clusters, the task profile,
        answer lengths per cluster and a calibration sample. Returns each prompt's cluster.
        `levels` and `level_offsets`: a person's judgement of some prompts' difficulty
        (`TaskProfile.fit`)."""
        self.prototypes_, labels = Prototypes.fit(x, seed=self.seed)
        k = len(self.prototypes_.centroids)
        if groups and any(groups):
            tasks = [g or "other" for g in groups]
        else:  # no task labels: coarse clusters of the prompts stand in for tasks
            _, coarse = spherical_kmeans(x, int(np.clip(len(x) // 25, 1, 16)), seed=self.seed)
            tasks = [f"cluster-{c}" for c in coarse]
        self.profile_ = TaskProfile.fit(x, tasks, scores, levels=levels, level_offsets=level_offsets)
        if output_chars is not None and np.isfinite(output_chars).any():
            known = np.isfinite(output_chars)
            n_known = known.sum(axis=1)
            total = np.where(known, output_chars, 0.0).sum(axis=1)
            per_row = np.where(
                n_known > 0, total / np.maximum(n_known, 1) / CHARS_PER_TOKEN, DEFAULT_OUTPUT_TOKENS
            )
            prior = float(np.mean(per_row))
            self.answer_tokens_ = cluster_means(labels, k, per_row[:, None], np.array([prior]), 5.0)[:, 0]
        else:
            self.answer_tokens_ = np.full(k, DEFAULT_OUTPUT_TOKENS)
        rng = np.random.default_rng(self.seed)
        keep = rng.choice(len(x), min(len(x), CALIBRATION_SAMPLE), replace=False)
        self.calib_x_ = x[keep].astype(np.float32)
        self.calib_chars_ = chars[keep].astype(np.float64)
        self.proto_groups_ = self._cluster_groups(labels, k, list(groups) if groups else None)
        self.n_train_ = len(x)
        self.quality_ = None
        self.data_models_ = []
        self.fact_models_ = []
        self.fact_scores_ = np.zeros((len(self.profile_.tasks), 0))
        self.fact_sd_ = np.zeros((len(self.profile_.tasks), 0))
        self.limits_ = {}
        self.speeds_ = {}
        self.family_params_: dict[str, tuple[float, float]] = {}
        self.placement_error_sd_ = PLACEMENT_ERROR_SD
        self.cost_ = CostModel("prices", np.zeros(0), np.zeros(0), np.zeros((k, 0)), np.zeros(0))
        self.feedback_ = OutcomeCorrection.empty(k, 0)
        self.scale_ = TradeoffScale(np.array([0.0, 1.0]), np.array([0.0, 0.0]))
        self.difficulty_cuts_ = np.array([0.0, 1.0])
        self.strength_ = None
        return labels

    def _calibrate(self) -> None:
        """Re-fit the tradeoff scale and difficulty cuts on the calibration sample."""
        q, c, proto_w, task_w = self._predict_from(self.calib_x_, self.calib_chars_)
        latency = self.latency_weight * _latency_for_scoring(self._latency(proto_w))
        sd = self._quality_sd(self.calib_x_, proto_w, task_w, q.shape)
        self.scale_ = TradeoffScale.calibrate(q, c, latency=latency, sd=sd)
        self.difficulty_cuts_ = np.array(DIFFICULTY_CUTS, dtype=np.float64)
        # which candidate is the strongest single one, that tradeoff 0 leaves only with confidence
        self.strength_ = q.mean(axis=0)

    def _strength(self) -> np.ndarray:
        """`strength_`, worked out from the calibration sample the first time a loaded router
        needs it (a tenth of a second: not worth holding up every load)."""
        if self.strength_ is None:
            self.strength_ = self._predict_from(self.calib_x_, self.calib_chars_)[0].mean(axis=0)
        return self.strength_

    @property
    def models_(self) -> list[str]:
        """Every candidate: models learned from per-prompt data, then models added from facts."""
        return self.data_models_ + self.fact_models_

    @property
    def tasks_(self) -> list[str]:
        """The tasks a model added with `add_model(task_scores=...)` is described by."""
        self._check_fitted()
        return list(self.profile_.tasks)

    def add_model(
        self,
        name: str,
        *,
        task_scores: Mapping[str, float] | None = None,
        scored_prompts: Sequence[tuple[Any, float]] | None = None,
        price: ModelPrice | tuple[float, float],
        answer_token_factor: float = 1.0,
        limits: ModelLimits | None = None,
        speed: ModelSpeed | None = None,
        task_score_sd: float | Mapping[str, float] = DEFAULT_TASK_SCORE_SD,
        replace: bool = False,
    ) -> Router:
        """Add a candidate known without per-prompt data; it is routed to at once.

        Describe it by its mean score per task (`task_scores`, e.g. published benchmark
        results; tasks it has no score for take the mean of those given), or by a handful of
        prompts it was scored on (`scored_prompts`: (prompt, score in [0, 1]) pairs), or both
        (the scored prompts then refine the task scores).

        Args:
            name: the model's name as routing decisions should report it.
            task_scores: {task: mean score in [0, 1]}; tasks are `router.tasks_`.
            scored_prompts: (prompt, score) pairs.
            price: USD per 1M input and output tokens.
            answer_token_factor: how many more answer tokens it spends than a typical model
                (e.g. 4 for a reasoning model that thinks before it answers).
            limits: context window and capabilities, used to filter requests.
            speed: typical time to first token, output speed and hidden thinking tokens, for
                predicted latency (and the thinking tokens' cost).
            task_score_sd: how uncertain the task scores are (standard deviation in logit
                units, one for all or per task): reported with each prediction
                (`RankedModel.uncertainty`), and named in the explanation when an edge is
                within it; outcomes (`partial_fit`) narrow it.
            replace: replace an existing candidate of the same name instead of failing.
        """
        self._check_fitted()
        if name in self.models_:
            if not replace:
                raise InvalidRequestError(f"{name!r} is already a candidate; pass replace=True to update it")
            self.remove_model(name, _recalibrate=False)
        if task_scores is None and not scored_prompts:
            raise InvalidRequestError(
                f"describe {name!r} by task_scores={{task: score}} (tasks: {self.profile_.tasks}) "
                "or by scored_prompts=[(prompt, score), ...]"
            )
        if task_scores is not None:
            bad = [t for t, v in task_scores.items() if not 0.0 <= float(v) <= 1.0]
            if bad:
                raise InvalidRequestError(f"task scores must be in [0, 1]; check {bad}")
            task_scores = self._as_router_tasks(task_scores)
            if not any(t in self.profile_.tasks for t in task_scores):
                raise InvalidRequestError(
                    f"none of the tasks {sorted(task_scores)} is known; this router knows {self.profile_.tasks}"
                )
        col = self.profile_.scores_from_facts(task_scores or {}, fallback=None if task_scores else 0.5)
        sd_col = self._sd_column(task_score_sd)
        if scored_prompts:
            col = self._refine_with_prompts(col, scored_prompts, prior_weight=8.0 if task_scores else 1.0)
        pin, pout = astuple(ModelPrice.of(price))
        if pin < 0 or pout < 0:
            raise InvalidRequestError(f"prices must be >= 0, got {(pin, pout)}")
        self.fact_models_.append(name)
        self.fact_scores_ = np.hstack([self.fact_scores_, col[:, None]])
        self.fact_sd_ = np.hstack([self.fact_sd_, sd_col[:, None]])
        thinking = speed.reasoning_tokens if speed is not None else 0
        self.cost_ = self.cost_.with_priced_model(
            pin / 1e6 / CHARS_PER_TOKEN, self.answer_tokens_ * answer_token_factor * pout / 1e6,
            base=thinking * pout / 1e6,
        )
        self.feedback_ = self.feedback_.with_new_model()
        if limits is not None:
            self.limits_[name] = limits
        if speed is not None:
            self.speeds_[name] = speed
        self._calibrate()
        return self

    def add_catalog_model(self, name: str, *, catalog: Any = None, replace: bool = False) -> Router:
        """Add a catalog model (by id or alias), placed from its public facts.

        Its task scores come from its published benchmark scores and Arena rating (missing ones
        imputed from its general ability, see `autorouter.placement`), its price, context
        window and capabilities from the catalog.
        """
        from .catalog import Catalog
        from .placement import FactPlacer

        cat = catalog if catalog is not None else Catalog.default()
        card = cat.get(name)
        placer = FactPlacer(cat, self.family_params_, self.placement_error_sd_)
        scores, sds, _ = placer.task_scores_sd(card, self.tasks_)
        if not scores:
            raise InvalidRequestError(f"the catalog has no benchmark scores or Arena rating for {card.id}")
        if card.price is None:
            raise InvalidRequestError(f"the catalog has no price for {card.id}; add one with Catalog.override")
        caps = card.capabilities
        limits = ModelLimits(
            context_window=card.context_window, tools=caps.tools, images=caps.images,
            structured_output=caps.structured_output,
        )
        # without a figure for the hidden thinking, a reasoning model's answers cost a multiple
        factor = REASONING_ANSWER_FACTOR if caps.reasoning and not card.reasoning_tokens else 1.0
        return self.add_model(
            card.id, task_scores=scores, price=card.price, answer_token_factor=factor, limits=limits,
            speed=card.speed, task_score_sd=sds, replace=replace,
        )

    def _as_router_tasks(self, task_scores: Mapping[str, float]) -> dict[str, float]:
        """Task scores keyed by this router's tasks: a benchmark name (e.g. "MATH") given to a
        router whose tasks are prompt families counts for the family it measures."""
        tasks = set(self.profile_.tasks)
        out: dict[str, float] = {}
        for t, v in task_scores.items():
            family = family_of_benchmark(t)
            key = family if t not in tasks and family is not None and family in tasks else t
            out.setdefault(key, float(v))
        return out

    def _sd_column(self, sd: float | Mapping[str, float]) -> np.ndarray:
        """A (T,) column of task-score uncertainties (logit units)."""
        tasks = self.profile_.tasks
        if isinstance(sd, Mapping):
            given = {t: float(v) for t, v in self._as_router_tasks(sd).items() if t in tasks}
            fill = max(given.values()) if given else DEFAULT_TASK_SCORE_SD
            col = np.array([given.get(t, fill) for t in tasks])
        else:
            col = np.full(len(tasks), float(sd))
        if not np.all(np.isfinite(col)) or np.any(col < 0):
            raise InvalidRequestError(f"task_score_sd must be finite and >= 0, got {sd!r}")
        return col

    @classmethod
    def default(cls) -> Router:
        """The bundled router among the models `openrouter/auto` routes to; works offline.

        It learned what prompts are like from public routing data and places each catalog
        model from public facts (see the README for where its knowledge comes from).
        """
        path = Path(__file__).parent / "data" / "default_router"
        if not (path / "router.json").is_file():
            raise RouterLoadError(
                f"the bundled default router is missing from {path}; reinstall autorouter or "
                "build it with `python scripts/build_default_router.py`"
            )
        return cls.load(path)

    def _refine_with_prompts(
        self, col: np.ndarray, scored: Sequence[tuple[Any, float]], prior_weight: float
    ) -> np.ndarray:
        texts = [prompt_text(p)[0] for p, _ in scored]
        y = np.array([float(v) for _, v in scored])
        if not np.all((y >= 0) & (y <= 1)):
            raise InvalidRequestError("scores of scored_prompts must be in [0, 1]")
        probs = self.profile_.task_probs(self._embed_checked(self.embedder_.embed(texts)))
        weight = probs.sum(axis=0)
        return (probs.T @ y + prior_weight * col) / (weight + prior_weight)

    def remove_model(self, name: str, *, _recalibrate: bool = True) -> Router:
        """Drop a candidate added with `add_model`."""
        if name not in self.fact_models_:
            raise UnknownModelError(f"{name!r} was not added with add_model; added: {self.fact_models_}")
        j = self.fact_models_.index(name)
        col = len(self.data_models_) + j
        self.fact_models_.pop(j)
        self.fact_scores_ = np.delete(self.fact_scores_, j, axis=1)
        self.fact_sd_ = np.delete(self.fact_sd_, j, axis=1)
        self.cost_ = self.cost_.without_column(col)
        self.feedback_ = self.feedback_.without_model(col)
        self.limits_.pop(name, None)
        self.speeds_.pop(name, None)
        if _recalibrate:
            self._calibrate()
        return self

    def partial_fit(self, prompts: Sequence[Any], model: str, scores: Sequence[float]) -> Router:
        """Learn from new outcomes of one candidate without refitting; returns the router.

        Each outcome is how good `model`'s answer to a prompt was (a score in [0, 1]: a judge's
        grade, a thumbs up as 1 and down as 0). Predictions for similar prompts move toward the
        outcomes, a little after a few and most of the way after many; it works the same for a
        model learned from routing data and for one known only by facts (`add_model`,
        `add_catalog_model`), whose uncertainty also narrows near the prompts it was judged on.
        Updates are sums, so the order outcomes arrive in does not matter. `save` keeps them.

        Raises:
            UnknownModelError: `model` is not a candidate.
            InvalidRequestError: prompts and scores differ in number, or a score is not a
                finite number in [0, 1]. Nothing is learned from a call that raises.
        """
        self._check_fitted()
        if model not in self.models_:
            raise UnknownModelError(f"{model!r} is not a candidate of this router; candidates: {self.models_}")
        if isinstance(prompts, str):
            raise InvalidRequestError("partial_fit takes a list of prompts (one: [prompt])")
        y = outcome_scores(scores)
        if len(y) != len(prompts):
            raise InvalidRequestError(f"{len(prompts)} prompts but {len(y)} scores: give one score per prompt")
        if not len(y):
            return self
        texts, chars = self._texts(prompts)
        x = self._embed_checked(self.embedder_.embed(texts))
        j = self.models_.index(model)
        base = self._predict_from(x, chars, corrected=False)
        self.feedback_ = self.feedback_.updated(base[2], j, y - base[0][:, j])
        self._calibrate()
        return self

    def apply_feedback(self, feedback: Sequence[Feedback]) -> Router:
        """`partial_fit` on `Feedback` records (e.g. `FeedbackLog(path).read()`), per model.

        Every record's model is checked first, so a bad log changes nothing."""
        unknown = sorted({f.model for f in feedback} - set(self.models_))
        if unknown:
            raise UnknownModelError(f"feedback names models this router does not have: {unknown}")
        by_model: dict[str, list[Feedback]] = {}
        for f in feedback:
            by_model.setdefault(f.model, []).append(f)
        for model, records in by_model.items():
            self.partial_fit([f.prompt for f in records], model, [f.score for f in records])
        return self

    def _embed_in_batches(self, texts: list[str], report: Callable[[str, int, int], None]) -> np.ndarray:
        out, step = [], 256
        for i in range(0, len(texts), step):
            report("embed", i, len(texts))
            out.append(self.embedder_.embed(texts[i : i + step]))
        report("embed", len(texts), len(texts))
        return np.concatenate(out)

    def _warn_about_costs(self, guessed: list[str], from_catalog: list[str]) -> None:
        """Say where costs were not learned from the data (`fit` goes on either way)."""
        if from_catalog:
            warnings.warn(
                f"the data has no costs or prices for {from_catalog}: priced from the bundled catalog's "
                "list prices; give your own with Router(prices={...}) (CLI: train --prices FILE)",
                stacklevel=3,
            )
        if self.cost_.mode == "none":
            warnings.warn(
                "the data has no costs (`cost_usd`) and no prices: every model is treated as costing "
                "the same, so `tradeoff` and `max_cost` change nothing; give list prices with "
                "Router(prices={model: (usd_per_1m_in, usd_per_1m_out)}) (CLI: train --prices FILE) or a "
                "models.json beside the data",
                stacklevel=3,
            )
        elif guessed:
            warnings.warn(
                f"no cost and no price for {guessed}: they are taken to cost what a typical other "
                "model costs; give their prices with Router(prices={...}) (CLI: train --prices FILE)",
                stacklevel=3,
            )

    def _price_array(self, ds: RoutingDataset) -> tuple[np.ndarray | None, list[str]]:
        """List prices (m, 2) for the models the data has no costs for, NaN where unknown, and
        the models priced from the bundled catalog. Prices given to the router win over a
        models.json beside the data, which wins over the catalog."""
        prices: dict[str, ModelPrice] = dict(ds.prices)
        for name, p in (self.prices or {}).items():
            prices[name] = ModelPrice.of(p)
        observed = observed_cost_columns(ds.cost_usd, len(ds.models))
        need = [m for j, m in enumerate(ds.models) if m not in prices and not observed[j]]
        from_catalog = []
        if need:
            from .catalog import Catalog

            catalog = Catalog.default()
            for m in need:
                card = catalog.get(m) if m in catalog else None
                if card is not None and card.price is not None:
                    prices[m] = card.price
                    from_catalog.append(m)
        missing = [m for m in need if m not in prices]
        if missing and (ds.prices or self.prices):
            raise InvalidRequestError(
                f"prices are given for some models but not for {missing}, and neither the data nor "
                "the bundled catalog has a cost for them: give a price for every model without costs"
            )
        if not prices:
            return None, []
        nan = ModelPrice(math.nan, math.nan)
        table = [[prices.get(m, nan).input_per_1m, prices.get(m, nan).output_per_1m] for m in ds.models]
        return np.array(table, dtype=np.float64), from_catalog

    @staticmethod
    def _cluster_groups(labels: np.ndarray, k: int, groups: list[str] | None) -> list[str]:
        if not groups:
            return ["" for _ in range(k)]
        out = []
        for c in range(k):
            members = Counter(g for g, lab in zip(groups, labels, strict=True) if lab == c and g)
            out.append(members.most_common(1)[0][0] if members else "")
        return out

    # ------------------------------------------------------------------ routing
    def _fitted(self) -> bool:
        return hasattr(self, "profile_")

    def _check_fitted(self) -> None:
        if not self._fitted():
            raise NotFittedError(
                "this Router is not fitted yet: call Router.fit(dataset) or Router.load(folder)"
            )

    def check_fitted(self) -> Router:
        """Raise `NotFittedError` (saying what to do) unless the router is fitted, by `fit` or
        `load`; returns the router. For code that takes a router from elsewhere."""
        self._check_fitted()
        return self

    def predict(self, prompts: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted quality and USD cost, each `(len(prompts), n_models)`, columns as `models_`."""
        self._check_fitted()
        texts, chars = self._texts(prompts)
        x = self._embed_checked(self.embedder_.embed(texts))
        return self._predict_from(x, chars)[:2]

    def _texts(self, prompts: Sequence[Any]) -> tuple[list[str], np.ndarray]:
        texts, chars, _ = self._requests(prompts)
        return texts, chars

    def _requests(self, prompts: Sequence[Any]) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Texts to embed, request lengths and which requests hold images."""
        if isinstance(prompts, str):
            raise InvalidRequestError("route_batch takes a list of prompts; use route() for one")
        info = [prompt_info(p) for p in prompts]
        return (
            [t for t, _, _ in info],
            np.array([c for _, c, _ in info], dtype=np.float64),
            np.array([im for _, _, im in info], dtype=bool),
        )

    def _embed_checked(self, x: np.ndarray) -> np.ndarray:
        d = self.prototypes_.centroids.shape[1]
        if x.ndim != 2 or x.shape[1] != d:
            raise EmbedderError(
                f"the embedder returned vectors of dim {x.shape[-1]}, but this router was "
                f"trained on dim {d}: load it with the embedder it was trained with"
            )
        return x

    def _predict_from(
        self, x: np.ndarray, chars: np.ndarray, *, corrected: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Quality and cost (n, models), and the cluster and task weights the explanation reuses.

        `corrected=False` leaves out what outcomes taught (`partial_fit`): the base that
        residuals are measured against."""
        proto_w = self.prototypes_.weights(x)
        task_w = self.profile_.task_probs(x)
        parts = []
        if self.quality_ is not None:
            parts.append(self.quality_.predict(x, proto_w))
        if self.fact_models_:
            parts.append(TaskProfile.quality_from(task_w, self.profile_.difficulty(x, task_w), self.fact_scores_))
        q = np.hstack(parts) if parts else np.zeros((len(x), 0))
        if corrected and self.feedback_.outcomes:
            q = np.clip(q + self.feedback_.offset(proto_w), 0.0, 1.0)
        return q, self.cost_.predict(chars, proto_w), proto_w, task_w

    def _quality_sd(
        self, x: np.ndarray, proto_w: np.ndarray, task_w: np.ndarray, shape: tuple[int, ...]
    ) -> np.ndarray:
        """(n, models) standard deviation of predicted quality: for models placed from facts,
        their task scores' uncertainty carried through the task mix, shrinking as outcomes of
        similar prompts come in (`partial_fit`); 0 for models learned from per-prompt data
        (their cross-validated predictor is taken at its word)."""
        sd = np.zeros(shape)
        if self.fact_models_:
            n_data = len(self.data_models_)
            sd[:, n_data:] = TaskProfile.quality_sd_from(
                task_w, self.profile_.difficulty(x, task_w), self.fact_scores_, self.fact_sd_
            )
            if self.feedback_.outcomes:
                seen = self.feedback_.evidence(proto_w)[:, n_data:]
                sd[:, n_data:] *= np.sqrt(self.feedback_.strength / (self.feedback_.strength + seen))
        return sd

    def _latency(self, proto_w: np.ndarray) -> np.ndarray:
        """(n, models) predicted seconds until the whole answer has arrived; NaN if unknown."""
        if not self.speeds_:
            return np.full((len(proto_w), len(self.models_)), np.nan)
        ttft, tps, thinking = _speed_table(tuple(self.speeds_.get(m) for m in self.models_))
        answer = proto_w @ self.answer_tokens_
        return ttft + (answer[:, None] + thinking) / tps

    def route(
        self,
        prompt: Any,
        *,
        tradeoff: float | None = None,
        max_cost: float | None = None,
        candidates: Sequence[str] | None = None,
        tools: bool = False,
        structured_output: bool = False,
        max_latency_s: float | None = None,
        latency_weight: float | None = None,
    ) -> RoutingDecision:
        """Choose a model for one prompt (a string, or a list of chat messages).

        Args:
            prompt: the prompt text, or chat messages (OpenAI dicts, LangChain or LlamaIndex
                messages); the last user message decides, every message counts for cost.
            tradeoff: overrides the router's default knob for this call.
            max_cost: overrides the router's default USD cap for this call.
            candidates: restrict the choice to these models (the others are ranked as excluded).
            tools: the request carries tools: only tool-capable models are eligible.
            structured_output: the request asks for JSON / a schema.
            max_latency_s: overrides the router's default cap on predicted seconds per answer.
            latency_weight: overrides the router's quality-per-second weight of latency.

        Models whose context window is smaller than the prompt, and models that cannot take
        images when the messages hold some, are never chosen (see `ModelLimits`).
        """
        return self.route_batch(
            [prompt], tradeoff=tradeoff, max_cost=max_cost, candidates=candidates, tools=tools,
            structured_output=structured_output, max_latency_s=max_latency_s, latency_weight=latency_weight,
        )[0]

    async def aroute(
        self,
        prompt: Any,
        *,
        tradeoff: float | None = None,
        max_cost: float | None = None,
        candidates: Sequence[str] | None = None,
        tools: bool = False,
        structured_output: bool = False,
        max_latency_s: float | None = None,
        latency_weight: float | None = None,
    ) -> RoutingDecision:
        """Async `route`: the embedding runs without blocking the event loop."""
        self._check_fitted()
        texts, chars, images = self._requests([prompt])
        x = self._embed_checked(await self.embedder_.aembed(texts))
        return self._decide(
            x, chars, tradeoff, max_cost, candidates, images, tools, structured_output, max_latency_s, latency_weight
        )[0]

    def route_batch(
        self,
        prompts: Sequence[Any],
        *,
        tradeoff: float | None = None,
        max_cost: float | None = None,
        candidates: Sequence[str] | None = None,
        tools: bool = False,
        structured_output: bool = False,
        max_latency_s: float | None = None,
        latency_weight: float | None = None,
    ) -> list[RoutingDecision]:
        """Choose a model for each prompt; the same as calling `route` on each, but vectorised."""
        return self.route_embedded(
            self.embed_prompts(prompts), tradeoff=tradeoff, max_cost=max_cost, candidates=candidates, tools=tools,
            structured_output=structured_output, max_latency_s=max_latency_s, latency_weight=latency_weight,
        )

    def embed_prompts(self, prompts: Sequence[Any]) -> EmbeddedPrompts:
        """The prompts as routing reads them (embeddings, request lengths, images), to route
        many times with `route_embedded` without embedding again: an evaluation over many
        tradeoffs, or candidates compared on one set of prompts."""
        self._check_fitted()
        texts, chars, images = self._requests(prompts)
        x = self._embed_checked(self.embedder_.embed(texts)) if texts else np.zeros((0, self.prototypes_.centroids.shape[1]))
        return EmbeddedPrompts(x, chars, images)

    def route_embedded(
        self,
        prompts: EmbeddedPrompts,
        *,
        tradeoff: float | None = None,
        max_cost: float | None = None,
        candidates: Sequence[str] | None = None,
        tools: bool = False,
        structured_output: bool = False,
        max_latency_s: float | None = None,
        latency_weight: float | None = None,
    ) -> list[RoutingDecision]:
        """`route_batch` for prompts already embedded by `embed_prompts`: the same decisions."""
        self._check_fitted()
        if not isinstance(prompts, EmbeddedPrompts):
            raise InvalidRequestError("route_embedded takes what embed_prompts returns; use route_batch for prompts")
        if len(prompts) == 0:
            return []
        x = self._embed_checked(prompts.x)
        return self._decide(
            x, prompts.chars, tradeoff, max_cost, candidates, prompts.images, tools, structured_output,
            max_latency_s, latency_weight,
        )

    def _decide(
        self,
        x: np.ndarray,
        chars: np.ndarray,
        tradeoff: float | None,
        max_cost: float | None,
        candidates: Sequence[str] | None,
        images: np.ndarray | None = None,
        tools: bool = False,
        structured_output: bool = False,
        max_latency_s: float | None = None,
        latency_weight: float | None = None,
    ) -> list[RoutingDecision]:
        t = check_tradeoff(self.tradeoff if tradeoff is None else tradeoff)
        cap = check_max_cost(self.max_cost if max_cost is None else max_cost)
        lat_cap = check_max_latency(self.max_latency_s if max_latency_s is None else max_latency_s)
        mu = check_latency_weight(self.latency_weight if latency_weight is None else latency_weight)
        allowed = self._allowed(candidates)
        q, c, proto_w, task_w = self._predict_from(x, chars)
        sd = self._quality_sd(x, proto_w, task_w, q.shape)
        lat = self._latency(proto_w)
        images = np.zeros(len(q), dtype=bool) if images is None else images
        reasons = self._exclusions(c, chars, allowed, cap, images, tools, structured_output, lat, lat_cap)
        eligible = np.array([[r is None for r in row] for row in reasons], dtype=bool).reshape(q.shape)
        lam = self.scale_.lam_for(t)
        scores, picks = decide(
            q, c, eligible, lam, mu * _latency_for_scoring(lat), sd, self._strength() if lam == 0 else None
        )
        order = order_with_pick(scores, eligible, picks)
        decisions = []
        # Plain Python values once, and one validation call per decision (nested in Rust): 20
        # RankedModel constructions per prompt would cost more than the scoring itself.
        models, ql, cl, sl, el = self.models_, q.tolist(), c.tolist(), scores.tolist(), eligible.tolist()
        sdl = sd.tolist()
        latl = [[None if v != v else v for v in row] for row in lat.tolist()]
        domains = self._domains(proto_w, task_w)
        for i, row_order in enumerate(order.tolist()):
            if not any(el[i]):
                why = "; ".join(f"{m}: {reasons[i][j]}" for j, m in enumerate(models))
                raise NoCandidateError(
                    f"no candidate model can serve this request ({why}); relax the constraints "
                    "(max_cost, candidates, tools, images) or add models"
                )
            ranking = [
                {"model": models[j], "quality": ql[i][j], "cost_usd": cl[i][j], "score": sl[i][j],
                 "eligible": el[i][j], "excluded_because": reasons[i][j], "latency_s": latl[i][j],
                 "uncertainty": sdl[i][j]}
                for j in row_order
            ]
            difficulty = self._difficulty(q[i])
            decisions.append(
                RoutingDecision.model_validate({
                    "model": ranking[0]["model"],
                    "ranking": ranking,
                    "tradeoff": t,
                    "max_cost": cap,
                    "max_latency_s": lat_cap,
                    "explanation": self._explain(ranking, difficulty, domains[i], t),
                    "family": domains[i] or None,
                    "difficulty": difficulty,
                })
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

    def _exclusions(
        self,
        cost: np.ndarray,
        chars: np.ndarray,
        allowed: np.ndarray,
        cap: float | None,
        images: np.ndarray,
        tools: bool,
        structured_output: bool,
        latency: np.ndarray | None = None,
        latency_cap: float | None = None,
    ) -> list[list[str | None]]:
        """Per prompt and model: why the model cannot serve the request, or None if it can."""
        if cap is None and latency_cap is None and allowed.all() and not self.limits_:
            return [[None] * len(self.models_) for _ in range(len(cost))]  # nothing can exclude
        limits = [self.limits_.get(m) or ModelLimits() for m in self.models_]
        out = []
        for i in range(len(cost)):
            tokens = chars[i] / CHARS_PER_TOKEN
            needs = [n for n, wanted in (("tools", tools), ("images", images[i]),
                                         ("structured_output", structured_output)) if wanted]
            row: list[str | None] = []
            for j, lim in enumerate(limits):
                why = None
                if not allowed[j]:
                    why = "not among the allowed candidates"
                elif (lacks := exclusion_reason(lim, needs, tokens)) is not None:
                    why = lacks  # the one eligibility rule, the adapters' too
                elif cap is not None and cost[i, j] > cap:
                    why = f"predicted cost ${cost[i, j]:.3g} is above max_cost ${cap:.3g}"
                elif latency_cap is not None and latency is not None and latency[i, j] > latency_cap:
                    why = f"predicted latency {latency[i, j]:.1f}s is above max_latency_s {latency_cap:g}s"
                row.append(why)
            out.append(row)
        return out

    def set_limits(self, name: str, limits: ModelLimits) -> Router:
        """Declare what a candidate can take (context window, tools, images, structured output)."""
        self._check_fitted()
        if name not in self.models_:
            raise UnknownModelError(f"unknown model {name!r}; this router knows {self.models_}")
        self.limits_[name] = limits
        return self

    def _difficulty(self, q: np.ndarray) -> str:
        """Easy, medium or hard: the typical (median) candidate's predicted chance of a good
        answer against `difficulty_cuts_` (`DIFFICULTY_CUTS` since routers were given them)."""
        typical = float(np.median(q))
        return "hard" if typical < self.difficulty_cuts_[0] else "easy" if typical >= self.difficulty_cuts_[1] else "medium"

    def _explain(self, ranking: list[dict[str, Any]], difficulty: str, domain: str, t: float) -> str:
        chosen = ranking[0]
        best = max((r for r in ranking if r["eligible"]), key=lambda r: r["quality"])
        looks = f"looks like {domain}, " if domain else ""
        if chosen["model"] == best["model"]:
            why = f"highest predicted quality {chosen['quality']:.2f}"
        else:
            ratio = best["cost_usd"] / max(chosen["cost_usd"], 1e-12)
            gap = best["quality"] - chosen["quality"]
            noise = float(np.hypot(best["uncertainty"], chosen["uncertainty"]))
            within = f", an edge within the router's uncertainty (±{noise:.2f})" if 0 < gap <= noise else ""
            cost_part = f"at {ratio:.1f}x less cost" if ratio >= 1.0 else f"at {1 / ratio:.1f}x the cost"
            why = (
                f"predicted quality {chosen['quality']:.2f} vs {best['quality']:.2f} for {best['model']} "
                f"{cost_part}{within}"
            )
        speed = f", ~{chosen['latency_s']:.1f}s" if chosen["latency_s"] is not None else ""
        return (
            f"{chosen['model']}: {why}, ~${chosen['cost_usd']:.6f} per call{speed}; prompt {looks}{difficulty} "
            f"difficulty; tradeoff {t:.2f}"
        )

    def _domains(self, proto_w: np.ndarray, task_w: np.ndarray) -> list[str]:
        """A name for what each prompt looks like: its most likely task when the router knows
        named tasks, else the main task of its nearest cluster of training prompts."""
        if self.profile_.tasks and not self.profile_.tasks[0].startswith("cluster-"):
            names = [FAMILIES[t].label if t in FAMILIES else t for t in self.profile_.tasks]
            return [names[k] for k in task_w.argmax(axis=1)]
        return [self.proto_groups_[k] for k in proto_w.argmax(axis=1)]

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | Path) -> Path:
        """Write the fitted router to `folder` as `router.json` plus `arrays.npz` (no pickle)."""
        self._check_fitted()
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        q = self.quality_
        meta = {
            **format_fields(),
            "params": {
                "tradeoff": self.tradeoff, "max_cost": self.max_cost, "max_latency_s": self.max_latency_s,
                "latency_weight": self.latency_weight, "folds": self.folds, "seed": self.seed,
                # the prices calls are charged at, so that a loaded router reports the same cost
                "prices": {m: list(astuple(ModelPrice.of(v))) for m, v in (self.prices or {}).items()},
            },
            "embedder": self.embedder_.config(),
            "data_models": self.data_models_,
            "fact_models": self.fact_models_,
            "tasks": self.profile_.tasks,
            "family_params": {f: list(v) for f, v in self.family_params_.items()},
            "placement_error_sd": self.placement_error_sd_,
            "limits": {m: lim.model_dump(exclude_none=True) for m, lim in self.limits_.items()},
            "speeds": {m: sp.model_dump(exclude_none=True) for m, sp in self.speeds_.items()},
            "n_train": self.n_train_,
            "cost_mode": self.cost_.mode,
            "quality": None if q is None else {
                "blend": q.blend, "l2": q.l2, "shrink": q.shrink, "prior_weight": q.prior_weight
            },
            "prototypes": {"temperature": self.prototypes_.temperature, "top": self.prototypes_.top},
            "proto_groups": self.proto_groups_,
            "feedback_strength": self.feedback_.strength,
        }
        arrays = {
            "centroids": self.prototypes_.centroids,
            "counts": self.prototypes_.counts,
            "task_clf_w": self.profile_.clf_w,
            "task_diff_w": self.profile_.diff_w,
            "fact_scores": self.fact_scores_,
            "fact_sd": self.fact_sd_,
            "answer_tokens": self.answer_tokens_,
            "calib_x": self.calib_x_.astype(np.float16),
            "calib_chars": self.calib_chars_,
            "cost_base": self.cost_.base,
            "cost_per_char": self.cost_.per_char,
            "cost_proto_extra": self.cost_.proto_extra,
            "cost_floor": self.cost_.floor,
            "scale_t": self.scale_.t,
            "scale_lam": self.scale_.lam,
            "difficulty_cuts": self.difficulty_cuts_,
            "feedback_weight": self.feedback_.weight,
            "feedback_residual": self.feedback_.residual,
        }
        if self.profile_.level_w is not None and self.profile_.level_offsets is not None:
            arrays["level_w"], arrays["level_offsets"] = self.profile_.level_w, self.profile_.level_offsets
        if q is not None:
            arrays["logit_w"] = q.logit_w
            arrays["proto_means"] = q.proto_means
            assert q.prior is not None  # QualityModel.fit always learns it
            arrays["quality_prior"] = q.prior
        write_folder(path, meta, arrays)
        return path

    @classmethod
    def load(cls, folder: str | Path, *, embedder: EmbedderSpec = None) -> Router:
        """Read a router written by `save`.

        Every field and array is checked (types, shapes, dtypes, finiteness, ranges), so a
        folder either loads as the router that was saved or is refused: a corrupt one never
        loads into a router that fails or misroutes later.

        Args:
            folder: the folder `save` wrote.
            embedder: the embedder to use, required when the router was trained with a
                callable (which cannot be saved); otherwise rebuilt from the saved config.

        Raises:
            RouterLoadError: the folder is missing, corrupt, or not an autorouter router of a
                version this one reads; the message names the file and field at fault.
        """
        path = Path(folder)
        meta, a, complete = read_folder(path)
        try:  # everything below was checked; a check that missed something is still a load error
            p = meta["params"]
            router = cls(
                tradeoff=p["tradeoff"], max_cost=p["max_cost"], max_latency_s=p.get("max_latency_s"),
                prices=load_prices(p.get("prices")),
                latency_weight=p.get("latency_weight", DEFAULT_LATENCY_WEIGHT), folds=p["folds"], seed=p["seed"],
            )
            router.data_models_ = list(meta["data_models"])
            router.fact_models_ = list(meta["fact_models"])
            k, m = len(a["centroids"]), len(router.data_models_) + len(router.fact_models_)
            router.prototypes_ = Prototypes(
                a["centroids"], a["counts"], meta["prototypes"]["temperature"], meta["prototypes"]["top"]
            )
            qm = meta["quality"]
            router.quality_ = (
                None if qm is None
                else QualityModel(
                    a["logit_w"], a["proto_means"], qm["blend"], qm["l2"], qm["shrink"],
                    a["quality_prior"], qm["prior_weight"],
                )
            )
            router.profile_ = TaskProfile(
                list(meta["tasks"]), a["task_clf_w"], a["task_diff_w"],
                level_w=a.get("level_w"), level_offsets=a.get("level_offsets"),
            )
            router.fact_scores_ = a["fact_scores"]
            # routers saved before uncertainty and speed were learned: none of either
            router.fact_sd_ = a["fact_sd"] if "fact_sd" in a else np.zeros_like(a["fact_scores"])
            router.speeds_ = {name: ModelSpeed(**sp) for name, sp in meta.get("speeds", {}).items()}
            router.family_params_ = {
                str(f): (float(v[0]), float(v[1])) for f, v in meta.get("family_params", {}).items()
            }
            router.placement_error_sd_ = float(meta.get("placement_error_sd", PLACEMENT_ERROR_SD))
            router.answer_tokens_ = a["answer_tokens"]
            router.calib_x_ = a["calib_x"].astype(np.float32)
            router.calib_chars_ = a["calib_chars"]
            router.cost_ = CostModel(
                meta["cost_mode"], a["cost_base"], a["cost_per_char"], a["cost_proto_extra"], a["cost_floor"]
            )
            router.scale_ = TradeoffScale(a["scale_t"], a["scale_lam"])
            router.difficulty_cuts_ = a["difficulty_cuts"]
            router.proto_groups_ = list(meta["proto_groups"])
            router.limits_ = {name: ModelLimits(**lim) for name, lim in meta["limits"].items()}
            router.n_train_ = int(meta["n_train"])
            # routers saved before feedback was learned: none of it
            router.feedback_ = (
                OutcomeCorrection(
                    a["feedback_weight"], a["feedback_residual"],
                    float(meta.get("feedback_strength", DEFAULT_FEEDBACK_STRENGTH)),  # present: checked
                )
                if complete else OutcomeCorrection.empty(k, m)
            )
            router.strength_ = None  # derived from what was saved, on first need (`_strength`)
        except (KeyError, TypeError, ValueError, IndexError, OverflowError) as e:
            raise RouterLoadError(
                f"{path} is corrupt: router.json and arrays.npz do not describe one router ({e!r})"
            ) from e
        from .embedders import OpenAIEmbedder

        cfg = meta.get("embedder")
        if embedder is not None:
            router.embedder, router.embedder_ = embedder, get_embedder(embedder)
        elif "embedder" not in meta or not (
            cfg is None or (isinstance(cfg, dict) and isinstance(cfg.get("kind"), str))
        ):
            raise RouterLoadError(
                f"{path} is corrupt: router.json field 'embedder' must be an embedder's config "
                f"(an object with a 'kind') or null, got {shown(cfg) if 'embedder' in meta else 'nothing'}"
            )
        elif cfg is None:
            raise RouterLoadError(
                f"{path} was trained with a custom embedding function that cannot be saved (router.json "
                "names no embedder); pass it again: Router.load(folder, embedder=your_function)"
            )
        elif cfg["kind"] not in _BUNDLED_EMBEDDERS and cfg["kind"] != OpenAIEmbedder.kind:
            raise RouterLoadError(
                f"{path}: router.json field 'embedder' names the embedder kind {shown(cfg['kind'])}, which this "
                f"autorouter does not rebuild from a saved folder (it rebuilds {', '.join(_BUNDLED_EMBEDDERS)}): "
                "pass the embedder yourself, Router.load(folder, embedder=...)"
            )
        elif cfg["kind"] not in _BUNDLED_EMBEDDERS:
            # A saved folder is data: it must not choose where prompts (or a key named by an
            # environment variable) are sent. Network embedders come from the caller.
            raise RouterLoadError(
                f"{path} was trained with the {shown(cfg['kind'])} embedder (router.json field 'embedder'), "
                "which sends prompts over the network; a saved router does not choose where they go: pass "
                "the embedder yourself, e.g. "
                "Router.load(folder, embedder=OpenAIEmbedder(model=..., base_url=..., api_key_env=...))"
            )
        else:
            try:
                router.embedder_ = embedder_from_config(meta["embedder"])
            except (EmbedderError, TypeError, ValueError) as e:
                raise RouterLoadError(
                    f"{path}: router.json field 'embedder' names an embedder this autorouter cannot build: {e}"
                ) from e
            router.embedder = meta["embedder"]["kind"]
            dim = a["centroids"].shape[1]
            if router.embedder_.dim != dim:
                raise RouterLoadError(
                    f"{path} is corrupt: router.json field 'embedder' names a {router.embedder_.dim}-dim "
                    f"embedder, but arrays.npz holds {dim}-dim clusters"
                )
        return router
