"""The default router on the per-prompt outcomes of its own (2024) models, held out.

    python benchmarks/seed_sets.py [--data ../shared/data] [--points 21]

For each of `zeroeval_math` (GSM8K + MATH level 5) and `mmlupro_seed` (MMLU-Pro), the default
router is rebuilt by `scripts/build_default_router.py`'s `build` WITHOUT that folder and without
any prompt of it that recurs in another folder (normalised 60-character prefix, as the data
README advises), then routes the set's prompts among the routed models the set has outcomes
for (`candidates=`). Each pick earns that model's true 0/1 outcome and an estimated cost: list
price x (prompt tokens + answer tokens from `output_chars`), plus, for reasoning models, the
catalog's typical hidden thinking tokens (the files do not record them; without them o1 would
look as cheap as its visible answer).

Figures (docs/evaluation.md): AIQ and saving95 against the zero-router over 21 tradeoffs,
mean quality at tradeoff 0 against the best single candidate, and quality and cost at the
default tradeoff. Rows marked "same versions" leave out the models whose outcomes in the
folder are of another version than the catalog card (`OTHER_VERSION`, from the folder's
README: ZeroEval's Gemini 1.5 runs are the -001 models, the catalog places and prices -002).
Prints a table and writes `benchmarks/results/seed_sets.json`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import numpy as np

import autorouter
from autorouter.evaluation import evaluate_picks, zero_router_figures

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "scripts"))
from build_default_router import build, normalised  # noqa: E402

SETS = {"zeroeval_math": "zeroeval_math/prompts_scores.jsonl.gz", "mmlupro_seed": "mmlupro_seed/prompts_scores.jsonl.gz"}


def _prefix(text: str) -> str:
    """The key `build`'s `holdout_prefixes` are matched by."""
    return normalised(text)[:60]


def load_set(
    data: Path, name: str, routed: list[str], task: str | None = None
) -> tuple[list[str], list[str], np.ndarray, np.ndarray, list[str]]:
    """Questions, their task, outcomes (n, m) and estimated costs (n, m) for the routed models
    the set (or its `task`) covers; only rows where all of them were scored."""
    meta = json.loads((data / name / "models.json").read_text(encoding="utf-8"))["models"]
    catalog = autorouter.Catalog.default()
    rows = [json.loads(line) for line in gzip.open(data / SETS[name], "rt", encoding="utf-8")]
    rows = [r for r in rows if task is None or r["task"] == task]
    # the routed models scored on every task of the group (the set's models differ by task)
    have = [{m for r in rows if r["task"] == t for m, v in r["scores"].items() if v is not None}
            for t in sorted({r["task"] for r in rows})]
    models = [m for m in routed if all(m in h for h in have)]
    rows = [r for r in rows if all(r["scores"].get(m) is not None for m in models)]
    texts = [r.get("question") or r["prompt"] for r in rows]
    tasks = [r["task"] for r in rows]
    scores = np.array([[float(r["scores"][m]) for m in models] for r in rows])
    cost = np.zeros_like(scores)
    for j, m in enumerate(models):
        card = catalog.get(m)
        p = meta.get(m, {})
        pin = p.get("input_usd_per_1m", card.price.input_per_1m)
        pout = p.get("output_usd_per_1m", card.price.output_per_1m)
        thinking = card.reasoning_tokens or 0
        for i, r in enumerate(rows):
            out = (r.get("output_chars") or {}).get(m) or 1200
            cost[i, j] = (len(r["prompt"]) / 4 * pin + (out / 4 + thinking) * pout) / 1e6
    return texts, tasks, scores, cost, models


#: Models whose outcomes in a folder are another version than the catalog card the router
#: places (by its facts) and prices: the folder's README says so. Rows marked "same versions"
#: leave them out, so that they measure the router rather than the version gap.
OTHER_VERSION = {
    "zeroeval_math": {
        "google/gemini-pro-1.5": "ZeroEval ran gemini-1.5-pro-001 (mid-2024); the card is -002's",
        "google/gemini-flash-1.5": "ZeroEval ran gemini-1.5-flash-001 (mid-2024); the card is -002's",
    },
}

