"""What every framework adapter does around one routed call, whatever the framework.

An adapter (LangChain's `ChatAutoRouter`, LlamaIndex's `AutoRouterLLM`, ...) wraps chat models
the user already has (the "candidates", keyed by router model name) and, per call, asks a
`Router` which one answers. The steps that do not depend on the framework live here, so that
the adapters agree on them:

- `eligible_candidates`: which candidates can serve the call at all (tools, images, ...,
  context window), by the router's rule (`autorouter.decision.exclusion_reason`), with the
  reason for each one left out;
- `sticky_candidate`: the candidate an agent run started with, kept for its tool turns until
  the next user message;
- `call_order`: the order to try candidates in, from the decision and the sticky candidate;
- `classify_error`: the `classify` hook of the one retry-and-fallback policy
  (`autorouter.reliability`) for the errors of the usual provider SDKs;
- `call_cost_usd`: the cost of an answered call, as the core computes it (`autorouter.costs`);
- `decision_info`: the routing report every answer carries under `ROUTER_KEY` (the one
  schema of `autorouter.decision.routing_report`, which the gateway reports too);
- `default_router`, `router_models`, `candidates_by_name`, `forced_candidate`: building an
  adapter (the router, its candidates keyed by router model name) and a call's `model=`;
- `check_arguments`, `openrouter_api_key`, `retry_policy`, `own_retries_warning`: what an
  adapter's constructor accepts, and how its settings reach the core;
- `LoopLocal`: the per-event-loop copies of candidates that async calls use;
- `AnswerBook`, `feedback_log`, `new_answer_id`: the answers an adapter gave, by id, so that
  feedback on one (`autorouter.give_feedback`) reaches the adapter's router.

Nothing here imports a framework; each adapter turns its own messages into the plain values
these functions take.
"""

from __future__ import annotations

import asyncio
import difflib
import functools
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from .costs import call_cost, list_price
from .decision import NEEDS, exclusion_reason, routing_report
from .errors import (
    InvalidRequestError,
    MissingAPIKeyError,
    NoCandidateError,
    RouterLoadError,
    UnknownModelError,
)
from .feedback import AnswerLedger, Feedback, FeedbackLog, give_feedback

T = TypeVar("T")

