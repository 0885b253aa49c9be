"""Fuzz `Router.load` (issue 13 item 7): a corrupt router folder is refused with a
`RouterLoadError` naming the file at fault, or it loads as a router that routes exactly as the
saved one did; never a raw exception at load, nor one in `route`, `route_batch` or `predict`,
nor NaN scores, nor changed picks.

A small router is fitted once (data models, fact models with limits and speeds, feedback from
`partial_fit`, prices and family parameters, the bundled "static" embedder so that it is saved
whole) and saved; each mutation is applied to a fresh copy of that folder. Mutations of
router.json replace every field (nested ones too) by values of the wrong type or out of range,
delete it, shorten, extend and duplicate lists, nest deeply; mutations of arrays.npz give every
member a wrong shape or dtype, NaN or infinities, empty it, drop it, add members, and garble the
archive (truncated, bit-flipped, forged headers)."""

from __future__ import annotations

import copy
import io
import json
import shutil
import traceback
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import autorouter
import autorouter.router as router_module
from autorouter import ModelLimits, ModelSpeed, Router, RouterLoadError
from autorouter.cli import app
from synthetic import make_rows, write_jsonl

PROMPTS = [
    "prove that 12 plus 5 is an integer",
    "write a python function to sort 3 lists",
    "hello there friend, how are you doing today",
    "fix this python bug in function f7 returning 3 " * 40,
    "word " * 7000,  # ~8750 tokens: beyond fact-a's context window of 8000
]
#: The calls each loaded router must answer as the saved one does.
CALLS: list[dict[str, Any]] = [
    {"tradeoff": 0.0}, {}, {"tradeoff": 0.6}, {"tradeoff": 1.0}, {"tools": True},
    {"max_latency_s": 3.0, "latency_weight": 0.01}, {"structured_output": True, "max_cost": 0.05},
]

# ------------------------------------------------------------------------------ the router


@pytest.fixture(scope="module")
def cached_embedders() -> Iterator[None]:
    """Build each distinct saved embedder config once: the static embedder takes ~0.3 s to
    build and a thousand loads would spend minutes on it. The real `embedder_from_config` still
    judges every config it has not seen."""
    real = router_module.embedder_from_config
    cache: dict[str, Any] = {}

    def cached(cfg: Any) -> Any:
        try:
            key = json.dumps(cfg, sort_keys=True)
        except (TypeError, ValueError, RecursionError):
            return real(cfg)
        if key not in cache:
            cache[key] = real(cfg)
        return cache[key]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(router_module, "embedder_from_config", cached)
        yield


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Router:
    data = write_jsonl(make_rows(150), tmp_path_factory.mktemp("data") / "train.jsonl")
    r = Router(embedder="static", prices={"big": (10.0, 30.0)}).fit(autorouter.load_dataset(data))
    r.add_model("fact-a", task_scores={"math": 0.9, "code": 0.6, "chat": 0.8}, price=(2.0, 6.0),
                limits=ModelLimits(context_window=8000, tools=False),
                speed=ModelSpeed(ttft_s=0.4, output_tokens_per_s=90.0, reasoning_tokens=100))
    r.add_model("fact-b", task_scores={"math": 0.5, "code": 0.9, "chat": 0.7}, price=(0.5, 1.0),
                limits=ModelLimits(context_window=32000, tools=True, images=False, structured_output=True),
                speed=ModelSpeed(ttft_s=0.2, output_tokens_per_s=150.0))
    r.set_limits("coder", ModelLimits(tools=True, structured_output=False))
    r.partial_fit(["write a python function to sort lists", "hello there"], "fact-b", [1.0, 0.0])
    r.partial_fit(["prove that 3 plus 4 is an integer"], "big", [0.0])
    # what `calibrate_families` would set: kept by save, used by add_catalog_model
    r.family_params_ = {"math_word_problem": (2.2, 1.0), "competition_math": (-0.2, 1.2)}
    # what a fit with a person's levels of prompts sets (the default router has them)
    d, n_tasks = r.prototypes_.centroids.shape[1], len(r.profile_.tasks)
    # (two levels, so that no member is square and a transposed one shows in its shape)
    r.profile_.level_w = np.random.default_rng(0).normal(0, 0.1, (d + 1, 2)).astype(np.float32)
    r.profile_.level_offsets = np.tile(np.array([[1.5, -1.0]], dtype=np.float32), (n_tasks, 1))
    r.profile_.level_spread = np.tile(np.array([[0.2, 1.0]], dtype=np.float32), (n_tasks, 1))
    r.profile_.level_centre = np.linspace(1.0, 2.0, n_tasks).astype(np.float32)
    assert r.feedback_.outcomes > 0 and r.data_models_ and r.fact_models_ and r.speeds_
    return r


