"""Load routing data: prompts with a quality score (and optionally cost) per candidate model.

Reads JSON Lines (optionally gzip'd), CSV and Parquet files with the columns `prompt`,
`scores` {model: float}, optional `cost_usd` {model: float} and optional `output_chars`
{model: int}. In CSV the dict columns are JSON strings, or flattened as `scores.<model>`.
A file that cannot be read (corrupt gzip, a non-Parquet file named `.parquet`, a column of
the wrong shape, JSON nested too deeply) raises `DatasetError` naming the file and, where
known, the line and field.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import math
import warnings
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import DatasetError, InvalidRequestError

# `ModelPrice` lives in `autorouter.types`; also re-exported here for compatibility
from .types import ModelPrice

__all__ = ["RoutingDataset", "load_dataset", "ModelPrice"]

# Row fields that name the benchmark or task a prompt comes from, in order of preference.
GROUP_FIELDS = ("task", "eval_name", "benchmark", "dataset")
_DICT_FIELDS = ("scores", "cost_usd", "output_chars")
#: Longest CSV field read, in characters. Python's default (131,072) is shorter than a
#: realistic few-shot prompt; 16 Mi characters holds a full 2M-token context, and a limit
#: still turns an unclosed quote (which swallows the rest of the file) into a clear error.
CSV_FIELD_LIMIT = 16 * 1024 * 1024
#: Seed of `RoutingDataset.split` when none is given (the one `random_halves` uses).
DEFAULT_SPLIT_SEED = 7


@dataclass
class RoutingDataset:
    """Prompts and, for every model, the score (and cost, where known) it earned on each.

    Attributes:
        prompts: the prompt texts, one per row.
        models: candidate model names, the columns of the arrays below.
        scores: `(n_prompts, n_models)` quality, higher is better; usually in [0, 1]
            (`Router.fit` rescales scores on another scale, e.g. 1-10 ratings, linearly).
        cost_usd: `(n_prompts, n_models)` real cost in USD, or None when the data has none.
            May hold NaN where a row lacks one model's cost.
        output_chars: `(n_prompts, n_models)` answer length in characters, or None.
        groups: the benchmark or task of each row (from `task`, `eval_name`, `benchmark` or
            `dataset`), or None.
        meta: the other scalar fields of each row (ids, splits, flags), for evaluation scripts.
        prices: list prices per model, from a `models.json` beside the data file, if any.
        skipped: reason -> number of rows that were dropped while loading.
    """

    prompts: list[str]
    models: list[str]
    scores: np.ndarray
    cost_usd: np.ndarray | None = None
    output_chars: np.ndarray | None = None
    groups: list[str] | None = None
    meta: list[dict[str, Any]] = field(default_factory=list)
    prices: dict[str, ModelPrice] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, m = len(self.prompts), len(self.models)
        self.scores = np.asarray(self.scores, dtype=np.float64)
        if self.scores.shape != (n, m):
            raise DatasetError(
                f"scores has shape {self.scores.shape}, expected ({n}, {m}) for "
                f"{n} prompts and {m} models"
            )
        if not np.all(np.isfinite(self.scores)):
            raise DatasetError("scores contain NaN or infinite values; drop or fix those rows")
        for name in ("cost_usd", "output_chars"):
            arr = getattr(self, name)
            if arr is not None:
                arr = np.asarray(arr, dtype=np.float64)
                if arr.shape != (n, m):
                    raise DatasetError(f"{name} has shape {arr.shape}, expected ({n}, {m})")
                if np.any(np.isinf(arr)) or np.any(arr[np.isfinite(arr)] < 0):
                    raise DatasetError(f"{name} holds negative or infinite values; NaN marks a missing one")
                setattr(self, name, arr)
        if self.groups is not None and len(self.groups) != n:
            raise DatasetError(f"groups has {len(self.groups)} entries, expected {n}")
        if len(set(self.models)) != m:
            raise DatasetError(f"model names are not unique: {self.models}")
        if not self.meta:
            self.meta = [{} for _ in range(n)]

    def __len__(self) -> int:
        return len(self.prompts)

    def __repr__(self) -> str:
        extras = [k for k in ("cost_usd", "output_chars", "groups") if getattr(self, k) is not None]
        return (
            f"RoutingDataset({len(self)} prompts, {len(self.models)} models"
            + (f", with {', '.join(extras)}" if extras else "")
            + (f", skipped {sum(self.skipped.values())} rows" if self.skipped else "")
            + ")"
        )

    def subset(self, rows: Sequence[int] | np.ndarray) -> RoutingDataset:
        """A new dataset holding only the given rows (indices or a boolean mask)."""
        idx = np.asarray(rows)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64)
        return RoutingDataset(
            prompts=[self.prompts[i] for i in idx],
            models=list(self.models),
            scores=self.scores[idx],
            cost_usd=None if self.cost_usd is None else self.cost_usd[idx],
            output_chars=None if self.output_chars is None else self.output_chars[idx],
            groups=None if self.groups is None else [self.groups[i] for i in idx],
            meta=[self.meta[i] for i in idx],
            prices=dict(self.prices),
        )

    def select_models(self, models: Sequence[str]) -> RoutingDataset:
        """A new dataset restricted to `models` (in that order)."""
        missing = [m for m in models if m not in self.models]
        if missing:
            raise DatasetError(f"unknown models {missing}; the dataset has {self.models}")
        cols = [self.models.index(m) for m in models]
        return RoutingDataset(
            prompts=list(self.prompts),
            models=list(models),
            scores=self.scores[:, cols],
            cost_usd=None if self.cost_usd is None else self.cost_usd[:, cols],
            output_chars=None if self.output_chars is None else self.output_chars[:, cols],
            groups=None if self.groups is None else list(self.groups),
            meta=list(self.meta),
            prices={m: p for m, p in self.prices.items() if m in models},
            skipped=dict(self.skipped),
        )

    def split(
        self, test_fraction: float, *, seed: int = DEFAULT_SPLIT_SEED
    ) -> tuple[RoutingDataset, RoutingDataset]:
        """Split into `(train, test)` by prompt, for evaluating a router on prompts it never saw.

        A prompt goes to `test` when a seeded hash of its normalised text (case-folded,
        whitespace collapsed) falls below `test_fraction`. The split depends on nothing but
        the prompt, the fraction and the seed, so it is the same whatever the row order or
        the files the rows came from: `autorouter train --test-fraction F` and
        `autorouter eval --test-fraction F` (same seed) agree on it, and a prompt repeated
        across files lands on one side only. About `test_fraction` of the prompts are held
        out (exactly so only on average).

        Raises:
            InvalidRequestError: `test_fraction` is not strictly between 0 and 1.
            DatasetError: the split leaves no test prompt or fewer than 2 training prompts.
        """
        check_test_fraction(test_fraction)
        test = np.array([in_test_split(p, test_fraction, seed) for p in self.prompts], dtype=bool)
        n_test = int(test.sum())
        if n_test == 0 or len(self) - n_test < 2:
            raise DatasetError(
                f"a test fraction of {test_fraction:g} (seed {seed}) leaves {n_test} test and "
                f"{len(self) - n_test} training prompts of {len(self)}: use a fraction that "
                "keeps some of each, or more data"
            )
        return self.subset(~test), self.subset(test)


def check_test_fraction(test_fraction: float) -> float:
    """`test_fraction` as a float strictly between 0 and 1, or `InvalidRequestError`."""
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not (
        0.0 < float(test_fraction) < 1.0
    ):
        raise InvalidRequestError(
            f"the test fraction must be a number strictly between 0 and 1 (e.g. 0.2), got {test_fraction!r}"
        )
    return float(test_fraction)


def in_test_split(prompt: str, test_fraction: float, seed: int = DEFAULT_SPLIT_SEED) -> bool:
    """Whether `RoutingDataset.split(test_fraction, seed=seed)` holds `prompt` out for testing."""
    # Normalised so that copies differing in case or spacing, which a router cannot tell
    # apart, never sit on both sides of the split.
    text = " ".join(prompt.casefold().split())
    digest = hashlib.blake2b(f"{seed}\0{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64 < test_fraction


def load_dataset(
    path: str | Path | Sequence[str | Path],
    *,
    models: Sequence[str] | None = None,
    on_invalid: Literal["skip", "error"] = "skip",
) -> RoutingDataset:
    """Read routing data from one or more files into a `RoutingDataset`.

    Args:
        path: a `.jsonl`, `.jsonl.gz`, `.csv` or `.parquet` file, or a list of them.
        models: keep only these models (default: every model the files score).
        on_invalid: what to do with a row whose prompt is empty, whose score is missing or
            not a finite number, or that lacks one of the models: `"skip"` drops it and
            counts it in `dataset.skipped` (and warns), `"error"` raises `DatasetError`.

    Raises:
        DatasetError: the file is missing or unreadable, has no usable rows, or (with
            `on_invalid="error"`) holds an invalid row.
    """
    if on_invalid not in ("skip", "error"):
        raise DatasetError(f"on_invalid must be 'skip' or 'error', not {on_invalid!r}")
    paths = [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]
    if not paths:
        raise DatasetError("no dataset file given")
    raw: list[tuple[str, int, dict[str, Any]]] = []
    prices: dict[str, ModelPrice] = {}
    for p in paths:
        if not p.is_file():
            raise DatasetError(f"dataset file not found: {p}")
        raw.extend((str(p), i + 1, row) for i, row in enumerate(_read_rows(p)))
        prices.update(_read_prices(p.parent / "models.json"))
    if not raw:
        raise DatasetError(f"no rows in {', '.join(map(str, paths))}")

    if models is None:
        counts: Counter[str] = Counter()
        for _, _, row in raw:
            if isinstance(row.get("scores"), dict):
                counts.update(row["scores"].keys())
        model_list = sorted(counts)
    else:
        model_list = list(models)
    if not model_list:
        raise DatasetError("no row has a `scores` object {model: score}; nothing to learn from")

    skipped: Counter[str] = Counter()
    prompts: list[str] = []
    scores, costs, chars = [], [], []
    groups: list[str] = []
    meta: list[dict[str, Any]] = []
    seen: set[str] = set()
    has_cost = has_chars = has_group = False
    first_at: dict[str, str] = {}
    for src, line, row in raw:
        reason = _invalid_reason(row, model_list)
        if reason is None and row["prompt"] in seen:
            reason = "duplicate prompt"
        if reason is not None:
            if on_invalid == "error":
                raise DatasetError(f"{src}, row {line}: {reason}")
            skipped[reason] += 1
            first_at.setdefault(reason, f"{src}, row {line}")
            continue
        seen.add(row["prompt"])
        prompts.append(row["prompt"])
        scores.append([float(row["scores"][m]) for m in model_list])
        c = _dict_field(row, "cost_usd")
        o = _dict_field(row, "output_chars")
        has_cost |= bool(c)
        has_chars |= bool(o)
        costs.append([_num(c.get(m)) for m in model_list])
        chars.append([_num(o.get(m)) for m in model_list])
        g = next((row[k] for k in GROUP_FIELDS if isinstance(row.get(k), str) and row[k]), None)
        has_group |= g is not None
        groups.append(g or "")
        meta.append(
            {
                k: v
                for k, v in row.items()
                if k not in _DICT_FIELDS and k != "prompt" and isinstance(v, (str, int, float, bool))
            }
        )
    if not prompts:
        raise DatasetError(
            f"every row was invalid ({dict(skipped)}); check the `prompt` and `scores` fields"
        )
    if skipped:
        msg = ", ".join(f"{n} ({r}; first at {first_at[r]})" for r, n in skipped.most_common())
        if models is None and any(r.startswith("no score for model") for r in skipped):
            msg += "; to keep those rows, pass models=[...] with only the models every row scores"
        warnings.warn(f"load_dataset skipped {sum(skipped.values())} rows: {msg}", stacklevel=2)
    return RoutingDataset(
        prompts=prompts,
        models=model_list,
        scores=np.array(scores, dtype=np.float64),
        cost_usd=np.array(costs, dtype=np.float64) if has_cost else None,
        output_chars=np.array(chars, dtype=np.float64) if has_chars else None,
        groups=groups if has_group else None,
        meta=meta,
        prices={m: p for m, p in prices.items() if m in model_list},
        skipped=dict(skipped),
    )


def _dict_field(row: dict[str, Any], name: str) -> dict[str, Any]:
    """The row's `{model: value}` field `name`, or an empty dict when it has none."""
    value = row.get(name)
    return value if isinstance(value, dict) else {}


