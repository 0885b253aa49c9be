"""Routing quality benchmark: autorouter against the zero-router, the oracle, kNN, a linear head,
RouteLLM's matrix factorisation and RoRF's random forest, on the shared routing data.

    python benchmarks/quality.py [--data ../shared/data] [--embedder default] [--splits ...]

Prints one table and writes `benchmarks/results/quality.json`. Every method is trained on the
same train split and the same prompt embeddings (computed once per dataset and cached in
`benchmarks/.cache/`), and every pick is scored with the TRUE score and cost of the test rows.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

import autorouter
from autorouter.evaluation import evaluate_picks, oracle_picks, random_halves, zero_router_figures
from autorouter.report import tradeoff_sweep, true_costs

sys.path.insert(0, str(Path(__file__).parent))
from baselines import (  # noqa: E402
    KNNRouter,
    LinearRouter,
    MatrixFactorizationRouter,
    ModelMeansRouter,
    RoRFRouter,
    sweep_picks,
)

HERE = Path(__file__).parent
CACHE = HERE / ".cache"
BASELINES: dict[str, Callable[[], Any]] = {
    "model-means": ModelMeansRouter,
    "kNN": KNNRouter,
    "linear": LinearRouter,
    "RouteLLM-MF": MatrixFactorizationRouter,
    "RoRF": RoRFRouter,
}
TRADEOFFS = 21
HEAVY = {"RouteLLM-MF", "RoRF"}  # minutes per fold: run on the headline split only unless asked
# List prices (USD per 1M input / output tokens) for data that has none; see README.
ROUTELLM_PRICES = {"gpt-4-1106-preview": (10.0, 30.0), "mistralai/Mixtral-8x7B-Instruct-v0.1": (0.6, 0.6)}
ROUTERDC_PRICE = (0.2, 0.2)  # all seven are 7-8B open models: one nominal price for all


class Split:
    def __init__(self, dataset: str, name: str, ds: autorouter.RoutingDataset, train: np.ndarray,
                 test: np.ndarray, costs: np.ndarray, cost_note: str) -> None:
        self.dataset, self.name, self.ds = dataset, name, ds
        self.train, self.test, self.costs, self.cost_note = train, test, costs, cost_note


def embed_cached(ds: autorouter.RoutingDataset, key: str, embedder: autorouter.Embedder, spec: str) -> np.ndarray:
    CACHE.mkdir(exist_ok=True)
    # Keyed by what the embedder is, not by the name asked for: "default" has meant different
    # embedders over time, and a stale cache would silently mix them.
    ident = json.dumps(embedder.config() or type(embedder).__name__, sort_keys=True)
    digest = hashlib.sha1(("\n".join(ds.prompts) + ident).encode()).hexdigest()[:12]
    path = CACHE / f"{key}-{type(embedder).__name__}-{digest}.npy"
    if path.is_file():
        return np.load(path)
    t = time.perf_counter()
    x = np.concatenate([embedder.embed(ds.prompts[i:i + 512]) for i in range(0, len(ds), 512)])
    print(f"  embedded {len(ds)} prompts of {key} in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    np.save(path, x)
    return x


def cached_embedder(ds: autorouter.RoutingDataset, x: np.ndarray) -> autorouter.CallableEmbedder:
    """An embedder that looks the dataset's prompts up in their precomputed embeddings `x`."""
    lookup = {p: x[i] for i, p in enumerate(ds.prompts)}
    return autorouter.CallableEmbedder(lambda texts: np.stack([lookup[s] for s in texts]), dim=x.shape[1])


def fit_on_split(sp: Split, x: np.ndarray) -> autorouter.Router:
    """autorouter with its defaults, trained on the split's train rows and the costs every method sees."""
    train = sp.ds.subset(sp.train)
    train.cost_usd = sp.costs[sp.train]
    return autorouter.Router(embedder=cached_embedder(sp.ds, x)).fit(train)


def load(path: Path, **kw: Any) -> autorouter.RoutingDataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return autorouter.load_dataset(path, **kw)


def file_ids(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line)["prompt_id"] for line in f if line.strip()]


