"""Overhead of a routed call over a direct call to the same loopback server.

    python benchmarks/call_overhead.py [--calls 500] [--warmup 50]

Starts the loopback OpenAI-compatible test server (tests/openai_server.py) on 127.0.0.1, in a
process of its own (as a real provider would be), and times in alternating blocks of 50, so
drift hits all alike:

* direct: `ChatClient.complete(model, messages)`, one HTTP round trip;
* routed: `Router.complete(messages)`: check the request, embed the prompt with the router's
  own embedder, score and rank the candidates, plan the fallbacks and endpoints, make the same
  HTTP round trip, and build the typed result with usage and cost.

for two routers: one with the bundled static embedder (fitted here on the synthetic data of
tests/core/synthetic.py, 3 candidates) and, when it is installed, the bundled default router
(MiniLM embedder, 20 catalog candidates). The routing step alone (`Router.route`) is timed too,
so the table shows how much of the overhead is the embedder. Target (issue 6): p50 overhead
<= 3 ms. Prints a table and writes `benchmarks/results/call_overhead.json`.

The server's connections get TCP_NODELAY here: the test server's listening socket is created
without `IPPROTO_TCP`, so asyncio does not set it, and every call on a reused connection waits
~40 ms for a delayed ACK (Nagle), which would swamp the figures being measured.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from pydantic import SecretStr

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "core")]

import autorouter  # noqa: E402 (these three need the sys.path line above)
from autorouter.client import ChatClient, Endpoint, close_pools  # noqa: E402
from synthetic import make_rows, write_jsonl  # noqa: E402

TARGET_P50_MS = 3.0
PROMPTS = [
    "What is the capital of France and why is it famous?",
    "write a python function to sort 3 lists",
    "prove that 12 plus 30 is an integer",
    "hello there friend, how are you today?",
    "Summarise the causes of the First World War in three sentences.",
    "Translate 'good morning' into Spanish, French and German.",
    "fix this python bug in function f7 returning None",
    "compute the derivative of sin(3x) times 5",
]


_SERVER = """
import socket, sys
sys.path.insert(0, sys.argv[1])
from uvicorn.protocols.http import h11_impl
made = h11_impl.H11Protocol.connection_made
def connection_made(self, transport):  # TCP_NODELAY on every accepted connection
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return made(self, transport)
h11_impl.H11Protocol.connection_made = connection_made
from openai_server import OpenAIServer
with OpenAIServer() as server:
    print(server.base_url, flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin
"""


@contextlib.contextmanager
def _server_process() -> Iterator[str]:
    """The loopback server in a child process; yields its base URL."""
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(ROOT / "tests")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError("the loopback server did not start")
        yield url
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _static_router() -> autorouter.Router:
    with tempfile.TemporaryDirectory() as d:
        path = write_jsonl(make_rows(300), Path(d) / "train.jsonl.gz")
        return autorouter.Router(embedder="static").fit(autorouter.load_dataset(path))


def _default_router() -> autorouter.Router | None:
    try:
        return autorouter.Router.default()
    except autorouter.AutorouterError as e:
        print(f"(no default router: {e})", file=sys.stderr)
        return None


def _pct(values: list[float]) -> dict[str, float]:
    a = np.asarray(values) * 1000.0
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)),
            "mean": float(a.mean())}


def measure(router: autorouter.Router, endpoint: Endpoint, calls: int, warmup: int,
            block: int = 50) -> dict:
    """Time `calls` direct calls, routed calls and `route()`s, in alternating blocks of
    `block` (so slow drift hits all three alike, while one never runs in the cache another
    just swept: the MiniLM model's weights evict most of a small L3)."""
    router.set_endpoints(default=endpoint)
    client = ChatClient(endpoint)
    messages = [[{"role": "user", "content": p}] for p in PROMPTS]
    models = [router.route(m).model for m in messages]
    times: dict[str, list[float]] = {"direct": [], "routed": [], "route": []}

    def direct(i: int) -> None:
        client.complete(models[i % len(messages)], messages[i % len(messages)])

    def routed(i: int) -> None:
        answer = router.complete(messages[i % len(messages)])
        assert answer.text.endswith(PROMPTS[i % len(PROMPTS)]), answer.text

    def route(i: int) -> None:
        router.route(messages[i % len(messages)])

    steps = {"direct": direct, "routed": routed, "route": route}
    for step in steps.values():  # warm up: connections, caches, lazy imports
        for i in range(warmup):
            step(i)
    gc.collect()
    done = 0
    while done < calls:
        n = min(block, calls - done)
        for name, step in steps.items():
            for i in range(done, done + n):
                t0 = time.perf_counter()
                step(i)
                times[name].append(time.perf_counter() - t0)
        done += n
    d, r, ro = _pct(times["direct"]), _pct(times["routed"]), _pct(times["route"])
    return {
        "direct_ms": d,
        "routed_ms": r,
        "route_only_ms": ro,
        "overhead_ms": {"p50": r["p50"] - d["p50"], "p99": r["p99"] - d["p99"],
                        "mean": r["mean"] - d["mean"]},
        "calling_machinery_p50_ms": r["p50"] - d["p50"] - ro["p50"],
        "meets_target": r["p50"] - d["p50"] <= TARGET_P50_MS,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "call_overhead.json")
    args = ap.parse_args(argv)

    warnings.simplefilter("ignore")
    routers = {"static embedder (synthetic, 3 models)": ("static", _static_router())}
    default = _default_router()
    if default is not None:
        kind = type(default.embedder_).__name__
        routers[f"default router ({kind}, {len(default.models_)} models)"] = (kind, default)

    results = {}
    with _server_process() as base_url:
        endpoint = Endpoint(base_url=base_url, api_key=SecretStr("bench"), timeout=30.0)
        for name, (embedder, router) in routers.items():
            results[name] = {"embedder": embedder, **measure(router, endpoint, args.calls,
                                                             args.warmup)}
        close_pools()

    header = (f"{'router':<40} {'direct p50/p99':>16} {'routed p50/p99':>16} "
              f"{'route() p50':>12} {'overhead p50/p99':>18}  target")
    print(f"\nrouted vs direct call to a loopback server, {args.calls} calls each (ms)")
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        d, ro, o = r["direct_ms"], r["routed_ms"], r["overhead_ms"]
        print(f"{name:<40} {d['p50']:>7.2f}/{d['p99']:<8.2f} {ro['p50']:>7.2f}/{ro['p99']:<8.2f} "
              f"{r['route_only_ms']['p50']:>12.2f} {o['p50']:>8.2f}/{o['p99']:<9.2f} "
              f"{'ok' if r['meets_target'] else 'MISSED'} (p50 <= {TARGET_P50_MS:g} ms)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "what": "latency of Router.complete vs ChatClient.complete against the same loopback "
                "server; overhead = routed percentile - direct percentile",
        "calls": args.calls,
        "warmup": args.warmup,
        "target_overhead_p50_ms": TARGET_P50_MS,
        "server": "tests/openai_server.py on 127.0.0.1, own process, TCP_NODELAY on",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": results,
    }, indent=2) + "\n")
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
