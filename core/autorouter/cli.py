"""The `autorouter` command: train a router, route a prompt, evaluate a router on data."""

from __future__ import annotations

import contextlib
import json
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import AutorouterError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Send each prompt to the model that gives the best answer for the money.",
)
# Options several commands share.
RouterFolder = Annotated[
    Optional[Path], typer.Option("--router", "-r", help="a trained router folder (default: the bundled one)")
]
TradeoffOption = Annotated[Optional[float], typer.Option(help="0 best quality .. 1 cheapest")]
MaxCostOption = Annotated[Optional[float], typer.Option(help="USD cap per call")]
MaxLatencyOption = Annotated[
    Optional[float], typer.Option("--max-latency", help="cap in seconds until the whole answer has arrived")
]
LatencyWeightOption = Annotated[
    Optional[float], typer.Option(help="quality points one second of predicted latency costs (default 0.0005)")
]

console = Console()
err = Console(stderr=True, soft_wrap=True)


def _fail(e: Exception) -> None:
    err.print(f"[bold red]error:[/] {escape(str(e))}")  # messages hold [brackets]: not markup
    raise typer.Exit(code=2)


@contextlib.contextmanager
def _printed_warnings() -> Iterator[None]:
    """Show the library's warnings as one readable line each, not as Python's source dumps."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for w in caught:
                err.print(f"[yellow]warning:[/] {escape(str(w.message))}")


@app.command()
def train(
    data: Annotated[list[Path], typer.Argument(help="routing data files (.jsonl[.gz], .csv, .parquet)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="folder to write the router to")],
    embedder: Annotated[str, typer.Option(help="'default' (= 'static', bundled, fastest) or 'minilm' (bundled transformer, needs onnxruntime)")] = "default",
    tradeoff: Annotated[float, typer.Option(help="default knob: 0 best quality, 1 cheapest")] = 0.3,
    prices: Annotated[
        Optional[Path],
        typer.Option(help="JSON {model: [USD per 1M input tokens, per 1M output tokens]}"),
    ] = None,
) -> None:
    """Learn a router from routing data and save it to a folder."""
    from .dataset import load_dataset
    from .router import Router

    try:
        with _printed_warnings():
            ds = load_dataset(data)
        price_map = json.loads(prices.read_text()) if prices else None
        console.print(f"training on {len(ds)} prompts, {len(ds.models)} models")
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err, transient=False,
        ) as bar:
            tasks: dict[str, int] = {}

            def report(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            with _printed_warnings():  # printed once the bars are done
                router = Router(embedder=embedder, tradeoff=tradeoff, prices=price_map).fit(ds, progress=report)
        router.save(out)
    except (AutorouterError, OSError, json.JSONDecodeError) as e:
        _fail(e)
    console.print(f"saved router to {out}  (cost from: {router.cost_.mode})")


def _load_router(folder: Optional[Path]):
    from .router import Router

    if folder is None:
        return Router.default()
    return Router.load(folder)


@app.command()
def route(
    prompt: Annotated[str, typer.Argument(help="the prompt to route")],
    router: RouterFolder = None,
    tradeoff: TradeoffOption = None,
    max_cost: MaxCostOption = None,
    max_latency_s: MaxLatencyOption = None,
    latency_weight: LatencyWeightOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the decision as JSON")] = False,
) -> None:
    """Pick a model for PROMPT and show the full ranking."""
    try:
        r = _load_router(router)
        d = r.route(prompt, tradeoff=tradeoff, max_cost=max_cost, max_latency_s=max_latency_s,
                    latency_weight=latency_weight)
    except AutorouterError as e:
        _fail(e)
    if as_json:
        sys.stdout.write(d.model_dump_json(indent=2) + "\n")
        return
    console.print(f"[bold]{escape(d.model)}[/]")
    console.print(d.explanation, highlight=False, markup=False)
    table = Table("#", "model", "quality", "cost $", "~s", "score", "note")
    table.columns[1].no_wrap = True
    for i, c in enumerate(d.ranking, 1):
        latency = "" if c.latency_s is None else f"{c.latency_s:.1f}"
        table.add_row(str(i), c.model, f"{c.quality:.3f}", f"{c.cost_usd:.6f}", latency, f"{c.score:.4f}",
                      c.excluded_because or ("chosen" if i == 1 else ""))
    console.print(table)


@app.command("eval")
def evaluate(
    router_dir: Annotated[Path, typer.Argument(help="a trained router folder")],
    data: Annotated[list[Path], typer.Argument(help="test data files")],
    knn_train: Annotated[
        Optional[list[Path]], typer.Option("--knn-train", help="training data for the kNN baseline")
    ] = None,
    prices: Annotated[Optional[Path], typer.Option(help="JSON prices for data without costs")] = None,
    points: Annotated[int, typer.Option(help="tradeoff settings swept from 0 to 1")] = 21,
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON")] = False,
    plot: Annotated[Optional[Path], typer.Option(help="draw the cost-quality curves to this PNG")] = None,
) -> None:
    """Figures of evaluation.md for a router on test data, with the reference points beside it."""
    from .dataset import load_dataset
    from .report import evaluation_report, plot_report, true_costs

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = load_dataset(data)
            knn_ds = load_dataset(knn_train) if knn_train else None
        router = _load_router(router_dir)
        price_map = json.loads(prices.read_text()) if prices else None
        costs, cost_note = true_costs(ds, price_map)
        report = evaluation_report(router, ds, costs, knn_ds, points=points)
        report["cost_source"] = cost_note
    except (AutorouterError, OSError, json.JSONDecodeError) as e:
        _fail(e)
    if plot:
        try:
            plot_report(report, plot)
        except AutorouterError as e:
            _fail(e)
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    console.print(f"{len(ds)} test prompts; cost: {cost_note}")
    table = Table("router", "AIQ", "saving95", "lift", "gap", "max quality", "mean cost (USD)")
    for name, f in report["figures"].items():
        s95 = "n/a" if f["saving95"] is None else f"{f['saving95']:.3f}"
        table.add_row(name, f"{f['aiq']:.3f}", s95, f"{f['lift']:+.3f}", f"{f['gap']:.2f}",
                      f"{f['max_quality']:.3f}", f"{f['mean_cost']:.6f}")
    console.print(table)
    singles = Table("single model", "quality", "mean cost (USD)")
    for m, (q, c) in report["single_models"].items():
        singles.add_row(m, f"{q:.3f}", f"{c:.6f}")
    console.print(singles)
    if plot:
        console.print(f"curves drawn to {plot}")


@app.command()
def chat(
    prompt: Annotated[str, typer.Argument(help="the prompt to answer")],
    router: RouterFolder = None,
    stream: Annotated[bool, typer.Option("--stream", help="print the answer as it arrives")] = False,
    tradeoff: TradeoffOption = None,
    max_cost: MaxCostOption = None,
    max_latency_s: MaxLatencyOption = None,
    latency_weight: LatencyWeightOption = None,
    base_url: Annotated[
        Optional[str],
        typer.Option("--base-url", help="OpenAI-compatible API root to call instead of OpenRouter"),
    ] = None,
) -> None:
    """Route PROMPT, call the chosen model, print its answer, then the model, tokens and cost.

    The key comes from OPENROUTER_API_KEY (also with --base-url).
    """
    from rich.markup import escape

    from .client import Endpoint
    from .errors import MissingAPIKeyError, StreamInterruptedError
    from .router import Router

    knobs = {"tradeoff": tradeoff, "max_cost": max_cost, "max_latency_s": max_latency_s,
             "latency_weight": latency_weight}
    try:
        r = Router.load(router) if router is not None else Router.default()
        if base_url:
            r.set_endpoints(default=Endpoint(base_url=base_url))
        if stream:
            s = r.stream(prompt, **knobs)
            with s:
                for chunk in s:
                    sys.stdout.write(chunk.text)
                    sys.stdout.flush()
            sys.stdout.write("\n")
            answer = s.result
        else:
            answer = r.complete(prompt, **knobs)
            text = answer.text or "\n".join(
                f"(tool call) {c.name}({c.arguments})" for c in answer.tool_calls
            )
            sys.stdout.write(text + "\n")
    except MissingAPIKeyError as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        try:
            d = r.route(prompt, **knobs)
        except AutorouterError as e2:
            _fail(e2)
        console.print(f"the router would send this prompt to [bold]{escape(d.model)}[/]",
                      highlight=False, soft_wrap=True)
        console.print(d.explanation, highlight=False, soft_wrap=True, markup=False)
        if d.fallbacks:
            more = f" and {len(d.fallbacks) - 5} more" if len(d.fallbacks) > 5 else ""
            console.print("then, if it fails: " + ", ".join(d.fallbacks[:5]) + more, highlight=False,
                          soft_wrap=True, markup=False)
        raise typer.Exit(code=2)
    except StreamInterruptedError as e:
        sys.stdout.write("\n")
        _fail(e)
    except AutorouterError as e:
        _fail(e)
    if answer is None:  # a stream closed before its end
        raise typer.Exit(code=1)
    usage = answer.usage
    tokens = f"{usage.prompt_tokens} in + {usage.completion_tokens} out" if usage else "not reported"
    if answer.cost_usd is None:
        cost = "unknown (no price for this model)"
    else:
        digits = 6 if answer.cost_usd >= 1e-4 else 8
        cost = f"${answer.cost_usd:.{digits}f}" + (
            " (reported by the provider)" if answer.cost_source == "provider" else " (list price)"
        )
    note = f" (after {answer.attempts[0].model} failed)" if answer.fell_back else ""
    console.print(f"model: {answer.model}{note}   tokens: {tokens}   cost: {cost}", highlight=False,
                  soft_wrap=True, markup=False, style="dim")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to bind; beyond 127.0.0.1 needs AUTOROUTER_SERVER_KEY")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    router: RouterFolder = None,
    catalog: Annotated[Optional[Path], typer.Option(help="a catalog file (default: the bundled one)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="worker processes (each loads the router)")] = 1,
    base_url: Annotated[
        Optional[str],
        typer.Option("--base-url", help="OpenAI-compatible API root the models are called at (default: OpenRouter)"),
    ] = None,
    api_key_env: Annotated[
        str, typer.Option("--api-key-env", help="variable holding the upstream key ('' for none)")
    ] = "OPENROUTER_API_KEY",
    max_body_bytes: Annotated[Optional[int], typer.Option(min=1, help="request-body limit (default 8 MiB)")] = None,
    access_log: Annotated[bool, typer.Option(help="log each request line")] = True,
) -> None:
    """Serve the router as an OpenAI-compatible endpoint: POST /v1/chat/completions with
    model "auto" (or a model id), GET /v1/models, GET /health.

    Callers must send `Authorization: Bearer $AUTOROUTER_SERVER_KEY` when that variable is set;
    it must be set to bind beyond 127.0.0.1.
    """
    import os

    from . import server as gateway

    key = os.environ.get(gateway.ENV_SERVER_KEY, "").strip()
    try:
        gateway.check_server_key(key or None)
    except gateway.ServerConfigError as e:
        _fail(e)
    if not gateway.is_loopback(host) and not key:
        _fail(gateway.ServerConfigError(
            f"refusing to serve on {host} without a key: set {gateway.ENV_SERVER_KEY} to a long "
            "random token that callers send as 'Authorization: Bearer <token>', or bind 127.0.0.1"
        ))
    try:
        import uvicorn
    except ImportError:
        _fail(gateway.ServerConfigError("serving needs uvicorn and starlette: pip install 'autorouter[serve]'"))
    settings = {
        gateway.ENV_ROUTER_DIR: str(router.resolve()) if router is not None else "",
        gateway.ENV_CATALOG: str(catalog.resolve()) if catalog is not None else "",
        gateway.ENV_UPSTREAM_BASE_URL: base_url or "",
        gateway.ENV_UPSTREAM_KEY_ENV: api_key_env,
        gateway.ENV_MAX_BODY_BYTES: str(max_body_bytes or ""),
        gateway.ENV_ALLOW_NO_SERVER_KEY: "1" if gateway.is_loopback(host) else "",
    }
    os.environ.update(settings)  # read by app_from_env, here and in every worker
    try:
        app_obj = gateway.app_from_env()  # fails here, before binding, on a bad router or catalog
    except (AutorouterError, OSError, json.JSONDecodeError) as e:
        _fail(e)
    n = len(app_obj.state.gateway.models)
    auth = "bearer key required" if key else "no key (loopback only)"
    err.print(f"serving {n} models on http://{host}:{port}/v1 ({workers} worker(s), {auth})", highlight=False)
    if workers > 1:
        del app_obj
        uvicorn.run("autorouter.server:app_from_env", factory=True, host=host, port=port, workers=workers,
                    access_log=access_log, timeout_graceful_shutdown=10)
    else:
        uvicorn.run(app_obj, host=host, port=port, access_log=access_log, timeout_graceful_shutdown=10)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
