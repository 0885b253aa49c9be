"""Added latency and CPU cost of the `autorouter serve` gateway over calling the upstream directly.

    python benchmarks/gateway_latency.py [--requests 400] [--quick] [--clients 1,32,128]
        [--modes plain,stream] [--no-default] [--no-workers] [--client raw|httpx] [--out FILE]

Three processes on 127.0.0.1: the OpenAI-compatible test server (tests/openai_server.py) as
the upstream, the gateway (`autorouter serve`, one uvicorn worker) in front of it, and this
client: N asyncio tasks, each with its own kept-alive HTTP/1.1 connection written by hand, as
N separate clients would have (an httpx client shared by the tasks spent 2-5 ms of CPU per
request at 32-128 connections in its pool's bookkeeping, more than the upstream and close to
the gateway, and its own pool's churn gave the direct calls a p99 5-20x their p50: it measured
itself). The same chat request, plain and streamed (the stream read to its end), is timed end
to end
  - direct: to the upstream, naming a model;
  - gateway, model "auto": routed (embedding + ranking) then called;
  - gateway, concrete model: no choice to make (the ranking is still computed);
at 1, 32 and 128 concurrent clients (--clients), for two routers:
  - static: a router on the bundled static embedder (the fastest), fitted on the tests'
    synthetic data (3 models);
  - default: the bundled default router (MiniLM embedder, 20 catalog models).
and once more for the static router behind `autorouter serve --workers 2` at 1 client: uvicorn's
multi-worker socket is bound without naming IPPROTO_TCP, so under the plain asyncio loop its
connections keep Nagle's algorithm on and every keep-alive request waits ~40 ms for a delayed
ACK (uvicorn issue #3149); this row shows whether the gateway's event loop (uvloop, from the
`serve` extra) or protocol sets TCP_NODELAY. The loop in use is recorded with the results.

Added latency = gateway percentile - direct percentile (p50 and p99, ms); the tail is also
given as p99/p50 for both, since the direct ratio is what this machine's scheduling alone does
to the tail at that concurrency. Above a few clients one gateway worker is saturated, so its
p50 is about clients x its CPU per request (queueing, not per-request work): CPU per request
moves the p50 there, and p99/p50 says how fairly the queue is served. (`autorouter.client`
calls the upstream through httpx2's pool. On httpx 0.28's, httpcore 1.0, the gateway's own
upstream calls churned the way this client's did: an idle connection was handed to every
request queued before the first of them ran and all but one went round again, and above 50
open connections each was closed the moment it was free, giving p99 4-5x p50 from 32
clients up (encode/httpcore#822, #1110); on httpx2 it is 1.1-2.3x.)
CPU ms per request = the CPU time (user + system, every thread and worker process) the
gateway used over a cell's timed requests, divided by them (Linux: read from /proc); the
upstream's figure for the direct cells is the same measure for the bare test server (a
Starlette app on the same uvicorn), a floor for any Python gateway on this stack, and the
client's own is recorded too.
Prints a table and writes benchmarks/results/gateway_latency.json (or --out). The machine's
core count and load average are recorded: client, gateway and upstream share the CPUs, so at
32 and 128 clients the figures include queueing on a small machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
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

import httpx  # noqa: E402 - after the sys.path lines above

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


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` and every process below it (uvicorn's
    workers), all threads included, from /proc (NaN without it)."""
    if not Path(f"/proc/{pid}/stat").exists():
        return math.nan
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in Path(f"/proc/{p}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


class Connection:
    """One kept-alive HTTP/1.1 connection, written by hand: each of the benchmark's clients
    owns one, as separate clients would. (httpx's shared pool costs its process 2-5 ms of CPU
    per request at 32-128 connections, scanning every connection on each request, and with it
    the client, not the servers, set the tail the benchmark measured.)"""

    def __init__(self, base: str) -> None:
        url = httpx.URL(base)
        self.host, self.port, self.prefix = url.host, url.port or 80, url.path.rstrip("/")
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        """POST `body` as JSON; the status and the whole (de-chunked) response body."""
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        data = json.dumps(body).encode()
        self.writer.write(
            b"POST %s HTTP/1.1\r\nhost: %s:%d\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s"
            % ((self.prefix + path).encode(), self.host.encode(), self.port, len(data), data))
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
        if "content-length" in headers:
            content = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self.reader.readexactly(size + 2))  # the chunk and its CRLF
                if size == 0:
                    break
            content = b"".join(p[:-2] for p in parts)
        else:
            content = await self.reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, content

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None


