"""How a router learns from prompts it has embedded: what does not depend on the candidates
(prompt clusters, the task profile, answer lengths, a calibration sample), the candidates scored
in the data, and the tradeoff scale calibrated on the sample, again whenever candidates change;
and the arrays `Router.fit_arrays` is given, checked."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .dataset import RoutingDataset
from .errors import InvalidRequestError
from .explain import DIFFICULTY_CUTS, cluster_names
from .feedback import OutcomeCorrection
from .latency import latency_for_scoring
from .placement import PLACEMENT_ERROR_SD
from .policy import TradeoffScale, family_strength
from .predictors import CostModel, Prototypes, QualityModel, answer_tokens_per_cluster
from .pricing import fit_costs
from .profiles import TaskProfile, task_labels
from .routing import predictions

if TYPE_CHECKING:
    from .router import Router

#: Prompts kept to calibrate the tradeoff scale on (and to place candidates added later).
CALIBRATION_SAMPLE = 1024


def fit_embedded(
    router: Router, x: np.ndarray, chars: np.ndarray, y: np.ndarray, costs: RoutingDataset | None,
    groups: Sequence[str] | None, output_chars: np.ndarray | None, levels: Sequence[str | None] | None = None,
    level_offsets: Mapping[str, Mapping[str, float]] | None = None,
    report: Callable[[str, int, int], None] = lambda stage, done, total: None,
    calibrate_on: np.ndarray | None = None,
    level_spreads: Mapping[str, Mapping[str, float]] | None = None,
    level_centres: Mapping[str, float] | None = None,
) -> Router:
    """What `Router.fit` and `Router.fit_arrays` learn from embedded prompts; `costs`: the
    candidates' names, costs and prices (a `RoutingDataset`), None for no candidates from the
    data. Scores `y` are on [0, 1] already; `calibrate_on`: the calibration prompts' indices
    (None: a sample)."""
    labels = fit_prompts(router, x, chars, groups, y, output_chars, levels, level_offsets, calibrate_on,
                         level_spreads, level_centres)
    if costs is None:  # the candidates come from facts (`add_model`), each calibrating
        report("fit", 3, 3)
        return router
    k = len(router.prototypes_.centroids)
    router.quality_ = QualityModel.fit(x, y, router.prototypes_, labels, folds=router.folds, seed=router.seed)
    report("fit", 1, 3)
    router.cost_ = fit_costs(costs, chars, labels, k, router.prices)
    router.data_models_ = list(costs.models)
    router.feedback_ = OutcomeCorrection.empty(k, len(costs.models))
    calibrate(router)
    report("fit", 3, 3)
    return router


def fit_prompts(
    router: Router, x: np.ndarray, chars: np.ndarray, groups: Sequence[str] | None, scores: np.ndarray,
    output_chars: np.ndarray | None, levels: Sequence[str | None] | None = None,
    level_offsets: Mapping[str, Mapping[str, float]] | None = None, calibrate_on: np.ndarray | None = None,
    level_spreads: Mapping[str, Mapping[str, float]] | None = None, level_centres: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Learn what does not depend on the candidates: prompt clusters, the task profile,
    answer lengths per cluster and a calibration sample. Returns each prompt's cluster.
    `levels`, `level_offsets`, `level_spreads` and `level_centres`: a person's judgement of some
    prompts' difficulty and what each level means (`TaskProfile.fit`)."""
    router.prototypes_, labels = Prototypes.fit(x, seed=router.seed)
    k = len(router.prototypes_.centroids)
    tasks = task_labels(x, groups, seed=router.seed)
    router.profile_ = TaskProfile.fit(x, tasks, scores, levels=levels, level_offsets=level_offsets,
                                      level_spreads=level_spreads, level_centres=level_centres)
    router.answer_tokens_ = answer_tokens_per_cluster(labels, k, output_chars)
    if calibrate_on is None:
        keep = np.random.default_rng(router.seed).choice(len(x), min(len(x), CALIBRATION_SAMPLE), replace=False)
    else:
        keep = calibrate_on
    router.calib_x_ = x[keep].astype(np.float32)
    router.calib_chars_ = chars[keep].astype(np.float64)
    router.proto_groups_ = cluster_names(labels, k, list(groups) if groups else None)
    router.n_train_ = len(x)
    router.quality_ = None
    router.data_models_ = []
    router.fact_models_ = []
    router.fact_scores_ = np.zeros((len(router.profile_.tasks), 0))
    router.fact_sd_ = np.zeros((len(router.profile_.tasks), 0))
    router.limits_ = {}
    router.speeds_ = {}
    router.family_params_ = {}
    router.placement_error_sd_ = PLACEMENT_ERROR_SD
    router.cost_ = CostModel("prices", np.zeros(0), np.zeros(0), np.zeros((k, 0)), np.zeros(0))
    router.feedback_ = OutcomeCorrection.empty(k, 0)
    router.scale_ = TradeoffScale(np.array([0.0, 1.0]), np.array([0.0, 0.0]))
    router.difficulty_cuts_ = np.array([0.0, 1.0])
    router.strength_ = None
    return labels