def halves_by_id(path: Path, ds: autorouter.RoutingDataset, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Random halves over the FILE's rows (as evaluation.md draws them), mapped to dataset rows."""
    ids = file_ids(path)
    tr, te = random_halves(len(ids), seed=seed)
    pos = {m["prompt_id"]: i for i, m in enumerate(ds.meta)}
    pick = lambda idx: np.array([pos[ids[i]] for i in idx if ids[i] in pos])  # noqa: E731
    return pick(tr), pick(te)


def leave_one_group_out(dataset: str, ds: autorouter.RoutingDataset, costs: np.ndarray, note: str) -> Iterator[Split]:
    """One split per benchmark/task: train on all the others, test on it."""
    g = np.array(ds.groups)
    for name in sorted(set(g)):
        yield Split(dataset, f"leave out {name}", ds, np.flatnonzero(g != name), np.flatnonzero(g == name), costs, note)


def splits(data: Path, which: set[str]) -> Iterator[Split]:
    if which & {"rb-halves", "rb-lobo"}:
        p = data / "routerbench_subset/prompts_scores.jsonl.gz"
        ds = load(p)
        costs, note = true_costs(ds)
        if "rb-halves" in which:
            tr, te = halves_by_id(p, ds)
            yield Split("routerbench", "random halves (seed 7)", ds, tr, te, costs, note)
        if "rb-lobo" in which:
            yield from leave_one_group_out("routerbench", ds, costs, note)
    if "llmr-loto" in which:
        ds = load(data / "llmrouter_9models/prompts_scores.jsonl.gz")
        costs, note = true_costs(ds)
        yield from leave_one_group_out("llmrouter", ds, costs, note)
    if "rdc" in which:
        ds = load(data / "routerdc_7models/prompts_scores.jsonl.gz")
        costs, note = true_costs(ds, {m: ROUTERDC_PRICE for m in ds.models})
        sp = np.array([m.get("orig_split") for m in ds.meta])
        yield Split("routerdc", "own test split", ds, np.flatnonzero(sp == "train"),
                    np.flatnonzero(sp == "test"), costs, note + " (one nominal price for all)")
        yield Split("routerdc", "OOD datasets", ds, np.flatnonzero(sp == "train"),
                    np.flatnonzero(sp == "ood"), costs, note + " (one nominal price for all)")
    if "routellm" in which:
        p = data / "routellm_gpt4_vs_mixtral/mmlu_gsm8k.jsonl.gz"
        ds = load(p)
        ds = ds.subset([i for i, m in enumerate(ds.meta) if not m.get("contaminated")])
        costs, note = true_costs(ds, ROUTELLM_PRICES)
        tr, te = random_halves(len(ds), seed=7)
        yield Split("routellm", "MMLU+GSM8K random halves", ds, tr, te, costs, note)


def run_split(sp: Split, x: np.ndarray, methods: list[str], embed_spec: str) -> dict[str, Any]:
    ds, tr, te = sp.ds, sp.train, sp.test
    s_te, c_te = ds.scores[te], sp.costs[te]
    out: dict[str, Any] = {}
    zr = zero_router_figures(s_te, c_te)
    out["zero-router"] = zr
    out["oracle"] = evaluate_picks(s_te, c_te, [oracle_picks(s_te, c_te)])
    c_tr = sp.costs[tr]
    for name in methods:
        t = time.perf_counter()
        if name == "autorouter":
            router = fit_on_split(sp, x)
            picks = tradeoff_sweep(router, [ds.prompts[i] for i in te], TRADEOFFS)
        else:
            base = BASELINES[name]().fit(x[tr], ds.scores[tr], c_tr)
            picks = sweep_picks(base.predict_quality(x[te]), base.predict_cost(x[te]))
        out[name] = evaluate_picks(s_te, c_te, picks)
        out[name + "@time"] = time.perf_counter() - t
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    ap.add_argument("--embedder", default="default")
    ap.add_argument("--splits", default="rb-halves,rb-lobo,llmr-loto,rdc,routellm")
    ap.add_argument("--methods", default="autorouter,model-means,kNN,linear,RouteLLM-MF,RoRF")
    ap.add_argument("--heavy-everywhere", action="store_true",
                    help="also run RouteLLM-MF and RoRF (minutes per fold) beyond routerbench's halves")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "quality.json")
    args = ap.parse_args(argv)
    methods = args.methods.split(",")
    embedder = autorouter.get_embedder(args.embedder)
    rows: list[dict[str, Any]] = []
    for sp in splits(args.data, set(args.splits.split(","))):
        x = embed_cached(sp.ds, sp.dataset, embedder, args.embedder)
        print(f"{sp.dataset} / {sp.name}: train {len(sp.train)}, test {len(sp.test)}", file=sys.stderr)
        headline = sp.dataset == "routerbench" and sp.name.startswith("random halves")
        use = [m for m in methods if args.heavy_everywhere or headline or m not in HEAVY]
        res = run_split(sp, x, use, args.embedder)
        for name, f in res.items():
            if name.endswith("@time"):
                continue
            rows.append({
                "dataset": sp.dataset, "split": sp.name, "method": name, "n_train": len(sp.train),
                "n_test": len(sp.test), "aiq": f.aiq, "saving95": f.saving95, "lift": f.lift,
                "gap": f.gap, "max_quality": f.max_quality, "cost_source": sp.cost_note,
                "seconds": res.get(name + "@time"),
            })
    summary = summarize(rows, methods)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"embedder": args.embedder, "tradeoffs": TRADEOFFS,
                                    "rows": rows, "summary": summary}, indent=2))
    print_table(summary)
    print(f"\nwrote {args.out}")
    return 0


def summarize(rows: list[dict[str, Any]], methods: list[str]) -> list[dict[str, Any]]:
    """Mean figures per (dataset, split family, method): leave-one-out folds are averaged."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        family = "leave-one-out (mean)" if r["split"].startswith("leave out") else r["split"]
        groups.setdefault((r["dataset"], family, r["method"]), []).append(r)
    out = []
    for (dataset, family, method), rs in groups.items():
        s95 = [r["saving95"] for r in rs if r["saving95"] is not None]
        out.append({
            "dataset": dataset, "split": family, "method": method, "folds": len(rs),
            "aiq": float(np.mean([r["aiq"] for r in rs])),
            "saving95": float(np.mean(s95)) if len(s95) == len(rs) else None,
            "lift": float(np.mean([r["lift"] for r in rs])),
            "gap": float(np.nanmean([r["gap"] for r in rs])),
        })
    return out


def print_table(summary: list[dict[str, Any]]) -> None:
    print(f"\n{'dataset':<12} {'split':<26} {'method':<12} {'AIQ':>6} {'sav95':>6} {'lift':>7} {'gap':>6}")
    for r in summary:
        s95 = "   n/a" if r["saving95"] is None else f"{r['saving95']:6.3f}"
        print(f"{r['dataset']:<12} {r['split']:<26} {r['method']:<12} {r['aiq']:6.3f} {s95} "
              f"{r['lift']:+7.3f} {r['gap']:6.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
