"""Write LiveBench category scores into the shipped catalog (core/autorouter/data/catalog.json).

One job: for every LiveBench release table and every catalog model LiveBench has, put each
category's score into the card's `facts.benchmarks` as `LiveBench-<YYYY-MM-DD>/<Category>`, each
task's as `LiveBench-<YYYY-MM-DD>/<Category>/<task>`, and one source per release into
`facts.sources["LiveBench-<YYYY-MM-DD>"]`.

    python scripts/import_livebench.py [--data ../shared/data]

`--data` is the shared data folder (default: ../shared/data next to the repository); the tables
are read from its `livebench_tables/` (`table_<release>.csv`, `categories_<release>.json`) and
are never copied into the project. A category's score is the mean of its task columns in the
model's row, divided by 100 (rounded to 4 decimals); a category with a missing or empty task is
skipped for that row. Rerunning replaces every `LiveBench-*` entry, so the script is idempotent,
and the file keeps its formatting (json.dumps(indent=2, ensure_ascii=False) plus a newline).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO / "core" / "autorouter" / "data" / "catalog.json"
DEFAULT_DATA = REPO.parent / "shared" / "data"
PREFIX = "LiveBench-"
COMMIT = "4bf96c8d9dc9b06c17d82dc76a54429975c2b2c2"
URL = "https://github.com/LiveBench/livebench.github.io"
DUMPS = {"indent": 2, "ensure_ascii": False}

# LiveBench model name -> catalog id, reviewed by hand against each card's aliases and notes.
# A LiveBench name is one configuration (dated snapshot, serving, thinking level); only the
# row that is the catalog id's configuration is mapped. When several names of one release map
# to the same id (only the moving alias chatgpt-4o-latest), the one listed first here wins.
LIVEBENCH_TO_CATALOG: dict[str, str] = {
    # OpenAI: dated snapshots map to the same snapshot only (gpt-4o-2024-11-20 is not in the
    # catalog; gpt-4-0125-preview, gpt-4-0613, gpt-4-turbo-2024-04-09 and gpt-3.5-turbo-0125
    # are other snapshots than the catalog's gpt-4-1106-preview / gpt-3.5-turbo-1106, which
    # LiveBench does not have).
    "gpt-4o-2024-08-06": "openai/gpt-4o-2024-08-06",
    "gpt-4o-2024-05-13": "openai/gpt-4o-2024-05-13",
    "gpt-4o-mini-2024-07-18": "openai/gpt-4o-mini-2024-07-18",
    "o1-preview-2024-09-12": "openai/o1-preview-2024-09-12",
    "o1-mini-2024-09-12": "openai/o1-mini-2024-09-12",
    # openai/chatgpt-4o-latest is a moving alias: in each release, the latest dated row of it
    # (the undated row of the 2024-06-24 and 2024-07-26 tables is the alias as first served).
    "chatgpt-4o-latest-2025-03-27": "openai/chatgpt-4o-latest",
    "chatgpt-4o-latest-2025-01-29": "openai/chatgpt-4o-latest",
    "chatgpt-4o-latest-0903": "openai/chatgpt-4o-latest",
    "chatgpt-4o-latest": "openai/chatgpt-4o-latest",
    # Anthropic: the catalog's claude-3.5-sonnet is the 2024-10-22 upgrade (its notes say the
    # 20240620 model is a different model), so claude-3-5-sonnet-20240620 is not mapped.
    # claude-2.1 is not in LiveBench.
    "claude-3-5-sonnet-20241022": "anthropic/claude-3.5-sonnet",
    "claude-3-5-haiku-20241022": "anthropic/claude-3.5-haiku",
    "claude-3-opus-20240229": "anthropic/claude-3-opus",
    # Google: the catalog ids mean the -002 models OpenRouter serves (cards' notes), so the
    # 0514 ("-api-0514") and experimental rows are not mapped.
    "gemini-1.5-pro-002": "google/gemini-pro-1.5",
    "gemini-1.5-flash-002": "google/gemini-flash-1.5",
    "gemma-2-9b-it": "google/gemma-2-9b-it",
    # Mistral.
    "mistral-large-2407": "mistralai/mistral-large-2407",
    "open-mistral-nemo": "mistralai/mistral-nemo",
    "mixtral-8x22b-instruct-v0.1": "mistralai/mixtral-8x22b-instruct",
    "mixtral-8x7b-instruct-v0.1": "mistralai/mixtral-8x7b-instruct",
    "mistral-7b-instruct-v0.3": "mistralai/mistral-7b-instruct-v0.3",
    # (mistral-7b-instruct-v0.2 is neither the catalog's v0.1 nor its v0.3: not mapped.)
    # DeepSeek: the January 2025 R1 only; deepseek-r1-0528 and the distills are other models.
    "deepseek-r1": "deepseek/deepseek-r1",
    # Meta: LiveBench ran Llama 3.1 as Together AI's "-Turbo" endpoints (FP8), the serving the
    # catalog prices the 70B and 405B at; the 8B row is the same weights, also via Together.
    # (meta-llama-3-8b-instruct is not the catalog's pretrained meta-llama/llama-3-8b.)
    "meta-llama-3.1-405b-instruct-turbo": "meta-llama/llama-3.1-405b-instruct",
    "meta-llama-3.1-70b-instruct-turbo": "meta-llama/llama-3.1-70b-instruct",
    "meta-llama-3.1-8b-instruct-turbo": "meta-llama/llama-3.1-8b-instruct",
    # Cohere: the catalog ids are the original models (command-r 03-2024, command-r-plus
    # 04-2024); LiveBench lists the 08-2024 models separately, so its undated rows are the
    # originals and the -08-2024 rows are not mapped.
    "command-r-plus": "cohere/command-r-plus",
    "command-r": "cohere/command-r",
    # Qwen (Together AI's "-Turbo" serving of the same weights).
    "qwen2.5-7b-instruct-turbo": "qwen/qwen-2.5-7b-instruct",
    # Hugging Face H4.
    "zephyr-7b-beta": "huggingfaceh4/zephyr-7b-beta",
}


def release_date(release: str) -> str:
    """`2024_08_31` -> `2024-08-31`."""
    if not re.fullmatch(r"\d{4}_\d{2}_\d{2}", release):
        raise SystemExit(f"unexpected release name {release!r} (expected YYYY_MM_DD)")
    return release.replace("_", "-")


def category_scores(row: dict[str, str], categories: dict[str, list[str]]) -> dict[str, float]:
    """Each category's mean task score / 100; categories with a missing task are left out."""
    scores: dict[str, float] = {}
    for category, tasks in categories.items():
        values = []
        for task in tasks:
            cell = (row.get(task) or "").strip()
            if not cell:
                break
            value = float(cell)
            if not (math.isfinite(value) and 0.0 <= value <= 100.0):
                raise SystemExit(f"{row['model']}: {task} = {cell!r} is not a score in [0, 100]")
            values.append(value)
        else:
            if values:
                scores[category] = round(sum(values) / len(values) / 100.0, 4)
    return scores


