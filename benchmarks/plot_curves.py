"""Draw the cost-quality curves of the headline split (routerbench random halves, seed 7):
autorouter, kNN, the zero-router, the oracle and every single model.

    python benchmarks/plot_curves.py [--data ../shared/data] [--embedder default]

Writes `benchmarks/results/routerbench_halves.png` (the README shows it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import autorouter
from autorouter.baselines import KNNRouter, sweep_picks
from autorouter.evaluation import evaluate_picks, oracle_picks, zero_router_figures
from autorouter.report import figures_row, plot_report, tradeoff_sweep

sys.path.insert(0, str(Path(__file__).parent))
from quality import HERE, TRADEOFFS, cached_embedder, embed_cached, halves_by_id, load  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    ap.add_argument("--embedder", default="default")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "routerbench_halves.png")
    args = ap.parse_args(argv)
    path = args.data / "routerbench_subset/prompts_scores.jsonl.gz"
    ds = load(path)
    tr, te = halves_by_id(path, ds)
    x = embed_cached(ds, "routerbench", autorouter.get_embedder(args.embedder), args.embedder)
    emb = cached_embedder(ds, x)
    router = autorouter.Router(embedder=emb).fit(ds.subset(tr))
    s, c = ds.scores[te], ds.cost_usd[te]
    knn = KNNRouter().fit(x[tr], ds.scores[tr], ds.cost_usd[tr])
    figures = {
        "autorouter": figures_row(evaluate_picks(s, c, tradeoff_sweep(router, [ds.prompts[i] for i in te], TRADEOFFS))),
        "kNN (k=100)": figures_row(evaluate_picks(s, c, sweep_picks(knn.predict_quality(x[te]), knn.predict_cost(x[te])))),
        "zero-router": figures_row(zero_router_figures(s, c)),
        "oracle": figures_row(evaluate_picks(s, c, [oracle_picks(s, c)])),
    }
    singles = {m: (float(s[:, j].mean()), float(c[:, j].mean())) for j, m in enumerate(ds.models)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot_report({"figures": figures, "single_models": singles}, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
