"""LangChain adapter for autorouter: `ChatAutoRouter`, a chat model that routes each call.

`ChatAutoRouter` is a `BaseChatModel`. For every call it asks a fitted `autorouter.Router`
which of your chat models (ChatOpenAI, ChatAnthropic, ...) gives the best answer for the
money, delegates to that model, and falls back down the router's ranking when the chosen
model fails with a transient error before any output. Chains, `create_agent`, LangGraph,
callbacks and tracing use it like any other chat model::

    from autorouter import Router
    from langchain_autorouter import ChatAutoRouter

    llm = ChatAutoRouter(router=Router.load("my-router"), candidates={
        "gpt-4o-mini": ChatOpenAI(model="gpt-4o-mini"),
        "claude-sonnet-4": ChatAnthropic(model="claude-sonnet-4-0"),
    })
    answer = llm.invoke("Write a haiku about routers")
    answer.response_metadata["autorouter"]    # which model answered, why, at what cost
    llm.feedback(answer, 1.0)                 # how good it was, in [0, 1]: the router learns

    # or, with OPENROUTER_API_KEY set, one ChatOpenAI per router model via OpenRouter:
    llm = ChatAutoRouter.from_openrouter(router)

Importing this package is cheap: `ChatAutoRouter` (and with it LangChain's chat-model
machinery) loads on first use, as `langchain_core` itself does.
"""

from __future__ import annotations

import importlib
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

_EXTRA_HINT = "pip install 'autorouter[langchain]'"


def _missing(what: str) -> ModuleNotFoundError:
    return ModuleNotFoundError(f"{__name__} needs {what}, which is not installed: {_EXTRA_HINT}")


def _require_framework() -> None:
    """Fail at import, with the install command, when the framework is missing: the classes
    load lazily, so without this check the first use would raise a bare
    `ModuleNotFoundError`. `find_spec` only looks the package up (it imports nothing of it),
    which keeps this import cheap."""
    try:
        found = find_spec("langchain_core") is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken module entry
        found = False
    if not found:
        raise _missing("langchain-core") from None


_require_framework()

if TYPE_CHECKING:
    from langchain_autorouter.chat_models import ChatAutoRouter
    from langchain_autorouter.errors import classify_error

__all__ = ["ChatAutoRouter", "classify_error"]

_FRAMEWORK_ROOTS = frozenset({"langchain_core", "langsmith"})
"""Top-level packages of the extra's dependencies: a missing one means the extra is incomplete."""

_LAZY = {
    "ChatAutoRouter": "langchain_autorouter.chat_models",
    "classify_error": "langchain_autorouter.errors",
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
