"""Loading routing data: good files in every format, and bad rows reported, never silently used."""

from __future__ import annotations

import csv
import gzip
import json
import warnings

import numpy as np
import pytest

import autorouter
from autorouter import DatasetError, load_dataset
from synthetic import MODELS, write_jsonl


def test_jsonl_gz_round_trip(data_file, rows):
    ds = load_dataset(data_file)
    assert len(ds) == len(rows)
    assert ds.models == sorted(MODELS)
    assert ds.scores.shape == (len(rows), 3)
    j = ds.models.index("big")
    assert ds.scores[:, j].tolist() == [r["scores"]["big"] for r in rows]
    assert ds.cost_usd is not None and np.allclose(ds.cost_usd[0, j], rows[0]["cost_usd"]["big"])
    assert ds.groups[:3] == ["math", "code", "chat"]
    assert ds.skipped == {}


def test_plain_jsonl_and_csv_and_parquet_agree(tmp_path, rows):
    a = load_dataset(write_jsonl(rows, tmp_path / "a.jsonl"))
    # CSV with JSON-string dict columns
    p = tmp_path / "b.csv"
    with open(p, "w", newline="") as f:
        w = csv.DictWriter(f, ["prompt", "scores", "cost_usd", "task"])
        w.writeheader()
        for r in rows:
            w.writerow({"prompt": r["prompt"], "scores": json.dumps(r["scores"]),
                        "cost_usd": json.dumps(r["cost_usd"]), "task": r["task"]})
    b = load_dataset(p)
    # CSV flattened as scores.<model>
    p2 = tmp_path / "c.csv"
    with open(p2, "w", newline="") as f:
        cols = ["prompt"] + [f"scores.{m}" for m in MODELS]
        w = csv.DictWriter(f, cols)
        w.writeheader()
        for r in rows:
            w.writerow({"prompt": r["prompt"], **{f"scores.{m}": r["scores"][m] for m in MODELS}})
    c = load_dataset(p2)
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p3 = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist([{"prompt": r["prompt"], "scores": r["scores"]} for r in rows]), p3)
    d = load_dataset(p3)
    for other in (b, c, d):
        assert other.prompts == a.prompts
        assert other.models == a.models
        assert np.array_equal(other.scores, a.scores)
    assert np.allclose(b.cost_usd, a.cost_usd)


def test_bad_rows_are_skipped_and_counted(tmp_path, rows):
    bad = rows[:10] + [
        {"prompt": "", "scores": {m: 1.0 for m in MODELS}},
        {"prompt": "nan score", "scores": {"big": float("nan"), "coder": 1, "tiny": 0}},
        {"prompt": "missing model", "scores": {"big": 1, "coder": 1}},
        {"prompt": "no scores at all"},
        rows[0],  # duplicate prompt
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(r).replace("NaN", "NaN") for r in bad))
    with pytest.warns(UserWarning, match=r"skipped 5 rows.*pass models=\[\.\.\.\]"):
        ds = load_dataset(path)
    assert len(ds) == 10
    assert sum(ds.skipped.values()) == 5
    assert ds.skipped["empty or missing prompt"] == 1
    assert any("not a finite number" in k for k in ds.skipped)
    assert any("no score for model 'tiny'" in k for k in ds.skipped)
    assert ds.skipped["duplicate prompt"] == 1


def test_a_model_most_rows_lack_can_be_left_out(tmp_path, rows):
    """A model scored on few rows would drop every other row; naming the models keeps them."""
    extra = [{**r, "scores": {**r["scores"], "rare": 1.0}} for r in rows[:5]]
    path = write_jsonl(extra + rows[5:40], tmp_path / "sparse.jsonl")
    with pytest.warns(UserWarning, match="skipped 35 rows"):
        assert sorted(load_dataset(path).models) == sorted([*MODELS, "rare"])
    ds = load_dataset(path, models=MODELS)
    assert len(ds) == 40 and ds.models == MODELS


