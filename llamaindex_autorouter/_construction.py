"""Building and checking `AutoRouterLLM`'s router and candidates: its constructor's
arguments resolved (the default router, candidates given as a dict or a list, or built
through OpenRouter), each candidate copied for the router's use (and per event loop for
async calls), and what each candidate can take (tools, images, its context window)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.callbacks import CallbackManager
from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM

from autorouter.calls.adapter_support import (
    candidates_by_name,
    check_arguments,
    check_candidate_keys,
    default_router,
    no_candidates_message,
    openrouter_api_key,
    own_retries_warning,
    router_models,
    warn_caller,
)
from autorouter.catalog import shared_card

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"

# Arguments of the constructor that are no fields: settings of the candidates built through
# OpenRouter (`api_base` is LlamaIndex's own name for `base_url`, as in `OpenAILike`), and the
# `class_name` that LlamaIndex's `to_dict()` adds (and `from_dict()` drops).
_OPENROUTER_SETTINGS = ("api_key", "base_url", "api_base", "timeout", "temperature", "max_tokens")
_SERIALIZATION_KEYS = ("class_name",)

_NO_CANDIDATES = no_candidates_message("LLM")


def resolve_arguments(owner: str, accepted: set[str], data: Any) -> Any:
    """The constructor's arguments (`data`, before validation) with the router and the
    candidates resolved: unknown names a `TypeError` (`accepted`: the fields and their
    aliases), the default router for None, candidates keyed by router model name (built
    through OpenRouter when omitted) and copied by `isolated`."""
    if not isinstance(data, Mapping):
        return data
    check_arguments(owner, data, {*accepted, *_OPENROUTER_SETTINGS, *_SERIALIZATION_KEYS})
    data = dict(data)
    for name in _SERIALIZATION_KEYS:
        data.pop(name, None)
    settings = {name: data.pop(name) for name in _OPENROUTER_SETTINGS if name in data}
    if data.get("router") is None:
        data["router"] = default_router()
    known = router_models(data["router"])
    candidates = data.get("candidates")
    if candidates is None:
        candidates = openrouter_candidates(data["router"], **settings)
    elif isinstance(candidates, Mapping):
        check_candidate_keys(candidates, known, "LLM")
        bad = {k: type(v).__name__ for k, v in candidates.items() if not isinstance(v, LLM)}
        if bad:
            raise TypeError(f"candidates must be LlamaIndex LLMs; got {bad}")
    elif isinstance(candidates, Sequence) and not isinstance(candidates, str):
        candidates = _candidates_by_name(list(candidates), known)
    else:
        raise TypeError(
            f"candidates must be a dict {{router model name: LLM}} or a list of LLMs, "
            f"not {type(candidates).__name__}"
        )
    if not candidates:
        raise ValueError(_NO_CANDIDATES)
    data["candidates"] = {k: isolated(v, k) for k, v in candidates.items()}
    return data


def openrouter_arguments(**settings: Any) -> dict[str, Any]:
    """`from_openrouter`'s candidate settings that were given (not None)."""
    return {name: value for name, value in settings.items() if value is not None}


def own_name(llm: Any) -> str | None:
    """The model name an LLM was built with (`model`, `model_name`, or its metadata's)."""
    for attr in ("model", "model_name"):
        value = getattr(llm, attr, None)
        if isinstance(value, str) and value:
            return value
    try:
        name = llm.metadata.model_name
    except Exception:  # noqa: BLE001 - a metadata property that fails: no name
        return None
    return name if isinstance(name, str) and name and name != "unknown" else None


def capabilities(key: str, llm: LLM) -> dict[str, Any]:
    """What candidate `key` can take: tools (a function-calling LLM that says so), images
    (as the catalog says, the way a router's `add_catalog_model` reads it; unknown without
    a card), its context window."""
    meta = llm.metadata
    card = shared_card(key) or shared_card(own_name(llm))
    caps = getattr(card, "capabilities", None)
    window = meta.context_window if isinstance(meta.context_window, int) and meta.context_window > 0 else None
    return {
        "tools": isinstance(llm, FunctionCallingLLM) and bool(meta.is_function_calling_model),
        "images": getattr(caps, "images", None),
        "context_window": window or getattr(card, "context_window", None),
    }


# --- the copies the router calls ---------------------------------------------------------


def _openai_family(llm: Any) -> bool:
    """Whether `llm` is one of llama-index's OpenAI LLMs (`OpenAI`, `OpenAILike`, and the
    integrations built on them). Not imported here: if llama-index-llms-openai was never
    imported, no candidate can be one."""
    module = sys.modules.get("llama_index.llms.openai.base")
    family = getattr(module, "OpenAI", None)
    return isinstance(family, type) and isinstance(llm, family)


