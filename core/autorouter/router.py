"""`Router`: learn from routing data which model answers which prompt best for the money.

An estimator in scikit-learn's manner (settings, `fit`, candidates added and removed, `predict`
and `route`, `save` and `load`) composing the learners of `predictors`, `profiles`, `policy` and
`feedback`; `explain` says what a decision says, `persistence` how a router is saved."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .calls.caller import RoutedCaller, forwarded, forwarded_setting
from .calls.endpoints import Endpoints
from .catalog import Catalog
from .dataset import ModelPrice, RoutingDataset, load_dataset
from .decision import ModelLimits, ModelSpeed, RoutingDecision
from .eligibility import allowed, exclusions
from .embedded import EmbeddedPrompts, checked_embeddings, embed_in_batches, read_requests
from .embedders import EmbedderSpec, embedder_from_config, get_embedder
from .errors import InvalidRequestError, NotFittedError, RouterLoadError, UnknownModelError
from .estimator import fit_method
from .explain import DIFFICULTY_CUTS, cluster_names, decisions, domains
from .facts import (
    DEFAULT_TASK_SCORE_SD,
    catalog_model_args,
    checked_price,
    refined_column,
    sd_column,
    task_score_column,
)
from .feedback import Feedback, OutcomeCorrection, outcome_scores
from .latency import latency_for_scoring, predicted_latency
from .persistence import read_router, router_state, saved_embedder, write_folder
from .placement import PLACEMENT_ERROR_SD, FactPlacer
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
from .predictors import CostModel, Prototypes, QualityModel, answer_tokens_per_cluster, unit_scores
from .pricing import fit_costs
from .profiles import TaskProfile, task_labels
from .prompts import prompt_text
from .reliability import CooldownTracker, RetryPolicy

__all__ = ["EmbeddedPrompts", "Router"]

CALIBRATION_SAMPLE = 1024
PriceSpec = Mapping[str, ModelPrice | tuple[float, float]]


class _Predictions(NamedTuple):
    """What the router predicts for n prompts, and the weights the explanation reuses."""

    quality: np.ndarray  # (n, models) chance of a good answer
    cost: np.ndarray  # (n, models) USD
    sd: np.ndarray  # (n, models) uncertainty of `quality`
    latency: np.ndarray  # (n, models) seconds until the whole answer has arrived; NaN if unknown
    proto_w: np.ndarray  # (n, k) cluster weights
    task_w: np.ndarray  # (n, T) task weights


class Router:
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
    @fit_method
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
        x = embed_in_batches(self.embedder_, list(texts), report)
        chars_arr = np.asarray(chars, dtype=np.float64)

        report("fit", 0, 3)
        y = unit_scores(ds.scores)
        labels = self._fit_shared(x, chars_arr, ds.groups, y, ds.output_chars)
        k = len(self.prototypes_.centroids)
        self.quality_ = QualityModel.fit(x, y, self.prototypes_, labels, folds=self.folds, seed=self.seed)
        report("fit", 1, 3)
        self.cost_ = fit_costs(ds, chars_arr, labels, k, self.prices)
        self.data_models_ = list(ds.models)
        self.feedback_ = OutcomeCorrection.empty(k, len(ds.models))
        self._calibrate()
        report("fit", 3, 3)
        return self

    def _fit_shared(
        self, x: np.ndarray, chars: np.ndarray, groups: Sequence[str] | None, scores: np.ndarray,
        output_chars: np.ndarray | None, levels: Sequence[str | None] | None = None,
        level_offsets: Mapping[str, Mapping[str, float]] | None = None,
    ) -> np.ndarray:
        """Learn what does not depend on the candidates: prompt clusters, the task profile,
        answer lengths per cluster and a calibration sample. Returns each prompt's cluster.
        `levels` and `level_offsets`: a person's judgement of some prompts' difficulty
        (`TaskProfile.fit`)."""
        self.prototypes_, labels = Prototypes.fit(x, seed=self.seed)
        k = len(self.prototypes_.centroids)
        tasks = task_labels(x, groups, seed=self.seed)
        self.profile_ = TaskProfile.fit(x, tasks, scores, levels=levels, level_offsets=level_offsets)
        self.answer_tokens_ = answer_tokens_per_cluster(labels, k, output_chars)
        rng = np.random.default_rng(self.seed)
        keep = rng.choice(len(x), min(len(x), CALIBRATION_SAMPLE), replace=False)
        self.calib_x_ = x[keep].astype(np.float32)
        self.calib_chars_ = chars[keep].astype(np.float64)
        self.proto_groups_ = cluster_names(labels, k, list(groups) if groups else None)
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
        q, c, sd, lat, _, _ = self._predict_from(self.calib_x_, self.calib_chars_)
        latency = self.latency_weight * latency_for_scoring(lat)
        self.scale_ = TradeoffScale.calibrate(q, c, latency=latency, sd=sd)
        self.difficulty_cuts_ = np.array(DIFFICULTY_CUTS, dtype=np.float64)
        # which candidate is the strongest single one, that tradeoff 0 leaves only with confidence
        self.strength_ = q.mean(axis=0)

    def _strength(self) -> np.ndarray:
        """`strength_`, worked out from the calibration sample the first time a loaded router
        needs it (a tenth of a second: not worth holding up every load)."""
        if self.strength_ is None:
            self.strength_ = self._predict_from(self.calib_x_, self.calib_chars_).quality.mean(axis=0)
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
        col = task_score_column(self.profile_, name, task_scores, bool(scored_prompts))
        sd_col = sd_column(self.profile_.tasks, task_score_sd)
        if scored_prompts:
            weight = 8.0 if task_scores else 1.0  # task scores, when given, outweigh a few prompts
            col = refined_column(self.profile_, col, scored_prompts, self._embed, prior_weight=weight)
        pin, pout = checked_price(price)
        self.fact_models_.append(name)
        self.fact_scores_ = np.hstack([self.fact_scores_, col[:, None]])
        self.fact_sd_ = np.hstack([self.fact_sd_, sd_col[:, None]])
        thinking = speed.reasoning_tokens if speed is not None else 0
        self.cost_ = self.cost_.with_list_price(pin, pout, self.answer_tokens_ * answer_token_factor, thinking)
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
        cat = catalog if catalog is not None else Catalog.default()
        card = cat.get(name)
        placer = FactPlacer(cat, self.family_params_, self.placement_error_sd_)
        return self.add_model(card.id, replace=replace, **catalog_model_args(card, placer, self.tasks_))

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
        texts, chars, _ = read_requests(prompts)
        x = self._embed(texts)
        j = self.models_.index(model)
        base = self._predict_from(x, chars, corrected=False)
        self.feedback_ = self.feedback_.updated(base.proto_w, j, y - base.quality[:, j])
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

    # ------------------------------------------------------------------ routing
    def _fitted(self) -> bool:
        return hasattr(self, "profile_")

    def _check_fitted(self) -> None:
        if not self._fitted():
            raise NotFittedError("this Router is not fitted yet: call Router.fit(dataset) or Router.load(folder)")

    def check_fitted(self) -> Router:
        """Raise `NotFittedError` (saying what to do) unless the router is fitted, by `fit` or
        `load`; returns the router. For code that takes a router from elsewhere."""
        self._check_fitted()
        return self

    def predict(self, prompts: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted quality and USD cost, each `(len(prompts), n_models)`, columns as `models_`."""
        self._check_fitted()
        texts, chars, _ = read_requests(prompts)
        x = self._embed(texts)
        predicted = self._predict_from(x, chars)
        return predicted.quality, predicted.cost

    def _embed(self, texts: list[str]) -> np.ndarray:
        return self._embed_checked(self.embedder_.embed(texts))

    def _embed_checked(self, x: np.ndarray) -> np.ndarray:
        return checked_embeddings(x, self.prototypes_.centroids.shape[1])

    def _predict_from(self, x: np.ndarray, chars: np.ndarray, *, corrected: bool = True) -> _Predictions:
        """What the router predicts for embedded prompts `x` of lengths `chars` (see
        `_Predictions`). `corrected=False` leaves out what outcomes taught (`partial_fit`):
        the base that residuals are measured against."""
        proto_w = self.prototypes_.weights(x)
        task_w = self.profile_.task_probs(x)
        n_data = len(self.data_models_)
        q = np.zeros((len(x), len(self.models_)))
        # Models placed from facts carry their task scores' uncertainty through the task mix;
        # the cross-validated predictor of models learned from per-prompt data is taken at
        # its word (sd 0).
        sd = np.zeros_like(q)
        if self.quality_ is not None:
            q[:, :n_data] = self.quality_.predict(x, proto_w)
        if self.fact_models_:
            difficulty = self.profile_.difficulty(x, task_w)
            q[:, n_data:] = TaskProfile.quality_from(task_w, difficulty, self.fact_scores_)
            sd[:, n_data:] = TaskProfile.quality_sd_from(task_w, difficulty, self.fact_scores_, self.fact_sd_)
        if corrected and self.feedback_.outcomes:
            q = np.clip(q + self.feedback_.offset(proto_w), 0.0, 1.0)
            # outcomes of similar prompts shrink a placed model's uncertainty
            seen = self.feedback_.evidence(proto_w)[:, n_data:]
            sd[:, n_data:] *= np.sqrt(self.feedback_.strength / (self.feedback_.strength + seen))
        latency = predicted_latency(self.speeds_, self.models_, proto_w, self.answer_tokens_)
        return _Predictions(q, self.cost_.predict(chars, proto_w), sd, latency, proto_w, task_w)

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
        texts, chars, images = read_requests([prompt])
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
        texts, chars, images = read_requests(prompts)
        x = self._embed(texts) if texts else np.zeros((0, self.prototypes_.centroids.shape[1]))
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
        self, x: np.ndarray, chars: np.ndarray, tradeoff: float | None, max_cost: float | None,
        candidates: Sequence[str] | None, images: np.ndarray | None = None, tools: bool = False,
        structured_output: bool = False, max_latency_s: float | None = None, latency_weight: float | None = None,
    ) -> list[RoutingDecision]:
        """The decisions for embedded prompts `x` of lengths `chars`, as `route_batch` makes them."""
        t = check_tradeoff(self.tradeoff if tradeoff is None else tradeoff)
        cap = check_max_cost(self.max_cost if max_cost is None else max_cost)
        lat_cap = check_max_latency(self.max_latency_s if max_latency_s is None else max_latency_s)
        mu = check_latency_weight(self.latency_weight if latency_weight is None else latency_weight)
        ok = allowed(self.models_, candidates)
        q, c, sd, lat, proto_w, task_w = self._predict_from(x, chars)
        images = np.zeros(len(q), dtype=bool) if images is None else images
        reasons = exclusions(
            self.models_, self.limits_, c, chars, ok, cap, images, tools, structured_output, lat, lat_cap
        )
        eligible = np.array([[r is None for r in row] for row in reasons], dtype=bool).reshape(q.shape)
        lam = self.scale_.lam_for(t)
        scores, picks = decide(
            q, c, eligible, lam, mu * latency_for_scoring(lat), sd, self._strength() if lam == 0 else None
        )
        order = order_with_pick(scores, eligible, picks)
        return decisions(
            self.models_, order, reasons, domains(self.profile_, self.proto_groups_, proto_w, task_w),
            self.difficulty_cuts_, quality=q, cost_usd=c, score=scores, eligible=eligible, uncertainty=sd,
            latency_s=lat, tradeoff=t, max_cost=cap, max_latency_s=lat_cap,
        )

    def set_limits(self, name: str, limits: ModelLimits) -> Router:
        """Declare what a candidate can take (context window, tools, images, structured output)."""
        self._check_fitted()
        if name not in self.models_:
            raise UnknownModelError(f"unknown model {name!r}; this router knows {self.models_}")
        self.limits_[name] = limits
        return self

    # ------------------------------------------------------------------ calls
    # A routed call (`complete`, `stream`, ...) is made by the router's `RoutedCaller`
    # (`autorouter.calls`), which holds what calls need at run time and nothing learned.
    @property
    def caller(self) -> RoutedCaller:
        """The router's calls and their runtime settings (made on first use, never saved; a
        copy of the router gets its own, with no sessions)."""
        return self.__dict__.get("_caller") or self.__dict__.setdefault("_caller", RoutedCaller(self))

    set_endpoints = forwarded(RoutedCaller.set_endpoints)
    forget_session = forwarded(RoutedCaller.forget_session)
    complete = forwarded(RoutedCaller.complete)
    acomplete = forwarded(RoutedCaller.acomplete)
    stream = forwarded(RoutedCaller.stream)
    astream = forwarded(RoutedCaller.astream)
    endpoints = forwarded_setting[Endpoints | None]("where each candidate is called (`set_endpoints`)")
    retry_policy = forwarded_setting[RetryPolicy | None]("the `RetryPolicy` of every call; None: its defaults")
    cooldowns = forwarded_setting[CooldownTracker | None]("the `CooldownTracker` of failing models")
    session_margin = forwarded_setting[float]("how far a session's model may fall below the top and stay")
    session_capacity = forwarded_setting[int]("sessions remembered, least recently used forgotten first")

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | Path) -> Path:
        """Write the fitted router to `folder` as `router.json` plus `arrays.npz` (no pickle)."""
        self._check_fitted()
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        write_folder(path, *router_state(self))
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
        meta, params, learned = read_router(path)
        router = cls(**params)
        for name, value in learned.items():
            setattr(router, name, value)
        if embedder is not None:
            router.embedder, router.embedder_ = embedder, get_embedder(embedder)
        else:
            router.embedder_ = saved_embedder(path, meta, embedder_from_config, router.prototypes_.centroids.shape[1])
            router.embedder = meta["embedder"]["kind"]
        return router
