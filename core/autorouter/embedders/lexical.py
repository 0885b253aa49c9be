"""Hashed character n-grams: language-agnostic surface features beside a sentence embedding.

MiniLM's vocabulary is English-centred: a Chinese or Korean prompt comes out as a string of
single characters it knows little about. Counts of character 1- to 3-grams (hashed into a fixed
number of buckets) carry what the script and the words are whatever the language, so a family
classifier sees "公斤" and "磅" as a unit conversion. Numpy only; a short prompt takes
microseconds.
"""

from __future__ import annotations

import numpy as np

#: Characters from the end of a text that are counted (the question is usually at the end).
MAX_CHARS = 2000
_PRIME = 1_000_003
_MASK = (1 << 61) - 1


def char_ngram_vectors(texts: list[str], dim: int, ns: tuple[int, ...] = (1, 2, 3)) -> np.ndarray:
    """(len(texts), dim) L2-normalised counts of hashed character n-grams of each lower-cased text."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, text in enumerate(texts):
        codes = np.frombuffer(text.lower()[-MAX_CHARS:].encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        for n in ns:
            if len(codes) < n:
                continue
            h = np.full(len(codes) - n + 1, n * 7919, dtype=np.int64)
            for k in range(n):
                h = (h * _PRIME + codes[k : len(codes) - n + 1 + k]) & _MASK
            out[i] += np.bincount(h % dim, minlength=dim).astype(np.float32)
        norm = float(np.linalg.norm(out[i]))
        if norm > 0:
            out[i] /= norm
    return out