class HttpxConnection:
    """`Connection`'s interface on one httpx client shared by every task (--client httpx):
    how this benchmark measured before, for comparison."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        async with self.http.stream("POST", path, json=body) as resp:
            return resp.status_code, b"".join([part async for part in resp.aiter_bytes()])

    async def close(self) -> None:
        pass


CLIENT = "raw"  # or "httpx" (--client)


async def timed_run(base: str, model: str, clients: int, requests: int, warmup: int,
                    stream: bool, cpu_pid: int | None) -> tuple[list[float], float | None, float]:
    """Latencies (ms) of `requests` calls made by `clients` concurrent clients (one kept-alive
    connection each), after `warmup` untimed calls on the same connections; the CPU seconds
    process `cpu_pid` used over the timed calls, and this process's own. A streamed call is
    timed until its last byte."""
    latencies: list[float] = []
    shared: httpx.AsyncClient | None = None
    connections: list[Any]
    if CLIENT == "httpx":
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        shared = httpx.AsyncClient(base_url=base, limits=limits, timeout=60)
        connections = [HttpxConnection(shared) for _ in range(clients)]
    else:
        connections = [Connection(base) for _ in range(clients)]

    async def worker(conn: Connection, counter: Any, record: bool) -> None:
        for i in counter:
            body: dict[str, Any] = {"model": model, "messages": [
                {"role": "user", "content": f"{PROMPTS[i % len(PROMPTS)]} #{i}"}]}
            if stream:
                body["stream"] = True
            start = time.perf_counter()
            status, content = await conn.post("/chat/completions", body)
            if record:
                latencies.append((time.perf_counter() - start) * 1000)
            ok = status == 200 and (content.endswith(b"data: [DONE]\n\n") if stream
                                    else content.startswith(b"{"))
            if not ok:
                raise RuntimeError(f"{base}: HTTP {status}: {content[:200]!r}")

    try:
        warm = iter(range(warmup))
        await asyncio.gather(*(worker(c, warm, False) for c in connections))
        cpu_before = cpu_seconds(cpu_pid) if cpu_pid is not None else None
        own_before = time.process_time()
        timed = iter(range(requests))
        await asyncio.gather(*(worker(c, timed, True) for c in connections))
        own = time.process_time() - own_before
        cpu = cpu_seconds(cpu_pid) - cpu_before if cpu_pid is not None and cpu_before is not None else None
    finally:
        for conn in connections:
            await conn.close()
        if shared is not None:
            await shared.aclose()
    return latencies, cpu, own


def run(coro: Any) -> Any:
    """`asyncio.run`, on uvloop when it is installed (a lighter client)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


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


