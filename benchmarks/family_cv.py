"""How well each bundled embedding tells the default router's prompt families apart.

    python benchmarks/family_cv.py [--folds 5] [--l2 0.01]

5-fold cross-validated accuracy of a softmax classifier of the family (the same
`fit_softmax` the router's `TaskProfile` uses) on the prompts written for the default router
(`scripts/default_router/families_*.jsonl` and `smalltalk.txt`), overall, in English, in the
other languages and on short prompts (under 60 characters), for each embedding the default
router could use. The everyday test prompts (`benchmarks/everyday.py`) are not read here: they
judge the built router, not the choice of its parts.

Prints a table and writes `benchmarks/results/family_cv.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from autorouter._linalg import fit_softmax
from autorouter.embedders import MiniLMEmbedder, StaticEmbedder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from build_default_router import written_rows  # noqa: E402 (after the sys.path line)

RESULTS = ROOT / "benchmarks" / "results" / "family_cv.json"
SHORT_CHARS = 60

#: name -> embedding of a list of prompts (char_ngrams=2048, as the default router has them).
EMBEDDINGS: dict[str, Callable[[list[str]], np.ndarray]] = {
    "minilm, 3 layers + char n-grams (the default router's)": MiniLMEmbedder(layers=3, char_ngrams=2048).embed,
    "minilm, 6 layers + char n-grams": MiniLMEmbedder(layers=6, char_ngrams=2048).embed,
    "minilm, 3 layers": MiniLMEmbedder(layers=3).embed,
    "minilm, 6 layers": MiniLMEmbedder(layers=6).embed,
    "static": StaticEmbedder().embed,
}


def cross_validated(x: np.ndarray, y: np.ndarray, n_classes: int, folds: int, l2: float) -> np.ndarray:
    """Each row's predicted class from a classifier fitted on the other folds (fixed seed)."""
    onehot = np.eye(n_classes)[y]
    fold = np.random.default_rng(0).permutation(len(x)) % folds
    pred = np.empty(len(x), dtype=int)
    for f in range(folds):
        w = fit_softmax(x[fold != f], onehot[fold != f], l2=l2, iters=60)
        pred[fold == f] = np.argmax(x[fold == f] @ w[:-1] + w[-1], axis=1)
    return pred


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--l2", type=float, default=0.01)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    rows = written_rows()
    texts = [r["prompt"] for r in rows]
    families = sorted({r["family"] for r in rows})
    y = np.array([families.index(r["family"]) for r in rows])
    subsets = {
        "all": np.ones(len(rows), dtype=bool),
        "English": np.array([r["lang"] == "en" for r in rows]),
        "other languages": np.array([r["lang"] != "en" for r in rows]),
        f"short (< {SHORT_CHARS} chars)": np.array([len(t) < SHORT_CHARS for t in texts]),
    }
    print(f"{len(rows)} written prompts, {len(families)} families, {args.folds}-fold, l2 {args.l2}")
    print(f"{'embedding':<58}" + "".join(f"{k:>22}" for k in subsets))
    out: dict[str, dict[str, float]] = {}
    for name, embed in EMBEDDINGS.items():
        x = np.concatenate([embed(texts[i:i + 256]) for i in range(0, len(texts), 256)]).astype(np.float64)
        right = cross_validated(x, y, len(families), args.folds, args.l2) == y
        out[name] = {k: float(right[m].mean()) for k, m in subsets.items()}
        print(f"{name:<58}" + "".join(f"{v:>22.3f}" for v in out[name].values()), flush=True)
    args.out.write_text(json.dumps({"n": len(rows), "folds": args.folds, "l2": args.l2, "accuracy": out}, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
