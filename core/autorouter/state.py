"""A learner's saved state, and the checks that take it back.

Each learner a router saves has `state()`, which returns a `State`: its JSON-able fields keyed
as router.json keys them, and its arrays named as arrays.npz names them; and a classmethod
`from_state`, which rebuilds it from those after checking them with the functions here. A check
refuses what `fit` cannot have produced (a missing member, a wrong shape or dtype, NaN, a value
out of range) with a `RouterLoadError` naming the router.json field or arrays.npz member at
fault, so that a corrupt saved router is refused rather than misroutes later.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import RouterLoadError

#: (router.json fields, arrays.npz members) of one learner.
State = tuple[dict[str, Any], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Dims:
    """The sizes a router's arrays must agree with, and the words a refusal names them by."""

    clusters: int
    dim: int
    data_models: int = 0
    models: int = 0

    @property
    def of_clusters(self) -> str:
        return f"the {self.clusters} clusters of dim {self.dim} in 'centroids'"

    @property
    def of_models(self) -> str:
        return f"{self.of_clusters} and router.json's {self.models} models"

    @property
    def of_data_models(self) -> str:
        return f"{self.of_clusters} and router.json's {self.data_models} data models"


def shown(v: Any) -> str:
    """A short repr of a value read from router.json (it may be huge or deeply nested)."""
    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxdict, r.maxstring, r.maxother, r.maxlong = 2, 4, 4, 40, 40, 40
    return r.repr(v)


def real(v: Any) -> float | None:
    """`v` as a float if it is a finite JSON number (not a boolean), else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        x = float(v)
    except OverflowError:  # an integer of hundreds of digits
        return None
    return x if math.isfinite(x) else None


def check_number(
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
        raise RouterLoadError(f"router.json lacks the field {field!r}")
    v = obj[key]
    if nullable and (v is None or (isinstance(v, float) and v == math.inf)):
        return
    x = real(v)
    ok = x is not None and (x > lo if above else x >= lo) and (hi is None or x <= hi)
    if integer:
        ok = ok and isinstance(v, int)
    if not ok:
        kind = "an integer" if integer else "a finite number"
        span = f"{'>' if above else '>='} {lo:g}" + (f" and <= {hi:g}" if hi is not None else "")
        raise RouterLoadError(
            f"router.json field {field!r} must be {kind} {span}{' or null' if nullable else ''}, got {shown(v)}"
        )


def check_names(meta: Mapping[str, Any], key: str, *, unique: bool = True, empty_ok: bool = False) -> list[str]:
    """`meta[key]` is a list of names (non-empty ones unless `empty_ok`, distinct if `unique`)."""
    v = meta.get(key)
    if not isinstance(v, list) or not all(isinstance(x, str) and (x or empty_ok) for x in v):
        raise RouterLoadError(f"router.json field {key!r} must be a list of names, got {shown(v)}")
    if unique and len(set(v)) != len(v):
        raise RouterLoadError(f"router.json field {key!r} lists {sorted({x for x in v if v.count(x) > 1})} twice")
    return v


def check_object(meta: Mapping[str, Any], key: str, *, optional: bool = False) -> dict[str, Any]:
    """`meta[key]`, which must be an object (absent reads as empty with `optional`)."""
    if key not in meta and optional:
        return {}
    v = meta.get(key)
    if not isinstance(v, dict):
        raise RouterLoadError(f"router.json field {key!r} must be an object, got {shown(v)}")
    return v


def check_floats(arrays: Mapping[str, np.ndarray], names: Iterable[str] | None = None) -> None:
    """The members `names` (default: all) that `arrays` holds are finite floating-point numbers
    of a size `fit` can produce."""
    for name in arrays if names is None else names:
        arr = arrays.get(name)
        if arr is None:
            continue
        if arr.dtype.kind != "f":
            raise RouterLoadError(f"arrays.npz member {name!r} holds {arr.dtype}, not floating-point numbers")
        if not np.all(np.isfinite(arr)):
            raise RouterLoadError(f"arrays.npz member {name!r} holds NaN or infinite values")
        # far beyond anything `fit` learns (costs, lams, lengths), and products of such numbers
        # overflow to infinity, then NaN, in routing
        if arr.size and float(np.max(np.abs(arr))) > 1e30:
            raise RouterLoadError(f"arrays.npz member {name!r} holds values beyond 1e30")


def check_members(arrays: Mapping[str, np.ndarray], names: Iterable[str]) -> None:
    """`arrays` holds every one of `names`, each as finite floats (`check_floats`)."""
    names = list(names)
    missing = [name for name in names if name not in arrays]
    if missing:
        raise RouterLoadError(f"arrays.npz lacks the member(s) {missing}")
    check_floats(arrays, names)


def check_shapes(arrays: Mapping[str, np.ndarray], expected: Mapping[str, tuple[tuple[int, ...], str]]) -> None:
    """Each member of `expected` that `arrays` holds has its shape: {name: (shape, what implies it)}."""
    for name, (shape, why) in expected.items():
        if name in arrays and arrays[name].shape != shape:
            raise RouterLoadError(
                f"arrays.npz member {name!r} has shape {arrays[name].shape}, but {why} make it {shape}"
            )


def check_ranges(arrays: Mapping[str, np.ndarray], ranges: Mapping[str, tuple[float, float | None]]) -> None:
    """Each member of `ranges` that `arrays` holds lies in {name: (lo, hi or None)}: what `fit`
    cannot produce, and what would break routing (a log of a negative lam)."""
    for name, (lo, hi) in ranges.items():
        if name in arrays and (np.any(arrays[name] < lo) or (hi is not None and np.any(arrays[name] > hi))):
            span = f"[{lo:g}, {hi:g}]" if hi is not None else f">= {lo:g}"
            raise RouterLoadError(f"arrays.npz member {name!r} holds values outside {span}")


def check_increasing(arrays: Mapping[str, np.ndarray], names: Iterable[str]) -> None:
    """Each of the members `names` is in increasing (non-decreasing) order."""
    for name in names:
        if np.any(np.diff(arrays[name]) < 0):
            raise RouterLoadError(f"arrays.npz member {name!r} is not in increasing order")
