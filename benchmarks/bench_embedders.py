"""How fast the bundled embedders are: latency per prompt, batch throughput and start-up time.

    python benchmarks/bench_embedders.py [--repeat 5] [--quick]

Prints a table and writes benchmarks/results/embedders.json. Figures:
- init ms: constructing the embedder; first ms: the first `embed` call after it (MiniLM
  creates its onnxruntime session there);
- short / long ms: median latency of `embed([prompt])` for a ~12-token and a ~150-token prompt;
- mixed /s: prompts per second embedding 1,000 mixed-length prompts in one call (synthetic,
  from a fixed seed: most are one short sentence, some are paragraphs; ~35 tokens on average);
- routing /s: the same for 1,000 real routing prompts (MMLU, GSM8K, ARC, MBPP, ... from the
  shared routing data, ~100 tokens on average), when that data is present.
Throughput is the best of `--repeat` runs (other processes only ever slow a run down); the
median is saved too, and so is *_cpu_ms, the CPU time per prompt over all threads (on an idle
2-core machine throughput is at best 2000 / cpu_ms). The load average is recorded, since a
busy machine skews every figure.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "core"))

from autorouter.embedders import Embedder, MiniLMEmbedder, StaticEmbedder  # noqa: E402 (after the sys.path line)

RESULTS = ROOT / "benchmarks" / "results" / "embedders.json"

SHORT = "Why was Canberra chosen as the capital of Australia?"  # 12 tokens with [CLS]/[SEP]
LONG = (
    "You are given a paragraph from a news article. The city council met on Tuesday evening to "
    "discuss the proposed budget for the coming fiscal year, which includes new funding for "
    "public transport, road repairs and two new libraries. Several residents spoke against the "
    "planned increase in property taxes, arguing that families are already struggling with "
    "higher prices for food and energy. The mayor replied that without the increase the city "
    "would have to cut services. Read the paragraph carefully and answer: which groups of "
    "people are most affected by the proposal, what are the two options the council is weighing, "
    "and what would you recommend, with a short justification? Use plain language that a "
    "resident without a background in public finance would understand, in under 200 words."
)
SENTENCES = [
    "How do I reverse a linked list in Python?",
    "What is the capital of Australia?",
    "Write a haiku about autumn leaves.",
    "Solve for x: 3x + 7 = 22.",
    "Explain the difference between TCP and UDP.",
    "Translate 'good morning' into French.",
    "Summarize the causes of the First World War in three sentences.",
    "Give me a recipe for vegan chocolate cake.",
    "What does the mitochondria do in a cell?",
    "Compose an email asking my boss for a day off.",
]
SHARED_DATA = [ROOT.parent / "shared" / "data", Path("/work/shared/data")]


def mixed_prompts(n: int = 1000, seed: int = 0) -> list[str]:
    """Synthetic prompts of 1 to 12 sentences, half of them a single sentence."""
    rng = random.Random(seed)
    sizes = [1, 1, 1, 1, 2, 3, 5, 12]
    return [" ".join(rng.choice(SENTENCES) for _ in range(rng.choice(sizes))) for _ in range(n)]


def routing_prompts(n: int = 1000, seed: int = 0) -> list[str] | None:
    """n real prompts drawn evenly from the shared routing datasets, or None if absent."""
    folder = next((p for p in SHARED_DATA if p.is_dir()), None)
    if folder is None:
        return None
    files = sorted(folder.glob("*/prompts_scores.jsonl.gz")) + sorted(folder.glob("*/mmlu_gsm8k.jsonl.gz"))
    pools = []
    for f in files:
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            pools.append([p for line in fh if isinstance(p := json.loads(line).get("prompt"), str)])
    pools = [p for p in pools if p]
    if not pools:
        return None
    rng = random.Random(seed)
    per = n // len(pools)
    out = [x for pool in pools for x in rng.sample(pool, min(per, len(pool)))]
    return out[:n]


def mean_tokens(texts: list[str]) -> float:
    tok = MiniLMEmbedder(max_tokens=512, truncation="head")._tokenizer
    return statistics.fmean(len(e.ids) for e in tok.encode_batch(texts))


def latency_ms(emb: Embedder, text: str, n: int) -> float:
    emb.embed([text])
    times = []
    for _ in range(n):
        t = time.perf_counter()
        emb.embed([text])
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def throughput(emb: Embedder, texts: list[str], repeat: int) -> tuple[float, float, float]:
    """(best, median) prompts per second embedding `texts` in one call, and the CPU ms per
    prompt of the best run (all threads; less sensitive than wall time to other processes)."""
    emb.embed(texts[:64])
    runs = []
    for _ in range(repeat):
        c, t = time.process_time(), time.perf_counter()
        emb.embed(texts)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        runs.append((len(texts) / wall, cpu * 1000 / len(texts)))
    best = max(runs)
    return best[0], statistics.median(r[0] for r in runs), best[1]


def bench(name: str, make: Callable[[], Embedder], sets: dict[str, list[str]], repeat: int, n_lat: int) -> dict[str, Any]:
    t = time.perf_counter()
    emb = make()
    init_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    emb.embed(["warm up"])
    first_ms = (time.perf_counter() - t) * 1000
    row: dict[str, Any] = {
        "embedder": name,
        "config": emb.config(),
        "init_ms": round(init_ms, 1),
        "first_embed_ms": round(first_ms, 1),
        "short_ms_p50": round(latency_ms(emb, SHORT, n_lat), 3),
        "long_ms_p50": round(latency_ms(emb, LONG, max(n_lat // 4, 10)), 3),
    }
    for set_name, texts in sets.items():
        best, med, cpu_ms = throughput(emb, texts, repeat)
        row[f"{set_name}_per_s"] = round(best)
        row[f"{set_name}_per_s_median"] = round(med)
        row[f"{set_name}_cpu_ms"] = round(cpu_ms, 3)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="throughput runs per set (best is kept)")
    parser.add_argument("--latency-runs", type=int, default=300, help="calls per latency figure")
    parser.add_argument("--quick", action="store_true", help="fewer runs, no extra MiniLM settings")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.latency_runs = 2, 50

    sets = {"mixed": mixed_prompts()}
    routing = routing_prompts()
    if routing is not None:
        sets["routing"] = routing
    load_before = os.getloadavg()
    candidates: list[tuple[str, Callable[[], Embedder]]] = [
        ("minilm", MiniLMEmbedder),
        ("static", StaticEmbedder),
    ]
    if not args.quick:  # what shorter inputs buy: the cost is quadratic-ish in tokens
        candidates.insert(1, ("minilm max_tokens=128", lambda: MiniLMEmbedder(max_tokens=128)))
        candidates.insert(2, ("minilm max_tokens=64", lambda: MiniLMEmbedder(max_tokens=64)))
    rows = [bench(name, make, sets, args.repeat, args.latency_runs) for name, make in candidates]
    load_after = os.getloadavg()

    cols = ["embedder", "init_ms", "first_embed_ms", "short_ms_p50", "long_ms_p50"]
    cols += [c for s in sets for c in (f"{s}_per_s", f"{s}_cpu_ms")]
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in cols]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    for r in rows:
        print("  ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths, strict=True)))
    info = {name: round(mean_tokens(texts), 1) for name, texts in sets.items()}
    print(f"\nmean tokens per prompt: {info}; short prompt {mean_tokens([SHORT]):.0f} tokens, "
          f"long {mean_tokens([LONG]):.0f}")
    print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f} on {os.cpu_count()} CPUs")

    import onnxruntime

    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__,
            "load_average_before": round(load_before[0], 2),
            "load_average_after": round(load_after[0], 2),
        },
        "sets": {name: {"prompts": len(texts), "mean_tokens": info[name]} for name, texts in sets.items()},
        "short_tokens": round(mean_tokens([SHORT])),
        "long_tokens": round(mean_tokens([LONG])),
        "repeat": args.repeat,
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
