"""The candidate chat models as the router sees and calls them: their own model names, what
each can take (tools, images, structured output, context window), the copies the router
calls (without retries of their own; one per event loop for async calls), and what to call
on one for a call with tools bound.

The framework-neutral steps (the catalog, names, eligibility) are the core's (`autorouter.calls`),
shared with the other adapters."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableBinding

from autorouter.calls.adapter_support import own_retries_warning, warn_caller
from autorouter.catalog import shared_card

TOOL_KWARGS = ("tools", "tool_choice", "parallel_tool_calls", "strict", "response_format")
"""The tool-calling call kwargs, handed to the chosen candidate's own `bind_tools`, so each
provider formats them its own way."""

# --- names -------------------------------------------------------------------------------


def model_name_of(model: Any) -> str | None:
    """The model name a LangChain chat model was built with (`model_name`, `model`, ...)."""
    for attr in ("model_name", "model", "model_id", "deployment_name"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return None


# --- the candidates' own clients ---------------------------------------------------------


def _openai_family(model: Any) -> bool:
    """Whether `model` is a langchain-openai chat model (ChatOpenAI, AzureChatOpenAI, and the
    partner models built on `BaseChatOpenAI`). Not imported here: if langchain-openai was
    never imported, no candidate can be one."""
    module = sys.modules.get("langchain_openai.chat_models.base")
    family = getattr(module, "BaseChatOpenAI", None)
    return isinstance(family, type) and isinstance(model, family)


def without_own_retries(model: BaseChatModel, key: str) -> BaseChatModel:
    """The candidate as the router calls it: without retries of its own.

    autorouter's policy retries each model, then falls back to the next one; a candidate
    that also retries (ChatOpenAI's SDK client does twice by default) multiplies the
    requests of every attempt and delays the fallback. For langchain-openai models this is
    a copy with `max_retries=0` whose SDK clients are the original's with retries off (the
    same connection pools); the original is left as it was. Any other model that has a
    nonzero `max_retries` is kept as it is, with a warning: how it builds its clients is
    its own business.
    """
    retries = getattr(model, "max_retries", None)
    if _openai_family(model):
        if retries == 0:
            return model
        clients = {"root_client": "client", "root_async_client": "async_client"}
        if any(getattr(model, root, None) is None and getattr(model, sub, None) is not None
               for root, sub in clients.items()):
            # A client of the user's own, without the SDK root it came from: it cannot be
            # copied with other options.
            warn_caller(own_retries_warning("chat model", key, model, retries))
            return model
        update: dict[str, Any] = {"max_retries": 0}
        for root, sub in clients.items():
            sdk = getattr(model, root, None)
            if sdk is not None:
                update[root] = sdk.with_options(max_retries=0)
                update[sub] = update[root].chat.completions
        return model.model_copy(update=update)
    if "max_retries" in type(model).model_fields and isinstance(retries, int) and retries > 0:
        warn_caller(own_retries_warning("chat model", key, model, retries))
    return model


def for_this_loop(model: BaseChatModel) -> BaseChatModel:
    """A copy of the candidate for async calls in the running event loop (one per loop,
    kept by `autorouter.calls.adapter_support.LoopLocal`): its async SDK client is the original's with
    an HTTP connection pool of its own. langchain-openai shares one cached async pool per
    base URL and timeout, whose connections belong to the loop that opened them; from a
    later `asyncio.run(...)` a request on one of them is sent, fails, and is sent again.

    Models with an async HTTP client of the caller's own (`http_async_client`, or a proxy)
    and other model classes are used as they are.
    """
    if not _openai_family(model):
        return model
    sdk = getattr(model, "root_async_client", None)
    if sdk is None or getattr(model, "http_async_client", None) is not None:
        return model
    import openai  # not every install has it (langchain-openai brings it): only OpenAI-family models get here

    root = sdk.with_options(http_client=openai.DefaultAsyncHttpxClient())
    return model.model_copy(update={"root_async_client": root, "async_client": root.chat.completions})


# --- what a candidate can do ------------------------------------------------------------


def overrides_bind_tools(model: BaseChatModel) -> bool:
    return type(model).bind_tools is not BaseChatModel.bind_tools


def _first_known(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def capabilities(model: BaseChatModel, router_name: str) -> dict[str, Any]:
    """What a candidate can take: True, False, or None (nobody says).

    The candidate's own LangChain `profile` speaks first, then the catalog's card for its
    router name (or for its own model name). A model that overrides `bind_tools` calls
    tools unless its profile or the catalog says otherwise; a model that does not override
    `bind_tools` has no tools. The catalog's capabilities count as they do for a router's
    `add_catalog_model`: a False there excludes the candidate from calls that need it.
    """
    profile: Mapping[str, Any] = model.profile if isinstance(model.profile, Mapping) else {}
    card = shared_card(router_name) or shared_card(model_name_of(model))
    caps = getattr(card, "capabilities", None)
    if not overrides_bind_tools(model) or profile.get("tool_calling") is False:
        tools: bool | None = False
    elif profile.get("tool_calling") is True or card is None:
        tools = True
    else:
        tools = getattr(caps, "tools", None)
    window = _first_known(profile.get("max_input_tokens"), getattr(card, "context_window", None))
    max_output = _first_known(profile.get("max_output_tokens"), getattr(card, "max_output_tokens", None))
    return {
        "tools": tools,
        "tool_choice": False if tools is False else profile.get("tool_choice"),
        "images": _first_known(profile.get("image_inputs"), getattr(caps, "images", None)),
        "pdf": profile.get("pdf_inputs"),
        "audio": profile.get("audio_inputs"),
        "video": profile.get("video_inputs"),
        "structured_output": _first_known(
            profile.get("structured_output"), getattr(caps, "structured_output", None)
        ),
        "context_window": window if isinstance(window, int) and window > 0 else None,
        "max_output_tokens": max_output if isinstance(max_output, int) and max_output > 0 else None,
    }


_PROFILE_FLAGS = {
    "tool_calling": "tools", "tool_choice": "tool_choice", "image_inputs": "images",
    "pdf_inputs": "pdf", "audio_inputs": "audio", "video_inputs": "video",
    "structured_output": "structured_output",
}


def joint_profile(caps: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The LangChain profile of a router over candidates of these `capabilities`: a
    capability the router routes on is there if one candidate has it (calls needing it
    never go to candidates known to lack it), False if every candidate lacks it;
    `max_input_tokens` is the largest known window (longer inputs skip smaller models),
    `max_output_tokens` the smallest known limit."""
    profile: dict[str, Any] = {"text_inputs": True, "text_outputs": True}
    for key, cap in _PROFILE_FLAGS.items():
        values = [c[cap] for c in caps]
        if any(v is True for v in values):
            profile[key] = True
        elif values and all(v is False for v in values):
            profile[key] = False
    windows = [c["context_window"] for c in caps if c["context_window"]]
    if windows:
        profile["max_input_tokens"] = max(windows)
    outputs = [c["max_output_tokens"] for c in caps if isinstance(c["max_output_tokens"], int)]
    if outputs:
        profile["max_output_tokens"] = min(outputs)
    return profile


# --- calling one -----------------------------------------------------------------------


def call_target(
    model: BaseChatModel, bind: Mapping[str, Any]
) -> tuple[Runnable[Any, Any], dict[str, Any], dict[str, Any] | None]:
    """What to call on candidate `model`: (runnable, kwargs, config). The config is None
    when the runnable is not the bare candidate and must run in a cleared context."""
    tools = bind.get("tools")
    if tools and overrides_bind_tools(model):
        extra = {k: bind[k] for k in TOOL_KWARGS[1:] if bind.get(k) is not None}
        bound = model.bind_tools(tools, **extra)
        if isinstance(bound, RunnableBinding) and bound.bound is model:
            config = {k: v for k, v in (bound.config or {}).items() if k != "callbacks"}
            return model, dict(bound.kwargs), {**config, "callbacks": []}
        return bound, {}, None
    extra = {"response_format": bind["response_format"]} if bind.get("response_format") else {}
    return model, extra, {"callbacks": []}
