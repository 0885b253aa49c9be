"""Build the evaluation report `autorouter eval` prints: the router's figures beside the
single models, the zero-router, the oracle and a kNN baseline, and draw the curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .dataset import ModelPrice, RoutingDataset
from .errors import AutorouterError
from .predictors import CHARS_PER_TOKEN, DEFAULT_OUTPUT_TOKENS
from .evaluation import RoutingFigures, evaluate_picks, oracle_picks, zero_router_figures


def true_costs(
    ds: RoutingDataset, prices: dict[str, Any] | None = None
) -> tuple[np.ndarray, str]:
    """The cost each model really incurred on each row, or an estimate from list prices.

    Returns the `(n, m)` costs and a note saying where they come from. Without per-prompt
    costs, cost = prompt tokens x input price + answer tokens x output price, with answer
    tokens from `output_chars` where the data has them, else an assumed length.
    """
    if ds.cost_usd is not None and np.isfinite(ds.cost_usd).all():
        return ds.cost_usd, "per-prompt cost from the data"
    table = dict(ds.prices)
    for m, p in (prices or {}).items():
        table[m] = ModelPrice.of(p)
    missing = [m for m in ds.models if m not in table]
    if missing:
        raise AutorouterError(
            f"the data has no per-prompt cost and no prices for {missing}: pass prices "
            "(USD per 1M input and output tokens), e.g. --prices prices.json"
        )
    pin = np.array([table[m].input_per_1m for m in ds.models]) / 1e6
    pout = np.array([table[m].output_per_1m for m in ds.models]) / 1e6
    tokens_in = np.array([len(p) for p in ds.prompts], dtype=np.float64)[:, None] / CHARS_PER_TOKEN
    out = np.full(ds.scores.shape, DEFAULT_OUTPUT_TOKENS)
    note = f"estimated: list prices x (prompt tokens + {DEFAULT_OUTPUT_TOKENS:.0f} answer tokens)"
    if ds.output_chars is not None:
        known = np.isfinite(ds.output_chars)
        out = np.where(known, ds.output_chars / CHARS_PER_TOKEN, DEFAULT_OUTPUT_TOKENS)
        note = "estimated: list prices x (prompt tokens + answer tokens from output_chars)"
    return tokens_in * pin + out * pout, note


def tradeoff_sweep(router: Any, prompts: list[str], points: int) -> list[np.ndarray]:
    """The router's picks (model columns in `router.models_`) at `points` tradeoffs from 0 to 1."""
    x_texts, chars = router._texts(prompts)
    x = router._embed_checked(router.embedder_.embed(x_texts))
    picks = []
    for t in np.linspace(0.0, 1.0, points):
        decisions = router._decide(x, chars, float(t), None, None)
        picks.append(np.array([router.models_.index(d.model) for d in decisions]))
    return picks


def _row(f: RoutingFigures, mean_cost: float | None = None) -> dict[str, Any]:
    return {
        "aiq": f.aiq,
        "saving95": f.saving95,
        "lift": f.lift,
        "gap": f.gap,
        "max_quality": f.max_quality,
        "mean_cost": mean_cost if mean_cost is not None else f.hull_costs[-1],
        "curve_costs": list(f.curve_costs),
        "curve_qualities": list(f.curve_qualities),
        "hull_costs": list(f.hull_costs),
        "hull_qualities": list(f.hull_qualities),
    }


def evaluation_report(
    router: Any,
    ds: RoutingDataset,
    costs: np.ndarray,
    knn_train: RoutingDataset | None = None,
    *,
    points: int = 21,
) -> dict[str, Any]:
    """Figures for the router and the reference points on `ds` scored with true `costs`."""
    missing = [m for m in router.models_ if m not in ds.models]
    if missing:
        raise AutorouterError(f"the test data has no scores for the router's models {missing}")
    cols = [ds.models.index(m) for m in router.models_]
    s, c = ds.scores[:, cols], costs[:, cols]
    figures: dict[str, dict[str, Any]] = {}
    figures["router"] = _row(evaluate_picks(s, c, tradeoff_sweep(router, ds.prompts, points)))
    figures["zero-router"] = _row(zero_router_figures(s, c))
    oracle = oracle_picks(s, c)
    figures["oracle"] = _row(evaluate_picks(s, c, [oracle]))
    if knn_train is not None:
        from .baselines import KNNRouter, sweep_picks

        kcols = [knn_train.models.index(m) for m in router.models_]
        xt = router.embedder_.embed(knn_train.prompts)
        kc = None if knn_train.cost_usd is None else knn_train.cost_usd[:, kcols]
        knn = KNNRouter().fit(xt, knn_train.scores[:, kcols], kc)
        xe = router.embedder_.embed(ds.prompts)
        qk = knn.predict_quality(xe)
        ck = knn.predict_cost(xe) if kc is not None else np.tile(c.mean(axis=0), (len(s), 1))
        figures["kNN (k=100)"] = _row(evaluate_picks(s, c, sweep_picks(qk, ck)))
    singles = {m: (float(s[:, j].mean()), float(c[:, j].mean())) for j, m in enumerate(router.models_)}
    return {"n_test": len(ds), "figures": figures, "single_models": singles}


def plot_report(report: dict[str, Any], path: Path) -> Path:
    """Draw every curve on a log cost axis to a PNG (needs matplotlib: the `plot` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise AutorouterError("plotting needs matplotlib: pip install 'autorouter[plot]'") from e
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, f in report["figures"].items():
        if name == "oracle":
            ax.plot(f["curve_costs"], f["curve_qualities"], "*", ms=12, label=name)
            continue
        # The line is the hull a router is credited with; dots are its knob settings.
        (line,) = ax.plot(f["hull_costs"], f["hull_qualities"], "-", label=name)
        if name != "zero-router":
            ax.plot(f["curve_costs"], f["curve_qualities"], "o", ms=3, color=line.get_color())
    for m, (q, c) in report["single_models"].items():
        ax.scatter([c], [q], s=14, c="grey")
        ax.annotate(m.split("/")[-1][:18], (c, q), fontsize=6, color="grey")
    ax.set_xscale("log")
    ax.set_xlabel("mean cost per prompt (USD, log)")
    ax.set_ylabel("mean quality")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