@pytest.fixture(scope="module")
def original(fitted: Router, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fitted.save(tmp_path_factory.mktemp("saved") / "router")


def behaviour(r: Router) -> list[Any]:
    """Everything routing reports for `PROMPTS` (route, route_batch, predict), checked finite;
    the state routing does not show; and routing after the router learns more. Changes `r`."""
    out: list[Any] = []
    for kwargs in CALLS:
        for d in r.route_batch(PROMPTS, **kwargs):
            ranking = [(x.model, x.quality, x.cost_usd, x.score, x.eligible, x.excluded_because, x.latency_s,
                        x.uncertainty) for x in d.ranking]
            numbers = [v for row in ranking for v in (row[1], row[2], row[7], row[6] or 0.0)]
            assert np.all(np.isfinite(numbers)), f"non-finite prediction in {d.explanation}"
            assert "nan" not in d.explanation and "inf" not in d.explanation, d.explanation
            out.append((d.model, ranking, d.explanation, d.tradeoff))
    one = r.route(PROMPTS[1], tradeoff=0.3)
    out.append((one.model, one.explanation))
    q, c = r.predict(PROMPTS)
    assert np.all(np.isfinite(q)) and np.all(np.isfinite(c)), "non-finite predict()"
    out.append((q.tolist(), c.tolist()))
    # what routing does not show: the prices calls are charged at, what add_catalog_model and
    # refits read
    out.append((r.prices, r.family_params_, r.placement_error_sd_, r.n_train_, r.folds, r.seed, r.cost_.mode))
    # and what the router learns next: a candidate added (which recalibrates on the saved
    # sample of training prompts) and outcomes (on top of the saved ones)
    r.add_model("added", task_scores={"math": 0.7, "code": 0.7, "chat": 0.7}, price=(1.0, 1.0))
    r.partial_fit([PROMPTS[2], PROMPTS[0]], "tiny", [1.0, 0.0])
    out.append([(d.model, d.explanation) for t in (0.0, 0.3, 1.0) for d in r.route_batch(PROMPTS, tradeoff=t)])
    return out


@pytest.fixture(scope="module")
def reference(original: Path, cached_embedders: None) -> list[Any]:
    return behaviour(Router.load(original))


# ------------------------------------------------------------------------------ the judge

Mutation = Callable[[Path], None]


class Judge:
    """Applies mutations to fresh copies of the saved folder and sorts the outcomes."""

    def __init__(self, original: Path, reference: list[Any], work: Path) -> None:
        self.files = {name: (original / name).read_bytes() for name in ("router.json", "arrays.npz")}
        self.reference = reference
        self.work = work
        self.outcomes: Counter[str] = Counter()
        self.problems: list[str] = []

    def fresh(self) -> Path:
        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        for name, data in self.files.items():
            (self.work / name).write_bytes(data)
        return self.work

    def check(self, name: str, mutate: Mutation, *, names: tuple[str, ...] = (), valid: bool = False) -> None:
        """`names`: words of which the refusal must mention one (the field or member at fault).
        `valid`: the mutated folder is one `save` itself can write (e.g. a limit left unknown):
        it may route differently, but must load or be refused cleanly and route soundly."""
        folder = self.fresh()
        try:
            mutate(folder)
        except Exception as e:  # noqa: BLE001 - a broken mutation is the test's own bug
            self.problems.append(f"{name}: the mutation itself failed: {e!r}")
            return
        try:
            r = Router.load(folder)
        except RouterLoadError as e:
            msg = str(e)
            if "router.json" not in msg and "arrays.npz" not in msg:
                self.problems.append(f"{name}: refused without naming the file: {msg}")
            elif names and not any(n in msg for n in names):
                self.problems.append(f"{name}: refused without naming any of {names}: {msg}")
            else:
                self.outcomes["refused"] += 1
            return
        except Exception:  # noqa: BLE001 - exactly what must not happen
            self.problems.append(f"{name}: raw exception at load:\n{traceback.format_exc(limit=-3)}")
            return
        try:
            seen = behaviour(r)
        except Exception:  # noqa: BLE001 - exactly what must not happen
            self.problems.append(f"{name}: loaded, then failed in routing:\n{traceback.format_exc(limit=-3)}")
            return
        if seen == self.reference:
            self.outcomes["identical"] += 1
        elif valid:
            self.outcomes["valid, routes differently"] += 1
        else:
            first = next(i for i, (a, b) in enumerate(zip(seen, self.reference, strict=False)) if a != b)
            self.problems.append(f"{name}: loaded but routes differently, e.g. {seen[first]!r:.300} "
                                 f"instead of {self.reference[first]!r:.300}")

    def assert_clean(self) -> None:
        assert not self.problems, f"{len(self.problems)} mutations slipped through:\n" + "\n".join(self.problems[:400])


@pytest.fixture
def judge(original: Path, reference: list[Any], cached_embedders: None, tmp_path: Path) -> Judge:
    return Judge(original, reference, tmp_path / "mutated")


# ------------------------------------------------------------------------------ router.json

RAW = "@@raw:{}@@"  # a placeholder string replaced by raw JSON text once the object is dumped
KINDS: dict[str, Any] = {
    "a list": [1, "a"],
    "a string": "abc",
    "a number": 7,
    "null": None,
    "a boolean": True,
    "a nested object": {"a": {"b": [{"c": None}]}},
    "1e400": RAW.format("1e400"),
    "-1e400": RAW.format("-1e400"),
    "Infinity": RAW.format("Infinity"),
    "NaN": RAW.format("NaN"),
    "a 400-digit integer": RAW.format("1" + "0" * 400),
    "-1": -1,
    "-0.5": -0.5,
    "50-deep lists": RAW.format("[" * 50 + "]" * 50),
    "100000-deep lists": RAW.format("[" * 100_000 + "]" * 100_000),
}


def dump(meta: Any) -> str:
    text = json.dumps(meta, indent=2)
    while "@@raw:" in text:
        start = text.index('"@@raw:')
        end = text.index('@@"', start + 7)
        text = text[:start] + text[start + 7 : end] + text[end + 3 :]
    return text


def paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every field of router.json, nested objects' fields too."""
    for key, v in obj.items():
        yield (*prefix, key)
        if isinstance(v, dict):
            yield from paths(v, (*prefix, key))


def parent(meta: dict[str, Any], path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        meta = meta[key]
    return meta


def skip_kind(kind: str, original: Any) -> bool:
    """Kinds of value that are not wrong for a field: another number for a number (or for a
    cap that is null: no cap), null for null, a boolean for a boolean."""
    number = isinstance(original, (int, float)) and not isinstance(original, bool)
    return ((kind == "a number" and (number or original is None)) or (kind == "null" and original is None)
            or (kind == "a boolean" and isinstance(original, bool)))


def meta_mutation(f: Callable[[dict[str, Any]], None]) -> Mutation:
    def apply(folder: Path) -> None:
        meta = json.loads((folder / "router.json").read_text())
        f(meta)
        (folder / "router.json").write_text(dump(meta))
    return apply


def text_mutation(f: Callable[[bytes], bytes], file: str = "router.json") -> Mutation:
    def apply(folder: Path) -> None:
        (folder / file).write_bytes(f((folder / file).read_bytes()))
    return apply


def optional_when_unknown(path: tuple[Any, ...]) -> bool:
    """Deleting these writes what `save` writes for a router that does not know them: a
    candidate's limits or speed (or one of their fields) left unknown, a family's parameters
    left to the built-in prior, a price not given, an embedder setting at its default."""
    if path[0] in ("limits", "speeds") and len(path) >= 2:
        return path[-1] != "reasoning_tokens"  # always written, 0 when there is no thinking
    return path[0] == "family_params" and len(path) == 2 or path[:2] == ("params", "prices") and len(path) == 3


def router_json_mutations(meta: dict[str, Any]) -> Iterator[tuple[str, Mutation, tuple[str, ...], bool]]:
    for path in paths(meta):
        where = ".".join(map(str, path))
        names = tuple(str(p) for p in path)
        original = parent(meta, path)[path[-1]]
        for kind, value in KINDS.items():
            if skip_kind(kind, original):
                continue
            deep = kind == "100000-deep lists"

            def put(m: dict[str, Any], path: tuple[Any, ...] = path, value: Any = value) -> None:
                parent(m, path)[path[-1]] = copy.deepcopy(value)
            yield f"{where} = {kind}", meta_mutation(put), () if deep else names, False

        def delete(m: dict[str, Any], path: tuple[Any, ...] = path) -> None:
            del parent(m, path)[path[-1]]
        yield f"{where} deleted", meta_mutation(delete), (), optional_when_unknown(path)

        if isinstance(original, list):
            yield from list_mutations(path, original)
        if isinstance(original, dict):
            def extra(m: dict[str, Any], path: tuple[Any, ...] = path) -> None:
                parent(m, path)[path[-1]]["zzz-unknown"] = 1
            yield f"{where} has an unknown field", meta_mutation(extra), (), False
            if path[0] in ("limits", "speeds") and len(path) == 1:
                for model in list(original):
                    def rename(m: dict[str, Any], key: str = path[0], model: str = model) -> None:
                        m[key]["nobody"] = m[key].pop(model)
                    label = f"{where} keyed by an unknown model instead of {model}"
                    yield label, meta_mutation(rename), (path[0],), False

    def extra_top(m: dict[str, Any]) -> None:
        m["zzz-unknown"] = {"a": [1, 2]}
    yield "an unknown top-level field", meta_mutation(extra_top), (), False

    # numbers of the right type beyond a bound: 0 divides by zero, makes an empty top-k, a
    # window no prompt fits, no cap at all; 1.5 is no tradeoff, blend or pull
    bounded = {
        ("prototypes", "temperature"): (0, 0.0), ("feedback_strength",): (0, 0.0),
        ("params", "folds"): (0,), ("params", "max_cost"): (0, 0.0), ("params", "max_latency_s"): (0, 0.0),
        ("speeds", "fact-a", "output_tokens_per_s"): (0, 0.0),
        ("params", "tradeoff"): (1.5,), ("quality", "blend"): (1.5,), ("quality", "prior_weight"): (1.5,),
        # and a fraction where save writes an integer
        ("prototypes", "top"): (0, 2.5), ("n_train",): (150.5,), ("params", "seed"): (0.5,),
        ("speeds", "fact-a", "reasoning_tokens"): (1.5,), ("limits", "fact-a", "context_window"): (0, 8000.5),
    }
    for path, values in bounded.items():
        for value in values:
            def put(m: dict[str, Any], path: tuple[Any, ...] = path, value: Any = value) -> None:
                parent(m, path)[path[-1]] = value
            yield f"{'.'.join(path)} = {value!r}", meta_mutation(put), (path[-1],), False


def list_mutations(path: tuple[Any, ...], original: list[Any]) -> Iterator[tuple[str, Mutation, tuple[str, ...], bool]]:
    where = ".".join(map(str, path))
    numbers = all(isinstance(x, (int, float)) for x in original)
    new = 0.5 if numbers else "a-new-name"
    edits: dict[str, Callable[[list[Any]], list[Any]]] = {
        "shortened": lambda xs: xs[:-1],
        "emptied": lambda xs: [],
        "extended": lambda xs: [*xs, new],
        "with its first item twice": lambda xs: [*xs, xs[0]] if xs else [new, new],
        "with the first item a number": lambda xs: [7, *xs[1:]],
        "with the first item null": lambda xs: [None, *xs[1:]],
        "with the first item a list": lambda xs: [[xs[0] if xs else 1], *xs[1:]],
        "with the first item NaN": lambda xs: [RAW.format("NaN"), *xs[1:]],
        "with the first item 1e400": lambda xs: [RAW.format("1e400"), *xs[1:]],
    }
    if not numbers:
        edits["with the first item empty"] = lambda xs: ["", *xs[1:]]
        edits["with the first item a boolean"] = lambda xs: [True, *xs[1:]]
    else:
        edits["with the first item a string"] = lambda xs: ["1", *xs[1:]]
        edits["with the first item a boolean"] = lambda xs: [True, *xs[1:]]
    if path == ("tasks",):
        edits["reordered"] = lambda xs: xs[::-1]
    for label, edit in edits.items():
        if numbers and label == "with the first item a number":
            continue  # another number in a list of numbers: a different value, not a wrong one

        def put(m: dict[str, Any], path: tuple[Any, ...] = path, edit: Callable[[list[Any]], list[Any]] = edit) -> None:
            holder = parent(m, path)
            holder[path[-1]] = edit(list(holder[path[-1]]))
        # proto_groups names each cluster's main task: only the explanation of an unnamed-task
        # router reads it, so a wrong-length list is refused and a wrong item is a type error
        yield f"{where} {label}", meta_mutation(put), (), False


def whole_file_mutations() -> Iterator[tuple[str, Mutation, tuple[str, ...], bool]]:
    files: dict[str, Callable[[bytes], bytes]] = {
        "router.json empty": lambda b: b"",
        "router.json truncated": lambda b: b[: len(b) // 2],
        "router.json a list": lambda b: b"[1, 2]",
        "router.json null": lambda b: b"null",
        "router.json nested 100000 deep": lambda b: b"[" * 100_000 + b"]" * 100_000,
        "router.json objects nested 100000 deep": lambda b: b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        "router.json not UTF-8": lambda b: b"\xff\xfe" + b,
        "router.json with a byte-order mark": lambda b: b"\xef\xbb\xbf" + b,
        "router.json with the format of another tool": lambda b: b.replace(b'"autorouter-router"', b'"other"'),
        "router.json with format_version 2.5": lambda b: b.replace(b'"format_version": 2', b'"format_version": 2.5'),
    }
    for name, f in files.items():
        yield name, text_mutation(f), (), False

    def missing(file: str) -> Mutation:
        return lambda folder: (folder / file).unlink()
    yield "router.json missing", missing("router.json"), (), False
    yield "arrays.npz missing", missing("arrays.npz"), (), False


def test_router_json_mutations_are_refused_or_harmless(judge: Judge, original: Path) -> None:
    meta = json.loads((original / "router.json").read_text())
    mutations = [*router_json_mutations(meta), *whole_file_mutations()]
    for name, mutate, names, valid in mutations:
        judge.check(name, mutate, names=names, valid=valid)
    judge.assert_clean()
    print(f"\nrouter.json: {len(mutations)} mutations: {dict(judge.outcomes)}")
    assert len(mutations) > 700 and judge.outcomes["refused"] > 600


# ------------------------------------------------------------------------------ arrays.npz


def arrays_of(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / "arrays.npz") as z:
        return {k: z[k] for k in z.files}


def arrays_mutation(f: Callable[[dict[str, np.ndarray]], None], *, compressed: bool = True) -> Mutation:
    def apply(folder: Path) -> None:
        arrays = arrays_of(folder)
        f(arrays)
        save = np.savez_compressed if compressed else np.savez
        save(folder / "arrays.npz", **arrays)  # type: ignore[arg-type]  # numpy's stub: **kwds as allow_pickle
    return apply


def _first(x: np.ndarray, value: float) -> np.ndarray:
    y = x.astype(np.float64 if x.dtype == np.float16 else x.dtype, copy=True)
    y.flat[0] = value
    return y.astype(x.dtype)


def member_edits(x: np.ndarray) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    edits: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "one row fewer": lambda x: x[:-1],
        "one row more": lambda x: np.concatenate([x, x[:1]]),
        "empty": lambda x: x[:0],
        "a scalar": lambda x: np.asarray(x.flat[0]),
        "strings": lambda x: x.astype(str),
        "bytes": lambda x: x.astype("S8"),
        "Python objects": lambda x: x.astype(object),
        "booleans": lambda x: x.astype(bool),
        "integers": lambda x: x.astype(np.int64),
        "unsigned integers": lambda x: np.abs(x).astype(np.uint8),
        "complex numbers": lambda x: x.astype(np.complex128),
        "a structured dtype": lambda x: np.zeros(x.shape, dtype=[("a", "f8"), ("b", "f8")]),
        "NaN first": lambda x: _first(x, np.nan),
        "+inf first": lambda x: _first(x, np.inf),
        "-inf first": lambda x: _first(x, -np.inf),
    }
    if x.ndim == 2:
        edits["transposed"] = lambda x: x.T.copy()
        edits["flattened"] = lambda x: x.ravel()
        edits["one column fewer"] = lambda x: x[:, :-1]
        edits["one column more"] = lambda x: np.hstack([x, x[:, :1]])
    else:
        edits["as a column"] = lambda x: x[:, None]
        edits["as a row"] = lambda x: x[None, :]
    return edits


def test_arrays_npz_member_mutations_are_refused_or_harmless(judge: Judge, original: Path) -> None:
    arrays = arrays_of(original)
    count = 0
    for member, x in arrays.items():
        for label, edit in member_edits(x).items():
            def put(a: dict[str, np.ndarray], member: str = member, edit: Callable[..., np.ndarray] = edit) -> None:
                a[member] = edit(a[member])
            judge.check(f"{member} {label}", arrays_mutation(put), names=(member,))
            count += 1

        def drop(a: dict[str, np.ndarray], member: str = member) -> None:
            del a[member]
        judge.check(f"{member} missing", arrays_mutation(drop), names=(member,))
        count += 1
    extras: dict[str, Callable[[dict[str, np.ndarray]], None]] = {
        "an extra member of floats": lambda a: a.update(zzz=np.ones(3)),
        "an extra member of strings": lambda a: a.update(zzz=np.array(["a"])),
        "an extra member of objects": lambda a: a.update(zzz=np.array([{"a": 1}], dtype=object)),
        "the old 'strength' member": lambda a: a.update(strength=np.ones(5)),
        "an extra member named like numpy's default": lambda a: a.update(arr_0=np.ones(2)),
    }
    for label, f in extras.items():
        judge.check(label, arrays_mutation(f))
        count += 1
    judge.check("stored uncompressed (np.savez)", arrays_mutation(lambda a: None, compressed=False))
    count += 1
    # finite numbers that `fit` cannot produce, some of which break routing (a log of a negative lam)
    out_of_range: dict[str, Callable[[dict[str, np.ndarray]], None]] = {
        "scale_lam negative": lambda a: a.update(scale_lam=a["scale_lam"] - 1.0),
        "scale_lam decreasing": lambda a: a.update(scale_lam=a["scale_lam"][::-1].copy()),
        "scale_t decreasing": lambda a: a.update(scale_t=a["scale_t"][::-1].copy()),
        "scale_t beyond 1": lambda a: a.update(scale_t=a["scale_t"] * 2),
        "difficulty_cuts decreasing": lambda a: a.update(difficulty_cuts=a["difficulty_cuts"][::-1].copy()),
        "fact_scores above 1": lambda a: a.update(fact_scores=a["fact_scores"] + 1),
        "fact_scores below 0": lambda a: a.update(fact_scores=a["fact_scores"] - 1),
        "fact_sd negative": lambda a: a.update(fact_sd=-a["fact_sd"] - 0.1),
        "feedback_weight negative": lambda a: a.update(feedback_weight=a["feedback_weight"] - 1),
        "cost_floor negative": lambda a: a.update(cost_floor=a["cost_floor"] - 1),
        "cost_per_char negative": lambda a: a.update(cost_per_char=a["cost_per_char"] - 1),
        "answer_tokens negative": lambda a: a.update(answer_tokens=-a["answer_tokens"]),
        "counts negative": lambda a: a.update(counts=-a["counts"] - 1),
        "calib_chars negative": lambda a: a.update(calib_chars=-a["calib_chars"] - 1),
        "proto_means above 1": lambda a: a.update(proto_means=a["proto_means"] + 1),
        "quality_prior below 0": lambda a: a.update(quality_prior=a["quality_prior"] - 1),
        "centroids not unit rows": lambda a: a.update(centroids=a["centroids"] * 3),
    }
    # finite, but products of them overflow to infinity (then NaN) in routing
    for member in ("centroids", "task_clf_w", "task_diff_w", "logit_w", "cost_base", "scale_lam", "feedback_residual"):
        def huge(a: dict[str, np.ndarray], member: str = member) -> None:
            a[member] = np.full_like(a[member], np.finfo(a[member].dtype).max / 2)
        out_of_range[f"{member} at half its dtype's largest value"] = huge
    for label, f in out_of_range.items():
        judge.check(label, arrays_mutation(f), names=(label.split()[0],))
        count += 1
    judge.assert_clean()
    print(f"\narrays.npz members: {count} mutations: {dict(judge.outcomes)}")
    assert judge.outcomes["identical"] >= len(extras) + 1  # unknown members are not read
    assert count > 400


def flip(offset: int, bit: int) -> Callable[[bytes], bytes]:
    def f(b: bytes) -> bytes:
        out = bytearray(b)
        out[offset % len(out)] ^= 1 << bit
        return bytes(out)
    return f


def forged_member(member: str, header_shape: tuple[int, ...]) -> Mutation:
    """A member whose .npy header claims `header_shape` but holds the data it held."""
    def apply(folder: Path) -> None:
        arrays = arrays_of(folder)
        buf = io.BytesIO()
        np.lib.format.write_array(buf, arrays[member])
        data = buf.getvalue()
        header_len = data.index(b"\n") + 1
        head = io.BytesIO()
        x = arrays[member]
        np.lib.format.write_array_header_1_0(head, {"descr": np.lib.format.dtype_to_descr(x.dtype),
                                                    "fortran_order": False, "shape": header_shape})
        forged = head.getvalue()
        with zipfile.ZipFile(folder / "arrays.npz", "w") as zf:
            for name, arr in arrays.items():
                if name == member:
                    zf.writestr(name + ".npy", forged + data[header_len:])
                else:
                    b = io.BytesIO()
                    np.lib.format.write_array(b, arr)
                    zf.writestr(name + ".npy", b.getvalue())
    return apply


def test_a_garbled_arrays_file_is_refused_or_harmless(judge: Judge, original: Path) -> None:
    size = len((original / "arrays.npz").read_bytes())
    with zipfile.ZipFile(original / "arrays.npz") as zf:
        headers = [info.header_offset for info in zf.infolist()]
    mutations: dict[str, Mutation] = {}
    def truncated(cut: int) -> Callable[[bytes], bytes]:
        return lambda b: b[:cut]
    for cut in (0, 1, 4, 22, 30, 100, size // 3, size // 2, size - 23, size - 22, size - 1):
        mutations[f"truncated to {cut} bytes"] = text_mutation(truncated(cut), "arrays.npz")
    # flipped bits all over the file, and around every member's local header
    offsets = [*range(0, size, max(1, size // 120)), *(h + d for h in headers for d in (0, 8, 14, 18, 26, 30, 40))]
    for i, off in enumerate(sorted(set(offsets))):
        mutations[f"bit {i % 8} of byte {off} flipped"] = text_mutation(flip(off, i % 8), "arrays.npz")
    mutations["garbage appended"] = text_mutation(lambda b: b + b"\x00garbage" * 10, "arrays.npz")
    mutations["garbage prepended"] = text_mutation(lambda b: b"garbage" + b, "arrays.npz")
    mutations["not a zip file"] = text_mutation(lambda b: b"not an npz file", "arrays.npz")
    mutations["an empty zip file"] = text_mutation(lambda b: _empty_zip(), "arrays.npz")
    mutations["centroids twice in the zip"] = _duplicate_member("centroids")
    mutations["a header claiming 10**12 centroids"] = forged_member("centroids", (10**12, 256))
    mutations["a header claiming too few counts"] = forged_member("counts", (3,))
    for name, mutate in mutations.items():
        judge.check(name, mutate)
    # stored (not deflated) data: a flipped bit is a different number unless the CRC is checked
    buf = io.BytesIO()
    np.savez(buf, **arrays_of(original))  # type: ignore[arg-type]
    stored = len(buf.getvalue())
    uncompressed: dict[str, Mutation] = {}
    for off in range(300, stored, max(1, stored // 60)):
        def apply(folder: Path, off: int = off) -> None:
            arrays_mutation(lambda a: None, compressed=False)(folder)
            text_mutation(flip(off, 3), "arrays.npz")(folder)
        uncompressed[f"uncompressed, bit 3 of byte {off} flipped"] = apply
    for name, mutate in uncompressed.items():
        judge.check(name, mutate)
    judge.assert_clean()
    print(f"\ngarbled arrays.npz: {len(mutations) + len(uncompressed)} mutations: {dict(judge.outcomes)}")
    assert judge.outcomes["refused"] > 150


def _empty_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w"):
        pass
    return buf.getvalue()


def _duplicate_member(member: str) -> Mutation:
    def apply(folder: Path) -> None:
        arrays = arrays_of(folder)
        b = io.BytesIO()
        np.lib.format.write_array(b, arrays[member][:1])
        with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(folder / "arrays.npz", "a") as zf:
            zf.writestr(member + ".npy", b.getvalue())
    return apply


# ------------------------------------------------------------------------------ what must still load


def test_the_saved_folder_loads_as_the_router_that_was_saved(fitted: Router, original: Path,
                                                             reference: list[Any], tmp_path: Path) -> None:
    loaded = Router.load(original)
    assert behaviour(copy.deepcopy(fitted)) == reference == behaviour(Router.load(original))
    assert loaded.feedback_.outcomes == fitted.feedback_.outcomes > 0
    assert loaded.limits_ == fitted.limits_ and loaded.speeds_ == fitted.speeds_
    assert loaded.family_params_ == fitted.family_params_ and loaded.prices == {"big": (10.0, 30.0)}
    # and saving it again writes the same folder
    again = loaded.save(tmp_path / "again")
    assert (again / "router.json").read_text() == (original / "router.json").read_text()
    a, b = arrays_of(again), arrays_of(original)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_a_folder_saved_before_speeds_and_feedback_loads_with_their_defaults(original: Path, tmp_path: Path,
                                                                           cached_embedders: None) -> None:
    """What older versions wrote (as the bundled default router still is): no feedback arrays
    or strength, no fact_sd, speeds, family parameters, placement sd, latency settings, prices."""
    old = tmp_path / "old"
    shutil.copytree(original, old)
    meta = json.loads((old / "router.json").read_text())
    for key in ("feedback_strength", "speeds", "family_params", "placement_error_sd"):
        del meta[key]
    for key in ("max_latency_s", "latency_weight", "prices"):
        del meta["params"][key]
    (old / "router.json").write_text(json.dumps(meta))
    arrays = {k: v for k, v in arrays_of(old).items() if k not in ("feedback_weight", "feedback_residual", "fact_sd")}
    arrays["strength"] = np.ones(len(meta["data_models"]) + len(meta["fact_models"]))  # an old, unused array
    np.savez_compressed(old / "arrays.npz", **arrays)  # type: ignore[arg-type]
    r = Router.load(old)
    assert r.feedback_.outcomes == 0 and not r.speeds_ and not np.any(r.fact_sd_)
    behaviour(r)  # routes, finite
    # a half-old folder is not: the feedback arrays without their strength, or the reverse
    half = tmp_path / "half"
    shutil.copytree(original, half)
    meta = json.loads((half / "router.json").read_text())
    del meta["feedback_strength"]
    (half / "router.json").write_text(json.dumps(meta))
    with pytest.raises(RouterLoadError, match="feedback_strength"):
        Router.load(half)
    shutil.copy(original / "router.json", half / "router.json")
    arrays = {k: v for k, v in arrays_of(original).items() if not k.startswith("feedback_")}
    np.savez_compressed(half / "arrays.npz", **arrays)  # type: ignore[arg-type]
    with pytest.raises(RouterLoadError, match="lacks the member.*feedback_weight"):
        Router.load(half)


def test_the_bundled_default_router_still_loads() -> None:
    r = Router.default()
    assert len(r.models_) == 20 and r.quality_ is None and r.feedback_.outcomes == 0
    assert r.fact_sd_.shape == r.fact_scores_.shape and r.speeds_


# ------------------------------------------------------------------------------ the CLI


@pytest.mark.parametrize("corrupt", [
    "router.json: limits is a list", "router.json: n_train is 1e400", "router.json: models is a string",
    "router.json: nested 100000 deep", "arrays.npz: a bit flipped", "arrays.npz: NaN in the scale",
    "arrays.npz: logit_w of the wrong shape",
])
def test_the_cli_says_error_and_exits_2_for_a_corrupt_folder(original: Path, tmp_path: Path, corrupt: str) -> None:
    folder = tmp_path / "r"
    shutil.copytree(original, folder)
    meta = json.loads((folder / "router.json").read_text())
    if corrupt.endswith("limits is a list"):
        meta["limits"] = []
    elif corrupt.endswith("n_train is 1e400"):
        meta["n_train"] = RAW.format("1e400")
    elif corrupt.endswith("models is a string"):
        meta["data_models"] = "abc"
    (folder / "router.json").write_text(dump(meta))
    if corrupt.endswith("100000 deep"):
        (folder / "router.json").write_text("[" * 100_000 + "]" * 100_000)
    elif corrupt.endswith("a bit flipped"):
        text_mutation(flip(len((folder / "arrays.npz").read_bytes()) // 2, 5), "arrays.npz")(folder)
    elif corrupt.endswith("NaN in the scale"):
        arrays_mutation(lambda a: a.update(scale_lam=a["scale_lam"] * np.nan))(folder)
    elif corrupt.endswith("wrong shape"):
        arrays_mutation(lambda a: a.update(logit_w=a["logit_w"][:, :1]))(folder)
    res = CliRunner().invoke(app, ["route", "hi", "--router", str(folder)])
    assert res.exit_code == 2, res.output
    assert "error:" in res.output and "Traceback" not in res.output, res.output
    assert isinstance(res.exception, SystemExit)
