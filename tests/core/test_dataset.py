"""Loading routing data: good files in every format, and bad rows reported, never silently used."""

from __future__ import annotations

import csv
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
