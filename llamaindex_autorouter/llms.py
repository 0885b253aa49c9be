"""`AutoRouterLLM`: a LlamaIndex `FunctionCallingLLM` that sends each call to the LLM an
`autorouter.Router` picks, among LLMs you already have."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
    ToolCallBlock,
)
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator
from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload
from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW, DEFAULT_NUM_OUTPUTS
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM, ToolSelection

from autorouter import delegation as dlg
from autorouter.feedback import Feedback, FeedbackLog

from .events import RoutingDecisionEvent

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

__all__ = ["OPENROUTER_BASE_URL", "AutoRouterLLM"]

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
ROUTER_KEY = dlg.ROUTER_KEY
"""`additional_kwargs` key of every response holding the routing report."""
CANDIDATE_KEY = dlg.CANDIDATE_KEY
"""`additional_kwargs` key (of the response and of its message) naming the candidate that answered."""
RESPONSE_ID_KEY = dlg.RESPONSE_ID_KEY
"""`additional_kwargs` key of every response holding the answer's id, which `feedback` names it by."""

_TOOLS_KWARG = "_autorouter_tools"  # the provider-neutral tool request, from _prepare_chat_with_tools
# Arguments of the constructor that are no fields: settings of the candidates built through
# OpenRouter (`api_base` is LlamaIndex's own name for `base_url`, as in `OpenAILike`), and the
# `class_name` that LlamaIndex's `to_dict()` adds (and `from_dict()` drops).
_OPENROUTER_SETTINGS = ("api_key", "base_url", "api_base", "timeout", "temperature", "max_tokens")
_SERIALIZATION_KEYS = ("class_name",)
_ROUTER_KWARGS = ("model", "tradeoff", "max_cost", "max_latency_s", "latency_weight")
_ASSISTANT_ROLES = {"assistant", "chatbot", "model"}
_ROUTING_ROLES = {"system", "developer", "user", "assistant", "tool", "function", "chatbot", "model"}
_BLOCK_NEEDS = {"image": "images", "document": "pdf", "audio": "audio", "video": "video"}

dispatcher = get_dispatcher(__name__)


@dataclass
class _Tools:
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
class _Plan:
    """One call, routed: the candidates to try in order, and what to send them."""

    order: list[str]
    rest: dict[str, Any]  # kwargs passed through to the candidate
    tools: _Tools | None = None
    decision: Any = None  # autorouter.RoutingDecision; None when forced or only sticky
    forced: bool = False
    sticky: str | None = None
    excluded: dict[str, str] = field(default_factory=dict)
    run: str | None = None  # the agent run's key, when this call starts one
    prompt: Any = None  # the call's prompt or messages, as given: what the answer is recorded under