def test_bad_rows_raise_when_asked(tmp_path, rows):
    path = write_jsonl(rows[:5] + [{"prompt": "x", "scores": {"big": None, "coder": 1, "tiny": 1}}], tmp_path / "e.jsonl")
    with pytest.raises(DatasetError, match=r"row 6: no score for model 'big'"):
        load_dataset(path, on_invalid="error")


@pytest.mark.parametrize(
    "content, match",
    [
        ("not json\n", "not valid JSON"),
        ("[1, 2]\n", "expected a JSON object"),
        ('{"prompt": "a"}\n', "no row has a `scores` object"),
        ("", "no rows"),
    ],
)
def test_unreadable_files_give_clear_errors(tmp_path, content, match):
    p = tmp_path / "x.jsonl"
    p.write_text(content)
    with pytest.raises(DatasetError, match=match):
        load_dataset(p)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "nope.jsonl")
    p = tmp_path / "x.txt"
    p.write_text("hi")
    with pytest.raises(DatasetError, match="unsupported file type"):
        load_dataset(p)


def test_models_selection_and_subset(data_file):
    ds = load_dataset(data_file, models=["tiny", "big"])
    assert ds.models == ["tiny", "big"]
    sub = ds.subset([0, 2])
    assert len(sub) == 2 and sub.prompts == [ds.prompts[0], ds.prompts[2]]
    with pytest.raises(DatasetError, match="unknown models"):
        ds.select_models(["nope"])


def test_every_row_invalid_is_an_error(tmp_path):
    p = write_jsonl([{"prompt": "", "scores": {"a": 1}}], tmp_path / "z.jsonl")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DatasetError, match="every row was invalid"):
            load_dataset(p)


def test_prices_are_read_from_models_json(tmp_path, rows):
    write_jsonl(rows, tmp_path / "d.jsonl")
    (tmp_path / "models.json").write_text(json.dumps({
        m: {"input_price_usd_per_1m_tokens": 1.0, "output_price_usd_per_1m_tokens": 2.0} for m in MODELS
    }))
    ds = load_dataset(tmp_path / "d.jsonl")
    assert ds.prices["big"] == autorouter.ModelPrice(1.0, 2.0)


def test_values_that_would_silently_flip_routing_are_refused(tmp_path, rows):
    """Boolean scores, negative or infinite costs and negative prices are not data: rows holding
    them are skipped with a warning naming the file, row and field (an error when asked)."""
    bad = rows[:10] + [
        {"prompt": "bool score", "scores": {"big": True, "coder": 1, "tiny": 0}},
        {"prompt": "negative cost", "scores": {m: 1.0 for m in MODELS}, "cost_usd": {"big": -1.0}},
        {"prompt": "infinite cost", "scores": {m: 1.0 for m in MODELS}, "cost_usd": {"tiny": 1e999}},
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in bad))
    with pytest.warns(UserWarning, match=r"skipped 3 rows.*first at .*bad\.jsonl, row 1[123]") as caught:
        ds = load_dataset(path)
    assert len(ds) == 10
    text = str(caught[0].message)
    assert "true/false" in text and "cost_usd for 'big'" in text and "cost_usd for 'tiny'" in text
    with pytest.raises(DatasetError, match=r"row 11: score for 'big' is true/false"):
        load_dataset(path, on_invalid="error")
    with pytest.raises(DatasetError, match="negative or infinite"):
        autorouter.RoutingDataset(prompts=["a"], models=["m"], scores=[[1.0]], cost_usd=[[-0.5]])


def test_negative_prices_in_models_json_are_ignored_with_a_warning(tmp_path, rows):
    write_jsonl(rows, tmp_path / "d.jsonl")
    (tmp_path / "models.json").write_text(json.dumps({
        "big": {"input_price_usd_per_1m_tokens": -1.0, "output_price_usd_per_1m_tokens": 2.0},
        "tiny": {"input_price_usd_per_1m_tokens": 0.1, "output_price_usd_per_1m_tokens": 0.2},
    }))
    with pytest.warns(UserWarning, match=r"models\.json: the price of 'big'"):
        ds = load_dataset(tmp_path / "d.jsonl")
    assert "big" not in ds.prices and ds.prices["tiny"] == autorouter.ModelPrice(0.1, 0.2)


