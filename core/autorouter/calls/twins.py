"""Methods whose parameters are another method's, written once: an async twin of a sync call
(`acomplete` of `complete`, `aroute` of `route`) or a variant of it (`stream` of `complete`).

    def route(self, prompt, *, tradeoff=None, tools=False) -> RoutingDecision:
        "Choose a model for one prompt."

    @parameters_of(route)
    async def aroute(self, prompt, **options) -> RoutingDecision:
        "Async `route`."
        options = options_of(Router.aroute, options)  # {"tradeoff": None, "tools": False}, checked

Type checkers, `inspect.signature` and help() see the twin with the model's parameters and
types; its body takes the model's keyword parameters as `**options`, and `options_of` binds
them as a call of the model does, so the two cannot come to take different arguments.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

__all__ = ["options_of", "parameters_of"]

P = ParamSpec("P")
T = TypeVar("T")

_KEYWORDS = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD)


def parameters_of(model: Callable[P, object]) -> Callable[[Callable[..., T]], Callable[P, T]]:
    """Give the decorated function `model`'s parameters; it keeps its body, docstring and
    return type (an `async def` stays a coroutine function).

    The function is written with `model`'s positional parameters, by the same names, and a
    `**options` that takes `model`'s keyword parameters (read them with `options_of`).
    """
    signature = inspect.signature(model)

    def decorate(twin: Callable[..., T]) -> Callable[P, T]:
        own = inspect.signature(twin)
        kinds = [p.kind for p in own.parameters.values()]
        if _positional(own) != _positional(signature) or inspect.Parameter.VAR_KEYWORD not in kinds:
            raise TypeError(f"{twin.__qualname__} must take {_positional(signature)} and **options")
        twin.__signature__ = signature.replace(return_annotation=own.return_annotation)  # type: ignore[attr-defined]
        return twin  # type: ignore[return-value]  # its signature is now `model`'s

    return decorate


def options_of(function: Callable[..., object], options: Mapping[str, Any]) -> dict[str, Any]:
    """`options` as a call of `function` binds its keyword parameters: each of them, given or
    its default, in its order, and a `**` parameter as one dict of the rest under its name.

    Raises:
        TypeError: as the call would, for an option `function` does not take.
    """
    keywords = _keywords(function)
    try:
        bound = keywords.bind(**options)
    except TypeError as e:
        raise TypeError(f"{function.__qualname__}() {e}") from None
    bound.apply_defaults()
    return bound.arguments


def _positional(signature: inspect.Signature) -> list[str]:
    return [name for name, p in signature.parameters.items() if p.kind not in _KEYWORDS]


@functools.cache
def _keywords(function: Callable[..., object]) -> inspect.Signature:
    signature = inspect.signature(function)
    return signature.replace(parameters=[p for p in signature.parameters.values() if p.kind in _KEYWORDS])