def _num(v: Any) -> float:
    try:
        return float(v) if v is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def _invalid_reason(row: dict[str, Any], models: list[str]) -> str | None:
    prompt = row.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "empty or missing prompt"
    s = row.get("scores")
    if not isinstance(s, dict):
        return "missing `scores` object"
    for m in models:
        if m not in s or s[m] is None:
            return f"no score for model {m!r}"
        if isinstance(s[m], bool):  # True would silently count as a score of 1
            return f"score for {m!r} is true/false, not a number"
        v = _num(s[m])
        if not math.isfinite(v):
            return f"score for {m!r} is not a finite number"
    c = row.get("cost_usd")
    if isinstance(c, dict):
        for m in models:
            cost = c.get(m)
            if cost is None:
                continue
            if isinstance(cost, bool) or not math.isfinite(_num(cost)) or _num(cost) < 0:
                return f"cost_usd for {m!r} is {cost!r}, not a finite number >= 0"
    return None


def _read_rows(path: Path) -> Iterator[dict[str, Any]]:
    name = path.name.lower()
    try:
        if name.endswith((".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")):
            yield from _read_jsonl(path)
        elif name.endswith((".csv", ".csv.gz")):
            yield from _read_csv(path)
        elif name.endswith(".parquet"):
            yield from _read_parquet(path)
        else:
            raise DatasetError(
                f"unsupported file type {path.name!r}: use .jsonl, .jsonl.gz, .csv or .parquet"
            )
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as e:
        # Opening the file (the line readers report failures past that point themselves).
        raise DatasetError(_read_failure(path, None, e)) from e