__all__ = [
    "CANDIDATE_KEY",
    "CHARS_PER_TOKEN",
    "NEEDS",
    "OPENROUTER_KEY_ENV",
    "RESPONSE_ID_KEY",
    "ROUTER_KEY",
    "AnswerBook",
    "LoopLocal",
    "RunMemory",
    "call_cost_usd",
    "call_order",
    "candidates_by_name",
    "catalog_card",
    "check_arguments",
    "check_candidate_keys",
    "classify_error",
    "decision_info",
    "default_router",
    "eligible_candidates",
    "estimate_tokens",
    "feedback_log",
    "forced_candidate",
    "new_answer_id",
    "no_candidates_message",
    "openrouter_api_key",
    "own_retries_warning",
    "resolve_name",
    "retry_policy",
    "router_models",
    "run_key",
    "sticky_candidate",
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

CHARS_PER_TOKEN = 4.0
"""Characters per token for estimates (the router prices prompts with the same ratio)."""

# --- which candidates can serve a call ------------------------------------------------------


def estimate_tokens(chars: int | float) -> int:
    """Tokens of a request of `chars` characters, as the router estimates them."""
    return int(round(max(0.0, float(chars)) / CHARS_PER_TOKEN))


def eligible_candidates(
    capabilities: Mapping[str, Mapping[str, Any]],
    needs: Iterable[str] = (),
    prompt_tokens: int | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The candidates that can serve a call, and why each other one cannot.

    Args:
        capabilities: per candidate key, its capabilities: each of `NEEDS` as True (has it),
            False (has not) or None / absent (unknown), and `context_window` (tokens, or
            None when unknown).
        needs: what the call needs, among `NEEDS`.
        prompt_tokens: the request's size in tokens (see `estimate_tokens`); None skips the
            context-window check.

    Each candidate is judged by the router's own rule (`autorouter.decision.exclusion_reason`):
    left out only for a need it is known not to have, or a prompt longer than its known
    context window; a candidate nobody vouches for either way stays, as it does in the router.

    Returns:
        `(eligible keys in the given order, {excluded key: reason})`.

    Raises:
        NoCandidateError: no candidate can serve the call; the message says why.
        ValueError: a need is not one of `NEEDS`.
    """
    if not capabilities:
        raise NoCandidateError("no candidates to choose from")
    needs = list(needs)
    excluded: dict[str, str] = {}
    for key, caps in capabilities.items():
        why = exclusion_reason(caps, needs, prompt_tokens)
        if why is not None:
            excluded[key] = why
    eligible = [k for k in capabilities if k not in excluded]
    if not eligible:
        reasons = "; ".join(f"{k}: {why}" for k, why in excluded.items())
        raise NoCandidateError(
            f"no candidate can serve this call ({reasons}); add a candidate that can, or ask for less"
        )
    return eligible, excluded


# --- agent runs stay on one model -------------------------------------------------------------


def sticky_candidate(turns: Iterable[tuple[str, str | None]]) -> str | None:
    """The candidate that answered since the last user message, if one did.

    `turns` are the conversation's messages in order, each as `(role, candidate)`: the role
    normalised to "user", "assistant", "system", "tool", ...; `candidate` the key of the
    candidate that produced an assistant message (None when unknown or not an answer).

    Within an agent run, the tool-call and tool-result turns after a user message belong
    to the model that started answering it: switching providers mid-run breaks tool-call
    ids, caches and reasoning blocks. The choice is free again at the next user message.
    """
    sticky: str | None = None
    for role, candidate in turns:
        if role == "user":
            sticky = None
        elif role == "assistant" and candidate is not None:
            sticky = candidate
    return sticky


class RunMemory:
    """Which candidate each agent run started on, for agents whose later turns carry no trace of
    the model that answered (LlamaIndex's ReAct rebuilds its reasoning turns as fresh messages).

    Keyed by `run_key`; process-local and bounded (least recently used runs are forgotten).
    """

    def __init__(self, capacity: int = 4096) -> None:
        from collections import OrderedDict
        from threading import Lock

        self.capacity = capacity
        self._runs: OrderedDict[str, str] = OrderedDict()
        self._lock = Lock()

    def remember(self, key: str, candidate: str) -> None:
        with self._lock:
            self._runs[key] = candidate
            self._runs.move_to_end(key)
            while len(self._runs) > self.capacity:
                self._runs.popitem(last=False)

    def recall(self, key: str) -> str | None:
        with self._lock:
            candidate = self._runs.get(key)
            if candidate is not None:
                self._runs.move_to_end(key)
            return candidate


def run_key(turns: Sequence[tuple[str, str]]) -> tuple[str, bool]:
    """Identify an agent run by its messages up to and including the last user message.

    `turns` are `(role, text)` pairs with agent-internal user-role turns (e.g. ReAct's
    "Observation: ...") already given another role. Returns the key and whether the run is
    under way (turns follow that user message), i.e. whether a remembered choice applies.
    """
    import hashlib

    last_user = max((i for i, (role, _) in enumerate(turns) if role == "user"), default=-1)
    digest = hashlib.sha1()
    for role, text in turns[: last_user + 1]:
        digest.update(f"{role}\0{text}\0".encode())
    return digest.hexdigest(), last_user < len(turns) - 1


def call_order(decision: Any, sticky: str | None = None) -> list[str]:
    """Candidates to try, in order: the sticky candidate first (if any), then the decision's
    choice and its eligible fallbacks. `decision` may be None when only `sticky` is known."""
    order: list[str] = []
    if sticky is not None:
        order.append(sticky)
    if decision is not None:
        order += [decision.model, *decision.fallbacks]
    if not order:
        raise ValueError("nothing to call: no decision and no sticky candidate")
    return list(dict.fromkeys(order))


# --- errors -----------------------------------------------------------------------------------

# The openai SDK (and SDKs generated like it: anthropic, groq, ...) retries these itself.
_RETRYABLE_STATUS = frozenset({408, 409, 429})
_TRANSIENT_NAMES = frozenset(
    {"APIConnectionError", "APITimeoutError", "RateLimitError", "InternalServerError",
     "ServiceUnavailableError", "OverloadedError"}
)


def classify_error(exc: BaseException) -> bool | None:
    """The `classify` hook of `autorouter.reliability` for provider SDK errors.

    True: transient (retry, then fall back to the next model); False: the request itself is
    wrong (surface it unchanged); None: not known here (autorouter's own `ProviderError`s
    carry `retryable`; anything else surfaces unchanged).

    In order: autorouter's own errors are left to the policy; the openai SDK's rate-limit,
    connection, timeout and 5xx errors are transient, its other status errors are not;
    httpx (and httpx2) transport errors and timeouts are transient; any other exception
    with an HTTP `status_code` (or `status`) is transient for 408/409/429/5xx and permanent
    for other 4xx; exceptions named like the usual SDKs' transient errors, `TimeoutError`
    and `ConnectionError` are transient. A framework adapter checks its framework's own
    error classes first, then calls this.
    """
    core_errors = sys.modules.get("autorouter.errors")
    if core_errors is not None and isinstance(exc, core_errors.AutorouterError):
        return None  # the policy reads a ProviderError's own `retryable`
    openai = sys.modules.get("openai")  # not imported here: it raised nothing if absent
    if openai is not None:
        if isinstance(exc, openai.RateLimitError | openai.APIConnectionError | openai.InternalServerError):
            return True  # APITimeoutError is an APIConnectionError
        if isinstance(exc, openai.APIStatusError):
            return _status_retryable(exc.status_code)
    for name in ("httpx", "httpx2"):  # openai>=3 speaks httpx2, an httpx look-alike
        httpx = sys.modules.get(name)
        if httpx is not None and isinstance(
            exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError
        ):
            return True
    for attr in ("status_code", "status"):
        status = getattr(exc, attr, None)
        if isinstance(status, int) and not isinstance(status, bool) and 400 <= status <= 599:
            return _status_retryable(status)
    if any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__):
        return True
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    return None


def _status_retryable(status: int) -> bool:
    return status in _RETRYABLE_STATUS or status >= 500


# --- the catalog: names and prices ---------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _catalog() -> Any | None:
    """The shipped catalog (`Catalog.shared()`), or None where it cannot be read (looked up
    once per process)."""
    try:
        from .catalog import Catalog

        return Catalog.shared()
    except Exception:  # noqa: BLE001 - a broken catalog must not break routing; it only adds facts
        return None


@functools.lru_cache(maxsize=1024)
def catalog_card(name: str | None) -> Any | None:
    """The shipped catalog's `ModelCard` for a model id or alias, or None if it has none."""
    if not name:
        return None
    cat = _catalog()
    if cat is None:
        return None
    try:
        return cat.get(name)
    except Exception:  # noqa: BLE001 - UnknownModelError, or anything a broken catalog raises
        return None


def _same_model_names(name: str) -> set[str]:
    """Names that mean the same model: itself, without its provider prefix, and the
    catalog's id and aliases for it."""
    out = {name, name.split("/", 1)[-1]}
    card = catalog_card(name)
    if card is not None:
        for n in (card.id, *card.aliases):
            out |= {n, n.split("/", 1)[-1]}
    return out


def resolve_name(name: str, known: Sequence[str]) -> str | None:
    """Which of `known` (router model names) `name` is: the same string, or the same model by
    the catalog's ids and aliases; None when none or several match."""
    if name in known:
        return name
    wanted = _same_model_names(name)
    matches = [k for k in known if _same_model_names(k) & wanted]
    return matches[0] if len(matches) == 1 else None


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


OPENROUTER_KEY_ENV = "OPENROUTER_API_KEY"
"""The environment variable the candidates an adapter builds through OpenRouter read their key from."""


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
    from .reliability import RetryPolicy

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


# Packages whose frames stand between a user's call and an adapter's construction code.
_CONSTRUCTION_PACKAGES = frozenset(
    {"autorouter", "langchain_autorouter", "llamaindex_autorouter", "pydantic", "langchain_core", "llama_index"}
)


def warn_caller(message: str) -> None:
    """`warnings.warn(message)` (a UserWarning) attributed to the user's line: the first frame
    outside autorouter, its adapters and the frameworks' pydantic machinery, however deep the
    validators that noticed it run."""
    import warnings

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
    own model name (`name_of(model)`) by `resolve_name`.

    `kind` names such a model in messages ("chat model", "LLM").

    Raises:
        UnknownModelError: a model's name is none of `known`, by the catalog either.
        ValueError: two models are the same router model.
    """
    out: dict[str, Any] = {}
    for model in models:
        name = name_of(model)
        key = resolve_name(name, known) if name else None
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
    model by the catalog (`resolve_name`).

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
        resolved = resolve_name(model, keys)
        if resolved is not None:
            return resolved
    raise UnknownModelError(f"model={model!r} is not one of this router's candidates: {keys}")


def call_cost_usd(
    names: str | Sequence[str | None],
    prompt_tokens: Any,
    completion_tokens: Any,
    *,
    router: Any = None,
    catalog: Any = None,
) -> float | None:
    """USD cost of an answered call from its token usage, as the core computes it
    (`autorouter.costs`): at `router`'s own `prices` (`Router(prices=...)`) when they price
    the model, else at the catalog's (the shipped one unless `catalog` is given) list price.

    `names` are names the model goes by (its router name, then its own model name): the
    first priced wins. None when the usage is not two token counts or no name is priced.
    """
    prices = getattr(router, "prices", None)  # a router-like wrapper may have no prices of its own
    card_of = catalog_card if catalog is None else functools.partial(_card_in, catalog)
    return call_cost(list_price(names, prices, card_of), prompt_tokens, completion_tokens)[0]


def _card_in(catalog: Any, name: str) -> Any | None:
    """`catalog`'s card for `name`, or None where it has none."""
    try:
        return catalog.get(name)
    except Exception:  # noqa: BLE001 - UnknownModelError, or anything a broken catalog raises
        return None


# --- the router an adapter routes with ---------------------------------------------------


_PASS_A_ROUTER = "pass router=autorouter.Router.load(folder) (or a router you fitted with Router.fit)"


def default_router() -> Any:
    """`Router.default()`, for an adapter given no router; its errors say what to pass.

    Raises:
        ValueError: this version of autorouter has no default router.
        RouterLoadError: the default router cannot be loaded.
    """
    from .router import Router

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


# --- the report every answer carries --------------------------------------------------------


def decision_info(
    model: str,
    decision: Any = None,
    attempts: Sequence[Any] = (),
    *,
    forced: bool = False,
    sticky: str | None = None,
    excluded: Mapping[str, str] | None = None,
    cost_usd: float | None = None,
) -> dict[str, Any]:
    """The routing report of one answered call, as plain JSON-able values: the schema the
    gateway reports too, built by `autorouter.decision.routing_report` (every key is
    documented there).

    Args:
        model: the candidate that answered.
        decision: the router's `RoutingDecision`, or None (forced, or kept for an agent run
            when routing excluded every model).
        attempts: the `Attempt`s of the fallback run (failed models are listed).
        forced: the caller named the candidate.
        sticky: the candidate kept for the agent run's tool turns, if any.
        excluded: why candidates the adapter left out (`eligible_candidates`) were
            excluded; replaces the router's generic "not among the allowed candidates".
        cost_usd: the call's cost (`call_cost_usd`: tokens times list price, so
            `cost_source` is "list_price"), None when unknown.

    Returns:
        `{"model", "routed", "forced", "chosen", "sticky", "fell_back", "fallback_from",
        "attempts", "tradeoff", "max_cost", "max_latency_s", "explanation", "family",
        "difficulty", "ranking": [{"model", "quality", "cost_usd", "score", "eligible",
        "excluded_because", "latency_s", "uncertainty", "predicted_quality",
        "predicted_cost_usd"}, ...], "cost_usd", "cost_source"}`. Each ranking entry's
        `predicted_quality` and `predicted_cost_usd` are deprecated aliases of its `quality`
        and `cost_usd` (`autorouter.decision.RANKING_ALIASES`), kept for one release: read
        `quality` and `cost_usd`.
    """
    if forced:
        explanation: str | None = f"{model}: forced by the call's model= argument"
    elif decision is None:
        explanation = f"{model}: kept for the tool turns since the last user message"
    elif sticky == model and decision.model != model:
        explanation = (
            f"{model}: kept for the tool turns since the last user message "
            f"(for a new conversation the router would pick {decision.model})"
        )
    else:
        explanation = None  # the decision's own
    return routing_report(
        model, decision, attempts, forced=forced, sticky=sticky == model, explanation=explanation,
        excluded=excluded, cost_usd=cost_usd, cost_source="list_price", ranking_aliases=True,
    )


# --- feedback on the answers an adapter gave ------------------------------------------------


def new_answer_id() -> str:
    """A fresh answer id (`run-<uuid4>`), for an answer whose candidate gave it none."""
    return f"run-{uuid.uuid4()}"


def feedback_log(value: Any) -> FeedbackLog | None:
    """An adapter's `feedback_log` setting as a `FeedbackLog`: a path (str or `os.PathLike`)
    becomes the log of that JSON Lines file; None and a `FeedbackLog` stay as they are.

    Raises:
        TypeError: anything else.
    """
    if value is None or isinstance(value, FeedbackLog):
        return value
    if isinstance(value, str | os.PathLike):
        path = os.fspath(value)
        if not isinstance(path, str) or not path.strip():
            raise TypeError(f"feedback_log must be an autorouter.FeedbackLog, a file path or None, not {value!r}")
        return FeedbackLog(path)
    raise TypeError(f"feedback_log must be an autorouter.FeedbackLog, a file path or None, not {type(value).__name__}")


class AnswerBook:
    """The answers an adapter gave, by id: which prompt each answered and which candidate
    answered it, so that feedback naming an answer by its id can teach the adapter's router.

    An `autorouter.AnswerLedger` (the last `capacity` answers, fewer when their prompts are
    long) under the same rules as the
    gateway's (`POST /v1/feedback`): the prompt kept is the text the router embedded
    (`autorouter.prompts.prompt_text(...)[0]`), the model the candidate's key (a router model
    name). Thread-safe.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.ledger = AnswerLedger(capacity)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.ledger)

    def __repr__(self) -> str:
        return f"AnswerBook({len(self)} answers, capacity={self.ledger.capacity})"

    def record(self, response_id: str | None, prompt: Any, model: str) -> str:
        """Record one answer; returns the id it is recorded under.

        Args:
            response_id: the id the answer already has (its provider's, or its framework
                run's); None, empty, or the id of another answer already recorded (some
                servers send the same id every time): a new one (`new_answer_id`) is used.
            prompt: what the router routed on: a prompt string or chat messages as role/content
                dicts (the framework's messages translated as for routing).
            model: the key of the candidate that answered.

        An answer with no text to route on (a forced call with an empty prompt) gets an id
        but is not recorded: feedback on it is an `UnknownResponseError`.
        """
        from .prompts import prompt_text

        try:
            text = prompt_text(prompt)[0]
        except InvalidRequestError:
            text = None
        with self._lock:
            if not isinstance(response_id, str) or not response_id or response_id in self.ledger:
                response_id = new_answer_id()
            if text is not None:
                self.ledger.record(response_id, text, model)
        return response_id

    def feedback(
        self,
        router: Any,
        response_id: Any,
        score: Any,
        *,
        log: FeedbackLog | None = None,
        learn: bool = True,
    ) -> Feedback:
        """`autorouter.give_feedback` on the answer `response_id` with `router`: checks the id,
        the score and the model first, so bad feedback changes nothing; then appends to `log`
        (if any) and, with `learn`, updates `router` (`Router.partial_fit`).

        Raises:
            InvalidRequestError: `response_id` is not a string, or the score is not a
                finite number in [0, 1].
            UnknownResponseError: no recent answer of this adapter has that id.
            UnknownModelError: the answer's candidate is no longer one of `router`'s models.
            TypeError: `learn` is set and `router` cannot learn (it has no `partial_fit`).
        """
        if not isinstance(response_id, str):
            raise InvalidRequestError(
                f"feedback names an answer by its id (a string), not a {type(response_id).__name__}"
            )
        if learn and not callable(getattr(router, "partial_fit", None)):
            raise TypeError(
                f"the router ({type(router).__name__}) cannot learn from feedback: it has no "
                "partial_fit; pass an autorouter.Router, or learn_from_feedback=False to only log it"
            )
        return give_feedback(router, self.ledger, response_id, score, log=log, learn=learn)
