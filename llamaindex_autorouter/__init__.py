"""LlamaIndex adapter for autorouter: `AutoRouterLLM`, an LLM that routes each call.

`AutoRouterLLM` is a LlamaIndex `FunctionCallingLLM`. For every call it asks a fitted
`autorouter.Router` which of your LLMs (OpenAI, Anthropic, OpenAILike, ...) gives the best
answer for the money, delegates to that LLM, and falls back down the router's ranking when
the chosen one fails with a transient error before any output. Query engines, chat engines,
`FunctionAgent`, `ReActAgent`, `structured_predict` and callbacks use it like any other LLM::

    from autorouter import Router
    from llama_index.core import Settings, VectorStoreIndex
    from llama_index.llms.openai_like import OpenAILike
    from llamaindex_autorouter import AutoRouterEmbedding, AutoRouterLLM

    llm = AutoRouterLLM(router=Router.load("my-router"), candidates={
        "gpt-4o-mini": OpenAILike(model="gpt-4o-mini", is_chat_model=True,
                                  is_function_calling_model=True, max_retries=0, ...),
        "llama-3.1-8b": OpenAILike(model="meta-llama/llama-3.1-8b-instruct", ...),
    })
    response = llm.chat(messages)
    response.additional_kwargs["autorouter"]   # which model answered, why, at what cost
    llm.feedback(response, 0.0)                # how good it was, in [0, 1]: the router learns

    Settings.llm = llm
    Settings.embed_model = AutoRouterEmbedding()   # offline embeddings: no key, no network
    index = VectorStoreIndex.from_documents(documents)

    # or, with OPENROUTER_API_KEY set, one OpenAILike per router model via OpenRouter:
    llm = AutoRouterLLM.from_openrouter(router)

`RoutingDecisionEvent` is the instrumentation event emitted for each routing decision.

Importing this package is cheap: the classes (and with them LlamaIndex) load on first use.
"""

from __future__ import annotations

import importlib
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

_EXTRA_HINT = "pip install 'autorouter[llamaindex]'"


def _missing(what: str) -> ModuleNotFoundError:
    return ModuleNotFoundError(f"{__name__} needs {what}, which is not installed: {_EXTRA_HINT}")


def _require_framework() -> None:
    """Fail at import, with the install command, when the framework is missing: the classes
    load lazily, so without this check the first use would raise a bare
    `ModuleNotFoundError`. `find_spec` only looks the package up (it imports nothing of it),
    which keeps this import cheap."""
    try:
        found = find_spec("llama_index.core") is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken module entry
        found = False
    if not found:
        raise _missing("llama-index-core") from None


_require_framework()

if TYPE_CHECKING:
    from llamaindex_autorouter.embeddings import AutoRouterEmbedding
    from llamaindex_autorouter.events import RoutingDecisionEvent
    from llamaindex_autorouter.llms import OPENROUTER_BASE_URL, AutoRouterLLM

__all__ = ["OPENROUTER_BASE_URL", "AutoRouterEmbedding", "AutoRouterLLM", "RoutingDecisionEvent"]

_FRAMEWORK_ROOTS = frozenset({"llama_index"})
"""Top-level packages of the extra's dependencies: a missing one means the extra is incomplete."""

_LAZY = {
    "AutoRouterLLM": "llamaindex_autorouter.llms",
    "OPENROUTER_BASE_URL": "llamaindex_autorouter.llms",
    "AutoRouterEmbedding": "llamaindex_autorouter.embeddings",
    "RoutingDecisionEvent": "llamaindex_autorouter.events",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as e:
        # A dependency of the framework missing (a partial install): the same fix applies.
        if (e.name or "").split(".")[0] in _FRAMEWORK_ROOTS:
            raise _missing(e.name or "its framework") from e
        raise
    value = getattr(loaded, name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
