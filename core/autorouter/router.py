"""`Router`: learn from routing data which model answers which prompt best for the money.

An estimator in scikit-learn's manner (settings, `fit`, candidates added and removed, `predict`
and `route`, `save` and `load`) composing the learners of `predictors`, `profiles`, `policy` and
`feedback`: `training` is how it learns from embedded prompts, `routing` how it routes them,
`explain` what a decision says, `persistence` how a router is saved."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .calls.caller import RoutedCaller, forwarded, forwarded_setting
from .calls.endpoints import Endpoints
from .calls.twins import options_of, parameters_of
from .catalog import Catalog
from .dataset import RoutingDataset, load_dataset
from .decision import RoutingDecision
from .embedded import EmbeddedPrompts, checked_embeddings, embed_in_batches, read_requests
from .embedders import EmbedderSpec, embedder_from_config, get_embedder
from .errors import InvalidRequestError, NotFittedError, RouterLoadError, UnknownModelError
from .estimator import fit_method
from .facts import (
    DEFAULT_TASK_SCORE_SD,
    catalog_model_args,
    checked_price,
    refined_column,
    sd_column,
    task_score_column,
)
from .feedback import Feedback, OutcomeCorrection, outcome_scores
from .persistence import read_router, router_state, saved_embedder, write_folder
from .placement import FactPlacer
from .policy import DEFAULT_LATENCY_WEIGHT, DEFAULT_TRADEOFF, TradeoffScale, check_max_cost, check_tradeoff
from .predictors import CostModel, Prototypes, QualityModel, unit_scores
from .profiles import TaskProfile
from .prompts import prompt_text
from .reliability import CooldownTracker, RetryPolicy
from .routing import predictions, routing_decisions
from .training import calibrate, fit_embedded, training_arrays
from .types import ModelLimits, ModelPrice, ModelSpeed

__all__ = ["EmbeddedPrompts", "Router"]

PriceSpec = Mapping[str, ModelPrice | tuple[float, float]]


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

    # Learned state, set by `fit` (see `autorouter.training`) or `load` (`autorouter.persistence`).
    prototypes_: Prototypes  # clusters of the training prompts
    profile_: TaskProfile  # their tasks, and how hard a prompt is within its task
    answer_tokens_: np.ndarray  # (k,) a typical answer's tokens per cluster
    calib_x_: np.ndarray  # (n, d) the calibration sample the tradeoff scale is fitted on
    calib_chars_: np.ndarray  # (n,) its prompts' lengths
    proto_groups_: list[str]  # (k,) each cluster's main group, for explanations
    n_train_: int  # how many prompts the router learned from
    quality_: QualityModel | None
    data_models_: list[str]
    fact_models_: list[str]
    fact_scores_: np.ndarray  # (tasks, fact models) task scores of the models added from facts
    fact_sd_: np.ndarray  # (tasks, fact models) their uncertainty
    limits_: dict[str, ModelLimits]
    speeds_: dict[str, ModelSpeed]
    family_params_: dict[str, tuple[float, float]]  # what catalog models are placed with
    placement_error_sd_: float
    cost_: CostModel
    feedback_: OutcomeCorrection
    scale_: TradeoffScale  # what each tradeoff means in quality points per dollar
    difficulty_cuts_: np.ndarray
    #: (tasks, models) how strong each candidate is on each task's prompts of the calibration
    #: sample (`policy.family_strength`): on a prompt, the strongest eligible one for its mix of
    #: tasks is what tradeoff 0 leaves only with confidence.
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
        `fit_arrays` learns the same from prompts already embedded.

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
        y = unit_scores(ds.scores)  # called here, so that its warning names the caller of `fit`
        return fit_embedded(self, x, chars_arr, y, ds, ds.groups, ds.output_chars, report=report)

    def fit_arrays(
        self,
        x: np.ndarray,
        chars: np.ndarray | Sequence[float],
        scores: np.ndarray,
        *,
        models: Sequence[str] | None = None,
        groups: Sequence[str] | None = None,
        output_chars: np.ndarray | None = None,
        cost_usd: np.ndarray | None = None,
        levels: Sequence[str | None] | None = None,
        level_offsets: Mapping[str, Mapping[str, float]] | None = None,
        calibrate_on: Sequence[int] | np.ndarray | None = None,
        progress: Callable[[str, int, int], None] | None = None,
        level_spreads: Mapping[str, Mapping[str, float]] | None = None,
        level_centres: Mapping[str, float] | None = None,
    ) -> Router:
        """Learn from prompts already embedded; returns the fitted router.

        `fit` embeds a dataset's prompts and learns from the vectors; this learns from vectors
        you already have (embedded once, fitted many times; or prompts with no `RoutingDataset`).
        With `models`, it learns exactly what `fit` learns from the dataset of those arrays: the
        same router, the same routes. Without, it learns only what prompts are like (clusters,
        tasks and how hard each prompt is for the scored models, answer lengths) and the router
        has no candidates yet: add them with `add_model` or `add_catalog_model`, as the bundled
        default router is built.

        Args:
            x: (n, dim) the prompts embedded by the router's embedder (`get_embedder(embedder)`,
                which becomes `embedder_`), at least 2.
            chars: (n,) each prompt's length in characters (for cost; `fit` counts every
                message of a chat).
            scores: (n, m) each model's score on each prompt in [0, 1] (`fit` rescales
                scores on another scale; this does not). Without `models`, NaN where a model was
                not scored on a prompt.
            models: the names of `scores`' columns, to learn them as candidates; None: no
                candidates from the data, `scores` only shapes the tasks' difficulty.
            groups: (n,) the benchmark or task of each prompt, or None (tasks are then found
                by clustering).
            output_chars: (n, m) answer lengths in characters, NaN where unknown, or None.
            cost_usd: (n, m) real costs in USD, NaN where unknown, or None (costs then come
                from `prices`, or the catalog); only with `models`.
            levels: (n,) a person's judgement of some prompts' difficulty, None for the others,
                with `level_offsets` {level: {task: offset in logit units}} saying what each
                level means (see `TaskProfile.fit`).
            level_spreads, level_centres: with `level_offsets`, how far apart the models stand
                on each level's prompts: {level: {task: factor}} on each model's logit distance
                from {task: centre logit} (a trivial prompt draws them together; see
                `TaskProfile`). None: a level moves the offset only.
            calibrate_on: indices of the prompts the tradeoff knob is calibrated on, the
                traffic its steps should mean something on (the default router: the written
                everyday prompts, not benchmark questions); None: a random sample of up to
                1,024 of them.
            progress: optional callback `(stage, done, total)` for progress bars.

        Raises:
            InvalidRequestError: the arrays do not fit together (shapes, lengths, NaN or
                scores outside [0, 1], `calibrate_on` not distinct indices of the prompts).
            DatasetError: with `models`, the scores hold NaN, a name repeats, or `cost_usd` or
                `output_chars` is not (n, m).
        """
        check_tradeoff(self.tradeoff)
        check_max_cost(self.max_cost)
        a = training_arrays(x, chars, scores, models, groups, output_chars, cost_usd, levels, calibrate_on)
        report = progress or (lambda stage, done, total: None)
        self.embedder_ = get_embedder(self.embedder)
        report("fit", 0, 3)
        return fit_embedded(
            self, a.x, a.chars, a.scores, a.costs, a.groups, a.output_chars, levels, level_offsets, report,
            a.calibrate_on, level_spreads, level_centres,
        )

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
        calibrate(self)
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
            calibrate(self)
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
        base = predictions(self, x, chars, corrected=False)
        self.feedback_ = self.feedback_.updated(base.proto_w, j, y - base.quality[:, j])
        calibrate(self)
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
        predicted = predictions(self, x, chars)
        return predicted.quality, predicted.cost

    def _embed(self, texts: list[str]) -> np.ndarray:
        return self._embed_checked(self.embedder_.embed(texts))

    def _embed_checked(self, x: np.ndarray) -> np.ndarray:
        return checked_embeddings(x, self.prototypes_.centroids.shape[1])

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

    @parameters_of(route)
    async def aroute(self, prompt: Any, **options: Any) -> RoutingDecision:
        """Async `route`: the embedding runs without blocking the event loop."""
        options = options_of(Router.aroute, options)
        self._check_fitted()
        texts, chars, images = read_requests([prompt])
        x = self._embed_checked(await self.embedder_.aembed(texts))
        return routing_decisions(self, x, chars, images=images, **options)[0]

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
        return routing_decisions(
            self, x, prompts.chars, tradeoff, max_cost, candidates, prompts.images, tools, structured_output,
            max_latency_s, latency_weight,
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