# --- files that once raised raw errors: each is a DatasetError naming the file, line and field


def test_a_csv_prompt_longer_than_pythons_default_field_limit_loads(tmp_path):
    """Few-shot prompts pass csv's default limit of 131,072 characters; the limit is raised
    while reading and put back afterwards (it is process-wide)."""
    long_prompt = "Q: what is 2+2?\nA: 4\n" * 10_000  # 210,000 characters
    p = tmp_path / "long.csv"
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ["prompt", "scores"])
        w.writeheader()
        w.writerow({"prompt": long_prompt, "scores": json.dumps({"a": 1.0, "b": 0.0})})
        w.writerow({"prompt": "short", "scores": json.dumps({"a": 0.0, "b": 1.0})})
    before = csv.field_size_limit()
    ds = load_dataset(p)
    assert ds.prompts == [long_prompt, "short"]
    assert csv.field_size_limit() == before


def test_a_csv_field_beyond_any_prompt_is_a_clear_error(tmp_path):
    """An unclosed quote swallows the rest of the file into one field: past the raised limit
    that is an error naming the line, not a row that silently holds the whole file."""
    from autorouter.dataset import CSV_FIELD_LIMIT

    p = tmp_path / "unclosed.csv"
    p.write_text('prompt,scores.a\nfine,1\n"unclosed,1\n' + "x" * (CSV_FIELD_LIMIT + 10) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"unclosed\.csv, line \d+: a field is longer than 16,777,216 characters"):
        load_dataset(p)


def _gzipped_rows(rows) -> bytearray:
    return bytearray(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode(), mtime=0))


@pytest.mark.parametrize("damage, match", [
    ("truncated", r"truncated\.jsonl\.gz: the gzip data is corrupt or truncated after line \d+ \(EOFError"),
    ("garbled", r"garbled\.jsonl\.gz: the gzip data is corrupt or truncated .*\(zlib\.error"),
    ("not-gzip", r"not-gzip\.jsonl\.gz is not gzip-compressed .*drop the \.gz"),
])
def test_a_corrupt_gzip_is_a_dataset_error(tmp_path, rows, damage, match):
    data = _gzipped_rows(rows)
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "garbled":
        data[40:60] = b"\xff" * 20  # the deflate stream itself: zlib.error, not OSError
    else:
        data = bytearray("".join(json.dumps(r) + "\n" for r in rows).encode())
    p = tmp_path / f"{damage}.jsonl.gz"
    p.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=match):
        load_dataset(p)


def test_a_file_named_parquet_that_is_not_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    p = tmp_path / "data.parquet"
    p.write_text("prompt,scores.a\nhello,1\n")
    with pytest.raises(DatasetError, match=r"data\.parquet is not a readable Parquet file .*renamed to \.parquet"):
        load_dataset(p)


