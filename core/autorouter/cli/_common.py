"""What the commands of `autorouter` share: the options several of them take, the consoles
they print to, and how they read a prompt, load a router, print a table and fail."""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import InvalidRequestError
from ..reliability import RetryPolicy
from ..router import Router

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
# The time limits of the calls upstream (`chat`, `serve`): the fields of a RetryPolicy.
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

console = Console()
err = Console(stderr=True, soft_wrap=True)


def fail(e: Exception) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(str(e))}")  # messages hold [brackets]: not markup
    raise typer.Exit(code=2)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}")


def read_prompt(prompt: str | None, file: Path | None) -> str:
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


def simple_table(*headers: str) -> Table:
    """A borderless table, columns one space apart: box borders and padding would cost a
    7-column table 22 of 80 columns."""
    return Table(*headers, box=box.SIMPLE_HEAD, pad_edge=False, padding=0, show_edge=False)


def number_columns(table: Table, first: int) -> None:
    """Columns from `first` on hold numbers: right-aligned and never wrapped, so that when
    space runs out rich narrows the wrappable (name) columns, not these to `0.00…`."""
    for col in table.columns[first:]:
        col.justify, col.no_wrap = "right", True


@contextlib.contextmanager
def printed_warnings() -> Iterator[None]:
    """Show the library's warnings as one readable line each, not as Python's source dumps."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for w in caught:
                warn(str(w.message))


def load_router(folder: Path | None) -> Router:
    """The router saved in `folder`, or the bundled default one."""
    if folder is None:
        return Router.default()
    return Router.load(folder)


def retry_policy(budget: float | None, attempt: float | None, stall: float | None) -> Any:
    """A RetryPolicy with the time limits given on the command line, the defaults elsewhere."""
    timing = {"total_budget_s": budget, "attempt_timeout_s": attempt, "stall_timeout_s": stall}
    return RetryPolicy.model_validate({k: v for k, v in timing.items() if v is not None})


def seconds_setting(value: float | None) -> str:
    """A number of seconds as the gateway's environment settings spell it ('' for unset)."""
    return "" if value is None else repr(float(value))
