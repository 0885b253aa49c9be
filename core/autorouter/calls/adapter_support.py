"""What a framework adapter (LangChain's `ChatAutoRouter`, LlamaIndex's `AutoRouterLLM`) needs
to be built and configured, whatever the framework: the keys its answers carry, the router it
routes with and its candidates keyed by router model name, a call's `model=`, the arguments its
constructor accepts, the OpenRouter key, how its retry setting reaches the one policy, warnings
attributed to the user's line, and the per-event-loop copies of candidates async calls use.

Nothing here imports a framework."""

from __future__ import annotations

import asyncio
import difflib
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from ..catalog import shared_match
from ..errors import MissingAPIKeyError, RouterLoadError, UnknownModelError
from ..reliability import RetryPolicy
from ..router import Router

T = TypeVar("T")

__all__ = [
    "CANDIDATE_KEY",
    "OPENROUTER_KEY_ENV",
    "RESPONSE_ID_KEY",
    "ROUTER_KEY",
    "LoopLocal",
    "candidates_by_name",
    "check_arguments",
    "check_candidate_keys",
    "default_router",
    "forced_candidate",
    "no_candidates_message",
    "openrouter_api_key",
    "own_retries_warning",
    "retry_policy",
    "router_models",
    "warn_caller",
]

ROUTER_KEY = "autorouter"
"""The key under which an adapter's answers carry the routing report (`decision_info`)."""

CANDIDATE_KEY = "router_candidate"
"""The key under which an adapter tags an answer with the candidate that gave it (a
candidate key, i.e. a router model name), so later turns and tool-call parsing find it."""

RESPONSE_ID_KEY = "response_id"
"""The key under which an adapter whose framework's responses have no id field (LlamaIndex's
`additional_kwargs`) tags each answer with the id feedback names it by."""

OPENROUTER_KEY_ENV = "OPENROUTER_API_KEY"
"""The environment variable the candidates an adapter builds through OpenRouter read their key from."""


def check_candidate_keys(keys: Iterable[str], known: Sequence[str], kind: str) -> None:
    """Raise `UnknownModelError` naming the `keys` (of candidates given as a dict) that are
    not router model names; `kind` names a candidate in the message ("chat model", "LLM")."""
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise UnknownModelError(
            f"candidate key(s) {unknown} are not models this router knows; key each {kind} by "
            f"one of the router's model names: {list(known)}"
        )


def no_candidates_message(kind: str, *, api_key_hint: bool = False) -> str:
    """What to say when an adapter has no candidates (`kind`: "chat model", "LLM"); with
    `api_key_hint`, that candidates through OpenRouter need a key."""
    key = "OPENROUTER_API_KEY or api_key= set" if api_key_hint else "OPENROUTER_API_KEY set"
    return (
        f"no candidates: pass candidates={{router model name: {kind}}}, a list of {kind}s whose "
        f"model names the router knows, or omit candidates (with {key}) to reach every router "
        "model through OpenRouter"
    )


def openrouter_api_key(api_key: Any, kind: str) -> Any:
    """The key for candidates built through OpenRouter: `api_key`, else the
    `OPENROUTER_API_KEY` environment variable.

    Raises:
        MissingAPIKeyError: neither is set; it names the variable and says what to pass
            (`kind` names a candidate: "chat model", "LLM").
    """
    key = api_key or os.environ.get(OPENROUTER_KEY_ENV)
    if not key:
        error = MissingAPIKeyError(OPENROUTER_KEY_ENV)
        # The core's message points at `Endpoint(api_key=...)`, which adapter users never see;
        # say what an adapter takes instead (`env_var` stays the variable, for handlers).
        message = (
            f"no API key for the {kind}s built through OpenRouter: set the {OPENROUTER_KEY_ENV} "
            f"environment variable, pass api_key=..., or pass candidates={{router model name: "
            f"{kind}}} with {kind}s of your own"
        )
        error.args = (message,)
        raise error
    return key


