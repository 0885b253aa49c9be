"""The saved-router format: `router.json` (settings, names, small tables) beside `arrays.npz`
(the learned arrays, no pickle), and the checks that make a folder either load as the router
that was saved or be refused with a message naming the file and field at fault.

`Router.save` and `Router.load` (autorouter.router) say what goes in; this module owns how it
is written, read and checked.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .decision import ModelLimits, ModelSpeed
from .errors import RouterLoadError

FORMAT = "autorouter-router"
FORMAT_VERSION = 2
#: Every member of arrays.npz a router of this version reads (others are ignored).
ARRAY_MEMBERS = (
    "centroids", "counts", "task_clf_w", "task_diff_w", "fact_scores", "fact_sd", "answer_tokens",
    "calib_x", "calib_chars", "cost_base", "cost_per_char", "cost_proto_extra", "cost_floor",
    "scale_t", "scale_lam", "difficulty_cuts", "feedback_weight", "feedback_residual",
    "logit_w", "proto_means", "quality_prior", "level_w", "level_offsets",
)


def format_fields() -> dict[str, Any]:
    """The fields of router.json that say what wrote it."""
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "autorouter_version": __version__}


def write_folder(path: Path, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """Write `meta` as router.json and `arrays` as arrays.npz into the folder `path`."""
    # numpy's stub types **kwds as its own allow_pickle flag; these are named arrays
    np.savez_compressed(path / "arrays.npz", **arrays)  # type: ignore[arg-type]
    (path / "router.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def read_folder(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray], bool]:
    """router.json, the arrays of arrays.npz and whether the save wrote everything (older
    saves lack the feedback arrays), all checked; RouterLoadError otherwise."""
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
        a = _read_npz(arr_path, ARRAY_MEMBERS)
        # written by a save that writes everything (the feedback arrays came last)
        complete = "feedback_weight" in a or "feedback_residual" in a or "feedback_strength" in meta
        _check_meta(meta, complete=complete)
        _check_arrays(a, meta, complete=complete)
    except (ValueError, OSError) as e:
        raise RouterLoadError(f"{path} is corrupt: {e}") from e
    return meta, a, complete


def _check_arrays(a: Mapping[str, np.ndarray], meta: Mapping[str, Any], *, complete: bool) -> None:
    """arrays.npz holds every array `load` needs, as finite floats of the shapes router.json's
    models, tasks and clusters imply, within the ranges `fit` produces (a ValueError naming the
    member otherwise). `meta` has passed `_check_meta`; `complete`: see `_check_meta`."""
    quality = meta["quality"] is not None
    required = [
        "centroids", "counts", "task_clf_w", "task_diff_w", "fact_scores", "answer_tokens", "calib_x",
        "calib_chars", "cost_base", "cost_per_char", "cost_proto_extra", "cost_floor", "scale_t",
        "scale_lam", "difficulty_cuts",
    ]
    required += ["fact_sd", "feedback_weight", "feedback_residual"] if complete else []
    required += ["logit_w", "proto_means", "quality_prior"] if quality else []
    missing = [name for name in required if name not in a]
    if missing:
        raise ValueError(f"arrays.npz lacks the member(s) {missing}")
    if ("level_w" in a) != ("level_offsets" in a):  # a router with levels has both; older ones neither
        raise ValueError("arrays.npz holds one of 'level_w' and 'level_offsets' without the other")
    for name, arr in a.items():
        if arr.dtype.kind != "f":
            raise ValueError(f"arrays.npz member {name!r} holds {arr.dtype}, not floating-point numbers")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"arrays.npz member {name!r} holds NaN or infinite values")
        # far beyond anything `fit` learns (costs, lams, lengths), and products of such numbers
        # overflow to infinity, then NaN, in routing
        if arr.size and float(np.max(np.abs(arr))) > 1e30:
            raise ValueError(f"arrays.npz member {name!r} holds values beyond 1e30")
    c = a["centroids"]
    if c.ndim != 2 or min(c.shape) < 1:
        raise ValueError(f"arrays.npz member 'centroids' has shape {c.shape}, not (clusters, dim)")
    norm = float(np.max(np.linalg.norm(c.astype(np.float64), axis=1)))
    if norm > 1.001:  # spherical k-means: unit rows
        raise ValueError(f"arrays.npz member 'centroids' holds a row of norm {norm:.3g}, not unit vectors")
    (k, d), n_data = c.shape, len(meta["data_models"])
    m, n_tasks = n_data + len(meta["fact_models"]), len(meta["tasks"])
    n_calib, n_scale = a["calib_x"].shape[0] if a["calib_x"].ndim else 0, a["scale_t"].size
    # the shape each member must have, and what implies it
    clusters = f"the {k} clusters of dim {d} in 'centroids'"
    models = f"{clusters} and router.json's {m} models"
    facts = f"router.json's {n_tasks} tasks and {m - n_data} fact models"
    data = f"{clusters} and router.json's {n_data} data models"
    expected = {
        "counts": ((k,), clusters), "task_clf_w": ((d + 1, n_tasks), f"{clusters} and router.json's tasks"),
        "task_diff_w": ((d + 1,), clusters), "fact_scores": ((n_tasks, m - n_data), facts),
        "fact_sd": ((n_tasks, m - n_data), facts), "answer_tokens": ((k,), clusters),
        "calib_x": ((max(n_calib, 1), d), clusters), "calib_chars": ((n_calib,), "the rows of 'calib_x'"),
        "cost_base": ((m,), models), "cost_per_char": ((m,), models), "cost_proto_extra": ((k, m), models),
        "cost_floor": ((m,), models), "scale_t": ((max(n_scale, 1),), "a table"),
        "scale_lam": ((n_scale,), "the length of 'scale_t'"), "difficulty_cuts": ((2,), "two cuts"),
        "feedback_weight": ((k, m), models), "feedback_residual": ((k, m), models),
        "logit_w": ((d + 1, n_data), data), "proto_means": ((k, n_data), data), "quality_prior": ((n_data,), data),
    }
    if "level_offsets" in a:
        n_levels = a["level_offsets"].shape[-1] if a["level_offsets"].ndim == 2 else 0
        expected["level_offsets"] = ((n_tasks, max(n_levels, 1)), "router.json's tasks and a level per column")
        expected["level_w"] = ((d + 1, max(n_levels, 1)), f"{clusters} and the levels of 'level_offsets'")
    for name, (shape, why) in expected.items():
        unused = not quality and name in ("logit_w", "proto_means", "quality_prior")
        if name in a and not unused and a[name].shape != shape:
            raise ValueError(f"arrays.npz member {name!r} has shape {a[name].shape}, but {why} make it {shape}")
    if len(meta["proto_groups"]) != k:
        raise ValueError(f"router.json field 'proto_groups' names {len(meta['proto_groups'])} clusters, "
                         f"arrays.npz holds {k}")
    # ranges: what `fit` cannot produce, and what would break routing (a log of a negative lam)
    ranges = {
        "counts": (0.0, None), "answer_tokens": (0.0, None), "calib_chars": (0.0, None),
        "fact_scores": (0.0, 1.0), "fact_sd": (0.0, None), "cost_per_char": (0.0, None),
        "cost_floor": (0.0, None), "feedback_weight": (0.0, None), "scale_t": (0.0, 1.0),
        "scale_lam": (0.0, None), "proto_means": (0.0, 1.0), "quality_prior": (0.0, 1.0),
    }
    for name, (lo, hi) in ranges.items():
        if name in a and (np.any(a[name] < lo) or (hi is not None and np.any(a[name] > hi))):
            span = f"[{lo:g}, {hi:g}]" if hi is not None else f">= {lo:g}"
            raise ValueError(f"arrays.npz member {name!r} holds values outside {span}")
    for name in ("scale_t", "scale_lam", "difficulty_cuts"):
        if np.any(np.diff(a[name]) < 0):
            raise ValueError(f"arrays.npz member {name!r} is not in increasing order")


def _read_npz(path: Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The members `names` that the npz archive `path` holds, read as `np.load(path,
    allow_pickle=False)` would, but checked first: each member's CRC (a flipped bit is an
    error, never a silently different number) and that its data is as long as its header
    says (a garbled header must not allocate a huge array). Other members are not read (a
    router saved by an older version may hold arrays no longer used). A ValueError names
    what is wrong."""
    try:
        with zipfile.ZipFile(path) as zf:
            wanted = [(info.filename.removesuffix(".npy"), info) for info in zf.infolist()]
            wanted = [(name, info) for name, info in wanted if name in names]
            raw = {name: zf.read(info) for name, info in wanted}  # read() checks the CRC
    except Exception as e:  # noqa: BLE001 - zipfile and its decompressors raise many types on bad bytes
        raise ValueError(f"arrays.npz is not a readable npz archive ({type(e).__name__}: {e})") from e
    if len(raw) != len(wanted):
        raise ValueError(f"arrays.npz holds a member twice: {sorted(n for n, _ in wanted)}")
    return {name: _npy_array(name, data) for name, data in raw.items()}


