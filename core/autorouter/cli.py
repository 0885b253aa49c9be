"""The `autorouter` command: train a router, route a prompt, evaluate a router on data,
answer a prompt with the chosen model, serve an OpenAI-compatible endpoint."""

from __future__ import annotations

import contextlib
import json
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from .dataset import DEFAULT_SPLIT_SEED
from .errors import AutorouterError, InvalidRequestError

if TYPE_CHECKING:
    from .decision import RoutingDecision
    from .router import Router

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Send each prompt to the model that gives the best answer for the money.",
)
# Options several commands share.
RouterFolder = Annotated[
    Path | None, typer.Option("--router", "-r", help="a trained router folder (default: the bundled one)")
]
TradeoffOption = Annotated[float | None, typer.Option(help="0 best quality .. 1 cheapest")]
MaxCostOption = Annotated[float | None, typer.Option(help="USD cap per call")]
MaxLatencyOption = Annotated[
    float | None, typer.Option("--max-latency", help="cap in seconds until the whole answer has arrived")
]
LatencyWeightOption = Annotated[
    float | None, typer.Option(help="quality points one second of predicted latency costs (default 0.0005)")
]
PromptArgument = Annotated[
    str | None,
    typer.Argument(metavar="PROMPT", help="the prompt; '-' reads it from stdin (or use --file)", show_default=False),
]
PromptFileOption = Annotated[
    Path | None, typer.Option("--file", "-f", help="read the prompt from this UTF-8 file ('-': stdin)")
]
ApiKeyEnvOption = Annotated[
    str, typer.Option("--api-key-env", help="variable holding the upstream key ('' for none)")
]
TestFractionOption = Annotated[
    float | None,
    typer.Option("--test-fraction", help="hold out this fraction of the prompts (0..1) for testing: "
                 "train on the rest, evaluate on it (split by a seeded hash of each prompt)"),
]
SplitSeedOption = Annotated[int, typer.Option("--split-seed", help="seed of the --test-fraction split")]

console = Console()
err = Console(stderr=True, soft_wrap=True)


def _fail(e: Exception) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(str(e))}")  # messages hold [brackets]: not markup
    raise typer.Exit(code=2)


def _warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}")


def _read_prompt(prompt: str | None, file: Path | None) -> str:
    """The prompt from the argument, stdin (`-`) or `--file`, for prompts too long to type.

    One trailing line break is dropped (files and `echo` end with one); nothing else is.
    """
    if prompt is not None and file is not None:
        raise InvalidRequestError("give the prompt either as an argument or with --file, not both")
    if prompt is None and file is None:
        raise InvalidRequestError("no prompt: give it as an argument, '-' to read it from stdin, or --file PATH")
    if prompt == "-" or (file is not None and str(file) == "-"):
        try:
            text, source = sys.stdin.read(), "stdin"
        except UnicodeDecodeError as e:
            raise InvalidRequestError(
                f"stdin is not text in this terminal's encoding ({e.encoding}: {e.reason}): "
                "pass the prompt with --file FILE (read as UTF-8)"
            ) from e
    elif file is not None:
        try:
            text, source = file.read_text(encoding="utf-8"), str(file)
        except UnicodeDecodeError as e:
            raise InvalidRequestError(f"the prompt file {file} is not UTF-8 text ({e.reason}): save it as UTF-8") from e
        except OSError as e:
            raise InvalidRequestError(f"cannot read the prompt file {file}: {e.strerror or e}") from e
    else:
        return str(prompt)
    text = text.removesuffix("\n").removesuffix("\r")
    if not text.strip():
        raise InvalidRequestError(f"the prompt read from {source} is empty")
    return text


def _table(*headers: str) -> Table:
    """A borderless table, columns one space apart: box borders and padding would cost a
    7-column table 22 of 80 columns."""
    return Table(*headers, box=box.SIMPLE_HEAD, pad_edge=False, padding=0, show_edge=False)