def isolated(llm: LLM, key: str) -> LLM:
    """A copy of `llm` with a callback manager of its own and no handlers, and without
    retries of its own where it can be told so.

    `CallbackManager([])` adopts the handlers of `Settings.callback_manager` at construction,
    so an LLM built after `Settings.callback_manager = ...` would count each routed call a
    second time (the router already emits the call's event on its own manager).

    autorouter's policy retries each model, then falls back to the next; an LLM that also
    retries multiplies the requests of every attempt (OpenAI's default `max_retries=3`
    drives both a retry decorator and the SDK client's own retries) and delays the
    fallback. An OpenAI-family copy gets `max_retries=0` and builds its SDK clients afresh,
    with that setting, on first use; any other LLM with a nonzero `max_retries` keeps it,
    with a warning. Otherwise the copy shares the original's clients; the original is left
    as it was."""
    retries = getattr(llm, "max_retries", None)
    copy: Any  # an OpenAI-family copy has the private client attributes LLM lacks
    if _openai_family(llm) and retries != 0:
        copy = llm.model_copy(update={"max_retries": 0})
        copy._client = None  # built with the old max_retries: rebuilt lazily by _get_client()
        copy._aclient = None
    else:
        copy = llm.model_copy()
        if "max_retries" in type(llm).model_fields and isinstance(retries, int) and retries > 0:
            warn_caller(own_retries_warning("LLM", key, llm, retries))
    manager = CallbackManager([])
    manager.handlers = []  # passing [] is not enough: it adopts the Settings handlers
    copy.callback_manager = manager
    return copy


def for_this_loop(llm: LLM) -> LLM:
    """A copy of the candidate for async calls in the running event loop (one per loop, kept
    by `autorouter.calls.adapter_support.LoopLocal`): an OpenAI-family LLM with `reuse_client` keeps one
    async SDK client, whose pooled connections belong to the loop that opened them; the
    copy builds its own on first use, over a connection pool of its own. LLMs given an `async_http_client` of the caller's own,
    and other classes, are used as they are."""
    if not _openai_family(llm) or not getattr(llm, "reuse_client", False):
        return llm  # without reuse_client, every call builds a fresh client anyway
    if getattr(llm, "_async_http_client", None) is not None:
        return llm
    import openai  # not every install has it (the OpenAI-family LLMs bring it): only they get here

    copy: Any = llm.model_copy()  # an OpenAI-family copy: it has the private client attributes
    copy._aclient = None
    # A plain httpx client (the SDK's defaults), not the one the SDK would make itself: that
    # one closes itself when collected by scheduling `aclose()` on the loop running then,
    # which fails ("Event loop is closed") for the connections of the loop this copy served.
    copy._async_http_client = openai.DefaultAsyncHttpxClient()
    return copy


# --- the candidates, from what was given -------------------------------------------------


def _candidates_by_name(llms: list[Any], known: list[str]) -> dict[str, Any]:
    """Key each LLM by the router model it is, from its own model name (or the catalog's
    ids and aliases for it)."""
    for llm in llms:
        if not isinstance(llm, LLM):
            raise TypeError(f"candidates must be LlamaIndex LLMs, got {type(llm).__name__}")
    return candidates_by_name(llms, known, own_name, "LLM")


def openrouter_candidates(
    router: Any,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    api_base: str | None = None,
    timeout: float | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
) -> dict[str, Any]:
    """One `OpenAILike` per router model through an OpenAI-compatible endpoint (OpenRouter)."""
    if base_url is not None and api_base is not None and base_url != api_base:
        raise TypeError(
            f"base_url={base_url!r} and api_base={api_base!r} name two endpoints; api_base "
            "is LlamaIndex's name for base_url: pass one of them"
        )
    endpoint = base_url or api_base or OPENROUTER_BASE_URL
    settings = openrouter_arguments(timeout=timeout, temperature=temperature, max_tokens=max_tokens)
    key = openrouter_api_key(api_key, "LLM")
    try:  # optional: only candidates built through OpenRouter need llama-index-llms-openai-like
        from llama_index.llms.openai_like import OpenAILike  # type: ignore[import-untyped]
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "building candidates through OpenRouter needs llama-index-llms-openai-like: "
            "pip install 'autorouter[llamaindex]'"
        ) from e
    out = {}
    for name in router_models(router):
        card = shared_card(name)
        caps = getattr(card, "capabilities", None)
        out[name] = OpenAILike(
            model=getattr(card, "id", None) or name,
            api_base=endpoint,
            api_key=key,
            is_chat_model=True,
            is_function_calling_model=bool(getattr(caps, "tools", False)),
            context_window=getattr(card, "context_window", None) or DEFAULT_CONTEXT_WINDOW,
            max_retries=0,  # autorouter's policy retries, then falls back to the next model
            default_headers={"X-Title": "autorouter"},
            **settings,
        )
    return out