def check_arguments(
    owner: str,
    given: Iterable[str],
    accepted: Iterable[str],
    synonyms: Mapping[str, str] | None = None,
) -> None:
    """Refuse keyword arguments an adapter does not take, instead of dropping them.

    The frameworks' pydantic models ignore unknown fields, so a typo (`tradoff=0.9`) or
    another framework's name for a setting (`api_base=` where `base_url=` is meant) would
    otherwise be lost without a word, and with it, say, the endpoint the key is sent to.
    `synonyms` maps such other names to the accepted one, for the message.

    Raises:
        TypeError: naming each unknown argument (with the accepted name it likely means, if
            any) and listing the accepted ones; `owner` names the class in the message.
    """
    names = sorted(set(accepted))
    unknown = [name for name in given if name not in names]
    if not unknown:
        return
    parts = []
    for name in unknown:
        meant = (synonyms or {}).get(name)
        close = [meant] if meant else difflib.get_close_matches(name, names, n=1)
        parts.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    plural = "s" if len(unknown) > 1 else ""
    raise TypeError(
        f"{owner} got unexpected keyword argument{plural} {', '.join(parts)}; "
        f"it accepts: {', '.join(names)}"
    )


def retry_policy(policy: Any, max_retries: int | None) -> Any:
    """The retry policy an adapter runs its calls under: `policy` (None: the default one),
    with `max_retries`, when given, as the retries per model before the next model is
    tried (`max_attempts_per_model = max_retries + 1`). A translation of the frameworks'
    usual `max_retries` setting, so that the one policy stays the only one retrying.

    Raises:
        ValueError: `max_retries` is negative.
    """
    if max_retries is None:
        return policy
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be an int >= 0, not {max_retries!r}")
    base = policy if policy is not None else RetryPolicy()
    return RetryPolicy.model_validate({**base.model_dump(), "max_attempts_per_model": max_retries + 1})


def own_retries_warning(kind: str, key: str, model: Any, retries: Any) -> str:
    """What to warn (with `warn_caller`) when a candidate retries failed calls itself and the
    adapter cannot turn that off: each attempt of autorouter's policy may then send several
    requests."""
    sends = f"up to {retries + 1}" if isinstance(retries, int) and not isinstance(retries, bool) else "several"
    return (
        f"candidate {key!r} ({type(model).__name__}) retries failed calls itself "
        f"(max_retries={retries!r}), on top of autorouter's retry-and-fallback policy: each "
        f"attempt may send {sends} requests, and the fallback to the next model comes later; "
        f"build the {kind} with max_retries=0"
    )


_CONSTRUCTION_PACKAGES = frozenset(
    {"autorouter", "langchain_autorouter", "llamaindex_autorouter", "pydantic", "langchain_core", "llama_index"}
)


def warn_caller(message: str) -> None:
    """`warnings.warn(message)` (a UserWarning) attributed to the user's line: the first frame
    outside autorouter, its adapters and the frameworks' pydantic machinery, however deep the
    validators that noticed it run."""
    frame = sys._getframe(1)
    level = 2  # 1 would name this function; 2, its caller
    while frame.f_back is not None and (
        str(frame.f_globals.get("__name__", "")).split(".")[0] in _CONSTRUCTION_PACKAGES
    ):
        frame = frame.f_back
        level += 1
    warnings.warn(message, UserWarning, stacklevel=level)


