"""The commands that take a prompt: `route` shows which model the router picks and why, `chat`
calls that model and prints its answer."""

from __future__ import annotations

import json
import sys
import textwrap
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from ..client import DEFAULT_BASE_URL, Endpoint
from ..errors import AutorouterError, MissingAPIKeyError, StreamInterruptedError
from ._common import (
    ApiKeyEnvOption,
    AttemptTimeoutOption,
    LatencyWeightOption,
    MaxCostOption,
    MaxLatencyOption,
    PromptArgument,
    PromptFileOption,
    RouterFolder,
    StallTimeoutOption,
    TimeBudgetOption,
    TradeoffOption,
    console,
    err,
    fail,
    load_router,
    number_columns,
    read_prompt,
    retry_policy,
    simple_table,
)

if TYPE_CHECKING:
    from ..decision import RoutingDecision

__all__ = ["chat", "route"]


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
    from ..report import format_usd  # only the commands that print costs load the report module

    console.print(f"[bold]{escape(d.model)}[/]")
    # The explanation is "<model>: <why>; prompt looks like ...; tradeoff T": the model is
    # printed above, and one clause per line reads better than one sentence wrapped at 80.
    why = d.explanation.removeprefix(f"{d.model}: ")
    for clause in why.split("; "):
        console.print(clause, highlight=False, markup=False)
    table = simple_table("#", "model", "quality", "cost", "~s", "score", "note")
    table.columns[0].justify = "right"
    table.columns[1].overflow = "fold"
    number_columns(table, 2)
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
        text = read_prompt(prompt, file)
        r = load_router(router)
        d = r.route(text, tradeoff=tradeoff, max_cost=max_cost, max_latency_s=max_latency_s,
                    latency_weight=latency_weight)
    except AutorouterError as e:
        fail(e)
    if as_json:
        sys.stdout.write(json.dumps(_decision_json(d), indent=2, ensure_ascii=False) + "\n")
        return
    _print_decision(d)


def chat(
    prompt: PromptArgument = None,
    file: PromptFileOption = None,
    router: RouterFolder = None,
    stream: Annotated[bool, typer.Option("--stream", help="print the answer as it arrives")] = False,
    tradeoff: TradeoffOption = None,
    max_cost: MaxCostOption = None,
    max_latency_s: MaxLatencyOption = None,
    latency_weight: LatencyWeightOption = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible API root to call instead of OpenRouter")] = None,
    api_key_env: ApiKeyEnvOption = "OPENROUTER_API_KEY",
    time_budget: TimeBudgetOption = None,
    attempt_timeout: AttemptTimeoutOption = None,
    stall_timeout: StallTimeoutOption = None,
) -> None:
    """Route PROMPT, call the chosen model, print its answer, then the model, tokens and cost.

    The key comes from the variable --api-key-env names (OPENROUTER_API_KEY unless told
    otherwise, also with --base-url); --api-key-env '' sends none, for a local server.
    """
    try:
        text = read_prompt(prompt, file)
        r = load_router(router)
        # As `serve` does: one endpoint for every model, its key read from the named variable.
        r.set_endpoints(default=Endpoint(base_url=base_url or DEFAULT_BASE_URL,
                                         api_key_env=api_key_env.strip() or None))
        r.retry_policy = retry_policy(time_budget, attempt_timeout, stall_timeout)
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
            fail(e2)
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
        fail(e)
    except AutorouterError as e:
        fail(e)
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
