"""One routed call of `AutoRouterLLM`: its plan (the candidates to try in order, the report's
facts, what to send), the provider-neutral tool request it may carry, the routing failure an
agent run's model survives, and the one candidate call each attempt makes from the plan: the
same arguments whether the call is sync or async, streamed or not."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM

TOOLS_KWARG = "_autorouter_tools"  # the provider-neutral tool request, from _prepare_chat_with_tools


@dataclass
class Tools:
    """A tool call request as `chat_with_tools` got it, for the chosen candidate's own
    `chat_with_tools` (each provider formats tools its own way)."""

    tools: list[Any]
    tool_choice: Any = None
    tool_required: bool = False
    allow_parallel_tool_calls: bool = False
    verbose: bool = False

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "verbose": self.verbose,
            "allow_parallel_tool_calls": self.allow_parallel_tool_calls,
            "tool_required": self.tool_required,
        }
        if self.tool_choice is not None:
            out["tool_choice"] = self.tool_choice
        return out


@dataclass
class Plan:
    """One call, routed: the candidates to try in order, and what to send them."""

    order: list[str]
    rest: dict[str, Any]  # kwargs passed through to the candidate
    tools: Tools | None = None
    decision: Any = None  # autorouter.RoutingDecision; None when forced or only sticky
    forced: bool = False
    sticky: str | None = None
    excluded: dict[str, str] = field(default_factory=dict)
    run: str | None = None  # the agent run's key, when this call starts one
    prompt: Any = None  # the call's prompt or messages, as given: what the answer is recorded under


def candidate_method(kind: str, *, stream: bool, is_async: bool) -> str:
    """The method of LlamaIndex's LLM API a routed call makes on its candidate: `kind`
    "chat" or "completion", in its stream and async forms (`chat`, `astream_complete`, ...)."""
    return ("a" if is_async else "") + ("stream_" if stream else "") + ("chat" if kind == "chat" else "complete")


def send(llm: LLM, kind: str, method: str, prompt: Any, plan: Plan, formatted: bool = False) -> Any:
    """`llm.<method>` (one of `candidate_method`'s) on the call's prompt or messages, with the
    plan's kwargs; a chat with tools goes to a function-calling LLM's `<method>_with_tools`,
    which formats the tools its own way. The async methods return the awaitable."""
    if kind != "chat":
        return getattr(llm, method)(prompt, formatted=formatted, **plan.rest)
    if plan.tools is not None and isinstance(llm, FunctionCallingLLM):
        return getattr(llm, f"{method}_with_tools")(
            plan.tools.tools, chat_history=list(prompt), **plan.tools.kwargs(), **plan.rest
        )
    return getattr(llm, method)(prompt, **plan.rest)


@contextmanager
def sticky_survives(plan: Plan) -> Iterator[None]:
    """Routing that finds no candidate under the call's caps fails, unless the agent run
    already has its model: a cap excluding the model the run started with keeps it."""
    try:
        yield
    except Exception as exc:
        from autorouter.errors import NoCandidateError

        if plan.sticky is None or not isinstance(exc, NoCandidateError):
            raise
