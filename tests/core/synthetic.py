"""Synthetic routing data with a known answer, and a small deterministic embedder.

Three kinds of prompt (maths, code, chit-chat) and three models: `big` is right on all of
them and dear, `coder` is right on code only and cheap, `tiny` is right on chit-chat only and
cheapest. A router that learns anything must send code to `coder` and chit-chat to `tiny`
once cost matters, and everything to `big` at tradeoff 0.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np

MODELS = ["big", "coder", "tiny"]
COST = {"big": 0.01, "coder": 0.001, "tiny": 0.0001}
SKILL = {  # P(correct) per kind of prompt
    "math": {"big": 0.95, "coder": 0.3, "tiny": 0.1},
    "code": {"big": 0.95, "coder": 0.9, "tiny": 0.1},
    "chat": {"big": 0.95, "coder": 0.9, "tiny": 0.9},
}
TEMPLATES = {
    "math": ["prove that {a} plus {b} is an integer", "solve the integral of x^{a} dx from 0 to {b}",
             "compute the derivative of sin({a}x) times {b}", "find all primes below {a}{b}"],
    "code": ["write a python function to sort {a} lists", "fix this python bug in function f{a} returning {b}",
             "implement a python class for a stack of {a} items", "write python code that parses {b} json files"],
    "chat": ["hello there friend number {a}", "hi how are you doing today {b}",
             "thanks a lot see you later {a}", "good morning have a nice day {b}"],
}


def make_rows(n: int = 300, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    kinds = list(TEMPLATES)
    for i in range(n):
        kind = kinds[i % 3]
        tpl = TEMPLATES[kind][rng.integers(4)]
        prompt = tpl.format(a=int(rng.integers(1000)), b=int(rng.integers(1000))) + f" #{i}"
        scores = {m: float(rng.random() < SKILL[kind][m]) for m in MODELS}
        cost = {m: COST[m] * (1 + len(prompt) / 200) for m in MODELS}
        rows.append({"prompt": prompt, "task": kind, "scores": scores, "cost_usd": cost})
    return rows


def write_jsonl(rows: list[dict], path: Path) -> Path:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return path


def hash_embed(texts: list[str], dim: int = 64) -> np.ndarray:
    """Bag of hashed words: deterministic, offline, and enough to tell the three kinds apart."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in t.lower().split():
            if w.startswith("#"):
                continue
            h = int.from_bytes(hashlib.md5(w.encode()).digest()[:4], "little")
            out[i, h % dim] += 1.0 if (h >> 31) & 1 else -1.0
    out[:, 0] += 1e-3  # never an all-zero row
    return out




#: Candidates of known speed (each answer here is ~300 tokens): `slow-thinker` is the best and
#: thinks 2000 hidden tokens at 20 tokens/s (~117 s), `steady` takes ~5.5 s and `quick` ~1.7 s.
#: A `max_latency_s` of 3 leaves only `quick` among them (models of unknown speed stay eligible).
TIMED = {
    "slow-thinker": (1.0, {"ttft_s": 2.0, "output_tokens_per_s": 20.0, "reasoning_tokens": 2000}),
    "steady": (0.8, {"ttft_s": 0.5, "output_tokens_per_s": 60.0}),
    "quick": (0.7, {"ttft_s": 0.2, "output_tokens_per_s": 200.0}),
}


def add_timed_models(router):
    """Add the `TIMED` candidates (same task score on maths, code and chat, same price) to a
    fitted synthetic router; returns it."""
    from autorouter.types import ModelSpeed

    for name, (score, speed) in TIMED.items():
        router.add_model(name, task_scores={"math": score, "code": score, "chat": score},
                         price=(1.0, 2.0), speed=ModelSpeed(**speed))
    return router
