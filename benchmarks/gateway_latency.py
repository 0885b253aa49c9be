"""Added latency of the `autorouter serve` gateway over calling the upstream directly.

    python benchmarks/gateway_latency.py [--requests 400] [--quick] [--no-default] [--out FILE]

Three processes on 127.0.0.1: the OpenAI-compatible test server (tests/openai_server.py) as
the upstream, the gateway (`autorouter serve`, one uvicorn worker) in front of it, and this
client (httpx, asyncio). The same non-streamed chat request is timed end to end
  - direct: to the upstream, naming a model;
  - gateway, model "auto": routed (embedding + ranking) then called;
  - gateway, concrete model: no choice to make (the ranking is still computed);
at 1 and at 50 concurrent clients, for two routers:
  - static: a router on the bundled static embedder (the fastest), fitted on the tests'
    synthetic data (3 models);
  - default: the bundled default router (MiniLM embedder, 20 catalog models).
and once more for the static router behind `autorouter serve --workers 2` at 1 client: uvicorn's
multi-worker socket is bound without naming IPPROTO_TCP, so under the plain asyncio loop its
connections keep Nagle's algorithm on and every keep-alive request waits ~40 ms for a delayed
ACK (uvicorn issue #3149); this row shows whether the gateway's event loop (uvloop, from the
`serve` extra) or protocol sets TCP_NODELAY. The loop in use is recorded with the results.
Added latency = gateway percentile - direct percentile (p50 and p99, ms). Prints a table and
writes benchmarks/results/gateway_latency.json (or --out). The machine's core count and load
average are recorded: client, gateway and upstream share the CPUs, so at 50 clients the figures
include queueing on a small machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "core"))
sys.path.insert(0, str(ROOT / "tests" / "core"))  # synthetic.py

import httpx

RESULTS = ROOT / "benchmarks" / "results" / "gateway_latency.json"
PROMPTS = [
    "hello there friend number 7",
    "write a python function to sort 3 lists",
    "prove that 3 plus 4 is an integer",
    "what is the capital of France? answer in one word",
]

UPSTREAM = """
import sys, time
sys.path.insert(0, {tests!r})
from openai_server import OpenAIServer
server = OpenAIServer().start()
print(server.port, flush=True)
while True:
    time.sleep(3600)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen[Any], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start_upstream() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", UPSTREAM.format(tests=str(ROOT / "tests"))],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    base = f"http://127.0.0.1:{port}/v1"
    wait_ready(base + "/models", proc)
    return proc, base