def _read_failure(path: Path, lines_read: int | None, e: BaseException) -> str:
    """What went wrong reading `path` (after `lines_read` good lines, None: on opening it),
    and how to fix it."""
    name = "zlib.error" if isinstance(e, zlib.error) else type(e).__name__
    if isinstance(e, (gzip.BadGzipFile, EOFError, zlib.error)):
        if "not a gzipped file" in str(e).lower():
            return (f"{path} is not gzip-compressed ({e}): compress it with gzip, or drop "
                    "the .gz from its name if it is plain text")
        # zlib.error: a corrupt deflate stream; EOFError: a truncated file; else a bad CRC.
        after = "" if lines_read is None else (
            f" after line {lines_read}" if lines_read else " before its first line")
        return (f"{path}: the gzip data is corrupt or truncated{after} ({name}: {e}): "
                "re-create or re-download the file")
    return f"cannot read {path}: {e}"


def _text_lines(path: Path) -> Iterator[str]:
    """The lines of `path` as text (gunzipped when its name ends in .gz), line endings kept.

    Read as bytes and decoded line by line, so that a decompression or UTF-8 error becomes a
    `DatasetError` naming the line (a text-mode reader decodes whole chunks, and would blame
    the first line of the chunk).
    """
    with gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb") as f:
        it = iter(f)
        n = 0
        while True:
            try:
                raw = next(it)
            except StopIteration:
                return
            except (OSError, EOFError, zlib.error) as e:
                raise DatasetError(_read_failure(path, n, e)) from e
            n += 1
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DatasetError(
                    f"{path}, line {n}: not UTF-8 text ({e.reason} at byte {e.start + 1} of the "
                    "line): save the file as UTF-8"
                ) from e
            # A spreadsheet's byte-order mark would otherwise become part of the first column name.
            yield line.removeprefix("\ufeff") if n == 1 else line


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    for i, line in enumerate(_text_lines(path), 1):
        if not line.strip():
            continue
        row = _json_value(line, f"{path}, line {i}")
        if not isinstance(row, dict):
            raise DatasetError(f"{path}, line {i}: expected a JSON object per line")
        yield row