def livebench_scores(row: dict[str, str], categories: dict[str, list[str]]) -> dict[str, float]:
    """`<Category>` and `<Category>/<task>` scores / 100 of one row. Tasks are kept beside their
    category: a category averages unlike skills (olympiad proofs beside AMPS_Hard calculus),
    and a prompt family reads the task closest to it."""
    out: dict[str, float] = {}
    for category, score in category_scores(row, categories).items():
        out[category] = score
        for task in categories[category]:
            out[f"{category}/{task}"] = round(float(row[task]) / 100.0, 4)
    return out


def releases(folder: Path) -> list[tuple[str, Path, Path]]:
    found = []
    for table in sorted(folder.glob("table_*.csv")):
        release = table.stem.removeprefix("table_")
        categories = folder / f"categories_{release}.json"
        if not categories.is_file():
            raise SystemExit(f"{table} has no {categories.name}")
        found.append((release, table, categories))
    if not found:
        raise SystemExit(f"no table_<release>.csv in {folder}")
    return found


def strip_livebench(model: dict) -> None:
    facts = model.get("facts")
    if not isinstance(facts, dict):
        return
    for section in ("benchmarks", "sources"):
        entries = facts.get(section)
        if isinstance(entries, dict):
            for key in [k for k in entries if k.startswith(PREFIX)]:
                del entries[key]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="the shared data folder (../shared/data)"
    )
    args = parser.parse_args(argv)
    folder = args.data / "livebench_tables"
    if not folder.is_dir():
        raise SystemExit(f"{folder} not found; pass --data <shared data folder>")

    text = CATALOG.read_text(encoding="utf-8")
    document = json.loads(text)
    if json.dumps(document, **DUMPS) + "\n" != text:
        raise SystemExit(f"{CATALOG} is not in json.dumps({DUMPS}) form; refusing to rewrite it")
    models = {model["id"]: model for model in document["models"]}
    unknown = sorted(set(LIVEBENCH_TO_CATALOG.values()) - set(models))
    if unknown:
        raise SystemExit(f"LIVEBENCH_TO_CATALOG names ids not in the catalog: {unknown}")
    preference = list(LIVEBENCH_TO_CATALOG)
    for model in models.values():
        strip_livebench(model)

    covered: set[str] = set()
    for release, table, categories_file in releases(folder):
        date = release_date(release)
        categories = json.loads(categories_file.read_text(encoding="utf-8"))
        with table.open(encoding="utf-8", newline="") as rows:
            by_name = {row["model"].strip(): row for row in csv.DictReader(rows)}
        chosen: dict[str, str] = {}  # catalog id -> LiveBench name
        for name in sorted(set(by_name) & set(LIVEBENCH_TO_CATALOG), key=preference.index):
            chosen.setdefault(LIVEBENCH_TO_CATALOG[name], name)
        print(f"{PREFIX}{date} ({table.name}, {len(by_name)} rows):")
        for model_id, name in sorted(chosen.items()):
            scores = category_scores(by_name[name], categories)
            if not scores:
                print(f"  {name:38} -> {model_id}: no complete category, skipped")
                continue
            facts = models[model_id].setdefault("facts", {})
            benchmarks = facts.setdefault("benchmarks", {})
            for key, score in livebench_scores(by_name[name], categories).items():
                benchmarks[f"{PREFIX}{date}/{key}"] = score
            facts.setdefault("sources", {})[f"{PREFIX}{date}"] = {
                "source": (
                    f"LiveBench leaderboard table {release} (livebench.ai), "
                    f"LiveBench model '{name}'"
                ),
                "as_of": date,
                "url": URL,
                "note": (
                    f"task scores / 100 and category score = mean of the category's task scores in "
                    f"public/table_{release}.csv @ {COMMIT}; one protocol for all models; "
                    "releases are not on one scale"
                ),
            }
            covered.add(model_id)
            print(f"  {name:38} -> {model_id} ({len(scores)} categories)")
    absent = [model for model in document["models"] if model["id"] not in covered]
    routed = [m["id"] for m in absent if m.get("routed_by_default")]
    others = [m["id"] for m in absent if not m.get("routed_by_default")]
    print(f"routed_by_default models in no release: {', '.join(routed) or 'none'}")
    print(f"other catalog models in no release: {', '.join(others) or 'none'}")

    new_text = json.dumps(document, **DUMPS) + "\n"
    if new_text != text:
        CATALOG.write_text(new_text, encoding="utf-8")
        print(f"wrote {CATALOG.relative_to(REPO)}")
    else:
        print(f"{CATALOG.relative_to(REPO)} unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
