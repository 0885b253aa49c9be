"""One routed call of `AutoRouterLLM`: the request (what to send, what the router is told, the
core's `CallPlan` once routed), the provider-neutral tool request it may carry, and the one
candidate call each attempt makes: the same arguments whether the call is sync or async,
streamed or not."""

from __future__ import annotations

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
class Request:
    """One call: what to send the candidates, and what its plan (`autorouter.calls.CallPlan`)
    takes into account besides the router's decision."""

    rest: dict[str, Any]  # kwargs passed through to the candidate
    tools: Tools | None = None
    prompt: Any = None  # the call's prompt or messages, as given: what the answer is recorded under
    forced: str | None = None  # the candidate the call's model= names
    kept: str | None = None  # the candidate the agent run started with, if it is under way
    excluded: dict[str, str] = field(default_factory=dict)
    run: str | None = None  # the agent run's key, when this call starts one


def candidate_method(kind: str, *, stream: bool, is_async: bool) -> str:
    """The method of LlamaIndex's LLM API a routed call makes on its candidate: `kind`
    "chat" or "completion", in its stream and async forms (`chat`, `astream_complete`, ...)."""
    return ("a" if is_async else "") + ("stream_" if stream else "") + ("chat" if kind == "chat" else "complete")


def send(llm: LLM, kind: str, method: str, prompt: Any, req: Request, formatted: bool = False) -> Any:
    """`llm.<method>` (one of `candidate_method`'s) on the call's prompt or messages, with the
    request's kwargs; a chat with tools goes to a function-calling LLM's `<method>_with_tools`,
    which formats the tools its own way. The async methods return the awaitable."""
    if kind != "chat":
        return getattr(llm, method)(prompt, formatted=formatted, **req.rest)
    if req.tools is not None and isinstance(llm, FunctionCallingLLM):
        return getattr(llm, f"{method}_with_tools")(
            req.tools.tools, chat_history=list(prompt), **req.tools.kwargs(), **req.rest
        )
    return getattr(llm, method)(prompt, **req.rest)