def _json_value(text: str, where: str, field: str | None = None) -> Any:
    """Parse `text`, or raise a `DatasetError` saying where (and in which field) it is broken."""
    where = f"{where}, field {field!r}" if field else where
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        if field:
            raise DatasetError(
                f"{where}: must hold a JSON object {{model: value}}, got {text[:60]!r} ({e.msg})"
            ) from e
        raise DatasetError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from e
    except RecursionError as e:
        # json's C parser recurses once per nesting level; no routing row nests this deep.
        raise DatasetError(
            f"{where}: JSON nested too deeply to read; a row is one flat object "
            '{"prompt": ..., "scores": {model: score}, ...}'
        ) from e


def _unflatten(row: dict[Any, Any], where: str) -> dict[str, Any]:
    """Turn `scores.<model>` columns and JSON-string dict columns back into dicts."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if k is None:  # csv.DictReader files the surplus cells of a long row under None
            raise DatasetError(
                f"{where}: the row has {len(v)} more field(s) than the header; quote fields "
                "that hold commas, or add the missing column names"
            )
        if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
            continue
        head, dot, model = k.partition(".")
        if dot and head in _DICT_FIELDS:
            out.setdefault(head, {})[model] = v
        elif k in _DICT_FIELDS and isinstance(v, str):
            out[k] = _json_value(v, where, field=k)
        else:
            out[k] = v
    return out


def _read_csv(path: Path) -> Iterable[dict[str, Any]]:
    old_limit = csv.field_size_limit()
    # Raised for this file only (the limit is process-wide), and never lowered below a
    # limit the caller set higher.
    csv.field_size_limit(max(old_limit, CSV_FIELD_LIMIT))
    try:
        reader = csv.DictReader(_text_lines(path))
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                line = reader.line_num
                if "field larger than field limit" in str(e):
                    raise DatasetError(
                        f"{path}, line {line}: a field is longer than {csv.field_size_limit():,} "
                        "characters: look for an unclosed quote, or store prompts that long as JSONL"
                    ) from e
                raise DatasetError(f"{path}, line {line}: not valid CSV ({e})") from e
            yield _unflatten(dict(row), f"{path}, line {reader.line_num}")
    finally:
        csv.field_size_limit(old_limit)


def _read_parquet(path: Path) -> Iterable[dict[str, Any]]:
    try:  # pyarrow is the `parquet` extra, and heavy: only reading Parquet loads it
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError as e:
        raise DatasetError(
            "reading Parquet needs pyarrow: pip install 'autorouter[parquet]'"
        ) from e
    try:
        rows = pq.read_table(path).to_pylist()
    except pa.ArrowException as e:
        raise DatasetError(
            f"{path} is not a readable Parquet file ({e}): check that it is Parquet (a CSV or "
            "JSONL file renamed to .parquet is not), or export it again"
        ) from e
    for i, row in enumerate(rows, 1):
        where = f"{path}, row {i}"
        for k in _DICT_FIELDS:
            if isinstance(row.get(k), list):
                row[k] = _map_from_list(row[k], where, k)
        yield _unflatten(row, where)


def _map_from_list(items: list[Any], where: str, field: str) -> dict[str, Any]:
    """A Parquet map column, which comes back as a list of (key, value) pairs, as a dict.

    Anything else in a list (a list of scores without model names, say) cannot be matched to
    models, so it is refused rather than guessed at.
    """
    out: dict[str, Any] = {}
    for item in items:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            out[item[0]] = item[1]
        elif isinstance(item, dict) and set(item) == {"key", "value"} and isinstance(item["key"], str):
            out[item["key"]] = item["value"]  # a list<struct<key, value>> column
        else:
            raise DatasetError(
                f"{where}: field {field!r} is a list ({str(items)[:60]}), not a map {{model: value}}: "
                f"store it as a struct or map column keyed by model name, or as {field}.<model> columns"
            )
    return out


def _read_prices(path: Path) -> dict[str, ModelPrice]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        # Prices are optional, so a broken file does not stop loading, but it must not be
        # ignored unseen either: costs would silently come from elsewhere.
        warnings.warn(f"{path} is not readable JSON ({type(e).__name__}); its prices are ignored", stacklevel=3)
        return {}
    out = {}
    for name, entry in data.items() if isinstance(data, dict) else []:
        try:
            price = ModelPrice(
                float(entry["input_price_usd_per_1m_tokens"]),
                float(entry["output_price_usd_per_1m_tokens"]),
            )
        except (KeyError, TypeError, ValueError):
            continue
        if not all(math.isfinite(v) and v >= 0 for v in (price.input_per_1m, price.output_per_1m)):
            warnings.warn(f"{path}: the price of {name!r} is not two finite numbers >= 0; ignored", stacklevel=3)
            continue
        out[name] = price
    return out