def start_gateway(upstream: str, router_dir: Path | None,
                  workers: int = 1) -> tuple[subprocess.Popen[Any], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "autorouter.cli", "serve", "--port", str(port),
           "--base-url", upstream, "--api-key-env", "", "--no-access-log",
           "--workers", str(workers)]
    if router_dir is not None:
        cmd += ["--router", str(router_dir)]
    env = {k: v for k, v in os.environ.items() if k != "AUTOROUTER_SERVER_KEY"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(f"http://127.0.0.1:{port}/health", proc)
    return proc, f"http://127.0.0.1:{port}/v1"


def static_router_dir(tmp: Path) -> Path:
    import autorouter
    from synthetic import make_rows, write_jsonl

    data = write_jsonl(make_rows(300), tmp / "train.jsonl")
    router = autorouter.Router(embedder="static").fit(autorouter.load_dataset(data))
    return router.save(tmp / "static_router")


async def timed_run(base: str, model: str, clients: int, requests: int, warmup: int) -> list[float]:
    """Latencies (ms) of `requests` calls made by `clients` concurrent clients, after `warmup`
    untimed calls on the same (kept-alive) connections."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:

        async def worker(counter: Any, record: bool) -> None:
            for i in counter:
                body = {"model": model, "messages": [
                    {"role": "user", "content": f"{PROMPTS[i % len(PROMPTS)]} #{i}"}]}
                start = time.perf_counter()
                resp = await http.post("/chat/completions", json=body)
                if record:
                    latencies.append((time.perf_counter() - start) * 1000)
                if resp.status_code != 200:
                    raise RuntimeError(f"{base}: HTTP {resp.status_code}: {resp.text[:200]}")

        warm = iter(range(warmup))
        await asyncio.gather(*(worker(warm, False) for _ in range(clients)))
        timed = iter(range(requests))
        await asyncio.gather(*(worker(timed, True) for _ in range(clients)))
    return latencies


def event_loop() -> str:
    """The loop `autorouter serve` runs on here: uvicorn's "auto" picks uvloop when it imports."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    return f"uvloop {getattr(uvloop, '__version__', '?')}"


def stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if q < 100 else max(values)


def measure(base: str, model: str, clients: int, requests: int, warmup: int) -> dict[str, float]:
    lat = asyncio.run(timed_run(base, model, clients, requests, warmup))
    return {"p50_ms": statistics.median(lat), "p99_ms": pct(lat, 99), "mean_ms": statistics.fmean(lat),
            "requests": len(lat)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="timed requests per cell (x5 at 50 clients)")
    parser.add_argument("--quick", action="store_true", help="100 requests per cell")
    parser.add_argument("--no-default", action="store_true", help="skip the default (MiniLM) router")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args()
    n = 100 if args.quick else args.requests

    upstream_proc, upstream = start_upstream()
    procs: list[subprocess.Popen[Any]] = [upstream_proc]
    rows: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            static = static_router_dir(Path(tmp))
            # (router, its folder, a concrete model, worker processes, client counts)
            setups: list[tuple[str, Path | None, str, int, tuple[int, ...]]] = [
                ("static", static, "coder", 1, (1, 50))]
            if not args.no_default:
                setups.append(("default", None, "openai/gpt-4o-mini-2024-07-18", 1, (1, 50)))
            setups.append(("static", static, "coder", 2, (1,)))
            for name, router_dir, concrete, workers, client_counts in setups:
                proc, gateway = start_gateway(upstream, router_dir, workers)
                procs.append(proc)
                for clients in client_counts:
                    requests = n if clients == 1 else n * 5
                    warmup = max(20, clients * 2)
                    direct = measure(upstream, concrete, clients, requests, warmup)
                    for label, model in (("auto", "auto"), ("concrete", concrete)):
                        via = measure(gateway, model, clients, requests, warmup)
                        rows.append({
                            "router": name, "model": label, "workers": workers, "clients": clients,
                            "direct_p50_ms": direct["p50_ms"], "direct_p99_ms": direct["p99_ms"],
                            "gateway_p50_ms": via["p50_ms"], "gateway_p99_ms": via["p99_ms"],
                            "added_p50_ms": via["p50_ms"] - direct["p50_ms"],
                            "added_p99_ms": via["p99_ms"] - direct["p99_ms"],
                            "requests": requests,
                        })
                        print(f"  {name:8} {label:9} workers={workers} clients={clients:3}  "
                              f"direct p50 {direct['p50_ms']:7.2f}  gateway p50 {via['p50_ms']:7.2f}  "
                              f"p99 {via['p99_ms']:7.2f}", flush=True)
                stop(proc)
    finally:
        for proc in procs:
            if proc.poll() is None:
                stop(proc)

    print()
    header = f"{'router':8} {'model':9} {'workers':>7} {'clients':>7} {'direct p50':>10} " \
             f"{'direct p99':>10} {'gw p50':>8} {'gw p99':>8} {'added p50':>9} {'added p99':>9}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['router']:8} {r['model']:9} {r['workers']:>7} {r['clients']:>7} {r['direct_p50_ms']:>10.2f} "
              f"{r['direct_p99_ms']:>10.2f} {r['gateway_p50_ms']:>8.2f} {r['gateway_p99_ms']:>8.2f} "
              f"{r['added_p50_ms']:>9.2f} {r['added_p99_ms']:>9.2f}")
    loop = event_loop()
    print(f"(ms; added = gateway - direct at the same percentile; gateway loop: {loop})")
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "gateway_latency",
        "setup": "client, gateway (`autorouter serve`, 1 uvicorn worker, and 2 for the workers=2 "
                 "row) and upstream test server as separate processes on 127.0.0.1; non-streamed "
                 "chat completions on kept-alive connections; added = gateway minus direct "
                 "percentile",
        "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg(), "python": platform.python_version(),
                    "platform": platform.platform(), "gateway_loop": loop},
        "rows": rows,
    }, indent=2) + "\n")
    print(f"wrote {out.resolve().relative_to(ROOT) if out.resolve().is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
