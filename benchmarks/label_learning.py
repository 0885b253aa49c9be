"""How many of a user's prompts must be labelled before a router fitted on them beats the default
one, and whether choosing them actively beats choosing them at random (issue 14, item 1).

    python benchmarks/label_learning.py [--data ../shared/data] [--set zeroeval_math]
                                        [--sizes 50 100 200 500] [--seeds 3] [--default held-out]

A shared set stands in for a user's traffic: its prompts only, split by a seeded hash of each
prompt (`autorouter.dataset.in_test_split`, 40% held out) into a pool the user could label and
a test part. "Labelling" a prompt looks up the set's own per-model outcome (0/1) for it, so the
set's scores play the judge and nothing goes to the network; its cost is estimated as
`benchmarks/seed_sets.py` does (list price x (prompt tokens + answer tokens from
`output_chars`), plus a reasoning model's hidden thinking). Candidates: the default router's
models the set scores on every prompt (`seed_sets.load_set`).

For each N, the N prompts to label are chosen with `autorouter.labelling`:
- random: `sample_prompts` (mean and sd over --seeds seeds);
- active, default router: `least_sure_prompts` with the default router (what
  `autorouter label --active default --sample N` does);
- active, own router: N/2 at random, fit a router on them, then the N/2 of the rest it is least
  sure of (`--sample N/2`, train, `--active ROUTER --sample N`); mean over the seeds.
A router (`autorouter.Router()`, the static embedder) is fitted on the labelled rows, and all of
them are scored on the test part by AIQ over 21 tradeoffs (`autorouter.evaluation`), against:
- the default router, routing among the same candidates: `--default held-out` (the default)
  rebuilds it without this set and without its prompts, as seed_sets.py does (cached under
  ~/.cache/autorouter/label_learning, keyed by a hash of the code and data it is built from;
  building takes ~2.5 minutes), `--default bundled`
  uses `Router.default()` as shipped (which has seen this set: optimistic for it);
- a router fitted on the whole pool (every prompt labelled), and the zero-router (the hull of
  the single models).
Prints a table and writes the set's figures into `benchmarks/results/label_learning.json` (one
entry per set). `--set mmlupro_seed --pool-limit 3000` adds MMLU-Pro (12k prompts) in a few minutes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import autorouter
from autorouter.dataset import in_test_split
from autorouter.embedders import CallableEmbedder, StaticEmbedder
from autorouter.evaluation import evaluate_picks, zero_router_figures
from autorouter.labelling import LabelPrompt, least_sure_prompts, sample_prompts

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import seed_sets  # noqa: E402

TEST_FRACTION = 0.4
POINTS = 21


def lookup_embedder(texts: list[str], x: np.ndarray) -> CallableEmbedder:
    """An embedder that returns precomputed vectors (every text is embedded once)."""
    table = {t: x[i] for i, t in enumerate(texts)}
    return CallableEmbedder(lambda batch: np.stack([table[t] for t in batch]), dim=x.shape[1])


def embed(embedder: autorouter.Embedder, texts: list[str]) -> np.ndarray:
    return np.concatenate([embedder.embed(texts[i:i + 256]) for i in range(0, len(texts), 256)])


def _build_inputs_digest(data: Path, name: str) -> str:
    """A hash of what the held-out default router is built from: the package's code and data,
    the build script, and the set's file. Code that changes rebuilds the cached router."""
    h = hashlib.sha256()
    package = Path(autorouter.__file__).parent
    sources = sorted(package.rglob("*.py")) + sorted((package / "data").rglob("*.json"))
    sources += [HERE.parent / "scripts" / "build_default_router.py", data / seed_sets.SETS[name]]
    for path in sources:
        if path.is_file() and "default_router" not in path.parts:
            h.update(str(path.relative_to(path.anchor)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def default_router(data: Path, name: str, how: str) -> autorouter.Router:
    if how == "bundled":
        return autorouter.Router.default()
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "autorouter" / "label_learning"
    cache = root / f"{name}-{_build_inputs_digest(data, name)}"
    if (cache / "router.json").is_file():
        return autorouter.Router.load(cache)
    print(f"building the default router without {name} (once; cached in {cache}) ...", file=sys.stderr)
    router = seed_sets.held_out_router(data, name)
    router.save(cache)
    for stale in root.glob(f"{name}-*"):  # built from older code: never used again
        if stale != cache and (stale / "router.json").is_file():
            shutil.rmtree(stale)
    return autorouter.Router.load(cache)


def aiq(router: autorouter.Router, texts: list[str], scores: np.ndarray, cost: np.ndarray, models: list[str]) -> float:
    """AIQ of the router's picks on the test prompts, with their true scores and costs."""
    col = {m: j for j, m in enumerate(models)}
    picks = [np.array([col[d.model] for d in router.route_batch(texts, tradeoff=float(t), candidates=models)])
             for t in np.linspace(0.0, 1.0, POINTS)]
    return evaluate_picks(scores, cost, picks).aiq


def fit(rows: list[int], texts: list[str], scores: np.ndarray, cost: np.ndarray, models: list[str],
        embedder: CallableEmbedder) -> autorouter.Router:
    ds = autorouter.RoutingDataset(prompts=[texts[i] for i in rows], models=list(models),
                                   scores=scores[rows], cost_usd=cost[rows])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return autorouter.Router(embedder=embedder).fit(ds)


def stats(values: list[float]) -> dict[str, float | list[float]]:
    return {"mean": float(np.mean(values)), "sd": float(np.std(values)), "runs": [round(v, 4) for v in values]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    ap.add_argument("--set", default="zeroeval_math", choices=sorted(seed_sets.SETS))
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200, 500])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--pool-limit", type=int, default=None, help="use at most this many prompts (seeded)")
    ap.add_argument("--default", choices=["held-out", "bundled"], default="held-out")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "label_learning.json")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()

    routed = [c.id for c in autorouter.Catalog.default().routed()]
    texts, _tasks, scores, cost, models = seed_sets.load_set(args.data, args.set, routed)
    first: dict[str, int] = {}
    for i, t in enumerate(texts):
        first.setdefault(t, i)
    keep = sorted(first.values())  # one row per distinct prompt text
    if args.pool_limit is not None and len(keep) > args.pool_limit:
        keep = sorted(np.random.default_rng(0).choice(keep, args.pool_limit, replace=False).tolist())
    texts = [texts[i] for i in keep]
    scores, cost = scores[keep], cost[keep]
    test = np.array([in_test_split(t, TEST_FRACTION) for t in texts])
    pool_idx, test_idx = np.flatnonzero(~test), np.flatnonzero(test)
    test_texts = [texts[i] for i in test_idx]
    s_test, c_test = scores[test_idx], cost[test_idx]
    print(f"{args.set}: {len(texts)} prompts ({len(pool_idx)} to label from, {len(test_idx)} held out), "
          f"{len(models)} models", file=sys.stderr)

    static = lookup_embedder(texts, embed(StaticEmbedder(), texts))
    pool = [LabelPrompt.from_text(texts[i]) for i in pool_idx]
    row_of = {p.key: int(i) for p, i in zip(pool, pool_idx, strict=True)}

    def rows_of(prompts: list[LabelPrompt]) -> list[int]:
        return [row_of[p.key] for p in prompts]

    # the default router, among the same candidates, with its own (MiniLM) embedding computed once
    base = default_router(args.data, args.set, args.default)
    base.embedder_ = lookup_embedder(texts, embed(base.embedder_, texts))
    base_aiq = aiq(base, test_texts, s_test, c_test, models)
    zero_aiq = zero_router_figures(s_test, c_test).aiq
    full = fit(list(pool_idx), texts, scores, cost, models, static)
    full_aiq = aiq(full, test_texts, s_test, c_test, models)
    ranked_by_default = least_sure_prompts(pool, base, models=models)  # all of them, least sure first
    print(f"baselines ready ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)

    results = []
    for n in args.sizes:
        if n > len(pool):
            continue
        random_aiq, own_aiq = [], []
        for seed in range(args.seeds):
            chosen = sample_prompts(pool, n, seed=seed)
            random_aiq.append(aiq(fit(rows_of(chosen), texts, scores, cost, models, static),
                                  test_texts, s_test, c_test, models))
            half = chosen[: n // 2]  # a seeded sample's head is the smaller sample
            first_router = fit(rows_of(half), texts, scores, cost, models, static)
            labelled = {p.key for p in half}
            rest = [p for p in pool if p.key not in labelled]
            more = least_sure_prompts(rest, first_router, n - len(half), models=models)
            own_aiq.append(aiq(fit(rows_of(half + more), texts, scores, cost, models, static),
                               test_texts, s_test, c_test, models))
        active = fit(rows_of(ranked_by_default[:n]), texts, scores, cost, models, static)
        row = {"n": n, "random": stats(random_aiq), "active_default": aiq(active, test_texts, s_test, c_test, models),
               "active_own": stats(own_aiq)}
        results.append(row)
        print(f"  N={n} done ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)

    print(f"\n{args.set}: AIQ on {len(test_idx)} held-out prompts, {len(models)} candidates")
    print(f"{'N labelled':>10}  {'random':>15}  {'active (default)':>16}  {'active (own, 2 rounds)':>22}")
    for r in results:
        rnd, own = r["random"], r["active_own"]
        print(f"{r['n']:>10}  {rnd['mean']:7.3f} ± {rnd['sd']:.3f}  {r['active_default']:16.3f}  "
              f"{own['mean']:14.3f} ± {own['sd']:.3f}")
    print(f"{'all ' + str(len(pool)):>10}  {full_aiq:7.3f}  (every pool prompt labelled)")
    print(f"default router ({args.default}): {base_aiq:.3f}   zero-router (best mix of single models): {zero_aiq:.3f}")
    out = {
        "set": args.set, "models": models, "pool": len(pool), "test": len(test_idx),
        "test_fraction": TEST_FRACTION, "points": POINTS, "seeds": args.seeds, "default_router": args.default,
        "baselines": {"default_router": base_aiq, "zero_router": zero_aiq, "full_pool": full_aiq},
        "pool_limit": args.pool_limit, "sizes": results, "seconds": round(time.perf_counter() - t0, 1),
    }
    # one entry per set: running another set adds to the file
    previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
    merged = {k: v for k, v in previous.items() if isinstance(v, dict) and "baselines" in v}
    merged[args.set] = out
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(merged, indent=2))
    print(f"\nwrote {args.set} to {args.out} in {out['seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