def _numbers(table: Table, first: int) -> None:
    """Columns from `first` on hold numbers: right-aligned and never wrapped, so that when
    space runs out rich narrows the wrappable (name) columns, not these to `0.00…`."""
    for col in table.columns[first:]:
        col.justify, col.no_wrap = "right", True


@contextlib.contextmanager
def _printed_warnings() -> Iterator[None]:
    """Show the library's warnings as one readable line each, not as Python's source dumps."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for w in caught:
                _warn(str(w.message))


@app.command()
def train(
    out: Annotated[Path, typer.Option("--out", "-o", help="folder to write the router to")],
    data: Annotated[
        list[Path] | None, typer.Argument(help="routing data files (.jsonl[.gz], .csv, .parquet)")
    ] = None,
    embedder: Annotated[str, typer.Option(help="'default' (= 'static', bundled, fastest) or 'minilm' (bundled transformer, needs onnxruntime)")] = "default",
    tradeoff: Annotated[float, typer.Option(help="default knob: 0 best quality, 1 cheapest")] = 0.3,
    prices: Annotated[
        Path | None,
        typer.Option(help="JSON {model: [USD per 1M input tokens, per 1M output tokens]}"),
    ] = None,
    test_fraction: TestFractionOption = None,
    split_seed: SplitSeedOption = DEFAULT_SPLIT_SEED,
    feedback: Annotated[
        Path | None,
        typer.Option("--feedback", help="a feedback log (JSON Lines of prompt, model, score) to learn from too"),
    ] = None,
    base: Annotated[
        Path | None,
        typer.Option("--router", help="with --feedback and no DATA: the router to update (default: the bundled one)"),
    ] = None,
) -> None:
    """Learn a router from routing data and save it to a folder.

    With --feedback FILE (what `autorouter serve` records from POST /v1/feedback), the router
    also learns from those outcomes; without DATA it updates --router (or the bundled default
    router) with them: `autorouter train --feedback feedback.jsonl --out my-router`.

    With --test-fraction F, about F of the prompts are held out (chosen by a seeded hash of
    each prompt's text, whatever the file order) and the router learns from the rest; then
    `autorouter eval DIR DATA --test-fraction F` (same --split-seed) tests it on exactly those.
    """
    from .dataset import load_dataset
    from .feedback import FeedbackLog
    from .router import Router

    if not data:
        if feedback is None:
            _fail(InvalidRequestError("give routing data files to train on, or --feedback FILE to learn from"))
        try:
            records = FeedbackLog(feedback).read()
            router = _load_router(base).apply_feedback(records)
            router.save(out)
        except (AutorouterError, OSError) as e:
            _fail(e)
        console.print(f"learned {len(records)} feedback records; saved router to {out}", highlight=False)
        return
    if base is not None:
        _fail(InvalidRequestError("--router is the router --feedback updates without DATA; with DATA a new one is trained"))
    try:
        with _printed_warnings():
            ds = load_dataset(data)
        held = ""
        if test_fraction is not None:
            ds, test = ds.split(test_fraction, seed=split_seed)
            held = (f" (holding out {len(test)} for `autorouter eval {out} DATA --test-fraction {test_fraction:g}"
                    f"{'' if split_seed == DEFAULT_SPLIT_SEED else f' --split-seed {split_seed}'}`)")
        price_map = json.loads(prices.read_text()) if prices else None
        console.print(f"training on {len(ds)} prompts, {len(ds.models)} models{held}", highlight=False)
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err, transient=False,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def report(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            with _printed_warnings():  # printed once the bars are done
                router = Router(embedder=embedder, tradeoff=tradeoff, prices=price_map).fit(ds, progress=report)
        if feedback is not None:
            records = FeedbackLog(feedback).read()
            router.apply_feedback(records)
            console.print(f"learned {len(records)} feedback records", highlight=False)
        router.save(out)
    except (AutorouterError, OSError, json.JSONDecodeError) as e:
        _fail(e)
    console.print(f"saved router to {out}  (cost from: {router.cost_.mode})")


def _load_router(folder: Path | None) -> Router:
    from .router import Router

    if folder is None:
        return Router.default()
    return Router.load(folder)


def _decision_json(d: RoutingDecision) -> dict[str, Any]:
    """The decision as `route --json` prints it: its fields, plus the fallbacks (a property,
    which pydantic leaves out), the prompt's family and difficulty first; the ranking last."""
    fields = d.model_dump(mode="json")
    head = {"model": fields.pop("model"), "fallbacks": d.fallbacks, "family": fields.pop("family"),
            "difficulty": fields.pop("difficulty")}
    ranking = fields.pop("ranking")
    return {**head, **fields, "ranking": ranking}


def _print_decision(d: RoutingDecision) -> None:
    """The pick, its explanation one clause per line, and the ranking, within 80 columns."""
    from .report import format_usd

    console.print(f"[bold]{escape(d.model)}[/]")
    # The explanation is "<model>: <why>; prompt looks like ...; tradeoff T": the model is
    # printed above, and one clause per line reads better than one sentence wrapped at 80.
    why = d.explanation.removeprefix(f"{d.model}: ")
    for clause in why.split("; "):
        console.print(clause, highlight=False, markup=False)
    table = _table("#", "model", "quality", "cost", "~s", "score", "note")
    table.columns[0].justify = "right"
    table.columns[1].overflow = "fold"
    _numbers(table, 2)
    table.columns[6].justify = "left"
    excluded = []
    for i, c in enumerate(d.ranking, 1):
        latency = "" if c.latency_s is None else f"{c.latency_s:.1f}"
        note = "chosen" if i == 1 else "" if c.eligible else "excluded"
        if not c.eligible:
            excluded.append(f"{c.model}: {c.excluded_because}")
        table.add_row(str(i), c.model, f"{c.quality:.3f}", format_usd(c.cost_usd), latency, f"{c.score:.4f}", note)
    console.print(table)
    if excluded:  # below the table: a reason in a column would leave the others no room
        console.print("excluded:", highlight=False)
        for line in excluded:
            wrapped = textwrap.fill(line, width=max(40, console.width), initial_indent="  ", subsequent_indent="    ")
            console.print(wrapped, highlight=False, markup=False, soft_wrap=True)


@app.command()
def route(
    prompt: PromptArgument = None,
    file: PromptFileOption = None,
    router: RouterFolder = None,
    tradeoff: TradeoffOption = None,
    max_cost: MaxCostOption = None,
    max_latency_s: MaxLatencyOption = None,
    latency_weight: LatencyWeightOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the decision as JSON")] = False,
) -> None:
    """Pick a model for PROMPT and show the full ranking.

    The JSON holds the decision's fields plus `fallbacks` (eligible models after the chosen
    one, in order), `family` (what the prompt looks like) and `difficulty` (easy / medium / hard).
    """
    try:
        text = _read_prompt(prompt, file)
        r = _load_router(router)
        d = r.route(text, tradeoff=tradeoff, max_cost=max_cost, max_latency_s=max_latency_s,
                    latency_weight=latency_weight)
    except AutorouterError as e:
        _fail(e)
    if as_json:
        sys.stdout.write(json.dumps(_decision_json(d), indent=2, ensure_ascii=False) + "\n")
        return
    _print_decision(d)


@app.command("eval")
def evaluate(
    router_dir: Annotated[Path, typer.Argument(help="a trained router folder")],
    data: Annotated[list[Path], typer.Argument(help="test data files")],
    knn_train: Annotated[
        list[Path] | None, typer.Option("--knn-train", help="training data for the kNN baseline")
    ] = None,
    prices: Annotated[Path | None, typer.Option(help="JSON prices for data without costs")] = None,
    points: Annotated[int, typer.Option(help="tradeoff settings swept from 0 to 1")] = 21,
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON")] = False,
    plot: Annotated[Path | None, typer.Option(help="draw the cost-quality curves to this PNG")] = None,
    test_fraction: TestFractionOption = None,
    split_seed: SplitSeedOption = DEFAULT_SPLIT_SEED,
) -> None:
    """Figures of docs/evaluation.md for a router on test data, with the reference points beside it.

    Figures on prompts the router was trained on are in-sample: eval warns when it finds test
    prompts among the router's training prompts (compared by embedding with the sample of them a
    saved router keeps). For an honest split, train and evaluate with the same --test-fraction
    (and --split-seed): eval then tests only on the held-out prompts, and the kNN baseline learns
    only from the others.
    """
    from .dataset import load_dataset
    from .report import (
        evaluation_report,
        format_usd,
        overlap_warning,
        plot_report,
        true_costs,
    )

    split_note = ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = load_dataset(data)
            knn_ds = load_dataset(knn_train) if knn_train else None
        if test_fraction is not None:
            n_rows = len(ds)
            _, ds = ds.split(test_fraction, seed=split_seed)
            if knn_ds is not None:  # else the kNN baseline would be scored on its own training rows
                knn_ds, _ = knn_ds.split(test_fraction, seed=split_seed)
            split_note = f" (held out of {n_rows} by --test-fraction {test_fraction:g}, --split-seed {split_seed})"
        router = _load_router(router_dir)
        price_map = json.loads(prices.read_text()) if prices else None
        costs, cost_note = true_costs(ds, price_map)
        report = evaluation_report(router, ds, costs, knn_ds, points=points)
        report["cost_source"] = cost_note
    except (AutorouterError, OSError, json.JSONDecodeError) as e:
        _fail(e)
    if test_fraction is not None:
        report["split"] = {"test_fraction": test_fraction, "split_seed": split_seed}
        hint = ("was the router trained with `autorouter train ... --test-fraction "
                f"{test_fraction:g} --split-seed {split_seed}`?")
    else:
        hint = ("test on prompts it never saw: `autorouter train DATA --out DIR --test-fraction 0.2`, "
                "then `autorouter eval DIR DATA --test-fraction 0.2`")
    if (warning := overlap_warning(report["training_overlap"], hint)) is not None:
        _warn(warning)
    if report.get("knn_train_overlap"):
        _warn(f"{report['knn_train_overlap']} of the {len(ds)} test prompts are also in the --knn-train "
              "data: the kNN baseline's figures are in-sample")
    if plot:
        try:
            plot_report(report, plot)
        except AutorouterError as e:
            _fail(e)
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    console.print(f"{len(ds)} test prompts{split_note}; cost: {cost_note}", highlight=False)
    table = _table("router", "AIQ", "saving95", "lift", "gap", "max quality", "mean cost")
    _numbers(table, 1)
    for name, f in report["figures"].items():
        s95 = "n/a" if f["saving95"] is None else f"{f['saving95']:.3f}"
        table.add_row(name, f"{f['aiq']:.3f}", s95, f"{f['lift']:+.3f}", f"{f['gap']:.2f}",
                      f"{f['max_quality']:.3f}", format_usd(f["mean_cost"]))
    console.print(table)
    singles = _table("single model", "quality", "mean cost")
    singles.columns[0].overflow = "fold"
    _numbers(singles, 1)
    for m, (q, c) in report["single_models"].items():
        singles.add_row(m, f"{q:.3f}", format_usd(c))
    console.print(singles)
    if plot:
        console.print(f"curves drawn to {plot}")


TimeBudgetOption = Annotated[
    float | None,
    typer.Option("--time-budget", min=0.001, help="seconds after which no new attempt starts (default 120)"),
]
AttemptTimeoutOption = Annotated[
    float | None,
    typer.Option("--attempt-timeout", min=0.001,
                 help="seconds one model has for its answer to start before the next is tried "
                      "(default: half the time budget)"),
]
StallTimeoutOption = Annotated[
    float | None,
    typer.Option("--stall-timeout", min=0.001, help="longest silence in a stream, seconds (default 30)"),
]


def _retry_policy(budget: float | None, attempt: float | None, stall: float | None) -> Any:
    from .reliability import RetryPolicy

    timing = {"total_budget_s": budget, "attempt_timeout_s": attempt, "stall_timeout_s": stall}
    return RetryPolicy.model_validate({k: v for k, v in timing.items() if v is not None})


@app.command()
def chat(
    prompt: PromptArgument = None,
    file: PromptFileOption = None,
    router: RouterFolder = None,
    stream: Annotated[bool, typer.Option("--stream", help="print the answer as it arrives")] = False,
    tradeoff: TradeoffOption = None,
    max_cost: MaxCostOption = None,
    max_latency_s: MaxLatencyOption = None,
    latency_weight: LatencyWeightOption = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="OpenAI-compatible API root to call instead of OpenRouter"),
    ] = None,
    api_key_env: ApiKeyEnvOption = "OPENROUTER_API_KEY",
    time_budget: TimeBudgetOption = None,
    attempt_timeout: AttemptTimeoutOption = None,
    stall_timeout: StallTimeoutOption = None,
) -> None:
    """Route PROMPT, call the chosen model, print its answer, then the model, tokens and cost.

    The key comes from the variable --api-key-env names (OPENROUTER_API_KEY unless told
    otherwise, also with --base-url); --api-key-env '' sends none, for a local server.
    """
    from .client import DEFAULT_BASE_URL, Endpoint
    from .errors import MissingAPIKeyError, StreamInterruptedError

    try:
        text = _read_prompt(prompt, file)
        r = _load_router(router)
        # As `serve` does: one endpoint for every model, its key read from the named variable.
        r.set_endpoints(default=Endpoint(base_url=base_url or DEFAULT_BASE_URL,
                                         api_key_env=api_key_env.strip() or None))
        r.retry_policy = _retry_policy(time_budget, attempt_timeout, stall_timeout)
        if stream:
            s = r.stream(text, tradeoff=tradeoff, max_cost=max_cost, max_latency_s=max_latency_s,
                         latency_weight=latency_weight)
            with s:
                for chunk in s:
                    sys.stdout.write(chunk.text)
                    sys.stdout.flush()
            sys.stdout.write("\n")
            answer = s.result
        else:
            answer = r.complete(text, tradeoff=tradeoff, max_cost=max_cost, max_latency_s=max_latency_s,
                                latency_weight=latency_weight)
            shown = answer.text or "\n".join(
                f"(tool call) {c.name}({c.arguments})" for c in answer.tool_calls
            )
            sys.stdout.write(shown + "\n")
    except MissingAPIKeyError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}; or name another variable with --api-key-env VAR "
                  "(--api-key-env '' for an endpoint that needs no key)", highlight=False, soft_wrap=True)
        try:
            d = r.route(text, tradeoff=tradeoff, max_cost=max_cost, max_latency_s=max_latency_s,
                        latency_weight=latency_weight)
        except AutorouterError as e2:
            _fail(e2)
        console.print(f"the router would send this prompt to [bold]{escape(d.model)}[/]",
                      highlight=False, soft_wrap=True)
        console.print(d.explanation, highlight=False, soft_wrap=True, markup=False)
        if d.fallbacks:
            more = f" and {len(d.fallbacks) - 5} more" if len(d.fallbacks) > 5 else ""
            console.print("then, if it fails: " + ", ".join(d.fallbacks[:5]) + more, highlight=False,
                          soft_wrap=True, markup=False)
        raise typer.Exit(code=2) from None
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
        digits = 6 if answer.cost_usd >= 1e-4 else 8  # one line, no table: room for the digits
        cost = f"${answer.cost_usd:.{digits}f}" + (
            " (reported by the provider)" if answer.cost_source == "provider" else " (list price)"
        )
    note = f" (after {answer.attempts[0].model} failed)" if answer.fell_back else ""
    console.print(f"model: {answer.model}{note}   tokens: {tokens}   cost: {cost}", highlight=False,
                  soft_wrap=True, markup=False, style="dim")


