"""A static-embedding embedder: the mean of per-token vectors distilled from MiniLM.

The vectors were distilled from all-MiniLM-L6-v2 with model2vec (see
`scripts/build_embedders.py`); this module reproduces model2vec's `encode` in plain numpy, so
the run time needs only numpy and `tokenizers`. It is ~50x faster than MiniLM but blind to word
order: prompts that share words but differ in meaning look alike to it.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EmbedderError
from .base import Embedder
from .minilm import (
    DATA_DIR,
    Truncation,
    check_texts,
    check_truncation_args,
    clip_chars,
    load_tokenizer,
)

__all__ = ["StaticEmbedder", "read_safetensors"]

VECTORS_FILE = "static-minilm-256-int8.safetensors"
TOKENIZER_FILE = "static-tokenizer.json"

_DTYPES = {"I8": np.int8, "F16": np.float16, "F32": np.float32, "I64": np.int64}


def read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a .safetensors file with numpy alone: (tensors, metadata).

    The format is an 8-byte little-endian header length, a JSON header giving each tensor's
    dtype, shape and byte range, then the raw bytes; no code is executed, unlike a pickle.
    """
    try:
        raw = path.read_bytes()
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8 : 8 + n])
        body = memoryview(raw)[8 + n :]
        meta = header.pop("__metadata__", {}) or {}
        tensors = {}
        for name, info in header.items():
            begin, end = info["data_offsets"]
            arr = np.frombuffer(body[begin:end], dtype=_DTYPES[info["dtype"]])
            tensors[name] = arr.reshape(info["shape"])
    except (OSError, ValueError, KeyError, struct.error) as e:
        raise EmbedderError(
            f"cannot read the static vectors {path}: {e}; reinstall autorouter "
            "(or, from a source checkout, run `python scripts/build_embedders.py`)"
        ) from e
    return tensors, meta


#: Batches up to this many texts are embedded on the event loop's own thread by `aembed`.
INLINE_TEXTS = 8


class StaticEmbedder(Embedder):
    """Static token vectors distilled from all-MiniLM-L6-v2 (256-d, stored as int8).

    Args:
        max_tokens: tokens kept per text (no special tokens are added), at most 100,000.
        truncation: "tail" keeps the end of a long prompt, "head" its start (model2vec's way).

    A text with no known token (e.g. empty) maps to the zero vector.
    """

    kind = "static"

    def __init__(self, max_tokens: int = 512, truncation: Truncation = "tail") -> None:
        check_truncation_args(max_tokens, truncation, 100_000)
        self.max_tokens = max_tokens
        self.truncation: Truncation = truncation
        tensors, meta = read_safetensors(DATA_DIR / VECTORS_FILE)
        self._vectors: np.ndarray = tensors["embeddings"]
        self._tokenizer = load_tokenizer(DATA_DIR / TOKENIZER_FILE, max_tokens, truncation)
        # model2vec drops the unknown token after tokenising (it carries no meaning).
        unk = meta.get("unk_token_id", "")
        self._unk_id: int | None = int(unk) if unk != "" else None

    @property
    def dim(self) -> int:
        return int(self._vectors.shape[1])

    def _embed(self, texts: list[str]) -> np.ndarray:
        check_texts(texts)
        clipped = [clip_chars(t, self.max_tokens, self.truncation) for t in texts]
        encs = self._tokenizer.encode_batch(clipped, add_special_tokens=False)
        ids = [enc.ids for enc in encs]
        if self._unk_id is not None:
            ids = [[i for i in row if i != self._unk_id] for row in ids]
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        # int8 rows summed in int64 are exact, so the mean equals model2vec's float64 mean.
        # (A per-text loop: np.add.reduceat over rows was 25x slower on long prompts.)
        acc = np.int64 if np.issubdtype(self._vectors.dtype, np.integer) else np.float64
        for i, row in enumerate(ids):
            if row:
                out[i] = self._vectors[row].sum(axis=0, dtype=acc) / len(row)
        return out

    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        """`embed` on the calling thread for a routed call's few texts, a worker thread for
        a batch: clipped to `max_tokens`, a text is a lookup and a mean (tens of
        microseconds), less than the hop to a thread, which under load waits milliseconds
        for the GIL (the gateway's p50 at 32 clients: about 8 ms)."""
        if len(texts) <= INLINE_TEXTS:
            return self.embed(texts)
        return await super().aembed(texts)

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, "max_tokens": self.max_tokens, "truncation": self.truncation}

    def __repr__(self) -> str:
        return f"StaticEmbedder(dim={self.dim}, max_tokens={self.max_tokens}, truncation={self.truncation!r})"