def calibrate(router: Router) -> None:
    """Re-fit the tradeoff scale and difficulty cuts on the calibration sample."""
    q, c, sd, lat, _, task_w = predictions(router, router.calib_x_, router.calib_chars_)
    latency = router.latency_weight * latency_for_scoring(lat)
    router.scale_ = TradeoffScale.calibrate(q, c, latency=latency, sd=sd)
    router.difficulty_cuts_ = np.array(DIFFICULTY_CUTS, dtype=np.float64)
    # which candidate is the strongest on each family, that tradeoff 0 leaves only with confidence
    router.strength_ = family_strength(q, sd, task_w)


class TrainingArrays(NamedTuple):
    """What `Router.fit_arrays` learns from, checked (see there)."""

    x: np.ndarray  # (n, d) embeddings
    chars: np.ndarray  # (n,) prompt lengths
    scores: np.ndarray  # (n, m) in [0, 1], NaN where not scored (only without candidates)
    groups: list[str] | None  # (n,)
    output_chars: np.ndarray | None  # (n, m) answer lengths
    costs: RoutingDataset | None  # the candidates' names and costs (placeholder prompts); None: none
    calibrate_on: np.ndarray | None  # indices of the calibration prompts; None: a sample


def training_arrays(
    x: Any, chars: Any, scores: Any, models: Sequence[str] | None, groups: Sequence[str] | None,
    output_chars: Any, cost_usd: Any, levels: Sequence[str | None] | None, calibrate_on: Any = None,
) -> TrainingArrays:
    """The arguments of `Router.fit_arrays` as arrays, or `InvalidRequestError` saying which one
    is wrong (`DatasetError` for the candidates' arrays, which `RoutingDataset` checks)."""
    x = np.asarray(x)
    if x.ndim != 2 or x.dtype.kind not in "fiu" or not np.isfinite(x).all():
        raise InvalidRequestError(f"x is (prompts, dim) finite embeddings, got shape {x.shape} of {x.dtype}")
    n = len(x)
    if n < 2:
        raise InvalidRequestError(f"need at least 2 prompts to fit a router, got {n}")
    chars_arr = np.asarray(chars, dtype=np.float64)
    if chars_arr.shape != (n,) or not np.isfinite(chars_arr).all() or (chars_arr < 0).any():
        raise InvalidRequestError(f"chars is ({n},) prompt lengths >= 0, got shape {chars_arr.shape}")
    y = np.asarray(scores, dtype=np.float64)
    known = y[~np.isnan(y)]
    if y.ndim != 2 or len(y) != n or not np.isfinite(known).all() or (known < 0).any() or (known > 1).any():
        raise InvalidRequestError(f"scores is ({n}, models) in [0, 1] (NaN: not scored), got shape {y.shape}")
    for name, seq in (("groups", groups), ("levels", levels)):
        if seq is not None and len(seq) != n:
            raise InvalidRequestError(f"{name} has {len(seq)} entries, expected {n}")
    group_list = None if groups is None else list(groups)
    calib = None if calibrate_on is None else _calibration_indices(calibrate_on, n)
    if models is not None:
        costs = RoutingDataset([""] * n, list(models), y, cost_usd, output_chars)
        return TrainingArrays(x, chars_arr, y, group_list, costs.output_chars, costs, calib)
    if cost_usd is not None:
        raise InvalidRequestError("cost_usd is the costs of the candidates in `models`: give models too")
    answers = None if output_chars is None else np.asarray(output_chars, dtype=np.float64)
    if answers is not None and (answers.ndim != 2 or len(answers) != n):
        raise InvalidRequestError(f"output_chars is ({n}, models) answer lengths, got shape {answers.shape}")
    return TrainingArrays(x, chars_arr, y, group_list, answers, None, calib)


def _calibration_indices(calibrate_on: Any, n: int) -> np.ndarray:
    """`calibrate_on` as an index array, or `InvalidRequestError` saying what is wrong."""
    idx = np.asarray(calibrate_on)
    if idx.ndim != 1 or len(idx) == 0 or (idx.dtype.kind not in "iu"):
        raise InvalidRequestError(
            f"calibrate_on is a non-empty list of prompt indices, got {idx.dtype} of shape {idx.shape}"
        )
    if idx.min() < 0 or idx.max() >= n or len(np.unique(idx)) != len(idx):
        raise InvalidRequestError(f"calibrate_on holds distinct indices in [0, {n}), got {idx.tolist()[:10]}...")
    return idx.astype(np.int64)
