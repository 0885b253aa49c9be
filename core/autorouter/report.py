"""Build the evaluation report `autorouter eval` prints: the router's figures beside the
single models, the zero-router, the oracle and a kNN baseline, and draw the curves; check
whether the test prompts are ones the router was trained on; format costs for people."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .baselines import KNNRouter, sweep_picks
from .catalog import Catalog
from .dataset import RoutingDataset
from .errors import AutorouterError
from .evaluation import (
    RoutingFigures,
    evaluate_picks,
    oracle_picks,
    zero_router_figures,
)
from .predictors import CHARS_PER_TOKEN, DEFAULT_OUTPUT_TOKENS
from .router import EmbeddedPrompts, Router
from .types import ModelPrice


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


def format_usd(usd: float, digits: int = 3) -> str:
    """A dollar amount a person can read at any size: `$0.000017`, `$0.00768`, `$0.184`, `$12.30`.

    Fixed decimals either print small costs as `0.000000` or big ones with needless digits;
    here small amounts keep `digits` significant figures (trailing zeros dropped), and
    amounts of a cent or more keep at least two decimals. Never scientific notation, which
    people misread in a table of prices.
    """
    if not math.isfinite(usd):
        return f"${usd}"
    if usd == 0:
        return "$0"
    # decimals that keep `digits` significant figures, at least 2 (cents), at most 12
    decimals = min(12, max(2, digits - 1 - math.floor(math.log10(abs(usd)))))
    text = f"{abs(usd):.{decimals}f}"
    if "." in text:
        whole, frac = text.split(".")
        frac = frac.rstrip("0").ljust(2, "0")  # keep cents: $0.10, not $0.1
        text = f"{whole}.{frac}"
    return ("-$" if usd < 0 else "$") + text


def training_overlap(router: Any, x: np.ndarray) -> dict[str, Any]:
    """How many of the prompts embedded as `x` the router was trained on, as far as it can tell.

    A saved router keeps no hashes or texts of its training prompts; it keeps the embeddings
    of a random sample of them (`calib_x_`, up to 1,024, stored as float16) and their number
    (`n_train_`). A test prompt counts as seen when its embedding equals one of the sample's
    at that precision: an identical text (or one the router cannot tell from it). When the
    sample is all of the training prompts the count is exact; otherwise each seen prompt is
    found with probability sample / n_train, and `estimated_seen` scales the count up.

    Returns a dict: `seen` (test prompts matched), `n_test`, `sample` (training prompts
    compared against), `n_train`, `exact` (whether the sample is every training prompt),
    `estimated_seen`.
    """
    calib = np.asarray(getattr(router, "calib_x_", np.zeros((0, x.shape[1]))), dtype=np.float32)
    n_train = int(getattr(router, "n_train_", len(calib)))
    out: dict[str, Any] = {"seen": 0, "n_test": len(x), "sample": len(calib), "n_train": n_train,
                           "exact": len(calib) >= n_train, "estimated_seen": 0}
    if not len(calib) or not len(x) or calib.shape[1] != x.shape[1]:
        return out
    # Both sides at the float16 precision the router is saved with, so that a router loaded
    # from disk and one fitted in this process give the same answer.
    test = x.astype(np.float16).astype(np.float32)
    calib64 = calib.astype(np.float16).astype(np.float64)
    calib_sq = (calib64**2).sum(axis=1)
    seen = 0
    for lo in range(0, len(test), 2048):  # bounded memory: a 2048 x sample distance block at a time
        block = test[lo : lo + 2048].astype(np.float64)
        d2 = (block**2).sum(axis=1)[:, None] - 2.0 * block @ calib64.T + calib_sq[None, :]
        nearest = calib64[d2.argmin(axis=1)]
        # Equal up to a float16 step or two (1e-3 relative each): re-embedding the same text in
        # another batch may differ in the last bits, which can flip a rounding.
        tol = 2e-3 * np.abs(block).max(axis=1) + 1e-6
        seen += int((np.abs(block - nearest).max(axis=1) <= tol).sum())
    out["seen"] = seen
    scale = 1.0 if out["exact"] else n_train / len(calib)
    out["estimated_seen"] = int(min(len(x), round(seen * scale)))
    return out


def overlap_warning(overlap: dict[str, Any], how_to_split: str) -> str | None:
    """One line warning that the figures are (partly) in-sample, or None when no test prompt
    matched the router's training prompts."""
    seen, n = overlap["seen"], overlap["n_test"]
    if not seen:
        return None
    if overlap["exact"]:
        found = f"{seen} of the {n} test prompts are prompts this router was trained on"
    else:
        found = (
            f"{seen} of the {n} test prompts match the router's sample of {overlap['sample']:,} of its "
            f"{overlap['n_train']:,} training prompts, so about {overlap['estimated_seen']} of them are "
            "training prompts"
        )
    return f"{found}: those figures are in-sample and flatter the router; {how_to_split}"