@pytest.mark.parametrize("scores", [[0.5, 1.0], [[0.5, 1.0]]])
def test_list_typed_parquet_scores_are_refused_with_the_row_and_field(tmp_path, scores):
    """A list of scores names no models; a list of number pairs would have turned into
    {0.5: 1.0}. Both are refused; real map columns still load."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p = tmp_path / "lists.parquet"
    pq.write_table(pa.Table.from_pylist([{"prompt": "a", "scores": scores}]), p)
    with pytest.raises(DatasetError, match=r"lists\.parquet, row 1: field 'scores' is a list .*not a map"):
        load_dataset(p)

    as_map = pa.table({"prompt": ["a", "b"], "scores": pa.array([[("x", 1.0), ("y", 0.0)], [("x", 0.0), ("y", 1.0)]],
                                                                 type=pa.map_(pa.string(), pa.float64()))})
    pq.write_table(as_map, tmp_path / "map.parquet")
    ds = load_dataset(tmp_path / "map.parquet")
    assert ds.models == ["x", "y"] and ds.scores.tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_deeply_nested_json_is_a_dataset_error_not_a_recursion_error(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    p = tmp_path / "deep.jsonl"
    p.write_text('{"prompt": "a", "scores": {"m": 1}}\n{"prompt": "b", "scores": ' + deep + "}\n")
    with pytest.raises(DatasetError, match=r"deep\.jsonl, line 2: JSON nested too deeply"):
        load_dataset(p)
    c = tmp_path / "deep.csv"
    c.write_text(f'prompt,scores\na,"{deep}"\n')
    with pytest.raises(DatasetError, match=r"deep\.csv, line 2, field 'scores': JSON nested too deeply"):
        load_dataset(c)


def test_other_unreadable_lines_name_their_line(tmp_path):
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"prompt": "a", "scores": {"m": 1}}\n{"prompt": "caf\xe9", "scores": {"m": 1}}\n')
    with pytest.raises(DatasetError, match=r"latin\.jsonl, line 2: not UTF-8 text"):  # not line 1
        load_dataset(latin)
    extra = tmp_path / "extra.csv"
    extra.write_text("prompt,scores.m\nhello, world,1\n")  # an unquoted comma
    with pytest.raises(DatasetError, match=r"extra\.csv, line 2: the row has 1 more field\(s\) than the header"):
        load_dataset(extra)
    bad_json = tmp_path / "bad.csv"
    bad_json.write_text('prompt,scores\nhello,"{not json"\n')
    with pytest.raises(DatasetError, match=r"bad\.csv, line 2, field 'scores': must hold a JSON object"):
        load_dataset(bad_json)


def test_a_spreadsheets_byte_order_mark_does_not_hide_the_prompt_column(tmp_path):
    p = tmp_path / "excel.csv"
    p.write_text("prompt,scores.m\nhello,1\n", encoding="utf-8-sig")
    assert load_dataset(p).prompts == ["hello"]


def test_an_unreadable_models_json_is_warned_about(tmp_path, rows):
    write_jsonl(rows, tmp_path / "d.jsonl")
    (tmp_path / "models.json").write_text("[" * 100_000)
    with pytest.warns(UserWarning, match=r"models\.json is not readable JSON \(RecursionError\)"):
        ds = load_dataset(tmp_path / "d.jsonl")
    assert ds.prices == {}


# --- the seeded split behind `--test-fraction`


def test_split_is_seeded_by_prompt_and_independent_of_row_order(tmp_path, rows):
    ds = load_dataset(write_jsonl(rows, tmp_path / "a.jsonl"))
    train, test = ds.split(0.25)
    assert len(train) + len(test) == len(ds) and not set(train.prompts) & set(test.prompts)
    assert 0.15 < len(test) / len(ds) < 0.35
    shuffled = load_dataset(write_jsonl(rows[::-1], tmp_path / "b.jsonl"))
    assert sorted(shuffled.split(0.25)[1].prompts) == sorted(test.prompts)  # same prompts, any order
    assert ds.split(0.25, seed=8)[1].prompts != test.prompts
    # a copy differing only in case and spacing cannot land on the other side
    from autorouter.dataset import in_test_split

    assert all(in_test_split("  " + p.upper().replace(" ", "   "), 0.25) for p in test.prompts)
    assert np.array_equal(test.scores, ds.scores[[ds.prompts.index(p) for p in test.prompts]])

    for bad in (0, 1, 1.5, -0.1, True):
        with pytest.raises(autorouter.InvalidRequestError, match="strictly between 0 and 1"):
            ds.split(bad)
    with pytest.raises(DatasetError, match="leaves 0 test"):
        ds.subset([0, 1, 2]).split(1e-9)