#: (label, folder, task or None for the whole file, same versions only): each with the routed
#: models it scores.
GROUPS = [("zeroeval_math", "zeroeval_math", None, False),
          ("zeroeval gsm", "zeroeval_math", "gsm", False), ("zeroeval math-l5", "zeroeval_math", "math-l5", False),
          ("zeroeval_math, same versions", "zeroeval_math", None, True),
          ("zeroeval gsm, same versions", "zeroeval_math", "gsm", True),
          ("zeroeval math-l5, same versions", "zeroeval_math", "math-l5", True),
          ("mmlupro_seed", "mmlupro_seed", None, False)]


def held_out_router(data: Path, name: str) -> autorouter.Router:
    """The default router built without folder `name` and without any of its prompts."""
    rows = [json.loads(line) for line in gzip.open(data / SETS[name], "rt", encoding="utf-8")]
    held = {_prefix(r.get("question") or r["prompt"]) for r in rows} | {_prefix(r["prompt"]) for r in rows}
    return build(data, exclude=[name], holdout_prefixes=held, quiet=True)


def run_set(data: Path, name: str, task: str | None, points: int, router: autorouter.Router,
            same_versions: bool = False) -> dict:
    catalog = autorouter.Catalog.default()
    other = OTHER_VERSION.get(name, {}) if same_versions else {}
    routed = [c.id for c in catalog.routed() if c.id not in other]
    texts, tasks, scores, cost, models = load_set(data, name, routed, task)
    embedded = router.embed_prompts(texts)
    col = {m: j for j, m in enumerate(models)}
    ts = np.linspace(0.0, 1.0, points)
    picks = [np.array([col[d.model] for d in router.route_embedded(embedded, tradeoff=float(t), candidates=models)])
             for t in ts]
    figs = evaluate_picks(scores, cost, picks)
    zero = zero_router_figures(scores, cost)
    means = scores.mean(axis=0)
    best = int(np.argmax(means))
    rows = np.arange(len(texts))
    k = int(np.argmin(np.abs(ts - autorouter.DEFAULT_TRADEOFF)))
    out = {
        "models": models, "n": len(texts), "left_out_as_other_versions": other,
        "aiq": figs.aiq, "zero_aiq": zero.aiq, "saving95": figs.saving95, "zero_saving95": zero.saving95,
        "quality_at_0": float(scores[rows, picks[0]].mean()), "best_single": models[best],
        "best_single_quality": float(means[best]), "best_single_cost": float(cost[:, best].mean()),
        "quality_at_default": float(scores[rows, picks[k]].mean()),
        "cost_at_default": float(cost[rows, picks[k]].mean()),
        "picks_at_0": {models[j]: int(n) for j, n in zip(*np.unique(picks[0], return_counts=True), strict=True)},
    }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    ap.add_argument("--points", type=int, default=21)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "seed_sets.json")
    args = ap.parse_args(argv)
    routers = {name: held_out_router(args.data, name) for name in SETS}
    results = {label: run_set(args.data, name, task, args.points, routers[name], same)
               for label, name, task, same in GROUPS}
    print(f"\n{'set':<32} {'AIQ':>6} {'zero':>6} {'sav95':>6} {'zero':>6} {'q@0':>6} {'best':>6} "
          f"{'q@0.3':>6} {'$@0.3/best$':>11}  best single")
    for label, f in results.items():
        s95 = "   n/a" if f["saving95"] is None else f"{f['saving95']:6.3f}"
        z95 = "   n/a" if f["zero_saving95"] is None else f"{f['zero_saving95']:6.3f}"
        ratio = f["cost_at_default"] / max(f["best_single_cost"], 1e-12)
        print(f"{label:<32} {f['aiq']:6.3f} {f['zero_aiq']:6.3f} {s95} {z95} {f['quality_at_0']:6.3f} "
              f"{f['best_single_quality']:6.3f} {f['quality_at_default']:6.3f} {ratio:11.2f}  {f['best_single']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
