"""Import time of the LangChain adapter next to LangChain's own chat-model package, and of the
core next to the libraries it needs.

    python benchmarks/import_time.py [--runs 15]

Each figure is the median wall time of an import in a fresh interpreter (so nothing is
cached in `sys.modules`), measured inside the subprocess around the import statement alone
(interpreter start-up excluded). The target (issue 4): `import langchain_autorouter` costs at
most 1.5x `import langchain_core.language_models`. Both packages load their chat-model
classes on first use; the table also shows what using the class costs, next to importing
`BaseChatModel` itself. Prints a table and writes `benchmarks/results/import_time.json`.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
TARGET_RATIO = 1.5

CASES = {
    "baseline": "import langchain_core.language_models",
    "adapter": "import langchain_autorouter",
    "baseline_class": "from langchain_core.language_models import BaseChatModel",
    "adapter_class": "from langchain_autorouter import ChatAutoRouter",
    # the core itself, next to the three libraries it cannot start without
    "core_dependencies": "import numpy, pydantic, httpx2",
    "core": "import autorouter",
}

_PROBE = """
import time
t0 = time.perf_counter()
{statement}
print(time.perf_counter() - t0)
"""


def time_import(statement: str) -> float:
    """Seconds the import takes in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(statement=statement)],
        check=True, capture_output=True, text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def measure(runs: int) -> dict[str, dict[str, float | list[float]]]:
    for statement in CASES.values():  # warm the OS file cache and .pyc files first
        time_import(statement)
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(runs):  # interleaved, so drift on the machine hits every case alike
        for name, statement in CASES.items():
            samples[name].append(time_import(statement))
    return {
        name: {"median_ms": statistics.median(s) * 1000, "runs_ms": [x * 1000 for x in s]}
        for name, s in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per import")
    args = parser.parse_args()

    results = measure(args.runs)
    med = {name: r["median_ms"] for name, r in results.items()}
    ratio = med["adapter"] / med["baseline"]
    class_ratio = med["adapter_class"] / med["baseline_class"]

    rows = [
        ("import langchain_core.language_models", med["baseline"], 1.0),
        ("import langchain_autorouter", med["adapter"], ratio),
        ("from langchain_core.language_models import BaseChatModel", med["baseline_class"],
         med["baseline_class"] / med["baseline"]),
        ("from langchain_autorouter import ChatAutoRouter", med["adapter_class"],
         med["adapter_class"] / med["baseline"]),
        ("import numpy, pydantic, httpx2", med["core_dependencies"], med["core_dependencies"] / med["baseline"]),
        ("import autorouter", med["core"], med["core"] / med["baseline"]),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'import':<{width}}  {'median ms':>9}  {'x baseline':>10}")
    for label, ms, x in rows:
        print(f"{label:<{width}}  {ms:9.1f}  {x:10.2f}")
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(f"\nimport langchain_autorouter = {ratio:.2f}x import langchain_core.language_models "
          f"({verdict} the {TARGET_RATIO}x target; median of {args.runs} fresh interpreters)")
    print(f"ChatAutoRouter on top of BaseChatModel: {class_ratio:.2f}x")
    print(f"import autorouter: {med['core']:.0f} ms, of which its own modules "
          f"{med['core'] - med['core_dependencies']:.0f} ms over numpy, pydantic and httpx2; the embedder "
          "runtimes (onnxruntime, tokenizers) load on first use")

    import langchain_core

    payload = {
        "what": "import time in a fresh interpreter, median (ms)",
        "runs": args.runs,
        "python": platform.python_version(),
        "langchain_core": langchain_core.__version__,
        "machine": platform.machine(),
        "target_ratio": TARGET_RATIO,
        "ratio_adapter_vs_baseline": round(ratio, 3),
        "ratio_class_vs_basechatmodel": round(class_ratio, 3),
        "core_own_ms": round(med["core"] - med["core_dependencies"], 1),
        "cases": {name: {"statement": CASES[name], **results[name]} for name in CASES},
    }
    out = HERE / "results" / "import_time.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