def measure(base: str, model: str, clients: int, requests: int, warmup: int, stream: bool,
            cpu_pid: int | None) -> dict[str, float]:
    lat, cpu, own = run(timed_run(base, model, clients, requests, warmup, stream, cpu_pid))
    p50, p99 = statistics.median(lat), pct(lat, 99)
    return {"p50_ms": p50, "p99_ms": p99, "mean_ms": statistics.fmean(lat), "p99_over_p50": p99 / p50,
            "requests": len(lat), "cpu_ms_per_request": cpu * 1000 / len(lat) if cpu is not None else math.nan,
            "client_cpu_ms_per_request": own * 1000 / len(lat)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400,
                        help="timed requests per cell (x5 above 1 client)")
    parser.add_argument("--quick", action="store_true", help="100 requests per cell")
    parser.add_argument("--clients", default="1,32,128", help="concurrent clients, comma-separated")
    parser.add_argument("--modes", default="plain,stream", help="plain and/or stream")
    parser.add_argument("--no-default", action="store_true", help="skip the default (MiniLM) router")
    parser.add_argument("--no-workers", action="store_true", help="skip the --workers 2 row")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw",
                        help="raw: a connection per client (default); httpx: one shared httpx client")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args()
    global CLIENT
    CLIENT = args.client
    n = 100 if args.quick else args.requests
    client_counts = tuple(int(c) for c in args.clients.split(","))
    modes = tuple(m.strip() for m in args.modes.split(","))
    if not set(modes) <= {"plain", "stream"}:
        parser.error("--modes takes plain and/or stream")

    upstream_proc, upstream = start_upstream()
    procs: list[subprocess.Popen[Any]] = [upstream_proc]
    rows: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            static = static_router_dir(Path(tmp))
            # (router, its folder, a concrete model, worker processes, client counts)
            setups: list[tuple[str, Path | None, str, int, tuple[int, ...]]] = [
                ("static", static, "coder", 1, client_counts)]
            if not args.no_default:
                setups.append(("default", None, "openai/gpt-4o-mini-2024-07-18", 1, client_counts))
            if not args.no_workers:
                setups.append(("static", static, "coder", 2, (1,)))
            for name, router_dir, concrete, workers, counts in setups:
                proc, gateway = start_gateway(upstream, router_dir, workers)
                procs.append(proc)
                for mode in modes:
                    for clients in counts:
                        requests = n if clients == 1 else n * 5
                        warmup = max(20, clients * 2)
                        stream = mode == "stream"
                        direct = measure(upstream, concrete, clients, requests, warmup, stream,
                                         upstream_proc.pid)
                        for label, model in (("auto", "auto"), ("concrete", concrete)):
                            via = measure(gateway, model, clients, requests, warmup, stream, proc.pid)
                            rows.append({
                                "router": name, "mode": mode, "model": label, "workers": workers,
                                "clients": clients,
                                "direct_p50_ms": direct["p50_ms"], "direct_p99_ms": direct["p99_ms"],
                                "gateway_p50_ms": via["p50_ms"], "gateway_p99_ms": via["p99_ms"],
                                "added_p50_ms": via["p50_ms"] - direct["p50_ms"],
                                "added_p99_ms": via["p99_ms"] - direct["p99_ms"],
                                "direct_p99_over_p50": direct["p99_over_p50"],
                                "gateway_p99_over_p50": via["p99_over_p50"],
                                "gateway_cpu_ms_per_request": via["cpu_ms_per_request"],
                                "upstream_cpu_ms_per_request": direct["cpu_ms_per_request"],
                                "client_cpu_ms_per_request": via["client_cpu_ms_per_request"],
                                "requests": requests,
                            })
                            print(f"  {name:8} {mode:6} {label:9} workers={workers} clients={clients:3}  "
                                  f"direct p50 {direct['p50_ms']:7.2f} p99 {direct['p99_ms']:7.2f}  "
                                  f"gateway p50 {via['p50_ms']:7.2f} p99 {via['p99_ms']:7.2f} "
                                  f"(x{via['p99_over_p50']:.2f})  cpu/req {via['cpu_ms_per_request']:5.2f} ms",
                                  flush=True)
                stop(proc)
    finally:
        for proc in procs:
            if proc.poll() is None:
                stop(proc)

    print()
    header = (f"{'router':8} {'mode':6} {'model':9} {'workers':>7} {'clients':>7} {'direct p50':>10} "
              f"{'direct p99':>10} {'p99/p50':>7} {'gw p50':>8} {'gw p99':>8} {'p99/p50':>7} "
              f"{'added p50':>9} {'added p99':>9} {'gw cpu/req':>10} {'up cpu/req':>10}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['router']:8} {r['mode']:6} {r['model']:9} {r['workers']:>7} {r['clients']:>7} "
              f"{r['direct_p50_ms']:>10.2f} {r['direct_p99_ms']:>10.2f} {r['direct_p99_over_p50']:>7.2f} "
              f"{r['gateway_p50_ms']:>8.2f} {r['gateway_p99_ms']:>8.2f} {r['gateway_p99_over_p50']:>7.2f} "
              f"{r['added_p50_ms']:>9.2f} {r['added_p99_ms']:>9.2f} {r['gateway_cpu_ms_per_request']:>10.2f} "
              f"{r['upstream_cpu_ms_per_request']:>10.2f}")
    loop = event_loop()
    print(f"(ms; added = gateway - direct at the same percentile; cpu/req = CPU ms per timed request "
          f"of the gateway, and of the upstream in the direct cell; gateway loop: {loop})")
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "gateway_latency",
        "setup": "client, gateway (`autorouter serve`, 1 uvicorn worker, and 2 for the workers=2 "
                 "row) and upstream test server as separate processes on 127.0.0.1; chat "
                 "completions, plain and streamed (timed to the last byte), on kept-alive "
                 "connections; added = gateway minus direct percentile; gateway_cpu_ms_per_request "
                 "= the gateway processes' user+system CPU over the timed requests / requests "
                 "(upstream_cpu_ms_per_request: the upstream's, in the direct cell; "
                 "client_cpu_ms_per_request: this client's, in the gateway cell); the client "
                 "gives each concurrent client its own hand-written HTTP/1.1 connection",
        "client": CLIENT,
        "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg(), "python": platform.python_version(),
                    "platform": platform.platform(), "gateway_loop": loop},
        "rows": rows,
    }, indent=2) + "\n")
    print(f"wrote {out.resolve().relative_to(ROOT) if out.resolve().is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
