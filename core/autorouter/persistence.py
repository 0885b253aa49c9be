"""The saved-router format: `router.json` (settings, names, small tables) beside `arrays.npz`
(the learned arrays, no pickle), which field and member holds what, and the checks that make a
folder either load as the router that was saved or be refused with a message naming the file
and field at fault.

Each learner gives its own part (`state()`) and checks it when it is read back (`from_state`,
see `autorouter.state`); this module adds the router's own settings and arrays, and composes
the parts into the two files (`router_state`, `write_folder`) and back (`read_router`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import astuple
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError

from . import __version__
from .embedders import Embedder, OpenAIEmbedder
from .errors import EmbedderError, RouterLoadError
from .feedback import OutcomeCorrection
from .placement import PLACEMENT_ERROR_SD
from .policy import DEFAULT_LATENCY_WEIGHT, TradeoffScale
from .predictors import CostModel, Prototypes, QualityModel
from .profiles import TaskProfile
from .safe_npz import read_npz
from .state import (
    Dims,
    State,
    check_floats,
    check_increasing,
    check_members,
    check_names,
    check_number,
    check_object,
    check_ranges,
    check_shapes,
    real,
    shown,
)
from .types import ModelLimits, ModelPrice, ModelSpeed

if TYPE_CHECKING:
    from .router import Router

FORMAT = "autorouter-router"
FORMAT_VERSION = 2
#: The arrays.npz members of the router's own arrays (each learner names its own).
ROUTER_MEMBERS = ("fact_scores", "fact_sd", "answer_tokens", "calib_x", "calib_chars", "difficulty_cuts")
#: The members of the outcome correction's arrays (`OutcomeCorrection.state`).
FEEDBACK_MEMBERS = OutcomeCorrection.MEMBERS
#: Every member of arrays.npz a router of this version reads (others are ignored).
ARRAY_MEMBERS = (
    *Prototypes.MEMBERS, *TaskProfile.MEMBERS, *ROUTER_MEMBERS, *CostModel.MEMBERS, *TradeoffScale.MEMBERS,
    *FEEDBACK_MEMBERS, *QualityModel.MEMBERS,
)
#: Embedders a saved router may rebuild by itself: bundled, offline, no network.
BUNDLED_EMBEDDERS = ("minilm", "static")


def format_fields() -> dict[str, Any]:
    """The fields of router.json that say what wrote it."""
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "autorouter_version": __version__}


# ------------------------------------------------------------------------------ writing


def router_state(r: Router) -> State:
    """router.json's fields and arrays.npz's members for the fitted router `r`: its own, and
    each of its learners' `state()`."""
    tasks, profile = r.profile_.state()
    cost_mode, cost = r.cost_.state()
    quality, quality_arrays = ({"quality": None}, {}) if r.quality_ is None else r.quality_.state()
    prototypes, clusters = r.prototypes_.state()
    strength, feedback = r.feedback_.state()
    scale_fields, scale = r.scale_.state()
    meta = {
        **format_fields(),
        "params": {
            "tradeoff": r.tradeoff, "max_cost": r.max_cost, "max_latency_s": r.max_latency_s,
            "latency_weight": r.latency_weight, "folds": r.folds, "seed": r.seed,
            # the prices calls are charged at, so that a loaded router reports the same cost
            "prices": {m: list(astuple(ModelPrice.of(v))) for m, v in (r.prices or {}).items()},
        },
        "embedder": r.embedder_.config(),
        "data_models": r.data_models_,
        "fact_models": r.fact_models_,
        **tasks,
        "family_params": {f: list(v) for f, v in r.family_params_.items()},
        "placement_error_sd": r.placement_error_sd_,
        "limits": {m: lim.model_dump(exclude_none=True) for m, lim in r.limits_.items()},
        "speeds": {m: sp.model_dump(exclude_none=True) for m, sp in r.speeds_.items()},
        "n_train": r.n_train_,
        **cost_mode,
        **quality,
        **prototypes,
        "proto_groups": r.proto_groups_,
        **strength,
        **scale_fields,  # none yet
    }
    own = {
        "fact_scores": r.fact_scores_, "fact_sd": r.fact_sd_, "answer_tokens": r.answer_tokens_,
        "calib_x": r.calib_x_.astype(np.float16), "calib_chars": r.calib_chars_, "difficulty_cuts": r.difficulty_cuts_,
    }
    arrays = {**clusters, **profile, **own, **cost, **scale, **feedback, **quality_arrays}
    return meta, arrays