def tradeoff_sweep(router: Any, prompts: list[str], points: int) -> list[np.ndarray]:
    """The router's picks (model columns in `router.models_`) at `points` tradeoffs from 0 to 1."""
    return _sweep(router, router.embed_prompts(prompts), points)


def _sweep(
    router: Any, embedded: EmbeddedPrompts, points: int, candidates: list[str] | None = None,
) -> list[np.ndarray]:
    names = candidates if candidates is not None else router.models_
    picks = []
    for t in np.linspace(0.0, 1.0, points):
        decisions = router.route_embedded(embedded, tradeoff=float(t), candidates=candidates)
        picks.append(np.array([names.index(d.model) for d in decisions]))
    return picks


def default_router_among(models: list[str]) -> tuple[Any, list[str]] | None:
    """The bundled default router with every one of `models` as a candidate (catalog models it
    does not route to are placed from their facts), and their catalog ids in that order; None
    when a model is not in the catalog or cannot be placed."""
    catalog = Catalog.default()
    try:
        ids = [catalog.get(m).id for m in models]
    except AutorouterError:
        return None
    if len(set(ids)) != len(ids):
        return None
    reference = Router.default()
    for model_id in ids:
        if model_id not in reference.models_:
            try:
                reference.add_catalog_model(model_id, catalog=catalog)
            except AutorouterError:
                return None
    return reference, ids


def figures_row(f: RoutingFigures, mean_cost: float | None = None) -> dict[str, Any]:
    """One row of the `eval` table: a router's figures (AIQ, saving95, lift, ...) as plain values."""
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
    compare_default: bool = True,
) -> dict[str, Any]:
    """Figures for the router and the reference points on `ds` scored with true `costs`.

    With `compare_default`, and when every model is a catalog model, the bundled default
    router routing among the same models is one of the reference points ("default router").

    Also reports, as `training_overlap` (see `training_overlap`), how many test prompts the
    router was trained on, and as `knn_train_overlap` how many are in `knn_train`.
    """
    missing = [m for m in router.models_ if m not in ds.models]
    if missing:
        raise AutorouterError(f"the test data has no scores for the router's models {missing}")
    cols = [ds.models.index(m) for m in router.models_]
    s, c = ds.scores[:, cols], costs[:, cols]
    embedded = router.embed_prompts(ds.prompts)  # once, for the sweep, the overlap check and kNN
    figures: dict[str, dict[str, Any]] = {}
    figures["router"] = figures_row(evaluate_picks(s, c, _sweep(router, embedded, points)))
    placed = default_router_among(list(router.models_)) if compare_default else None
    if placed is not None:  # what the user would get without training: Router.default()
        reference, ids = placed
        figures["default router"] = figures_row(
            evaluate_picks(s, c, _sweep(reference, reference.embed_prompts(ds.prompts), points, ids)))
    figures["zero-router"] = figures_row(zero_router_figures(s, c))
    oracle = oracle_picks(s, c)
    figures["oracle"] = figures_row(evaluate_picks(s, c, [oracle]))
    if knn_train is not None:
        kcols = [knn_train.models.index(m) for m in router.models_]
        xt = router.embedder_.embed(knn_train.prompts)
        kc = None if knn_train.cost_usd is None else knn_train.cost_usd[:, kcols]
        knn = KNNRouter().fit(xt, knn_train.scores[:, kcols], kc)
        xe = embedded.x
        qk = knn.predict_quality(xe)
        ck = knn.predict_cost(xe) if kc is not None else np.tile(c.mean(axis=0), (len(s), 1))
        figures["kNN (k=100)"] = figures_row(evaluate_picks(s, c, sweep_picks(qk, ck)))
    singles = {m: (float(s[:, j].mean()), float(c[:, j].mean())) for j, m in enumerate(router.models_)}
    report: dict[str, Any] = {"n_test": len(ds), "figures": figures, "single_models": singles,
                              "training_overlap": training_overlap(router, embedded.x)}
    if knn_train is not None:  # its prompts are at hand, so this count is exact
        known = set(knn_train.prompts)
        report["knn_train_overlap"] = sum(p in known for p in ds.prompts)
    return report


def plot_report(report: dict[str, Any], path: Path) -> Path:
    """Draw every curve on a log cost axis to a PNG (needs matplotlib: the `plot` extra)."""
    try:  # matplotlib is the `plot` extra, and slow to import: only plotting loads it
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
