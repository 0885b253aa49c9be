"""Transfer benchmark: route to models that have NO per-prompt data, known only by facts.

    python benchmarks/transfer.py [--data ../shared/data] [--embedder default]

For each dataset, three models are left out of training. The router learns from the other
models' per-prompt scores; the three are then added with `Router.add_model`, described only by
their mean score per task on the training split (what published benchmark results look like)
and by a price. Routing on the held-out prompts with all models as candidates is compared with
the zero-router and with the same router given every model's full per-prompt data.
Prints a table and writes `benchmarks/results/transfer.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import autorouter
from autorouter.evaluation import evaluate_picks, random_halves, zero_router_figures
from autorouter.report import tradeoff_sweep, true_costs

sys.path.insert(0, str(Path(__file__).parent))
from quality import HERE, cached_embedder, embed_cached, halves_by_id, load  # noqa: E402

HELD_OUT = {
    "llmrouter": ["llama-3.1-nemotron-51b-instruct", "qwen2.5-7b-instruct", "codegemma-7b"],
    "routerbench": ["zero-one-ai/Yi-34B-Chat", "claude-v1", "mistralai/mistral-7b-chat"],
}


def fitted_prices(ds: autorouter.RoutingDataset, costs: np.ndarray, rows: np.ndarray) -> dict[str, tuple[float, float]]:
    """USD per 1M input/output tokens per model, by least squares on the training rows' costs
    (prompt tokens ~ chars / 4, answer tokens ~ output_chars / 4); list prices where given."""
    if ds.prices:
        return {m: (p.input_per_1m, p.output_per_1m) for m, p in ds.prices.items()}
    tin = np.array([len(ds.prompts[i]) for i in rows]) / 4.0
    out = {}
    for j, m in enumerate(ds.models):
        tout = ds.output_chars[rows, j] / 4.0
        coef, *_ = np.linalg.lstsq(np.c_[tin, tout], costs[rows, j], rcond=None)
        out[m] = (max(coef[0], 0.0) * 1e6, max(coef[1], 0.0) * 1e6)
    return out


def run(name: str, ds: autorouter.RoutingDataset, tr: np.ndarray, te: np.ndarray, x: np.ndarray,
        costs: np.ndarray) -> dict:
    held = HELD_OUT[name]
    kept = [m for m in ds.models if m not in held]
    emb = cached_embedder(ds, x)
    prices = fitted_prices(ds, costs, tr)
    train = ds.subset(tr)
    train.cost_usd = costs[tr]
    test_prompts = [ds.prompts[i] for i in te]
    s_te, c_te = ds.scores[te], costs[te]

    def figures(router: autorouter.Router) -> autorouter.evaluation.RoutingFigures:
        # router column -> dataset column, to score picks with the dataset's true values
        to_ds = np.array([ds.models.index(m) for m in router.models_])
        return evaluate_picks(s_te, c_te, [to_ds[p] for p in tradeoff_sweep(router, test_prompts, 21)])

    full = autorouter.Router(embedder=emb).fit(train)
    partial = autorouter.Router(embedder=emb).fit(train.select_models(kept))
    groups = np.array(train.groups)
    for m in held:
        j = ds.models.index(m)
        facts = {g: float(train.scores[groups == g, j].mean()) for g in sorted(set(groups))}
        partial.add_model(m, task_scores=facts, price=prices[m])
    rows = {
        "zero-router": zero_router_figures(s_te, c_te),
        "router, 3 models from facts only": figures(partial),
        "router, full per-prompt data": figures(full),
    }
    kept_idx = [ds.models.index(m) for m in kept]
    rows["zero-router without the 3"] = zero_router_figures(s_te[:, kept_idx], c_te[:, kept_idx])
    return {k: {"aiq": f.aiq, "saving95": f.saving95, "lift": f.lift} for k, f in rows.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    ap.add_argument("--embedder", default="default")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "transfer.json")
    args = ap.parse_args(argv)
    embedder = autorouter.get_embedder(args.embedder)
    results = {}
    p = args.data / "llmrouter_9models/prompts_scores.jsonl.gz"
    ds = load(p)
    costs, _ = true_costs(ds)
    tr, te = random_halves(len(ds), seed=7)
    results["llmrouter"] = run("llmrouter", ds, tr, te, embed_cached(ds, "llmrouter", embedder, args.embedder), costs)
    p = args.data / "routerbench_subset/prompts_scores.jsonl.gz"
    ds = load(p)
    costs, _ = true_costs(ds)
    tr, te = halves_by_id(p, ds)
    results["routerbench"] = run("routerbench", ds, tr, te, embed_cached(ds, "routerbench", embedder, args.embedder), costs)
    print(f"\n{'dataset':<12} {'router':<36} {'AIQ':>6} {'sav95':>6} {'lift':>7}")
    for d, rows in results.items():
        for k, f in rows.items():
            s95 = "   n/a" if f["saving95"] is None else f"{f['saving95']:6.3f}"
            print(f"{d:<12} {k:<36} {f['aiq']:6.3f} {s95} {f['lift']:+7.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"embedder": args.embedder, "held_out": HELD_OUT, "results": results}, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