def write_folder(path: Path, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """Write `meta` as router.json and `arrays` as arrays.npz into the folder `path`."""
    # numpy's stub types **kwds as its own allow_pickle flag; these are named arrays
    np.savez_compressed(path / "arrays.npz", **arrays)  # type: ignore[arg-type]
    (path / "router.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


# ------------------------------------------------------------------------------ reading


def read_router(path: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The router saved in the folder `path`, checked: router.json as read, the router's
    constructor parameters, and its learned attributes by name (`prototypes_`: ...).

    Raises:
        RouterLoadError: the folder is missing, corrupt, or of a format this version does not
            read; the message names the file and field at fault.
    """
    meta, arrays = _read_files(path)
    # written by a save that writes everything (the feedback arrays came last)
    complete = any(name in arrays for name in FEEDBACK_MEMBERS) or "feedback_strength" in meta
    try:
        _check_fields(meta, complete=complete)
        learned = _learned(meta, arrays, complete=complete)
        p = meta["params"]
        params = {
            "tradeoff": p["tradeoff"], "max_cost": p["max_cost"], "max_latency_s": p.get("max_latency_s"),
            "prices": load_prices(p.get("prices")), "latency_weight": p.get("latency_weight", DEFAULT_LATENCY_WEIGHT),
            "folds": p["folds"], "seed": p["seed"],
        }
    except RouterLoadError as e:
        raise RouterLoadError(f"{path} is corrupt: {e}") from e
    except (KeyError, TypeError, ValueError, IndexError, OverflowError) as e:
        # everything was checked; a check that missed something is still a load error
        raise RouterLoadError(
            f"{path} is corrupt: router.json and arrays.npz do not describe one router ({e!r})"
        ) from e
    return meta, params, learned


def _read_files(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """router.json, if autorouter wrote it in this format version, and the members of arrays.npz
    this version reads, each one readable."""
    meta_path, arr_path = path / "router.json", path / "arrays.npz"
    if not meta_path.is_file() or not arr_path.is_file():
        raise RouterLoadError(
            f"{path} is not a saved router: expected router.json and arrays.npz in it"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise RouterLoadError(f"{meta_path} is not valid JSON: {e!r}") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise RouterLoadError(
            f"{meta_path} was not written by autorouter's Router.save (its field 'format' is not {FORMAT!r})"
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise RouterLoadError(
            f"{meta_path} holds router format {shown(meta.get('format_version'))} (field 'format_version'); "
            f"this autorouter ({__version__}) reads format {FORMAT_VERSION}: retrain it with `autorouter train`"
        )
    try:
        return meta, read_npz(arr_path, ARRAY_MEMBERS)
    except (ValueError, OSError) as e:
        raise RouterLoadError(f"{path} is corrupt: {e}") from e


def _learned(meta: Mapping[str, Any], a: Mapping[str, np.ndarray], *, complete: bool) -> dict[str, Any]:
    """The learned attributes of the router `meta` (checked by `_check_fields`) and `a`
    describe: its learners from their states, checked in turn, then its own arrays."""
    data, facts = list(meta["data_models"]), list(meta["fact_models"])
    prototypes = Prototypes.from_state(meta, a)
    dims = prototypes.dims(data_models=len(data), models=len(data) + len(facts))
    profile = TaskProfile.from_state(meta, a, dims)
    _check_own_arrays(meta, a, dims, n_tasks=len(profile.tasks), complete=complete)
    if meta["quality"] is None:  # a quality model's arrays in a router without one: unused, but no less corrupt
        check_floats(a, QualityModel.MEMBERS)
    return {
        "data_models_": data,
        "fact_models_": facts,
        "prototypes_": prototypes,
        "profile_": profile,
        "cost_": CostModel.from_state(meta, a, dims),
        "scale_": TradeoffScale.from_state(meta, a),
        "feedback_": OutcomeCorrection.from_state(meta, a, dims),
        "quality_": None if meta["quality"] is None else QualityModel.from_state(meta, a, dims),
        "fact_scores_": a["fact_scores"],
        # routers saved before uncertainty and speed were learned: none of either
        "fact_sd_": a["fact_sd"] if "fact_sd" in a else np.zeros_like(a["fact_scores"]),
        "speeds_": {name: ModelSpeed(**sp) for name, sp in meta.get("speeds", {}).items()},
        "family_params_": {str(f): (float(v[0]), float(v[1])) for f, v in meta.get("family_params", {}).items()},
        "placement_error_sd_": float(meta.get("placement_error_sd", PLACEMENT_ERROR_SD)),
        "answer_tokens_": a["answer_tokens"],
        "calib_x_": a["calib_x"].astype(np.float32),
        "calib_chars_": a["calib_chars"],
        "difficulty_cuts_": a["difficulty_cuts"],
        "proto_groups_": list(meta["proto_groups"]),
        "limits_": {name: ModelLimits(**lim) for name, lim in meta["limits"].items()},
        "n_train_": int(meta["n_train"]),
        "strength_": None,  # derived from what was saved, on first need (`routing.strength`)
    }


def _check_own_arrays(
    meta: Mapping[str, Any], a: Mapping[str, np.ndarray], dims: Dims, *, n_tasks: int, complete: bool
) -> None:
    """The router's own arrays are there, of the shapes its clusters, tasks and models imply,
    within the ranges `fit` produces. `complete`: see `_check_fields`."""
    check_members(a, [name for name in ROUTER_MEMBERS if complete or name != "fact_sd"])
    check_floats(a, ("fact_sd",))  # also in an older folder that need not have it
    n_calib = a["calib_x"].shape[0] if a["calib_x"].ndim else 0
    facts = f"router.json's {n_tasks} tasks and {dims.models - dims.data_models} fact models"
    check_shapes(a, {
        "fact_scores": ((n_tasks, dims.models - dims.data_models), facts),
        "fact_sd": ((n_tasks, dims.models - dims.data_models), facts),
        "answer_tokens": ((dims.clusters,), dims.of_clusters),
        "calib_x": ((max(n_calib, 1), dims.dim), dims.of_clusters),
        "calib_chars": ((n_calib,), "the rows of 'calib_x'"),
        "difficulty_cuts": ((2,), "two cuts"),
    })
    if len(meta["proto_groups"]) != dims.clusters:
        raise RouterLoadError(f"router.json field 'proto_groups' names {len(meta['proto_groups'])} clusters, "
                              f"arrays.npz holds {dims.clusters}")
    check_ranges(a, {
        "answer_tokens": (0.0, None), "calib_chars": (0.0, None), "fact_scores": (0.0, 1.0), "fact_sd": (0.0, None),
    })
    check_increasing(a, ("difficulty_cuts",))


def _check_model_table(meta: Mapping[str, Any], key: str, cls: type[ModelLimits | ModelSpeed],
                       models: set[str], *, optional: bool, required: tuple[str, ...] = ()) -> None:
    """`limits` / `speeds`: {candidate: fields of `cls`} as `save` writes them (unknown values
    left out, never null; the `required` fields, which have a default rather than None, always
    written)."""
    for name, entry in check_object(meta, key, optional=optional).items():
        where = f"{key}.{name}"
        if name not in models:
            raise RouterLoadError(f"router.json field {key!r} names {shown(name)}, which is not a candidate")
        if not isinstance(entry, dict):
            raise RouterLoadError(f"router.json field {where!r} must be an object, got {shown(entry)}")
        for field, v in entry.items():
            if field not in cls.model_fields or v is None:
                raise RouterLoadError(
                    f"router.json field {where!r} holds {field!r}: {shown(v)}, which save never writes"
                )
        for field in required:
            if field not in entry:
                raise RouterLoadError(f"router.json lacks the field '{where}.{field}'")
        try:
            value = cls.model_validate(entry, strict=True)
        except ValidationError as e:
            first = e.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise RouterLoadError(
                f"router.json field '{where}.{loc}': {first['msg']}, got {shown(first['input'])}"
            ) from None
        field, least = ("context_window", 1) if isinstance(value, ModelLimits) else ("reasoning_tokens", 0)
        count = getattr(value, field)
        if count is not None and (real(count) is None or count < least):
            raise RouterLoadError(
                f"router.json field '{where}.{field}' must be an integer >= {least}, got {shown(count)}"
            )


def _check_fields(meta: Mapping[str, Any], *, complete: bool) -> None:
    """router.json's fields of the router's own have the types and ranges `save` writes (its
    learners check theirs). `complete`: the folder was written by a `save` that writes every
    field (it holds the feedback arrays, the latest ones added); an older folder may lack fields
    added since, which then take their defaults."""
    old = not complete
    p = check_object(meta, "params")
    check_number(p, "tradeoff", "params", hi=1.0)
    check_number(p, "max_cost", "params", above=True, nullable=True)
    check_number(p, "max_latency_s", "params", above=True, nullable=True, optional=old)
    check_number(p, "latency_weight", "params", optional=old)
    check_number(p, "folds", "params", lo=1, integer=True)
    check_number(p, "seed", "params", integer=True)
    if ("prices" not in p and complete) or ("prices" in p and p["prices"] is None):
        raise RouterLoadError(f"router.json field 'params.prices' must be an object, got {shown(p.get('prices'))}")
    load_prices(p.get("prices"))
    data, facts = check_names(meta, "data_models"), check_names(meta, "fact_models")
    if set(data) & set(facts):
        raise RouterLoadError(f"router.json lists {sorted(set(data) & set(facts))} as data and as fact models")
    check_names(meta, "proto_groups", unique=False, empty_ok=True)
    models = set(data) | set(facts)
    _check_model_table(meta, "limits", ModelLimits, models, optional=False)
    _check_model_table(meta, "speeds", ModelSpeed, models, optional=old, required=() if old else ("reasoning_tokens",))
    for family, v in check_object(meta, "family_params", optional=old).items():
        if not (isinstance(v, list) and len(v) == 2 and all(real(x) is not None for x in v)):
            raise RouterLoadError(f"router.json field 'family_params.{family}' must be [base, spread], got {shown(v)}")
    check_number(meta, "placement_error_sd", "", optional=old)
    check_number(meta, "n_train", "", integer=True)
    if "quality" not in meta:
        raise RouterLoadError("router.json lacks the field 'quality'")
    q = meta["quality"]
    if q is not None or data:  # a quality model is learned from data models, and only then
        if not isinstance(q, dict):
            raise RouterLoadError(
                f"router.json field 'quality' must be an object for data models {data}, got {shown(q)}"
            )
        if not data:
            raise RouterLoadError("router.json field 'quality' must be null: the router has no data models")


def load_prices(raw: Any) -> dict[str, tuple[float, float]] | None:
    """Saved list prices {model: [usd_per_1m_in, usd_per_1m_out]}; a RouterLoadError for
    anything else."""
    if raw is None or raw == {}:
        return None
    if not isinstance(raw, dict):
        raise RouterLoadError(f"router.json field 'params.prices' must be an object, got {shown(raw)}")
    out = {}
    for model, pair in raw.items():
        if not (isinstance(pair, list) and len(pair) == 2 and all(real(v) is not None and v >= 0 for v in pair)):
            raise RouterLoadError(
                f"router.json field 'params.prices': the price of {model!r} must be two finite numbers >= 0, "
                f"got {shown(pair)}"
            )
        out[str(model)] = (float(pair[0]), float(pair[1]))
    return out


# ------------------------------------------------------------------------------ the outcome correction
# `OutcomeCorrection` lives in feedback.py, outside this module's change: its state() and
# from_state are these two functions until they move onto the class.


# ------------------------------------------------------------------------------ the embedder


def saved_embedder(path: Path, meta: Mapping[str, Any], build: Callable[[dict[str, Any]], Embedder],
                   dim: int) -> Embedder:
    """The embedder router.json names, made by `build` from its config, if it is a bundled one
    of `dim` dimensions; a RouterLoadError saying what to pass instead otherwise."""
    cfg = meta.get("embedder")
    if "embedder" not in meta or not (cfg is None or (isinstance(cfg, dict) and isinstance(cfg.get("kind"), str))):
        raise RouterLoadError(
            f"{path} is corrupt: router.json field 'embedder' must be an embedder's config "
            f"(an object with a 'kind') or null, got {shown(cfg) if 'embedder' in meta else 'nothing'}"
        )
    if cfg is None:
        raise RouterLoadError(
            f"{path} was trained with a custom embedding function that cannot be saved (router.json "
            "names no embedder); pass it again: Router.load(folder, embedder=your_function)"
        )
    if cfg["kind"] not in BUNDLED_EMBEDDERS and cfg["kind"] != OpenAIEmbedder.kind:
        raise RouterLoadError(
            f"{path}: router.json field 'embedder' names the embedder kind {shown(cfg['kind'])}, which this "
            f"autorouter does not rebuild from a saved folder (it rebuilds {', '.join(BUNDLED_EMBEDDERS)}): "
            "pass the embedder yourself, Router.load(folder, embedder=...)"
        )
    if cfg["kind"] not in BUNDLED_EMBEDDERS:
        # A saved folder is data: it must not choose where prompts (or a key named by an
        # environment variable) are sent. Network embedders come from the caller.
        raise RouterLoadError(
            f"{path} was trained with the {shown(cfg['kind'])} embedder (router.json field 'embedder'), "
            "which sends prompts over the network; a saved router does not choose where they go: pass "
            "the embedder yourself, e.g. "
            "Router.load(folder, embedder=OpenAIEmbedder(model=..., base_url=..., api_key_env=...))"
        )
    try:
        embedder = build(cfg)
    except (EmbedderError, TypeError, ValueError) as e:
        raise RouterLoadError(
            f"{path}: router.json field 'embedder' names an embedder this autorouter cannot build: {e}"
        ) from e
    if embedder.dim != dim:
        raise RouterLoadError(
            f"{path} is corrupt: router.json field 'embedder' names a {embedder.dim}-dim "
            f"embedder, but arrays.npz holds {dim}-dim clusters"
        )
    return embedder
