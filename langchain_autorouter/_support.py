"""Helpers of `ChatAutoRouter`: LangChain messages and models in the terms of
`autorouter.delegation` (what a request needs, what a candidate can do, who answered), and
running a candidate isolated from the caller's callbacks and tracing.

The framework-neutral steps (the catalog, names, eligibility, costs, the routing report)
are `autorouter.delegation`'s, shared with the other adapters."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sys
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from autorouter.delegation import catalog_card, own_retries_warning, warn_caller

T = TypeVar("T")

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
    kept by `autorouter.delegation.LoopLocal`): its async SDK client is the original's with
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
    import openai

    root = sdk.with_options(http_client=openai.DefaultAsyncHttpxClient())
    return model.model_copy(update={"root_async_client": root, "async_client": root.chat.completions})


# --- what a request needs -------------------------------------------------------------

_BLOCK_NEEDS = {
    "image_url": "images", "image": "images", "input_image": "images",
    "file": "pdf", "input_file": "pdf", "document": "pdf",
    "audio": "audio", "input_audio": "audio",
    "video": "video",
}


def content_needs(messages: Sequence[BaseMessage]) -> set[str]:
    """The input modalities beyond text in the messages: images, pdf, audio, video."""
    needs: set[str] = set()
    for m in messages:
        content = m.content
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict):
                    need = _BLOCK_NEEDS.get(str(block.get("type")))
                    if need:
                        needs.add(need)
    return needs


_ROLES = {
    "human": "user", "ai": "assistant", "system": "system", "tool": "tool",
    "function": "function", "developer": "developer",
}
_ROUTING_ROLES = {"user", "assistant", "system", "developer", "tool", "function"}


def routing_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """The messages as role/content dicts the core's prompt reader understands (chunks and
    `ChatMessage`s with custom roles included). If no message holds any text (an image on
    its own), one placeholder user message stands in, so the router can still rank."""
    out = []
    for m in messages:
        kind = m.type.removesuffix("MessageChunk").lower()
        role = _ROLES.get(kind)
        if role is None:  # ChatMessage(role=...) or an unknown kind
            custom = str(getattr(m, "role", "") or "").lower()
            role = custom if custom in _ROUTING_ROLES else "user"
        out.append({"role": role, "content": m.content})
    if not any(_has_text(d["content"]) for d in out):
        kinds = sorted(content_needs(messages)) or ["empty"]
        out.append({"role": "user", "content": f"({', '.join(kinds)} input)"})
    return out


def _has_text(content: Any) -> bool:
    if isinstance(content, str):
        return bool(content.strip())
    if isinstance(content, list):
        return any(
            (isinstance(b, str) and b.strip())
            or (isinstance(b, dict) and isinstance(b.get("text"), str) and b["text"].strip())
            for b in content
        )
    return False


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
    card = catalog_card(router_name) or catalog_card(model_name_of(model))
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


# --- isolation -----------------------------------------------------------------------------


def no_tracing() -> contextlib.AbstractContextManager[Any]:
    """LangSmith tracing off: an isolated inner call must not show up as an orphan trace."""
    try:
        from langsmith import tracing_context
    except ImportError:  # pragma: no cover - langsmith ships with langchain-core
        return contextlib.nullcontext()
    return tracing_context(enabled=False)


def _cleared_context() -> contextvars.Context:
    """A copy of the current context without the parent runnable config, whose callbacks a
    `RunnableBinding` would otherwise merge into the inner call."""
    from langchain_core.runnables.config import var_child_runnable_config

    ctx = contextvars.copy_context()
    ctx.run(var_child_runnable_config.set, None)
    return ctx


def run_isolated(fn: Callable[[], T]) -> T:
    return _cleared_context().run(fn)


async def arun_isolated(make: Callable[[], Awaitable[T]]) -> T:
    async def run() -> T:
        return await make()

    return await asyncio.create_task(run(), context=_cleared_context())


def iterate_isolated(iterator: Iterator[T]) -> Iterator[T]:
    ctx = _cleared_context()
    while True:
        try:
            item = ctx.run(next, iterator)
        except StopIteration:
            return
        yield item


async def aiterate_isolated(iterator: AsyncIterator[T]) -> AsyncIterator[T]:
    ctx = _cleared_context()
    while True:
        try:
            item = await asyncio.create_task(_anext(iterator), context=ctx)
        except StopAsyncIteration:
            return
        yield item


async def _anext(iterator: AsyncIterator[T]) -> T:
    return await iterator.__anext__()


# --- streams -----------------------------------------------------------------------------


def _substantive(chunk: Any) -> bool:
    """Whether a chunk carries output: text or other content, a tool call, or usage."""
    return bool(
        getattr(chunk, "content", None)
        or getattr(chunk, "tool_call_chunks", None)
        or getattr(chunk, "usage_metadata", None)
        or getattr(chunk, "chunk_position", None) == "last"
    )


def _merged(held: list[Any]) -> Any:
    first = held[0]
    return first + held[1:] if len(held) > 1 else first


def hold_empty_head(iterator: Iterator[T]) -> Iterator[T]:
    """The stream with its leading empty chunks (the role-only chunk OpenAI sends first)
    folded into the first chunk with output, so that a failure before any output still
    counts as "before the first chunk" and falls back to the next model."""
    held: list[Any] = []
    started = False
    try:
        for chunk in iterator:
            if not started:
                held.append(chunk)
                if not _substantive(chunk):
                    continue
                chunk, held, started = _merged(held), [], True
            yield chunk
        if held:
            yield _merged(held)
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


async def ahold_empty_head(iterator: AsyncIterator[T]) -> AsyncIterator[T]:
    """`hold_empty_head` for async streams."""
    held: list[Any] = []
    started = False
    try:
        async for chunk in iterator:
            if not started:
                held.append(chunk)
                if not _substantive(chunk):
                    continue
                chunk, held, started = _merged(held), [], True
            yield chunk
        if held:
            yield _merged(held)
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