def _npy_array(name: str, data: bytes) -> np.ndarray:
    """One .npy member's array, without pickle; a ValueError naming the member if it is bad."""
    import io

    fmt = np.lib.format
    f = io.BytesIO(data)
    try:
        version = fmt.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"npy format version {version} is not one numpy's savez writes")
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read_header(f)
        if dtype.hasobject:
            raise ValueError("it holds Python objects, which are not loaded (no pickle)")
        if len(data) - f.tell() != math.prod(shape) * dtype.itemsize:
            raise ValueError(f"its header says {shape} {dtype}, but it holds {len(data) - f.tell()} bytes of data")
        f.seek(0)
        return fmt.read_array(f, allow_pickle=False)
    except (ValueError, TypeError, SyntaxError, OverflowError, EOFError) as e:
        raise ValueError(f"arrays.npz member {name!r} is not a readable array: {e}") from e


def shown(v: Any) -> str:
    """A short repr of a value read from router.json (it may be huge or deeply nested)."""
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxdict, r.maxstring, r.maxother, r.maxlong = 2, 4, 4, 40, 40, 40
    return r.repr(v)


def _real(v: Any) -> float | None:
    """`v` as a float if it is a finite JSON number (not a boolean), else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        x = float(v)
    except OverflowError:  # an integer of hundreds of digits
        return None
    return x if math.isfinite(x) else None


def _check_number(
    obj: Mapping[str, Any], key: str, where: str, *, lo: float = 0.0, hi: float | None = None,
    above: bool = False, integer: bool = False, optional: bool = False, nullable: bool = False,
) -> None:
    """`obj[key]` is a finite number >= lo (> lo with `above`), <= hi, an integer with `integer`;
    absent may be allowed (`optional`), and so may null and infinity (`nullable`: a cap, which
    the constructor takes as None or any positive number)."""
    field = f"{where}.{key}" if where else key
    if key not in obj:
        if optional:
            return
        raise ValueError(f"router.json lacks the field {field!r}")
    v = obj[key]
    if nullable and (v is None or (isinstance(v, float) and v == math.inf)):
        return
    x = _real(v)
    ok = x is not None and (x > lo if above else x >= lo) and (hi is None or x <= hi)
    if integer:
        ok = ok and isinstance(v, int)
    if not ok:
        kind = "an integer" if integer else "a finite number"
        span = f"{'>' if above else '>='} {lo:g}" + (f" and <= {hi:g}" if hi is not None else "")
        raise ValueError(
            f"router.json field {field!r} must be {kind} {span}{' or null' if nullable else ''}, got {shown(v)}"
        )


def _check_names(meta: Mapping[str, Any], key: str, *, unique: bool = True, empty_ok: bool = False) -> list[str]:
    v = meta.get(key)
    if not isinstance(v, list) or not all(isinstance(x, str) and (x or empty_ok) for x in v):
        raise ValueError(f"router.json field {key!r} must be a list of names, got {shown(v)}")
    if unique and len(set(v)) != len(v):
        raise ValueError(f"router.json field {key!r} lists {sorted({x for x in v if v.count(x) > 1})} twice")
    return v


def _check_object(meta: Mapping[str, Any], key: str, *, optional: bool = False) -> dict[str, Any]:
    if key not in meta and optional:
        return {}
    v = meta.get(key)
    if not isinstance(v, dict):
        raise ValueError(f"router.json field {key!r} must be an object, got {shown(v)}")
    return v


def _check_model_table(meta: Mapping[str, Any], key: str, cls: type[ModelLimits | ModelSpeed],
                       models: set[str], *, optional: bool, required: tuple[str, ...] = ()) -> None:
    """`limits` / `speeds`: {candidate: fields of `cls`} as `save` writes them (unknown values
    left out, never null; the `required` fields, which have a default rather than None, always
    written)."""
    from pydantic import ValidationError

    for name, entry in _check_object(meta, key, optional=optional).items():
        where = f"{key}.{name}"
        if name not in models:
            raise ValueError(f"router.json field {key!r} names {shown(name)}, which is not a candidate")
        if not isinstance(entry, dict):
            raise ValueError(f"router.json field {where!r} must be an object, got {shown(entry)}")
        for field, v in entry.items():
            if field not in cls.model_fields or v is None:
                raise ValueError(f"router.json field {where!r} holds {field!r}: {shown(v)}, which save never writes")
        for field in required:
            if field not in entry:
                raise ValueError(f"router.json lacks the field '{where}.{field}'")
        try:
            value = cls.model_validate(entry, strict=True)
        except ValidationError as e:
            first = e.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise ValueError(
                f"router.json field '{where}.{loc}': {first['msg']}, got {shown(first['input'])}"
            ) from None
        field, least = ("context_window", 1) if isinstance(value, ModelLimits) else ("reasoning_tokens", 0)
        count = getattr(value, field)
        if count is not None and (_real(count) is None or count < least):
            raise ValueError(f"router.json field '{where}.{field}' must be an integer >= {least}, got {shown(count)}")


def _check_meta(meta: Mapping[str, Any], *, complete: bool) -> None:
    """router.json's fields have the types and ranges `save` writes (a ValueError naming the
    field otherwise). `complete`: the folder was written by a `save` that writes every field
    (it holds the feedback arrays, the latest ones added); an older folder may lack fields
    added since, which then take their defaults."""
    old = not complete
    p = _check_object(meta, "params")
    _check_number(p, "tradeoff", "params", hi=1.0)
    _check_number(p, "max_cost", "params", above=True, nullable=True)
    _check_number(p, "max_latency_s", "params", above=True, nullable=True, optional=old)
    _check_number(p, "latency_weight", "params", optional=old)
    _check_number(p, "folds", "params", lo=1, integer=True)
    _check_number(p, "seed", "params", integer=True)
    if ("prices" not in p and complete) or ("prices" in p and p["prices"] is None):
        raise ValueError(f"router.json field 'params.prices' must be an object, got {shown(p.get('prices'))}")
    load_prices(p.get("prices"))
    data, facts = _check_names(meta, "data_models"), _check_names(meta, "fact_models")
    if set(data) & set(facts):
        raise ValueError(f"router.json lists {sorted(set(data) & set(facts))} as data and as fact models")
    tasks = _check_names(meta, "tasks")
    if not tasks or tasks != sorted(tasks):
        raise ValueError(f"router.json field 'tasks' must be the sorted task names `fit` learns, got {shown(tasks)}")
    _check_names(meta, "proto_groups", unique=False, empty_ok=True)
    models = set(data) | set(facts)
    _check_model_table(meta, "limits", ModelLimits, models, optional=False)
    _check_model_table(meta, "speeds", ModelSpeed, models, optional=old, required=() if old else ("reasoning_tokens",))
    for family, v in _check_object(meta, "family_params", optional=old).items():
        if not (isinstance(v, list) and len(v) == 2 and all(_real(x) is not None for x in v)):
            raise ValueError(f"router.json field 'family_params.{family}' must be [base, spread], got {shown(v)}")
    _check_number(meta, "placement_error_sd", "", optional=old)
    _check_number(meta, "n_train", "", integer=True)
    if meta.get("cost_mode") not in ("observed", "prices", "none"):
        raise ValueError(
            f"router.json field 'cost_mode' must be observed, prices or none, got {shown(meta.get('cost_mode'))}"
        )
    if "quality" not in meta:
        raise ValueError("router.json lacks the field 'quality'")
    q = meta["quality"]
    if q is not None or data:  # a quality model is learned from data models, and only then
        if not isinstance(q, dict):
            raise ValueError(f"router.json field 'quality' must be an object for data models {data}, got {shown(q)}")
        if not data:
            raise ValueError("router.json field 'quality' must be null: the router has no data models")
        for key in ("blend", "prior_weight"):
            _check_number(q, key, "quality", hi=1.0)
        for key in ("l2", "shrink"):
            _check_number(q, key, "quality")
    protos = _check_object(meta, "prototypes")
    _check_number(protos, "temperature", "prototypes", above=True)
    _check_number(protos, "top", "prototypes", lo=1, integer=True)
    _check_number(meta, "feedback_strength", "", above=True, optional=old)


def load_prices(raw: Any) -> dict[str, tuple[float, float]] | None:
    """Saved list prices {model: [usd_per_1m_in, usd_per_1m_out]}; a ValueError (which `load`
    reports as a corrupt folder) for anything else."""
    if raw is None or raw == {}:
        return None
    if not isinstance(raw, dict):
        raise ValueError(f"router.json field 'params.prices' must be an object, got {shown(raw)}")
    out = {}
    for model, pair in raw.items():
        if not (isinstance(pair, list) and len(pair) == 2 and all(_real(v) is not None and v >= 0 for v in pair)):
            raise ValueError(
                f"router.json field 'params.prices': the price of {model!r} must be two finite numbers >= 0, "
                f"got {shown(pair)}"
            )
        out[str(model)] = (float(pair[0]), float(pair[1]))
    return out