@app.command()
def label(
    prompts: Annotated[list[Path], typer.Argument(help="your prompts: a text file (one per line), JSONL with `prompt` or `messages`, or an OpenAI chat log")],
    models: Annotated[list[str], typer.Option("--models", "-m", help="candidate models to label (repeat the option, or separate names with commas)")],
    judge: Annotated[str, typer.Option("--judge", "-j", help="the model that grades the answers")],
    out: Annotated[Path, typer.Option("--out", "-o", help="routing data to write (.jsonl); the journal beside it (OUT.journal) makes reruns resume")],
    reference: Annotated[str | None, typer.Option("--reference", help="grade pairwise against this model's answers, in both orders, instead of on 1-10")] = None,
    budget: Annotated[float | None, typer.Option("--budget", help="USD the whole job may spend: starts if the estimate fits, stops there")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="go ahead whatever the estimate, without asking")] = False,
    sample: Annotated[int | None, typer.Option("--sample", min=1, help="label N prompts only: drawn at random (seeded), or with --active the N least sure")] = None,
    active: Annotated[str | None, typer.Option("--active", help="a trained router folder, or 'default': label the prompts it is least sure of, first")] = None,
    seed: Annotated[int, typer.Option(help="seed of --sample")] = 0,
    prices: Annotated[Path | None, typer.Option(help="JSON {model: [USD per 1M input tokens, per 1M output tokens]} for models the catalog does not price")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1, help="cap each answer (the estimate is then a bound)")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="calls in flight at once per endpoint")] = 8,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="OpenAI-compatible API root every model is called at (default: OpenRouter)"),
    ] = None,
    api_key_env: ApiKeyEnvOption = "OPENROUTER_API_KEY",
) -> None:
    """Turn your own prompts into routing data: each model answers, a judge grades the answers,
    and the grades are written as data `autorouter train` learns from.

    The estimated cost is printed first, and nothing is spent without a yes: the --yes flag, a
    budget (--budget USD) the estimate fits, or an answer to the question when run in a
    terminal. With a budget the run stops once the spend reaches it. After a crash or Ctrl-C,
    rerun the same command: what finished is kept in OUT.journal and not paid for again.
    """
    from .labelling import journal_path_for, plan_labelling
    from .report import format_usd

    try:
        job = plan_labelling(prompts, models=models, judge=judge, out=out, reference=reference, sample=sample,
                             active=active, seed=seed, base_url=base_url, api_key_env=api_key_env, prices=prices,
                             concurrency=concurrency, max_tokens=max_tokens)
        estimate = job.estimate()
        err.print(estimate.describe(), highlight=False, markup=False)
        if estimate.calls and not yes and budget is None and sys.stdin.isatty():
            if not typer.confirm(f"spend about {format_usd(estimate.total_usd)}?", err=True):
                raise typer.Exit(code=1)
            yes = True
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[spend]}"),
            TimeElapsedColumn(), console=err, transient=False,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def report(stage: str, done: int, total: int, spend: float) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total, spend="")
                bar.update(tasks[stage], completed=done, total=total, spend=format_usd(spend))

            with _printed_warnings():
                summary = job.run(yes=yes, budget_usd=budget, progress=report)
    except KeyboardInterrupt:
        err.print(f"interrupted: what finished is kept in {escape(str(journal_path_for(out)))}; "
                  "rerun the same command to go on", highlight=False)
        raise typer.Exit(code=130) from None
    except (AutorouterError, OSError) as e:
        _fail(e)
    table = _table("model", "mean score", "scored", "answers", "answer cost", "failures")
    for m in summary.models:
        table.add_row(escape(m.model), "n/a" if m.mean_score is None else f"{m.mean_score:.3f}", str(m.scored),
                      str(m.answers), format_usd(m.answer_cost_usd), str(m.failures))
    _numbers(table, 1)
    console.print(table)
    console.print(f"judge {escape(summary.judge)}: {format_usd(summary.judge_cost_usd)}; this run "
                  f"{summary.paid_calls} calls, {format_usd(summary.spent_usd)} (all runs "
                  f"{format_usd(summary.total_spent_usd)})", highlight=False)
    if summary.stopped:
        err.print(f"[yellow]stopped early:[/] {escape(summary.stopped)}; rerun (with a larger --budget) to go on")
    if summary.out is not None:
        console.print(f"wrote {summary.rows} labelled prompts to {escape(str(summary.out))}; "
                      f"train with: autorouter train {escape(str(summary.out))} --out ROUTER", highlight=False)
    else:
        err.print("no prompt is fully labelled yet: nothing written")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to bind; beyond 127.0.0.1 needs AUTOROUTER_SERVER_KEY")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    router: RouterFolder = None,
    catalog: Annotated[Path | None, typer.Option(help="a catalog file (default: the bundled one)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="worker processes (each loads the router)")] = 1,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="OpenAI-compatible API root the models are called at (default: OpenRouter)"),
    ] = None,
    api_key_env: ApiKeyEnvOption = "OPENROUTER_API_KEY",
    max_body_bytes: Annotated[int | None, typer.Option(min=1, help="request-body limit (default 8 MiB)")] = None,
    access_log: Annotated[bool, typer.Option(help="log each request line")] = True,
    time_budget: TimeBudgetOption = None,
    attempt_timeout: AttemptTimeoutOption = None,
    stall_timeout: StallTimeoutOption = None,
    body_timeout: Annotated[
        float | None, typer.Option("--body-timeout", min=0.001, help="seconds a request body may take to arrive (default 30)"),
    ] = None,
    header_timeout: Annotated[
        float | None, typer.Option("--header-timeout", min=0.001, help="seconds request headers may take to arrive (default 10)"),
    ] = None,
    feedback: Annotated[
        str | None,
        typer.Option("--feedback", help="file POST /v1/feedback appends to (default: ~/.local/state/autorouter/feedback.jsonl; '' keeps none)"),
    ] = None,
) -> None:
    """Serve the router as an OpenAI-compatible endpoint: POST /v1/chat/completions with
    model "auto" (or a model id), GET /v1/models, GET /health.

    Callers must send `Authorization: Bearer $AUTOROUTER_SERVER_KEY` when that variable is set;
    it must be set to bind beyond 127.0.0.1. A model that has not started answering within
    --attempt-timeout is left for the next one; slow clients are cut off by --header-timeout
    and --body-timeout (408).
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
        gateway.ENV_TIME_BUDGET_S: _seconds(time_budget),
        gateway.ENV_ATTEMPT_TIMEOUT_S: _seconds(attempt_timeout),
        gateway.ENV_STALL_TIMEOUT_S: _seconds(stall_timeout),
        gateway.ENV_BODY_TIMEOUT_S: _seconds(body_timeout),
        gateway.ENV_HEADER_TIMEOUT_S: _seconds(header_timeout),
    }
    if feedback is not None:
        settings[gateway.ENV_FEEDBACK_FILE] = feedback
    os.environ.update(settings)  # read by app_from_env, here and in every worker
    try:
        app_obj = gateway.app_from_env()  # fails here, before binding, on a bad router or catalog
    except (AutorouterError, OSError, json.JSONDecodeError) as e:
        _fail(e)
    n = len(app_obj.state.gateway.models)
    auth = "bearer key required" if key else "no key (loopback only)"
    err.print(f"serving {n} models on http://{host}:{port}/v1 ({workers} worker(s), {auth})", highlight=False)
    # The gateway's own HTTP protocol: header deadlines and TCP_NODELAY on every connection.
    options = gateway.uvicorn_options()
    if workers > 1:
        del app_obj
        uvicorn.run("autorouter.server:app_from_env", factory=True, host=host, port=port, workers=workers,
                    access_log=access_log, timeout_graceful_shutdown=10, **options)
    else:
        uvicorn.run(app_obj, host=host, port=port, access_log=access_log, timeout_graceful_shutdown=10,
                    **options)


def _seconds(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
