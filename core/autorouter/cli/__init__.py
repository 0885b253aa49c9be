"""The `autorouter` command: train a router, route a prompt, evaluate a router on data,
answer a prompt with the chosen model, serve an OpenAI-compatible endpoint.

The commands are grouped by what they work on: `training` (train, eval, label), `answering`
(route, chat) and `serving` (serve); `_common` holds what they share. They are registered
here, in the order `autorouter --help` lists them.
"""

from __future__ import annotations

import typer

# The commands and consoles the one-module cli defined are importable from here still.
from ._common import console, err
from .answering import chat, route
from .serving import serve
from .training import evaluate, label, train

__all__ = ["app", "chat", "console", "err", "evaluate", "label", "main", "route", "serve", "train"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Send each prompt to the model that gives the best answer for the money.",
)
app.command()(train)
app.command()(route)
app.command("eval")(evaluate)
app.command()(chat)
app.command()(label)
app.command()(serve)


def main() -> None:
    app()