class LoopLocal(Generic[T]):
    """One value per asyncio event loop and key: the copies of candidates async calls use.

    An async HTTP client pools connections bound to the event loop that opened them. Used
    again from another loop (each `asyncio.run(...)` makes a new one), a pooled connection
    still sends the request, then fails to read the answer, and the request goes out a
    second time. So each event loop gets its own copy of a candidate, with clients of its
    own; copies for closed loops are dropped (their connections cannot be used again).
    Thread-safe; values are made with the lock held, so `make` must be quick and do no I/O.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_loop: dict[asyncio.AbstractEventLoop, dict[str, tuple[Any, T]]] = {}

    def get(self, key: str, base: Any, make: Callable[[], T]) -> T:
        """The value for `key` in the running event loop, made by `make()` on first use; a
        value made from another `base` object (the candidate was replaced) is made again."""
        loop = asyncio.get_running_loop()
        with self._lock:
            for old in [old for old in self._by_loop if old.is_closed()]:
                del self._by_loop[old]
            values = self._by_loop.setdefault(loop, {})
            entry = values.get(key)
            if entry is None or entry[0] is not base:
                entry = values[key] = (base, make())
            return entry[1]


def candidates_by_name(
    models: Iterable[Any], known: Sequence[str], name_of: Callable[[Any], str | None], kind: str
) -> dict[str, Any]:
    """Key each of `models` (a framework's chat models) by the router model it is, from its
    own model name (`name_of(model)`) by the catalog's one rule (`Catalog.match`).

    `kind` names such a model in messages ("chat model", "LLM").

    Raises:
        UnknownModelError: a model's name is none of `known`, by the catalog either.
        ValueError: two models are the same router model.
    """
    out: dict[str, Any] = {}
    for model in models:
        name = name_of(model)
        key = shared_match(name, known) if name else None
        if key is None:
            raise UnknownModelError(
                f"cannot tell which router model {type(model).__name__}(model={name!r}) is: the "
                f"router knows {list(known)}; pass candidates as a dict {{router model name: {kind}}} "
                "to say it"
            )
        if key in out:
            raise ValueError(f"two candidates are router model {key!r}: {name_of(out[key])!r} and {name!r}")
        out[key] = model
    return out


def forced_candidate(model: Any, own_names: Mapping[str, str | None]) -> str:
    """The candidate a call's `model=` argument names: a candidate key, the own model name of
    exactly one candidate (`own_names`: {candidate key: its model's own name}), or the same
    model by the catalog (`Catalog.match`).

    Raises:
        UnknownModelError: `model` names none of the candidates.
    """
    keys = list(own_names)
    if isinstance(model, str):
        if model in own_names:
            return model
        by_own_name = [k for k, own in own_names.items() if own == model]
        if len(by_own_name) == 1:
            return by_own_name[0]
        resolved = shared_match(model, keys)
        if resolved is not None:
            return resolved
    raise UnknownModelError(f"model={model!r} is not one of this router's candidates: {keys}")


_PASS_A_ROUTER = "pass router=autorouter.Router.load(folder) (or a router you fitted with Router.fit)"


def default_router() -> Any:
    """`Router.default()`, for an adapter given no router; its errors say what to pass.

    Raises:
        ValueError: this version of autorouter has no default router.
        RouterLoadError: the default router cannot be loaded.
    """
    default = getattr(Router, "default", None)
    if default is None:
        raise ValueError(
            f"no router given, and this version of autorouter has no built-in default router: {_PASS_A_ROUTER}"
        )
    try:
        return default()
    except RouterLoadError as e:
        raise RouterLoadError(
            f"no router given, and the built-in default router cannot be loaded ({e}); {_PASS_A_ROUTER}"
        ) from e


def router_models(router: Any) -> list[str]:
    """The model names of a fitted router (`models_`), the keys an adapter's candidates take.

    Raises:
        TypeError: `router` is not a router.
        NotFittedError: the router is not fitted (from its own check).
    """
    if not callable(getattr(router, "route", None)) or not callable(getattr(router, "aroute", None)):
        raise TypeError(f"router must be a fitted autorouter.Router, got {type(router).__name__}")
    check = getattr(router, "check_fitted", None)
    if callable(check):
        check()  # raises autorouter's NotFittedError, which says what to do
    models = getattr(router, "models_", None)
    if models is None:
        raise TypeError("router has no models_: pass a fitted autorouter.Router")
    return list(models)
