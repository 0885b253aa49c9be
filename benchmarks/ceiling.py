"""How far can knowing a prompt's difficulty take a router on routerbench_subset?

    python benchmarks/ceiling.py [--data ../shared/data] [--embedder default]

The issue's target on routerbench_subset random halves (seed 7) is AIQ >= 0.80. This benchmark
asks what information a router would need to get there, by scoring *partly-oracle* quality
predictions with the same policy (argmax of quality - lambda * cost over a dense lambda grid)
and autorouter's own predicted costs, on the same split as `quality.py`:

- **benchmark means**: each model's true mean score on the test prompts of the prompt's
  benchmark (ARC, MBPP, Winogrande): perfect knowledge of *which task* a prompt is from and
  how every model does on that task, nothing about the prompt itself.
- **difficulty bins (b)**: within each benchmark, test prompts cut into b equal bins by their
  true difficulty (mean score over all 11 models), and each model's true mean score per bin:
  perfect knowledge of how hard the prompt is.
- **noisy difficulty (rho)**: the same with 3 bins of a difficulty signal correlated rho with
  the truth (mean of 5 draws): what a realistic difficulty predictor would buy. rho=0 (pure
  noise) shows how much the oracle rows gain from fitting bin means on the test rows themselves.
- **autorouter / kNN**: the learned predictors, for reference, and how well autorouter's
  predicted difficulty (mean predicted quality over models) ranks the true difficulty within
  each benchmark (Spearman correlation).

Every oracle row uses test labels and is an upper bound for its kind of knowledge, not a
router. Prints a table and writes `benchmarks/results/ceiling.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import autorouter
from autorouter.baselines import KNNRouter, sweep_picks
from autorouter.evaluation import evaluate_picks, oracle_picks, zero_router_figures

sys.path.insert(0, str(Path(__file__).parent))
from quality import embed_cached, fit_on_split, splits  # noqa: E402

HERE = Path(__file__).parent
LAMBDAS = np.concatenate([[0.0], np.geomspace(1e-2, 1e7, 200)])


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def binned_means(scores: np.ndarray, groups: np.ndarray, signal: np.ndarray, bins: int) -> np.ndarray:
    """Per benchmark, cut prompts into `bins` equal bins of `signal`; each model's mean per bin."""
    out = np.zeros_like(scores)
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        cuts = np.quantile(signal[rows], np.linspace(0, 1, bins + 1)[1:-1])
        which = np.searchsorted(cuts, signal[rows], side="right")
        for b in range(bins):
            sel = rows[which == b]
            if len(sel):
                out[sel] = scores[sel].mean(axis=0)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    ap.add_argument("--embedder", default="default")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "ceiling.json")
    args = ap.parse_args(argv)
    sp = next(iter(splits(args.data, {"rb-halves"})))
    ds = sp.ds
    x = embed_cached(ds, sp.dataset, autorouter.get_embedder(args.embedder), args.embedder)
    s_te, c_te = ds.scores[sp.test], sp.costs[sp.test]
    g_te = np.array(ds.groups)[sp.test]

    router = fit_on_split(sp, x)
    q_router, c_pred = router.predict([ds.prompts[i] for i in sp.test])

    def figures(q: np.ndarray) -> autorouter.evaluation.RoutingFigures:
        return evaluate_picks(s_te, c_te, sweep_picks(q, c_pred, LAMBDAS))

    rows: list[tuple[str, autorouter.evaluation.RoutingFigures]] = [
        ("zero-router", zero_router_figures(s_te, c_te)),
        ("kNN (k=100)", figures(KNNRouter().fit(x[sp.train], ds.scores[sp.train], sp.costs[sp.train])
                                .predict_quality(x[sp.test]))),
        ("autorouter", figures(q_router)),
        ("benchmark means (oracle)", figures(binned_means(s_te, g_te, np.zeros(len(s_te)), 1))),
    ]
    difficulty = s_te.mean(axis=1)
    for b in (2, 3, 5):
        rows.append((f"difficulty, {b} bins (oracle)", figures(binned_means(s_te, g_te, difficulty, b))))
    rng = np.random.default_rng(0)
    noisy: dict[float, list[float]] = {}
    for rho in (0.0, 0.2, 0.4, 0.6, 0.8):
        figs = []
        for _ in range(5):
            z = np.zeros(len(s_te))
            for g in np.unique(g_te):
                r = g_te == g
                d = (difficulty[r] - difficulty[r].mean()) / (difficulty[r].std() or 1.0)
                z[r] = rho * d + np.sqrt(1 - rho**2) * rng.standard_normal(r.sum())
            figs.append(figures(binned_means(s_te, g_te, z, 3)))
        noisy[rho] = [f.aiq for f in figs]
        rows.append((f"noisy difficulty rho={rho} (mean of 5)", min(figs, key=lambda f: abs(f.aiq - np.mean(noisy[rho])))))
    rows.append(("oracle", evaluate_picks(s_te, c_te, [oracle_picks(s_te, c_te)])))

    predicted = q_router.mean(axis=1)
    rank_corr = {g: spearman(predicted[g_te == g], difficulty[g_te == g]) for g in np.unique(g_te)}

    print(f"\n{'routerbench halves (seed 7)':<40} {'AIQ':>6} {'sav95':>6} {'lift':>7}")
    out_rows = []
    for name, f in rows:
        aiq = float(np.mean(noisy[float(name.split("=")[1].split(" ")[0])])) if "rho=" in name else f.aiq
        s95 = "   n/a" if f.saving95 is None else f"{f.saving95:6.3f}"
        print(f"{name:<40} {aiq:6.3f} {s95} {f.lift:+7.3f}")
        out_rows.append({"method": name, "aiq": aiq, "saving95": f.saving95, "lift": f.lift})
    print("\nautorouter's predicted difficulty vs the true one, Spearman within each benchmark:")
    for g, r in rank_corr.items():
        print(f"  {g:<16} {r:+.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"embedder": args.embedder, "split": "routerbench random halves (seed 7)",
                                    "rows": out_rows, "difficulty_spearman": rank_corr}, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
