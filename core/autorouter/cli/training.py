"""The commands that work on routing data: `train` learns a router from it, `eval` measures a
router on it, `label` makes it from your own prompts."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from ..dataset import DEFAULT_SPLIT_SEED, load_dataset
from ..errors import AutorouterError, InvalidRequestError
from ..feedback import FeedbackLog
from ..router import Router
from ._common import (
    ApiKeyEnvOption,
    SplitSeedOption,
    TestFractionOption,
    console,
    err,
    fail,
    load_router,
    number_columns,
    printed_warnings,
    simple_table,
    warn,
)

__all__ = ["evaluate", "label", "train"]


def train(
    out: Annotated[Path, typer.Option("--out", "-o", help="folder to write the router to")],
    data: Annotated[list[Path] | None, typer.Argument(help="routing data files (.jsonl[.gz], .csv, .parquet)")] = None,
    embedder: Annotated[str, typer.Option(help="'default' (= 'static', bundled, fastest) or 'minilm' (bundled transformer, needs onnxruntime)")] = "default",
    tradeoff: Annotated[float, typer.Option(help="default knob: 0 best quality, 1 cheapest")] = 0.3,
    prices: Annotated[Path | None, typer.Option(help="JSON {model: [USD per 1M input tokens, per 1M output tokens]}")] = None,
    test_fraction: TestFractionOption = None,
    split_seed: SplitSeedOption = DEFAULT_SPLIT_SEED,
    feedback: Annotated[Path | None, typer.Option("--feedback", help="a feedback log (JSON Lines of prompt, model, score) to learn from too")] = None,
    base: Annotated[Path | None, typer.Option("--router", help="with --feedback and no DATA: the router to update (default: the bundled one)")] = None,
) -> None:
    """Learn a router from routing data and save it to a folder.

    With --feedback FILE (what `autorouter serve` records from POST /v1/feedback), the router
    also learns from those outcomes; without DATA it updates --router (or the bundled default
    router) with them: `autorouter train --feedback feedback.jsonl --out my-router`.

    With --test-fraction F, about F of the prompts are held out (chosen by a seeded hash of
    each prompt's text, whatever the file order) and the router learns from the rest; then
    `autorouter eval DIR DATA --test-fraction F` (same --split-seed) tests it on exactly those.
    """
    if not data:
        if feedback is None:
            fail(InvalidRequestError("give routing data files to train on, or --feedback FILE to learn from"))
        try:
            records = FeedbackLog(feedback).read()
            router = load_router(base).apply_feedback(records)
            router.save(out)
        except (AutorouterError, OSError) as e:
            fail(e)
        console.print(f"learned {len(records)} feedback records; saved router to {out}", highlight=False)
        return
    if base is not None:
        fail(InvalidRequestError("--router is the router --feedback updates without DATA; with DATA a new one is trained"))
    try:
        with printed_warnings():
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

            with printed_warnings():  # printed once the bars are done
                router = Router(embedder=embedder, tradeoff=tradeoff, prices=price_map).fit(ds, progress=report)
        if feedback is not None:
            records = FeedbackLog(feedback).read()
            router.apply_feedback(records)
            console.print(f"learned {len(records)} feedback records", highlight=False)
        router.save(out)
    except (AutorouterError, OSError, json.JSONDecodeError) as e:
        fail(e)
    console.print(f"saved router to {out}  (cost from: {router.cost_.mode})")


def evaluate(
    router_dir: Annotated[Path, typer.Argument(help="a trained router folder")],
    data: Annotated[list[Path], typer.Argument(help="test data files")],
    knn_train: Annotated[list[Path] | None, typer.Option("--knn-train", help="training data for the kNN baseline")] = None,
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
    # each command loads the machinery only it needs, not every command at start-up
    from ..report import (
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
        router = load_router(router_dir)
        price_map = json.loads(prices.read_text()) if prices else None
        costs, cost_note = true_costs(ds, price_map)
        report = evaluation_report(router, ds, costs, knn_ds, points=points)
        report["cost_source"] = cost_note
    except (AutorouterError, OSError, json.JSONDecodeError) as e:
        fail(e)
    if test_fraction is not None:
        report["split"] = {"test_fraction": test_fraction, "split_seed": split_seed}
        hint = ("was the router trained with `autorouter train ... --test-fraction "
                f"{test_fraction:g} --split-seed {split_seed}`?")
    else:
        hint = ("test on prompts it never saw: `autorouter train DATA --out DIR --test-fraction 0.2`, "
                "then `autorouter eval DIR DATA --test-fraction 0.2`")
    if (warning := overlap_warning(report["training_overlap"], hint)) is not None:
        warn(warning)
    if report.get("knn_train_overlap"):
        warn(f"{report['knn_train_overlap']} of the {len(ds)} test prompts are also in the --knn-train "
              "data: the kNN baseline's figures are in-sample")
    if plot:
        try:
            plot_report(report, plot)
        except AutorouterError as e:
            fail(e)
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    console.print(f"{len(ds)} test prompts{split_note}; cost: {cost_note}", highlight=False)
    table = simple_table("router", "AIQ", "saving95", "lift", "gap", "max quality", "mean cost")
    number_columns(table, 1)
    for name, f in report["figures"].items():
        s95 = "n/a" if f["saving95"] is None else f"{f['saving95']:.3f}"
        table.add_row(name, f"{f['aiq']:.3f}", s95, f"{f['lift']:+.3f}", f"{f['gap']:.2f}",
                      f"{f['max_quality']:.3f}", format_usd(f["mean_cost"]))
    console.print(table)
    singles = simple_table("single model", "quality", "mean cost")
    singles.columns[0].overflow = "fold"
    number_columns(singles, 1)
    for m, (q, c) in report["single_models"].items():
        singles.add_row(m, f"{q:.3f}", format_usd(c))
    console.print(singles)
    if plot:
        console.print(f"curves drawn to {plot}")


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
    base_url: Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible API root every model is called at (default: OpenRouter)")] = None,
    api_key_env: ApiKeyEnvOption = "OPENROUTER_API_KEY",
) -> None:
    """Turn your own prompts into routing data: each model answers, a judge grades the answers,
    and the grades are written as data `autorouter train` learns from.

    The estimated cost is printed first, and nothing is spent without a yes: the --yes flag, a
    budget (--budget USD) the estimate fits, or an answer to the question when run in a
    terminal. With a budget the run stops once the spend reaches it. After a crash or Ctrl-C,
    rerun the same command: what finished is kept in OUT.journal and not paid for again.
    """
    # each command loads the machinery only it needs, not every command at start-up
    from ..labelling import journal_path_for, plan_labelling
    from ..report import format_usd

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

            with printed_warnings():
                summary = job.run(yes=yes, budget_usd=budget, progress=report)
    except KeyboardInterrupt:
        err.print(f"interrupted: what finished is kept in {escape(str(journal_path_for(out)))}; "
                  "rerun the same command to go on", highlight=False)
        raise typer.Exit(code=130) from None
    except (AutorouterError, OSError) as e:
        fail(e)
    table = simple_table("model", "mean score", "scored", "answers", "answer cost", "failures")
    for m in summary.models:
        table.add_row(escape(m.model), "n/a" if m.mean_score is None else f"{m.mean_score:.3f}", str(m.scored),
                      str(m.answers), format_usd(m.answer_cost_usd), str(m.failures))
    number_columns(table, 1)
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
