"""Fixtures for the core tests: a synthetic dataset file and a router fitted on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthetic import hash_embed, make_rows, write_jsonl


@pytest.fixture
def rows() -> list[dict]:
    return make_rows()


@pytest.fixture
def data_file(tmp_path: Path, rows: list[dict]) -> Path:
    return write_jsonl(rows, tmp_path / "train.jsonl.gz")


@pytest.fixture
def fitted(data_file: Path):
    import autorouter

    return autorouter.Router(embedder=hash_embed).fit(autorouter.load_dataset(data_file))
