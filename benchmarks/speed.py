"""Speed benchmark of the routing core on this machine.

    python benchmarks/speed.py [--data ../shared/data] [--embedder default]

Measures: `fit` on routerbench_subset (embedding included), `Router.load`, `route` latency on a
short prompt (p50/p99) next to the embedding alone (the difference is the scoring overhead),
`route_batch` throughput on 1,000 real prompts, and the peak memory of a fresh process that
loads a router and routes. Prints a table and writes `benchmarks/results/speed.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import autorouter

HERE = Path(__file__).parent
SHORT = "What is the capital of France and why is it famous?"

_MEMORY_PROBE = """
import resource, sys, warnings
import autorouter
warnings.simplefilter("ignore")
r = autorouter.Router.load(sys.argv[1])
prompts = [l.strip() for l in open(sys.argv[2], encoding="utf-8") if l.strip()]
for p in prompts[:50]:
    r.route(p)
r.route_batch(prompts)
# VmHWM, not ru_maxrss: on Linux ru_maxrss survives exec and reports the parent's peak
print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024)
"""

# The bundled default router as `autorouter route` / `serve` use it, on everyday prompts
# (benchmarks/data/everyday_prompts.jsonl): one at a time, then in batches of 64.
_DEFAULT_MEMORY_PROBE = """
import json, resource, sys, warnings
import autorouter
warnings.simplefilter("ignore")
r = autorouter.Router.default()
prompts = [json.loads(l)["prompt"] for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
for p in prompts[:200]:
    r.route(p)
for i in range(0, len(prompts), 64):
    r.route_batch(prompts[i:i + 64])
# VmHWM, not ru_maxrss: on Linux ru_maxrss survives exec and reports the parent's peak
print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024)
"""


def timed(fn, repeat: int) -> np.ndarray:
    out = np.empty(repeat)
    for i in range(repeat):
        t = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t
    return out * 1000.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    ap.add_argument("--embedder", default="default")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "speed.json")
    args = ap.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = autorouter.load_dataset(args.data / "routerbench_subset" / "prompts_scores.jsonl.gz")
    res: dict[str, float] = {}

    t = time.perf_counter()
    router = autorouter.Router(embedder=args.embedder).fit(ds)
    res["fit_routerbench_s"] = time.perf_counter() - t

    with tempfile.TemporaryDirectory() as tmp:
        router.save(tmp)
        t = time.perf_counter()
        router = autorouter.Router.load(tmp)
        router.route(SHORT)  # first call includes lazy model loading
        res["load_and_first_route_s"] = time.perf_counter() - t

        emb = router.embedder_
        for _ in range(20):
            router.route(SHORT)
        e = timed(lambda: emb.embed([SHORT]), 300)
        r = timed(lambda: router.route(SHORT), 300)
        res["embed_short_p50_ms"] = float(np.median(e))
        res["route_short_p50_ms"] = float(np.median(r))
        res["route_short_p99_ms"] = float(np.percentile(r, 99))
        res["scoring_overhead_ms"] = res["route_short_p50_ms"] - res["embed_short_p50_ms"]
        res["scoring_overhead_pct_of_embedding"] = 100 * res["scoring_overhead_ms"] / res["embed_short_p50_ms"]

        rng = np.random.default_rng(0)
        prompts = [ds.prompts[i] for i in rng.choice(len(ds), 1000, replace=False)]
        # The routerbench prompts are long few-shot prompts; also time short chat-like ones.
        short = [f"{SHORT} ({i})" for i in range(1000)]
        router.route_batch(prompts[:50])
        for name, batch in (("routerbench", prompts), ("short", short)):
            t = time.perf_counter()
            router.route_batch(batch)
            res[f"route_batch_{name}_prompts_per_s"] = len(batch) / (time.perf_counter() - t)

        # The bundled default router (MiniLM, 20 catalog models), as `autorouter route` uses it.
        t = time.perf_counter()
        default = autorouter.Router.default()
        default.route(SHORT)
        res["default_router_load_and_first_route_s"] = time.perf_counter() - t
        for _ in range(20):
            default.route(SHORT)
        d = timed(lambda: default.route(SHORT), 300)
        res["default_router_route_short_p50_ms"] = float(np.median(d))
        res["default_router_route_short_p99_ms"] = float(np.percentile(d, 99))
        t = time.perf_counter()
        default.route_batch(short)
        res["default_router_route_batch_short_prompts_per_s"] = len(short) / (time.perf_counter() - t)

        pfile = Path(tmp) / "prompts.txt"
        pfile.write_text("\n".join(p.replace("\n", " ") for p in prompts), encoding="utf-8")
        out = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, tmp, str(pfile)],
                             capture_output=True, text=True, check=True, env=os.environ.copy())
        res["peak_rss_mb_routing_process"] = float(out.stdout.strip().splitlines()[-1])
        everyday = HERE / "data" / "everyday_prompts.jsonl"
        out = subprocess.run([sys.executable, "-c", _DEFAULT_MEMORY_PROBE, str(everyday)],
                             capture_output=True, text=True, check=True, env=os.environ.copy())
        res["default_router_peak_rss_mb"] = float(out.stdout.strip().splitlines()[-1])

    budgets = {
        "fit_routerbench_s": ("<=", 120), "load_and_first_route_s": ("<=", 1.0),
        "route_short_p50_ms": ("<=", 2.0), "scoring_overhead_pct_of_embedding": ("<=", 10.0),
        "route_batch_short_prompts_per_s": (">=", 1000), "peak_rss_mb_routing_process": ("<=", 300),
        "route_batch_routerbench_prompts_per_s": (">=", 1000),
        "default_router_load_and_first_route_s": ("<=", 0.5), "default_router_route_short_p50_ms": ("<=", 2.0),
        "default_router_peak_rss_mb": ("<=", 300),
    }
    print(f"\n{'figure':<40} {'value':>10}  budget")
    for k, v in res.items():
        b = budgets.get(k)
        mark = ""
        if b:
            ok = v <= b[1] if b[0] == "<=" else v >= b[1]
            mark = f"{b[0]} {b[1]}  {'ok' if ok else 'MISSED'}"
        print(f"{k:<40} {v:>10.3f}  {mark}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"embedder": args.embedder, "cpu_count": os.cpu_count(),
                                    "results": res}, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
