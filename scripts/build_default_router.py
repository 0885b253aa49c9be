"""Build the bundled default router (`Router.default()`) from public data. One command:

    python scripts/build_default_router.py [--data ../shared/data] [--out core/autorouter/data/default_router]
                                           [--exclude zeroeval_math ...]

What it learns, and from what:
- which family a prompt belongs to (`autorouter.families`: small talk, a quick fact, a unit
  conversion, a proof, hard coding, ...): from the prompts written for this project beside this
  script (`default_router/families_*.jsonl`, many languages; `smalltalk.txt`) and from the
  prompts of the public routing datasets in ../shared/data, each dataset task mapped to a
  family (`autorouter.families.family_of_dataset_task`); MT-Bench's questions by category;
- how hard a prompt is for its family, i.e. how much the choice of model matters on it: from how
  the datasets' models fared on each prompt (`zeroeval_math` and `mmlupro_seed` hold the
  per-prompt outcomes of the 2024 routed models themselves), and, for the written prompts, from
  a person's judgement of each (`level`: trivial, typical or hard; see `LEVELS`);
- where each candidate stands on each family: from the catalog's facts (LiveBench tasks,
  vendor benchmarks, the Arena rating) through `autorouter.placement`'s latent ability model,
  and how much that standing matters in a family (its spread) and how uncertain a placement is,
  from the datasets' outcomes of catalog models (`autorouter.placement.calibrate_families`);
- what a call costs and how long it takes: catalog list prices and speeds x (prompt tokens + a
  typical answer length per family + a reasoning model's hidden thinking).

The tradeoff knob is calibrated on the written prompts (everyday traffic), not on benchmark
questions. `--exclude FOLDER` leaves a data folder out (for held-out evaluation, see
`benchmarks/seed_sets.py`). The candidates are the catalog's models with `routed_by_default`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import autorouter
from autorouter.catalog import Catalog
from autorouter.embedders.minilm import MODEL_FILES, MiniLMEmbedder
from autorouter.families import FAMILIES, family_of_dataset_task
from autorouter.placement import SMALLTALK_SCORE, FactPlacer, calibrate_families
from autorouter.predictors import CHARS_PER_TOKEN
from autorouter.profiles import logit, outcome_offsets

HERE = Path(__file__).parent
ROOT = HERE.parent
#: (folder/file, task field) of the scored public datasets.
SOURCES = [
    ("llmrouter_9models/prompts_scores.jsonl.gz", "task"),
    ("routerbench_subset/prompts_scores.jsonl.gz", "eval_name"),
    ("routerdc_7models/prompts_scores.jsonl.gz", "dataset"),
    ("routellm_gpt4_vs_mixtral/mmlu_gsm8k.jsonl.gz", "benchmark"),
    ("zeroeval_math/prompts_scores.jsonl.gz", "task"),
    ("mmlupro_seed/prompts_scores.jsonl.gz", "task"),
]
SOURCE_ORDER = {rel: i for i, (rel, _) in enumerate(SOURCES)}
MT_BENCH = "routellm_gpt4_vs_mixtral/mt_bench.jsonl.gz"


def normalised(text: str) -> str:
    """`text` lower-cased with every run of non-word characters one space: how prompts are
    matched across files (held-out prefixes, repeats, the everyday test prompts)."""
    return re.sub(r"\W+", " ", text.lower()).strip()


def written_rows() -> list[dict[str, str]]:
    """The prompts written for this project, each {"prompt", "family", "level", "lang"}:
    everyday traffic in many languages, each with a person's judgement of how much the choice
    of model matters on it (`LEVELS`); `smalltalk.txt`'s lines are English trivial small talk."""
    out = []
    for path in sorted((HERE / "default_router").glob("families_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                out.append({"prompt": r["prompt"], "family": r["family"], "level": r["level"], "lang": r["lang"]})
    for text in (HERE / "default_router" / "smalltalk.txt").read_text(encoding="utf-8").splitlines():
        if text.strip():
            out.append({"prompt": text.strip(), "family": "smalltalk", "level": "trivial", "lang": "en"})
    unknown = sorted({r["family"] for r in out if r["family"] not in FAMILIES})
    if unknown:
        raise SystemExit(f"unknown families in the written prompts: {unknown}")
    bad = sorted({r["level"] for r in out if r["level"] not in LEVELS})
    if bad:
        raise SystemExit(f"unknown levels in the written prompts: {bad}; use one of {sorted(LEVELS)}")
    return out


def written_prompts() -> list[tuple[str, str, str]]:
    """(prompt, family, level) of `written_rows`."""
    return [(r["prompt"], r["family"], r["level"]) for r in written_rows()]


#: What a written prompt's level says, as the chance of a good answer it implies: "trivial",
#: the routed cheap models (list output price at most $1 per 1M tokens, no hidden thinking)
#: answer it well nearly every time, as every model answers small talk; "hard", even the
#: strongest routed model fails it about as often as not; "typical", the family's typical
#: prompt (no offset). Nothing else tells the router that "length of a list in Python" is
#: easier than the HumanEval problems its coding family is calibrated on.
LEVELS = {"trivial": SMALLTALK_SCORE, "typical": None, "hard": 0.5}
CHEAP_OUTPUT_USD_PER_1M = 1.0


def routed_family_logits(catalog: Catalog, placer: FactPlacer) -> tuple[dict[str, dict[str, float]], set[str]]:
    """({family: {routed model: logit of its score}}, the routed cheap models: list output price
    at most `CHEAP_OUTPUT_USD_PER_1M`, no hidden thinking): where the routed models stand."""
    routed = catalog.routed()
    cheap = {c.id for c in routed if c.price is not None and c.price.output_per_1m <= CHEAP_OUTPUT_USD_PER_1M
             and not c.capabilities.reasoning}
    scores = {card.id: placer.task_scores(card, list(FAMILIES))[0] for card in routed}
    logits = {fam: {m: float(logit(per[fam])) for m, per in scores.items() if fam in per} for fam in FAMILIES}
    return logits, cheap


def cheap_centres(logits: dict[str, dict[str, float]], cheap: set[str]) -> dict[str, float]:
    """{family: the routed cheap models' mean logit}, for the families they are placed in."""
    return {fam: float(np.mean(vals)) for fam, per in logits.items() if (vals := [v for m, v in per.items() if m in cheap])}


def level_offsets(logits: dict[str, dict[str, float]], centres: dict[str, float]) -> dict[str, dict[str, float]]:
    """{level: {family: offset}}: the difficulty offset (logit units) each level implies in each
    family, from where the routed models stand in it (`routed_family_logits`, `LEVELS`):
    trivial lifts the cheap models' mean (`centres`) to its chance, hard brings the strongest
    model down to its own."""
    out: dict[str, dict[str, float]] = {level: {} for level in LEVELS}
    for fam, theta in logits.items():
        for level, target in LEVELS.items():
            if target is None or not theta:
                out[level][fam] = 0.0
            elif level == "trivial":
                out[level][fam] = max(0.0, float(logit(target)) - centres[fam])
            else:
                out[level][fam] = min(0.0, float(logit(target)) - max(theta.values()))
    return out


#: Fewest models that must have answered a benchmark prompt before its outcomes may set its level.
OUTCOME_LEVEL_MIN_MODELS = 5


def outcome_levels(
    fams: Sequence[str], levels: Sequence[str], scores: np.ndarray, offsets: dict[str, dict[str, float]],
    n_written: int,
) -> list[str]:
    """Levels with each benchmark prompt's (the rows after the first `n_written`) set by its
    outcomes: "trivial" where the models that answered it fared at least as well as a trivial
    prompt of its family would have them fare (`level_offsets`), "hard" where as badly as a hard
    one, "typical" otherwise. Labelling every benchmark prompt typical taught the level reader
    that a benchmark's phrasing ("Write a function to ...", MBPP's) means a typical prompt of
    its family, so "Write a Python function that reverses a string" went to a frontier model.
    A prompt fewer than `OUTCOME_LEVEL_MIN_MODELS` models answered stays typical."""
    names = sorted(set(fams))
    found = outcome_offsets([names.index(f) for f in fams], scores)
    answered = np.isfinite(scores).sum(axis=1)
    out = list(levels)
    for i in range(n_written, len(fams)):
        if answered[i] < OUTCOME_LEVEL_MIN_MODELS:
            continue
        if found[i] >= offsets["trivial"][fams[i]]:
            out[i] = "trivial"
        elif found[i] <= offsets["hard"][fams[i]]:
            out[i] = "hard"
    return out


def level_spreads(placer: FactPlacer, centres: dict[str, float]) -> dict[str, dict[str, float]]:
    """{level: {family: factor}}: how far apart the models stand on each level's prompts. A
    trivial prompt is one every model answers well, "as every model answers small talk": in
    every family its models stand as far apart as in small talk (the factor draws each model's
    logit toward the routed cheap models' mean, `centres`, which the trivial offset lifts to
    `LEVELS["trivial"]`). Typical and hard prompts keep the family's spread. Without it, a level
    lifted every model alike, and on "what is 2+2" mixtral-8x7b stood as far below gpt-4-turbo
    (0.91 against 0.95) as on a typical question."""
    small_talk = placer.family_params_of("smalltalk")[1]
    return {"trivial": {fam: min(1.0, small_talk / placer.family_params_of(fam)[1]) for fam in centres}}


def dataset_records(
    data: Path, exclude: Sequence[str] = (), holdout_prefixes: set[str] | None = None
) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(source file, task, question text, record) of every scored dataset row outside the
    folders in `exclude` whose normalised 60-character prefix is not in `holdout_prefixes`."""
    held = holdout_prefixes or set()
    for rel, field in SOURCES:
        if rel.split("/")[0] in exclude:
            continue
        with gzip.open(data / rel, "rt", encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                # Few-shot benchmark prompts share their exemplars; a user sends the question.
                text = r.get("question") or r["prompt"]
                if normalised(text)[:60] not in held:
                    yield rel, str(r.get(field, "")), text, r


def collect(
    data: Path, per_family: int, seed: int, exclude: Sequence[str] = (), holdout_prefixes: set[str] | None = None
) -> tuple[list[str], list[str], list[str], list[dict[str, float]], int]:
    """Prompts, their families, their levels ("typical" for dataset prompts) and per-model
    scores; the first `n_written` are the written ones.
    Dataset prompts whose normalised 60-character prefix is in `holdout_prefixes` are left out."""
    written = written_prompts()
    seen = {normalised(t) for t, _, _ in written}
    held = holdout_prefixes or set()
    rows: dict[str, list[tuple[str, dict[str, float]]]] = {}
    for _, task, text, r in dataset_records(data, exclude, held):
        fam = family_of_dataset_task(task)
        key = normalised(text)
        if r.get("contaminated") or fam is None or key in seen:
            continue
        seen.add(key)
        scores = {m: float(v) for m, v in r["scores"].items() if v is not None}
        rows.setdefault(fam, []).append((text, scores))
    if MT_BENCH.split("/")[0] not in exclude:
        with gzip.open(data / MT_BENCH, "rt", encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                fam = family_of_dataset_task("mt_bench", r.get("category"))
                if fam is not None and normalised(r["turns"][0])[:60] not in held:
                    rows.setdefault(fam, []).append(
                        (r["turns"][0], {m: v / 10.0 for m, v in r["scores_turn1"].items()})
                    )
    rng = np.random.default_rng(seed)
    prompts = [t for t, _, _ in written]
    fams = [f for _, f, _ in written]
    levels = [lv for _, _, lv in written]
    scores: list[dict[str, float]] = [{} for _ in written]
    for fam in sorted(rows):
        items = rows[fam]
        keep = rng.permutation(len(items))[:per_family]
        for i in sorted(keep):
            prompts.append(items[i][0])
            fams.append(fam)
            levels.append("typical")  # a benchmark's prompts are centred on its typical one
            scores.append(items[i][1])
    return prompts, fams, levels, scores, len(written)


def family_outcomes(
    data: Path, catalog: Catalog, exclude: Sequence[str] = (), holdout_prefixes: set[str] | None = None
) -> list[tuple[str, dict[str, float]]]:
    """Per dataset task: its family and each catalog model's mean score over its prompts (models
    with at least 50), for `autorouter.placement.calibrate_families`."""
    sums: dict[tuple[str, str], dict[str, list[float]]] = {}
    for rel, task, _, r in dataset_records(data, exclude, holdout_prefixes):
        for m, v in r["scores"].items():
            if v is not None:
                sums.setdefault((rel, task), {}).setdefault(m, []).append(float(v))
    groups = []
    for (_, task), per_model in sorted(sums.items(), key=lambda kv: (SOURCE_ORDER[kv[0][0]], kv[0][1])):
        fam = family_of_dataset_task(task)
        means = {catalog.get(m).id: float(np.mean(v)) for m, v in per_model.items()
                 if len(v) >= 50 and m in catalog}
        if fam is not None and len(means) >= 3:
            groups.append((fam, means))
    return groups


def build(
    data: Path, *, embedder: str = "minilm", char_ngrams: int = 2048, layers: int = 3, per_family: int = 200, seed: int = 0,
    exclude: Sequence[str] = (), holdout_prefixes: set[str] | None = None,
    catalog: Catalog | None = None, quiet: bool = False,
) -> autorouter.Router:
    """The default router, built from `data` without the folders in `exclude` and without the
    dataset prompts whose normalised 60-character prefix is in `holdout_prefixes`."""
    prompts, fams, levels, score_dicts, n_written = collect(data, per_family, seed, exclude, holdout_prefixes)
    if not quiet:
        counts = {f: fams.count(f) for f in sorted(set(fams))}
        print(f"{len(prompts)} prompts ({n_written} written): {counts}", file=sys.stderr)
    models = sorted({m for d in score_dicts for m in d})
    scores = np.full((len(prompts), len(models)), np.nan)
    for i, d in enumerate(score_dicts):
        for m, v in d.items():
            scores[i, models.index(m)] = v

    emb = (MiniLMEmbedder(char_ngrams=char_ngrams, layers=layers) if embedder == "minilm"
           else autorouter.get_embedder(embedder))
    router = autorouter.Router(embedder=emb, seed=seed)
    t = time.perf_counter()
    x = np.concatenate([emb.embed(prompts[i:i + 256]) for i in range(0, len(prompts), 256)])
    if not quiet:
        print(f"embedded in {time.perf_counter() - t:.0f}s", file=sys.stderr)
    chars = np.array([len(p) for p in prompts], dtype=np.float64)
    answer_chars = np.array([[FAMILIES[f].answer_tokens * CHARS_PER_TOKEN] for f in fams])
    catalog = catalog or Catalog.default()
    # how much the choice of model matters per family, from the datasets' outcomes
    family_params, error_sd = calibrate_families(family_outcomes(data, catalog, exclude, holdout_prefixes), catalog)
    placer = FactPlacer(catalog, family_params, error_sd)
    logits, cheap = routed_family_logits(catalog, placer)
    centres = cheap_centres(logits, cheap)
    offsets = level_offsets(logits, centres)
    if not quiet:
        shown = {lv: {f: round(o, 2) for f, o in per.items()} for lv, per in offsets.items() if lv != "typical"}
        print(f"level offsets {shown}", file=sys.stderr)
    spreads = level_spreads(placer, centres)
    levels = outcome_levels(fams, levels, scores, offsets, n_written)
    if not quiet:
        print(f"benchmark prompts by level: { {lv: levels[n_written:].count(lv) for lv in LEVELS} }", file=sys.stderr)
    # What prompts are like, with no candidates from the data (each comes from the catalog below);
    # the knob is calibrated on everyday traffic: the written prompts, not benchmark questions.
    router.fit_arrays(x, chars, scores, groups=fams, output_chars=answer_chars, levels=levels, level_offsets=offsets,
                      level_spreads=spreads, level_centres=centres, calibrate_on=np.arange(n_written))
    router.family_params_, router.placement_error_sd_ = family_params, error_sd
    if not quiet:
        print(f"family spreads {({f: round(v[1], 2) for f, v in router.family_params_.items()})}, "
              f"placement error {router.placement_error_sd_:.2f}", file=sys.stderr)
    for card in catalog.routed():
        router.add_catalog_model(card.id, catalog=catalog)
    return router


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "core" / "autorouter" / "data" / "default_router")
    # MiniLM, not the static default of Router.fit: telling families apart (a proof from a
    # greeting from a poem, in several languages) is semantic.
    ap.add_argument("--embedder", default="minilm")
    # character n-grams beside MiniLM: families in languages MiniLM knows little of (5-fold
    # family accuracy on the written prompts 0.65 -> 0.71; non-English 0.48 -> 0.54)
    ap.add_argument("--char-ngrams", type=int, default=2048)
    # MiniLM's first 3 layers: a route within 2 ms on 2 cores (6 layers: about 3 ms)
    ap.add_argument("--layers", type=int, default=3, choices=sorted(MODEL_FILES))
    ap.add_argument("--per-family", type=int, default=200, help="dataset prompts per family (seed 0)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--exclude", nargs="*", default=[], help="data folders to leave out")
    args = ap.parse_args(argv)
    router = build(args.data, embedder=args.embedder, char_ngrams=args.char_ngrams, layers=args.layers,
                   per_family=args.per_family, seed=args.seed, exclude=args.exclude)
    router.save(args.out)
    print(f"saved {len(router.models_)} candidates over families {router.tasks_} to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