class AutoRouterLLM(FunctionCallingLLM):
    """An LLM that routes each call to one of several LlamaIndex LLMs.

    Per call it asks a fitted `autorouter.Router` for a decision on the prompt (for chat
    messages the last user message decides), among the candidates that can serve the call
    (with tools: only function-calling candidates; with images: image-capable ones first; a
    prompt longer than a candidate's context window never goes to it), then calls the chosen
    candidate: `chat`, `complete`, their streaming and async forms, and tool calls through
    the candidate's own `chat_with_tools` (each provider formats tools its own way).

    A transient failure (rate limit, 5xx, timeout, dropped connection) before any output is
    retried and then falls back down the router's ranking, under autorouter's one
    retry-and-fallback policy (`autorouter.reliability`); a stream falls back only before
    its first output; an error that says the request itself is wrong (400, 401, ...)
    surfaces unchanged. The policy is the only one that retries: an OpenAI-family candidate
    (`OpenAI`, `OpenAILike`, ...) is used as a copy with `max_retries=0` (which turns off
    both its SDK's retries and LlamaIndex's retry decorator); any other candidate with a
    nonzero `max_retries` is used as it is, with a warning: build it with `max_retries=0`.
    Async calls use a copy of each OpenAI-family candidate per event loop, with a client of
    its own, so that repeated `asyncio.run(llm.acomplete(...))` send each request once (a
    pooled connection of a closed loop would send it, fail, and send it again).

    Within an agent run the model stays put: when the messages after the last user message
    hold an answer from one of the candidates (tool-call and tool-result turns), that
    candidate answers again; the choice changes only at a new user message.

    Every response is the candidate's own (`raw`, token counts, blocks unchanged), tagged
    with `additional_kwargs["router_candidate"]` (the candidate's key, also on the message)
    and `additional_kwargs["autorouter"]`: the routing report, the gateway's schema
    (`autorouter.decision.routing_report` documents each key; the ranking's
    `predicted_quality` and `predicted_cost_usd` are deprecated aliases kept for one
    release). Its `cost_usd` is the call's cost at the router's or the catalog's list prices.

    Callbacks and instrumentation see each call once:

    - the legacy callback manager (`TokenCountingHandler`, ...): the router emits one
      `CBEventType.LLM` start/end pair per call on its own `callback_manager` (the one
      `Settings` gives it), with the candidate's response; candidates are copied at
      construction and the copies get a handler-free callback manager, so `Settings`
      handlers they adopted never count the call a second time (your LLM objects are not
      changed);
    - dispatcher events (`LLMChatStartEvent`, `LLMChatEndEvent`, ...): emitted by the
      candidate that makes the call, with its own payload and `raw`, so observability
      tools attribute each call to the real model; the router adds no `LLMChat*` events
      of its own (the dispatcher has no per-call mute, so both would emit a pair per call)
      but a `RoutingDecisionEvent` with the decision, inside the router's span that holds
      the candidate's. A candidate that failed before the one that answered emitted its
      own start event (and an exception or span-drop event).

    Per-call overrides (keyword arguments of any call): `model=` forces a candidate (its
    router name or its own model name), `tradeoff=`, `max_cost=`, `max_latency_s=` and
    `latency_weight=` override the fields.

    Feedback: every response has an id, `additional_kwargs["response_id"]` (the same on each
    item of a stream): the candidate's own (`raw.id`, e.g. OpenAI's `chatcmpl-...`) when it
    gives one, else a new `run-<uuid>`. The last 10,000 answers (fewer when their prompts are
    long) are remembered with the
    prompt the router routed on and the candidate that answered, so `feedback(response,
    score)` (or `afeedback`) can record how good one was and teach this router (see
    `feedback`).

    Args:
        router: a fitted `autorouter.Router`; None uses `Router.default()` where available.
        candidates: `{router model name: LLM}`, or a list of LLMs whose own model names the
            router knows (directly, or through the catalog's ids and aliases). Omitted: one
            `OpenAILike` per router model through OpenRouter (see `from_openrouter`).
        tradeoff: 0 = best predicted quality, 1 = cheapest; None: the router's default.
        max_cost: USD cap per call; None: the router's default.
        max_latency_s: cap in seconds until the whole answer has arrived (candidates
            predicted slower are excluded); None: the router's default.
        latency_weight: quality points one second of predicted latency costs in the score;
            None: the router's default.
        model_name: the name the router reports as its model (`metadata.model_name`).
        retry_policy: an `autorouter.reliability.RetryPolicy`; None: the default one (2
            tries per model, then the next model).
        max_retries: retries per model under that policy (`max_attempts_per_model =
            max_retries + 1`), the name LlamaIndex LLMs use; None: the policy's.
        api_key, base_url, timeout, temperature, max_tokens: for the candidates built
            through OpenRouter, when `candidates` is omitted (see `from_openrouter`;
            `api_base`, LlamaIndex's name for `base_url`, is accepted too).
        feedback_log: where `feedback` appends its records: an `autorouter.FeedbackLog` or
            the path of its JSON Lines file (replayable with `autorouter train --feedback`);
            None: feedback is kept nowhere but in what the router learns.
        learn_from_feedback: whether `feedback` updates the router (`Router.partial_fit`);
            False: it is only checked and logged.

    Unknown keyword arguments are a `TypeError` naming them (a typo such as `tradoff=`), not
    silently dropped.
    """

    model_config = ConfigDict(protected_namespaces=())

    router: Any = Field(default=None, exclude=True, description="a fitted autorouter.Router")
    candidates: dict[str, LLM] = Field(
        default_factory=dict, description="the LLMs routed among, keyed by router model name"
    )
    tradeoff: float | None = Field(
        default=None, description="0 = best predicted quality, 1 = cheapest; None: the router's default"
    )
    max_cost: float | None = Field(default=None, description="USD cap per call; None: the router's default")
    max_latency_s: float | None = Field(
        default=None,
        description="cap in seconds until the whole answer has arrived; None: the router's default",
    )
    latency_weight: float | None = Field(
        default=None,
        description="quality points one second of predicted latency costs; None: the router's default",
    )
    model_name: str = Field(default="autorouter", description="the name this LLM reports as its model")
    retry_policy: Any = Field(default=None, exclude=True, description="autorouter.reliability.RetryPolicy")
    max_retries: int | None = Field(
        default=None, ge=0, description="retries per model under the retry policy; None: the policy's"
    )
    feedback_log: Any = Field(
        default=None, exclude=True,
        description="an autorouter.FeedbackLog (or a file path) that feedback is appended to; None: none",
    )
    learn_from_feedback: bool = Field(
        default=True, description="whether feedback updates the router (Router.partial_fit)"
    )

    _answers: dlg.AnswerBook = PrivateAttr(default_factory=dlg.AnswerBook)
    _caps_cache: dict[str, dict[str, Any]] = PrivateAttr(default_factory=dict)
    # ReAct's reasoning turns come back as fresh messages without our tag: remember each
    # run's model by the conversation up to its user message instead.
    _runs: Any = PrivateAttr(default_factory=dlg.RunMemory)
    _loop_candidates: Any = PrivateAttr(default_factory=dlg.LoopLocal)

    # ------------------------------------------------------------------ construction
    @model_validator(mode="before")
    @classmethod
    def _resolve_router_and_candidates(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        accepted = {*cls.model_fields, *(f.alias for f in cls.model_fields.values() if f.alias)}
        dlg.check_arguments(cls.__name__, data, {*accepted, *_OPENROUTER_SETTINGS, *_SERIALIZATION_KEYS})
        data = dict(data)
        for name in _SERIALIZATION_KEYS:
            data.pop(name, None)
        settings = {name: data.pop(name) for name in _OPENROUTER_SETTINGS if name in data}
        if data.get("router") is None:
            data["router"] = dlg.default_router()
        known = dlg.router_models(data["router"])
        candidates = data.get("candidates")
        if candidates is None:
            candidates = _openrouter_candidates(data["router"], **settings)
        elif isinstance(candidates, Mapping):
            dlg.check_candidate_keys(candidates, known, "LLM")
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
        data["candidates"] = {k: _isolated(v, k) for k, v in candidates.items()}
        return data

    @field_validator("feedback_log", mode="before")
    @classmethod
    def _feedback_log(cls, value: Any) -> FeedbackLog | None:
        return dlg.feedback_log(value)

    @classmethod
    def from_openrouter(
        cls,
        router: Any = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        api_base: str | None = None,
        **kwargs: Any,
    ) -> AutoRouterLLM:
        """Reach every model of `router` through one OpenAI-compatible endpoint.

        Builds one `OpenAILike` (from `llama-index-llms-openai-like`, the `llamaindex`
        extra) per router model, named by the catalog's id for it where the catalog knows it,
        with the catalog's context window and tool support, pointed at `base_url`
        (OpenRouter unless you say otherwise), with `max_retries=0` so that autorouter's
        policy is the one that retries. `ChatAutoRouter.from_openrouter` takes the same
        arguments.

        Args:
            router: a fitted `autorouter.Router`; None: `Router.default()`.
            base_url: any OpenAI-compatible endpoint that serves the router's models; None:
                OpenRouter's (`OPENROUTER_BASE_URL`).
            api_key: the endpoint's key; None: the `OPENROUTER_API_KEY` environment variable.
            timeout: seconds per request of the built LLMs; None: `OpenAILike`'s default.
            temperature, max_tokens: for the built LLMs; None: `OpenAILike`'s defaults.
            api_base: LlamaIndex's name for `base_url` (as in `OpenAILike(api_base=...)`);
                give one of the two.
            **kwargs: other fields of `AutoRouterLLM` (`tradeoff`, `max_cost`, `max_latency_s`, ...).

        Raises:
            MissingAPIKeyError: no `api_key`, and `OPENROUTER_API_KEY` is unset.
            TypeError: an argument `AutoRouterLLM` does not take, or `base_url` and
                `api_base` naming different endpoints.
        """
        params: dict[str, Any] = {"router": router, "candidates": None, **kwargs}
        for name, value in (("base_url", base_url), ("api_key", api_key), ("timeout", timeout),
                            ("temperature", temperature), ("max_tokens", max_tokens), ("api_base", api_base)):
            if value is not None:
                params[name] = value
        return cls(**params)

    @classmethod
    def class_name(cls) -> str:
        return "AutoRouterLLM"

    # ------------------------------------------------------------------ feedback
    def feedback(self, response: ChatResponse | CompletionResponse | str, score: float) -> Feedback:
        """Record how good one of this router's answers was, and learn from it.

        Args:
            response: the answer (the `ChatResponse` of `chat` / `achat`, the
                `CompletionResponse` of `complete` / `acomplete`, or any item of a stream
                of theirs) or its id (`response.additional_kwargs["response_id"]`).
            score: how good it was, in [0, 1] (0 = useless, 1 = as good as it gets; a
                thumbs up as 1 and down as 0).

        The answer's prompt (the text the router routed on) and candidate come from this
        router's memory of its last 10,000 answers (fewer when their prompts are long).
        Everything is checked first, so bad
        feedback changes nothing; then the record is appended to `feedback_log` (if set)
        and, with `learn_from_feedback`, this router learns from it
        (`Router.partial_fit`): its predictions for that candidate on similar prompts move
        toward the score, and so does the routing of later calls.

        Returns:
            The `autorouter.Feedback` recorded (prompt, model, score, response_id, time).

        Raises:
            UnknownResponseError: no recent answer of this router has that id (an answer of
                another router or process, or one forgotten since).
            InvalidRequestError: the score is not a finite number in [0, 1], or `response`
                is neither a response nor an id.
            UnknownModelError: the candidate that answered is no longer one of the router's.
        """
        return self._answers.feedback(
            self.router, _response_id(response), score,
            log=self.feedback_log, learn=self.learn_from_feedback,
        )

    async def afeedback(self, response: ChatResponse | CompletionResponse | str, score: float) -> Feedback:
        """`feedback` without blocking the event loop (learning embeds the prompt)."""
        return await asyncio.to_thread(self.feedback, response, score)

    def _record(self, raw: Any, plan: _Plan, key: str) -> str:
        """Remember an answer for `feedback`; returns its id: the candidate's (`raw.id`), or
        a new one."""
        prompt = plan.prompt if isinstance(plan.prompt, str) else _routing_messages(plan.prompt or [])[0]
        return self._answers.record(_upstream_id(raw), prompt, key)

    # ------------------------------------------------------------------ what it is
    @property
    def metadata(self) -> LLMMetadata:
        """The router as one LLM: the largest context window among the candidates (a longer
        prompt goes only to candidates it fits), the smallest known output limit, a chat
        model if every candidate is one, and a function-calling model if a candidate is one
        (tool calls go only to such candidates)."""
        metas = [llm.metadata for llm in self.candidates.values()]
        windows = [m.context_window for m in metas if isinstance(m.context_window, int) and m.context_window > 0]
        outputs = [m.num_output for m in metas if isinstance(m.num_output, int) and m.num_output > 0]
        roles = {m.system_role for m in metas}
        return LLMMetadata(
            context_window=max(windows, default=DEFAULT_CONTEXT_WINDOW),
            num_output=min(outputs, default=DEFAULT_NUM_OUTPUTS),
            is_chat_model=bool(metas) and all(m.is_chat_model for m in metas),
            is_function_calling_model=any(self._capabilities(k)["tools"] for k in self.candidates),
            model_name=self.model_name,
            system_role=roles.pop() if len(roles) == 1 else MessageRole.SYSTEM,
        )

    def to_payload(self) -> dict[str, Any]:
        """What instrumentation and callbacks see of the router: its metadata and each
        candidate's class and model name (never keys)."""
        return {
            "class_name": self.class_name(),
            **self.metadata.model_dump(),
            "candidates": {
                key: {"class_name": llm.class_name(), "model_name": _own_name(llm) or key}
                for key, llm in self.candidates.items()
            },
        }

    def _capabilities(self, key: str) -> dict[str, Any]:
        """What candidate `key` can take: tools (a function-calling LLM that says so), images
        (as the catalog says, the way a router's `add_catalog_model` reads it; unknown without
        a card), its context window."""
        cache = self._caps_cache
        if key not in cache:
            llm = self.candidates[key]
            meta = llm.metadata
            card = dlg.catalog_card(key) or dlg.catalog_card(_own_name(llm))
            caps = getattr(card, "capabilities", None)
            window = meta.context_window if isinstance(meta.context_window, int) and meta.context_window > 0 else None
            cache[key] = {
                "tools": isinstance(llm, FunctionCallingLLM) and bool(meta.is_function_calling_model),
                "images": getattr(caps, "images", None),
                "context_window": window or getattr(card, "context_window", None),
            }
        return cache[key]

    # ------------------------------------------------------------------ routing
    def _plan(self, prompt: Any, kwargs: dict[str, Any]) -> tuple[_Plan, dict[str, Any], Any]:
        """Everything about a call but the router's decision: (plan, route kwargs, routing input).

        `plan.order` is set only when the call is forced."""
        rest = dict(kwargs)
        force, tradeoff, max_cost, max_latency_s, latency_weight = (rest.pop(k, None) for k in _ROUTER_KWARGS)
        tools: _Tools | None = rest.pop(_TOOLS_KWARG, None)
        plan = _Plan(order=[], rest=rest, tools=tools, prompt=prompt)
        if force is not None:
            key = self._forced_key(force)
            if tools is not None and tools.tools and not self._capabilities(key)["tools"]:
                raise ValueError(
                    f"model={force!r} forces candidate {key!r}, which is not a function-calling "
                    "LLM, but the call has tools"
                )
            plan.order, plan.forced = [key], True
            return plan, {}, []
        if isinstance(prompt, str):
            routing: Any = prompt
            needs: set[str] = set()
            chars = len(prompt)
        else:
            if not prompt:
                from autorouter.errors import InvalidRequestError

                raise InvalidRequestError("the message list is empty; pass at least one message")
            routing, needs = _routing_messages(prompt)
            chars = _chars(routing)
            plan.sticky = dlg.sticky_candidate(self._turns(prompt))
            key, under_way = dlg.run_key([(_turn_role(m), m.content or "") for m in prompt])
            if plan.sticky is None and under_way:
                plan.sticky = self._runs.recall(key)
            elif not under_way:
                plan.run = key
        if tools is not None and tools.tools:
            needs.add("tools")
        caps = {k: self._capabilities(k) for k in self.candidates}
        eligible, plan.excluded = dlg.eligible_candidates(
            caps, sorted(needs), dlg.estimate_tokens(chars)
        )
        if plan.sticky not in eligible:
            plan.sticky = None
        route_kwargs = {
            "tradeoff": self.tradeoff if tradeoff is None else tradeoff,
            "max_cost": self.max_cost if max_cost is None else max_cost,
            "max_latency_s": self.max_latency_s if max_latency_s is None else max_latency_s,
            "latency_weight": self.latency_weight if latency_weight is None else latency_weight,
            "candidates": eligible,
            "tools": "tools" in needs,
        }
        return plan, route_kwargs, routing

    def _route(self, prompt: Any, kwargs: dict[str, Any]) -> _Plan:
        plan, route_kwargs, routing = self._plan(prompt, kwargs)
        if not plan.forced:
            try:
                plan.decision = self.router.route(routing, **route_kwargs)
            except Exception as exc:
                if plan.sticky is None or not _is_no_candidate(exc):
                    raise
            self._decided(plan)
        return plan

    async def _aroute(self, prompt: Any, kwargs: dict[str, Any]) -> _Plan:
        plan, route_kwargs, routing = self._plan(prompt, kwargs)
        if not plan.forced:
            try:
                plan.decision = await self.router.aroute(routing, **route_kwargs)
            except Exception as exc:
                if plan.sticky is None or not _is_no_candidate(exc):
                    raise  # a cap excluding the model the agent run started with keeps it
            self._decided(plan)
        return plan

    def _decided(self, plan: _Plan) -> None:
        plan.order = dlg.call_order(plan.decision, plan.sticky)
        if plan.run is not None:
            self._runs.remember(plan.run, plan.order[0])
        info = dlg.decision_info(
            plan.order[0], plan.decision, sticky=plan.sticky, excluded=plan.excluded,
        )
        dispatcher.event(RoutingDecisionEvent(model=plan.order[0], order=list(plan.order), info=info))

    def _forced_key(self, model: Any) -> str:
        return dlg.forced_candidate(model, {k: _own_name(llm) for k, llm in self.candidates.items()})

    def _turns(self, messages: Sequence[ChatMessage]) -> Iterator[tuple[str, str | None]]:
        for m in messages:
            role = _role(m)
            key = None
            if role in _ASSISTANT_ROLES:
                role = "assistant"
                tag = (m.additional_kwargs or {}).get(CANDIDATE_KEY)
                key = tag if tag in self.candidates else None
            yield role, key

    # ------------------------------------------------------------------ one candidate call
    def _policy(self) -> Any:
        return dlg.retry_policy(self.retry_policy, self.max_retries)

    def _async_candidate(self, key: str) -> LLM:
        """Candidate `key` as async calls in the running event loop use it (`_for_this_loop`)."""
        llm = self.candidates[key]
        return self._loop_candidates.get(key, llm, lambda: _for_this_loop(llm))  # type: ignore[no-any-return]

    def _chat_once(self, key: str, messages: Sequence[ChatMessage], plan: _Plan) -> ChatResponse:
        llm = self.candidates[key]
        if plan.tools is not None and isinstance(llm, FunctionCallingLLM):
            return llm.chat_with_tools(
                plan.tools.tools, chat_history=list(messages), **plan.tools.kwargs(), **plan.rest
            )
        return llm.chat(messages, **plan.rest)

    async def _achat_once(self, key: str, messages: Sequence[ChatMessage], plan: _Plan) -> ChatResponse:
        llm = self._async_candidate(key)
        if plan.tools is not None and isinstance(llm, FunctionCallingLLM):
            return await llm.achat_with_tools(
                plan.tools.tools, chat_history=list(messages), **plan.tools.kwargs(), **plan.rest
            )
        return await llm.achat(messages, **plan.rest)

    def _open_chat_stream(self, key: str, messages: Sequence[ChatMessage], plan: _Plan) -> Iterator[ChatResponse]:
        llm = self.candidates[key]
        if plan.tools is not None and isinstance(llm, FunctionCallingLLM):
            stream = llm.stream_chat_with_tools(
                plan.tools.tools, chat_history=list(messages), **plan.tools.kwargs(), **plan.rest
            )
        else:
            stream = llm.stream_chat(messages, **plan.rest)
        return _skip_empty_head(stream, _chat_has_output)

    async def _aopen_chat_stream(
        self, key: str, messages: Sequence[ChatMessage], plan: _Plan
    ) -> AsyncIterator[ChatResponse]:
        llm = self._async_candidate(key)
        if plan.tools is not None and isinstance(llm, FunctionCallingLLM):
            stream = await llm.astream_chat_with_tools(
                plan.tools.tools, chat_history=list(messages), **plan.tools.kwargs(), **plan.rest
            )
        else:
            stream = await llm.astream_chat(messages, **plan.rest)
        return _askip_empty_head(stream, _chat_has_output)

    def _open_completion_stream(self, key: str, prompt: str, formatted: bool, plan: _Plan) -> Iterator[Any]:
        stream = self.candidates[key].stream_complete(prompt, formatted=formatted, **plan.rest)
        return _skip_empty_head(stream, _completion_has_output)

    async def _aopen_completion_stream(
        self, key: str, prompt: str, formatted: bool, plan: _Plan
    ) -> AsyncIterator[Any]:
        stream = await self._async_candidate(key).astream_complete(prompt, formatted=formatted, **plan.rest)
        return _askip_empty_head(stream, _completion_has_output)

    # ------------------------------------------------------------------ the answer
    def _info(self, key: str, plan: _Plan, attempts: Sequence[Any], usage: tuple[int, int] | None) -> dict[str, Any]:
        cost = None
        if usage is not None:
            cost = dlg.call_cost_usd([key, _own_name(self.candidates[key])], *usage, router=self.router)
        return dlg.decision_info(
            key, plan.decision, attempts, forced=plan.forced, sticky=plan.sticky,
            excluded=plan.excluded, cost_usd=cost,
        )

    @staticmethod
    def _tag(response: Any, key: str, info: dict[str, Any], answer_id: str) -> Any:
        """A copy of the candidate's response carrying the candidate's key, the report and
        the answer's id."""
        extra = {
            **(response.additional_kwargs or {}), CANDIDATE_KEY: key, ROUTER_KEY: info,
            RESPONSE_ID_KEY: answer_id,
        }
        update: dict[str, Any] = {"additional_kwargs": extra}
        message = getattr(response, "message", None)
        if isinstance(message, ChatMessage):
            update["message"] = message.model_copy(
                update={"additional_kwargs": {**(message.additional_kwargs or {}), CANDIDATE_KEY: key}}
            )
        return response.model_copy(update=update)

    def _finish(self, result: Any, plan: _Plan) -> Any:
        info = self._info(result.model, plan, result.attempts, _usage(result.value))
        answer_id = self._record(getattr(result.value, "raw", None), plan, result.model)
        return self._tag(result.value, result.model, info, answer_id)

    def _relay(self, stream: Any, plan: _Plan, run: _LLMRun) -> Generator[Any, None, None]:
        usage = None
        last = None
        answer_id = None
        try:
            for item in stream:
                usage = _usage(item) or usage
                if answer_id is None:  # recorded at the first item, as the gateway records a stream
                    answer_id = self._record(getattr(item, "raw", None), plan, stream.model)
                info = self._info(stream.model, plan, stream.attempts, usage)
                last = self._tag(item, stream.model, info, answer_id)
                yield last
        except GeneratorExit:
            run.end(last)  # stopped early: the call still happened, with what was received
            raise
        except BaseException as exc:
            run.fail(exc)
            raise
        finally:
            stream.close()
        run.end(last)

    async def _arelay(self, stream: Any, plan: _Plan, run: _LLMRun) -> AsyncGenerator[Any, None]:
        usage = None
        last = None
        answer_id = None
        try:
            async for item in stream:
                usage = _usage(item) or usage
                if answer_id is None:
                    answer_id = self._record(getattr(item, "raw", None), plan, stream.model)
                info = self._info(stream.model, plan, stream.attempts, usage)
                last = self._tag(item, stream.model, info, answer_id)
                yield last
        except GeneratorExit:
            run.end(last)
            raise
        except BaseException as exc:
            run.fail(exc)
            raise
        finally:
            await stream.aclose()
        run.end(last)

    # ------------------------------------------------------------------ callbacks
    @contextmanager
    def _llm_run(self, kind: str, prompt: Any, kwargs: dict[str, Any]) -> Iterator[_LLMRun]:
        """One `CBEventType.LLM` event on the router's callback manager, as LlamaIndex's
        `llm_chat_callback` / `llm_completion_callback` emit it (without dispatcher events:
        the candidate emits those)."""
        if not isinstance(self.callback_manager, CallbackManager):
            self.callback_manager = CallbackManager()
        manager = self.callback_manager
        with manager.as_trace(kind):
            run = _LLMRun(manager, self, kind, prompt, kwargs)
            try:
                yield run
            except BaseException as exc:
                run.fail(exc)
                raise

    def _acquire(self) -> None:
        if self.rate_limiter is not None:
            self.rate_limiter.acquire()

    async def _aacquire(self) -> None:
        if self.rate_limiter is not None:
            await self.rate_limiter.async_acquire()

    # ------------------------------------------------------------------ LlamaIndex LLM API
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        from autorouter.reliability import run_with_fallback

        with self._llm_run("chat", messages, kwargs) as run:
            self._acquire()
            plan = self._route(messages, kwargs)
            outgoing = _untagged(messages)
            result = run_with_fallback(
                plan.order, lambda key: self._chat_once(key, outgoing, plan), dlg.classify_error,
                policy=self._policy(),
            )
            response = self._finish(result, plan)
            run.end(response)
            return response

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        from autorouter.reliability import arun_with_fallback

        with self._llm_run("chat", messages, kwargs) as run:
            await self._aacquire()
            plan = await self._aroute(messages, kwargs)
            outgoing = _untagged(messages)
            result = await arun_with_fallback(
                plan.order, lambda key: self._achat_once(key, outgoing, plan), dlg.classify_error,
                policy=self._policy(),
            )
            response = self._finish(result, plan)
            run.end(response)
            return response

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        from autorouter.reliability import stream_with_fallback

        with self._llm_run("chat", messages, kwargs) as run:
            self._acquire()
            plan = self._route(messages, kwargs)
            outgoing = _untagged(messages)
            stream = stream_with_fallback(
                plan.order, lambda key: self._open_chat_stream(key, outgoing, plan), dlg.classify_error,
                policy=self._policy(), text_of=_delta,
            )
            return self._relay(stream, plan, run)

    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        from autorouter.reliability import astream_with_fallback

        with self._llm_run("chat", messages, kwargs) as run:
            await self._aacquire()
            plan = await self._aroute(messages, kwargs)
            outgoing = _untagged(messages)
            stream = await astream_with_fallback(
                plan.order, lambda key: self._aopen_chat_stream(key, outgoing, plan), dlg.classify_error,
                policy=self._policy(), text_of=_delta,
            )
            return self._arelay(stream, plan, run)

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        from autorouter.reliability import run_with_fallback

        with self._llm_run("completion", prompt, kwargs) as run:
            self._acquire()
            plan = self._route(prompt, kwargs)
            result = run_with_fallback(
                plan.order,
                lambda key: self.candidates[key].complete(prompt, formatted=formatted, **plan.rest),
                dlg.classify_error, policy=self._policy(),
            )
            response = self._finish(result, plan)
            run.end(response)
            return response

    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        from autorouter.reliability import arun_with_fallback

        with self._llm_run("completion", prompt, kwargs) as run:
            await self._aacquire()
            plan = await self._aroute(prompt, kwargs)
            result = await arun_with_fallback(
                plan.order,
                lambda key: self._async_candidate(key).acomplete(prompt, formatted=formatted, **plan.rest),
                dlg.classify_error, policy=self._policy(),
            )
            response = self._finish(result, plan)
            run.end(response)
            return response

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        from autorouter.reliability import stream_with_fallback

        with self._llm_run("completion", prompt, kwargs) as run:
            self._acquire()
            plan = self._route(prompt, kwargs)
            stream = stream_with_fallback(
                plan.order, lambda key: self._open_completion_stream(key, prompt, formatted, plan),
                dlg.classify_error, policy=self._policy(), text_of=_delta,
            )
            return self._relay(stream, plan, run)

    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        from autorouter.reliability import astream_with_fallback

        with self._llm_run("completion", prompt, kwargs) as run:
            await self._aacquire()
            plan = await self._aroute(prompt, kwargs)
            stream = await astream_with_fallback(
                plan.order, lambda key: self._aopen_completion_stream(key, prompt, formatted, plan),
                dlg.classify_error, policy=self._policy(), text_of=_delta,
            )
            return self._arelay(stream, plan, run)

    # ------------------------------------------------------------------ tool calling
    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """A provider-neutral request: the messages, plus the tools and tool options, which
        `chat` (and its stream and async forms) hand to the chosen candidate's own
        `chat_with_tools`."""
        messages = list(chat_history or [])
        if user_msg is not None:
            messages.append(ChatMessage(role=MessageRole.USER, content=user_msg) if isinstance(user_msg, str) else user_msg)
        request = _Tools(
            tools=list(tools),
            tool_choice=kwargs.pop("tool_choice", None),
            tool_required=tool_required,
            allow_parallel_tool_calls=allow_parallel_tool_calls,
            verbose=verbose,
        )
        return {"messages": messages, _TOOLS_KWARG: request, **kwargs}

    def get_tool_calls_from_response(
        self,
        response: ChatResponse,
        error_on_no_tool_call: bool = True,
        **kwargs: Any,
    ) -> list[ToolSelection]:
        """The tool calls of a response, read by the candidate that gave it (tagged
        `additional_kwargs["router_candidate"]`), else from its `ToolCallBlock`s."""
        key = (response.additional_kwargs or {}).get(CANDIDATE_KEY) or (
            response.message.additional_kwargs or {}
        ).get(CANDIDATE_KEY)
        llm = self.candidates.get(key) if isinstance(key, str) else None
        if isinstance(llm, FunctionCallingLLM):
            try:
                return llm.get_tool_calls_from_response(
                    response, error_on_no_tool_call=error_on_no_tool_call, **kwargs
                )
            except NotImplementedError:
                pass
        return _tool_calls_from_blocks(response, error_on_no_tool_call)


class _LLMRun:
    """The router's `CBEventType.LLM` event of one call: started at once, ended once."""

    def __init__(self, manager: CallbackManager, llm: AutoRouterLLM, kind: str, prompt: Any, kwargs: dict[str, Any]) -> None:
        self.manager = manager
        self.kind = kind
        self.prompt = prompt
        self.done = False
        payload: dict[str, Any] = {
            EventPayload.ADDITIONAL_KWARGS: kwargs,
            EventPayload.SERIALIZED: llm.to_payload(),
            (EventPayload.MESSAGES if kind == "chat" else EventPayload.PROMPT): prompt,
        }
        self.event_id = manager.on_event_start(CBEventType.LLM, payload=payload)

    def end(self, response: Any) -> None:
        if self.done:
            return
        self.done = True
        payload: dict[str, Any]
        if self.kind == "chat":
            payload = {EventPayload.MESSAGES: self.prompt, EventPayload.RESPONSE: response}
        else:
            payload = {EventPayload.PROMPT: self.prompt, EventPayload.COMPLETION: response}
        self.manager.on_event_end(CBEventType.LLM, payload=payload, event_id=self.event_id)

    def fail(self, exc: BaseException) -> None:
        if self.done:
            return
        self.done = True
        self.manager.on_event_end(CBEventType.LLM, payload={EventPayload.EXCEPTION: exc}, event_id=self.event_id)


# --- messages ------------------------------------------------------------------------------


def _turn_role(message: ChatMessage) -> str:
    """The message's role, with ReAct's observations (user-role messages the agent writes
    itself) counted as tool turns rather than as the user speaking."""
    role = _role(message)
    if role == "user" and (message.content or "").lstrip().startswith("Observation:"):
        return "tool"
    return role


def _role(message: ChatMessage) -> str:
    role = message.role
    return str(getattr(role, "value", role) or "").lower()


def _routing_messages(messages: Sequence[ChatMessage]) -> tuple[list[dict[str, Any]], set[str]]:
    """The messages as role/content dicts the core's prompt reader understands, and what
    they need beyond text (images, pdf, audio, video). Tool calls count as text (they are
    paid for). If no message holds text, a placeholder user message stands in, so the router
    can still rank."""
    out: list[dict[str, Any]] = []
    needs: set[str] = set()
    for m in messages:
        parts: list[dict[str, Any]] = []
        for block in m.blocks:
            kind = getattr(block, "block_type", None)
            if kind in _BLOCK_NEEDS:
                needs.add(_BLOCK_NEEDS[kind])
                if kind == "image":
                    parts.append({"type": "image_url"})
            elif isinstance(block, ToolCallBlock):
                args = block.tool_kwargs if isinstance(block.tool_kwargs, str) else json.dumps(block.tool_kwargs, default=str)
                parts.append({"type": "text", "text": f"{block.tool_name}({args})"})
            else:
                text = getattr(block, "text", None)
                if not isinstance(text, str):
                    text = getattr(block, "content", None)  # ThinkingBlock
                if isinstance(text, str) and text:
                    parts.append({"type": "text", "text": text})
        role = _role(m)
        out.append({"role": role if role in _ROUTING_ROLES else "user", "content": parts})
    if not any(p.get("text", "").strip() for d in out for p in d["content"]):
        kinds = sorted(needs) or ["empty"]
        out.append({"role": "user", "content": [{"type": "text", "text": f"({', '.join(kinds)} input)"}]})
    return out, needs


def _untagged(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """The messages without the router's tag, which is for the router alone: some
    integrations send an assistant message's `additional_kwargs` along with it."""
    out = []
    for m in messages:
        extra = m.additional_kwargs or {}
        if CANDIDATE_KEY in extra:
            m = m.model_copy(update={"additional_kwargs": {k: v for k, v in extra.items() if k != CANDIDATE_KEY}})
        out.append(m)
    return out


def _chars(messages: list[dict[str, Any]]) -> int:
    return sum(len(p.get("text", "")) for d in messages for p in d["content"])


def _tool_calls_from_blocks(response: ChatResponse, error_on_no_tool_call: bool) -> list[ToolSelection]:
    from llama_index.core.llms.utils import parse_partial_json

    calls = []
    for i, block in enumerate(b for b in response.message.blocks if isinstance(b, ToolCallBlock)):
        kwargs: Any = block.tool_kwargs
        if isinstance(kwargs, str):
            try:
                kwargs = parse_partial_json(kwargs) if kwargs.strip() else {}
            except (ValueError, TypeError):
                kwargs = {}
        calls.append(ToolSelection(tool_id=block.tool_call_id or f"call_{i}", tool_name=block.tool_name, tool_kwargs=kwargs))
    if not calls and error_on_no_tool_call:
        raise ValueError("Expected at least one tool call, but got 0 tool calls.")
    return calls


# --- streams -------------------------------------------------------------------------------


def _chat_has_output(item: Any) -> bool:
    message = getattr(item, "message", None)
    return bool(
        getattr(item, "delta", None)
        or (message is not None and (
            message.content
            or any(isinstance(b, ToolCallBlock) for b in message.blocks)
            or (message.additional_kwargs or {}).get("tool_calls")
        ))
        or (item.additional_kwargs or {}).get("thinking_delta")
    )


def _completion_has_output(item: Any) -> bool:
    return bool(getattr(item, "delta", None) or getattr(item, "text", None))


def _skip_empty_head(stream: Iterator[Any], has_output: Callable[[Any], bool]) -> Iterator[Any]:
    """The stream without the empty items before its first output (OpenAI first sends the
    role alone), so that a failure before any output still counts as "before the first
    item" and falls back. LlamaIndex stream items hold the whole message so far, so
    nothing is lost; an answer that is empty throughout yields its last item."""
    held = None
    started = False
    try:
        for item in stream:
            if not started and not has_output(item):
                held = item
                continue
            started = True
            yield item
        if not started and held is not None:
            yield held
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


async def _askip_empty_head(stream: AsyncIterator[Any], has_output: Callable[[Any], bool]) -> AsyncIterator[Any]:
    """`_skip_empty_head` for async streams."""
    held = None
    started = False
    try:
        async for item in stream:
            if not started and not has_output(item):
                held = item
                continue
            started = True
            yield item
        if not started and held is not None:
            yield held
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def _delta(item: Any) -> str:
    delta = getattr(item, "delta", None)
    return delta if isinstance(delta, str) else ""


def _usage(response: Any) -> tuple[int, int] | None:
    """(prompt tokens, completion tokens) of a response, from its `additional_kwargs` (as
    OpenAI's LLMs report them) or its `raw` usage; None when neither says."""
    for source in (response.additional_kwargs, _raw_usage(getattr(response, "raw", None))):
        if not source:
            continue
        get = source.get if isinstance(source, Mapping) else (lambda k, s=source: getattr(s, k, None))
        for p_key, c_key in (("prompt_tokens", "completion_tokens"), ("input_tokens", "output_tokens")):
            p, c = get(p_key), get(c_key)
            if isinstance(p, int) and isinstance(c, int):
                return p, c
    return None


def _upstream_id(raw: Any) -> str | None:
    """The id a candidate's raw response carries (OpenAI's `chatcmpl-...`), if any."""
    if raw is None:
        return None
    value = raw.get("id") if isinstance(raw, Mapping) else getattr(raw, "id", None)
    return value if isinstance(value, str) and value else None


def _response_id(response: Any) -> Any:
    """The id `feedback` names an answer by: a response's `additional_kwargs["response_id"]`,
    or the string given."""
    if isinstance(response, str):
        return response
    if isinstance(response, ChatResponse | CompletionResponse):
        answer_id = (response.additional_kwargs or {}).get(RESPONSE_ID_KEY)
        if not isinstance(answer_id, str) or not answer_id:
            from autorouter.errors import UnknownResponseError

            raise UnknownResponseError(
                f"this {type(response).__name__} has no additional_kwargs[{RESPONSE_ID_KEY!r}], so "
                "it is no answer of an AutoRouterLLM"
            )
        return answer_id
    from autorouter.errors import InvalidRequestError

    raise InvalidRequestError(
        "feedback takes an answer of this router (a ChatResponse or CompletionResponse) or its "
        f"id, not a {type(response).__name__}"
    )


def _raw_usage(raw: Any) -> Any:
    if raw is None:
        return None
    if isinstance(raw, Mapping):
        return raw.get("usage") or raw.get("usage_metadata")
    return getattr(raw, "usage", None)


# --- construction helpers -------------------------------------------------------------------

_NO_CANDIDATES = dlg.no_candidates_message("LLM")


def _own_name(llm: Any) -> str | None:
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


def _openai_family(llm: Any) -> bool:
    """Whether `llm` is one of llama-index's OpenAI LLMs (`OpenAI`, `OpenAILike`, and the
    integrations built on them). Not imported here: if llama-index-llms-openai was never
    imported, no candidate can be one."""
    module = sys.modules.get("llama_index.llms.openai.base")
    family = getattr(module, "OpenAI", None)
    return isinstance(family, type) and isinstance(llm, family)


def _isolated(llm: LLM, key: str) -> LLM:
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
            dlg.warn_caller(dlg.own_retries_warning("LLM", key, llm, retries))
    manager = CallbackManager([])
    manager.handlers = []  # passing [] is not enough: it adopts the Settings handlers
    copy.callback_manager = manager
    return copy


def _for_this_loop(llm: LLM) -> LLM:
    """A copy of the candidate for async calls in the running event loop (one per loop, kept
    by `autorouter.delegation.LoopLocal`): an OpenAI-family LLM with `reuse_client` keeps one
    async SDK client, whose pooled connections belong to the loop that opened them; the
    copy builds its own on first use, over a connection pool of its own. LLMs given an `async_http_client` of the caller's own,
    and other classes, are used as they are."""
    if not _openai_family(llm) or not getattr(llm, "reuse_client", False):
        return llm  # without reuse_client, every call builds a fresh client anyway
    if getattr(llm, "_async_http_client", None) is not None:
        return llm
    import openai

    copy: Any = llm.model_copy()  # an OpenAI-family copy: it has the private client attributes
    copy._aclient = None
    # A plain httpx client (the SDK's defaults), not the one the SDK would make itself: that
    # one closes itself when collected by scheduling `aclose()` on the loop running then,
    # which fails ("Event loop is closed") for the connections of the loop this copy served.
    copy._async_http_client = openai.DefaultAsyncHttpxClient()
    return copy


def _is_no_candidate(exc: BaseException) -> bool:
    from autorouter.errors import NoCandidateError

    return isinstance(exc, NoCandidateError)


def _candidates_by_name(llms: list[Any], known: list[str]) -> dict[str, Any]:
    """Key each LLM by the router model it is, from its own model name (or the catalog's
    ids and aliases for it)."""
    for llm in llms:
        if not isinstance(llm, LLM):
            raise TypeError(f"candidates must be LlamaIndex LLMs, got {type(llm).__name__}")
    return dlg.candidates_by_name(llms, known, _own_name, "LLM")


def _openrouter_candidates(
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
    settings = {
        name: value
        for name, value in (("timeout", timeout), ("temperature", temperature), ("max_tokens", max_tokens))
        if value is not None
    }
    key = dlg.openrouter_api_key(api_key, "LLM")
    try:
        from llama_index.llms.openai_like import OpenAILike  # type: ignore[import-untyped]
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "building candidates through OpenRouter needs llama-index-llms-openai-like: "
            "pip install 'autorouter[llamaindex]'"
        ) from e
    out = {}
    for name in dlg.router_models(router):
        card = dlg.catalog_card(name)
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
