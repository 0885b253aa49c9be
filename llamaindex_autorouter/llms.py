"""`AutoRouterLLM`: a LlamaIndex `FunctionCallingLLM` that sends each call to the LLM an
`autorouter.Router` picks, among LLMs you already have.

This module is the framework surface: the fields and constructors, `chat` / `complete`, their
stream and async forms, tool calling, metadata and feedback, and the routing of each call.
Its helpers: `_messages` (LlamaIndex messages and responses in the router's terms),
`_calls` (a call's plan and the candidate call it makes), `_streams` (streaming),
`_callbacks` (the legacy callback event) and `_construction` (resolving and copying the
candidates)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
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
)
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator
from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW, DEFAULT_NUM_OUTPUTS
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM, ToolSelection

from autorouter.calls import CallPlan, RecentMap, ahold_empty_head, aplan_call, hold_empty_head, plan_call
from autorouter.calls.adapter_support import LoopLocal, forced_candidate, retry_policy
from autorouter.calls.answers import AnswerBook, feedback_log
from autorouter.calls.plan import eligible_candidates, estimate_tokens, run_key, sticky_candidate
from autorouter.calls.sdk_errors import classify_error
from autorouter.costs import call_cost_usd
from autorouter.errors import InvalidRequestError
from autorouter.feedback import Feedback, FeedbackLog
from autorouter.reliability import arun_with_fallback, astream_with_fallback, run_with_fallback, stream_with_fallback

from ._callbacks import LLMRun, llm_run
from ._calls import TOOLS_KWARG, Request, Tools, candidate_method, send
from ._construction import (
    OPENROUTER_BASE_URL,
    capabilities,
    for_this_loop,
    openrouter_arguments,
    own_name,
    resolve_arguments,
)

# The response keys, importable from here as before (`_messages` defines them).
from ._messages import CANDIDATE_KEY as CANDIDATE_KEY
from ._messages import RESPONSE_ID_KEY as RESPONSE_ID_KEY
from ._messages import ROUTER_KEY as ROUTER_KEY
from ._messages import (
    answering_candidate,
    chars,
    recorded_prompt,
    response_id,
    routing_messages,
    tagged,
    tool_calls_from_blocks,
    turn_role,
    turns,
    untagged,
    upstream_id,
    usage,
)
from ._streams import Relay, arelay, delta, output_test, relay
from .events import RoutingDecisionEvent

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

__all__ = ["OPENROUTER_BASE_URL", "AutoRouterLLM"]

_ROUTER_KWARGS = ("model", "tradeoff", "max_cost", "max_latency_s", "latency_weight")

dispatcher = get_dispatcher(__name__)


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

    _answers: AnswerBook = PrivateAttr(default_factory=AnswerBook)
    _caps_cache: dict[str, dict[str, Any]] = PrivateAttr(default_factory=dict)
    # ReAct's reasoning turns come back as fresh messages without our tag: remember each
    # run's model by the conversation up to its user message instead.
    _runs: RecentMap = PrivateAttr(default_factory=lambda: RecentMap(4096))
    _loop_candidates: Any = PrivateAttr(default_factory=LoopLocal)


    # ------------------------------------------------------------------ construction
    @model_validator(mode="before")
    @classmethod
    def _resolve_router_and_candidates(cls, data: Any) -> Any:
        accepted = {*cls.model_fields, *(f.alias for f in cls.model_fields.values() if f.alias)}
        return resolve_arguments(cls.__name__, accepted, data)

    @field_validator("feedback_log", mode="before")
    @classmethod
    def _feedback_log(cls, value: Any) -> FeedbackLog | None:
        return feedback_log(value)

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
        settings = openrouter_arguments(
            base_url=base_url, api_key=api_key, timeout=timeout, temperature=temperature,
            max_tokens=max_tokens, api_base=api_base,
        )
        return cls(**{"router": router, "candidates": None, **kwargs, **settings})

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
            self.router, response_id(response), score,
            log=self.feedback_log, learn=self.learn_from_feedback,
        )

    async def afeedback(self, response: ChatResponse | CompletionResponse | str, score: float) -> Feedback:
        """`feedback` without blocking the event loop (learning embeds the prompt)."""
        return await asyncio.to_thread(self.feedback, response, score)


    def _record(self, raw: Any, req: Request, key: str) -> str:
        """Remember an answer for `feedback`; returns its id: the candidate's (`raw.id`), or
        a new one."""
        return self._answers.record(upstream_id(raw), recorded_prompt(req.prompt), key)

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
                key: {"class_name": llm.class_name(), "model_name": own_name(llm) or key}
                for key, llm in self.candidates.items()
            },
        }

    def _capabilities(self, key: str) -> dict[str, Any]:
        """What candidate `key` can take (`_construction.capabilities`), looked up once."""
        if key not in self._caps_cache:
            self._caps_cache[key] = capabilities(key, self.candidates[key])
        return self._caps_cache[key]

    # ------------------------------------------------------------------ routing
    def _request(self, prompt: Any, kwargs: dict[str, Any]) -> tuple[Request, dict[str, Any], Any]:
        """Everything about a call but the router's decision: (request, route kwargs, routing input)."""
        rest = dict(kwargs)
        force, tradeoff, max_cost, max_latency_s, latency_weight = (rest.pop(k, None) for k in _ROUTER_KWARGS)
        tools: Tools | None = rest.pop(TOOLS_KWARG, None)
        req = Request(rest=rest, tools=tools, prompt=prompt)
        if force is not None:
            key = self._forced_key(force)
            if tools is not None and tools.tools and not self._capabilities(key)["tools"]:
                raise ValueError(
                    f"model={force!r} forces candidate {key!r}, which is not a function-calling "
                    "LLM, but the call has tools"
                )
            req.forced = key
            return req, {}, []
        if isinstance(prompt, str):
            routing: Any = prompt
            needs: set[str] = set()
            length = len(prompt)
        else:
            if not prompt:
                raise InvalidRequestError("the message list is empty; pass at least one message")
            routing, needs = routing_messages(prompt)
            length = chars(routing)
            req.kept = sticky_candidate(turns(prompt, self.candidates))
            key, under_way = run_key([(turn_role(m), m.content or "") for m in prompt])
            if req.kept is None and under_way:
                req.kept = self._runs.get(key)
            elif not under_way:
                req.run = key
        if tools is not None and tools.tools:
            needs.add("tools")
        caps = {k: self._capabilities(k) for k in self.candidates}
        eligible, req.excluded = eligible_candidates(caps, sorted(needs), estimate_tokens(length))
        if req.kept not in eligible:
            req.kept = None
        route_kwargs = {
            "tradeoff": self.tradeoff if tradeoff is None else tradeoff,
            "max_cost": self.max_cost if max_cost is None else max_cost,
            "max_latency_s": self.max_latency_s if max_latency_s is None else max_latency_s,
            "latency_weight": self.latency_weight if latency_weight is None else latency_weight,
            "candidates": eligible,
            "tools": "tools" in needs,
        }
        return req, route_kwargs, routing

    def _route(self, prompt: Any, kwargs: dict[str, Any]) -> tuple[Request, CallPlan]:
        req, route_kwargs, routing = self._request(prompt, kwargs)
        plan = plan_call(lambda: self.router.route(routing, **route_kwargs),
                         forced=req.forced, kept=req.kept, excluded=req.excluded)
        return req, self._planned(req, plan)

    async def _aroute(self, prompt: Any, kwargs: dict[str, Any]) -> tuple[Request, CallPlan]:
        req, route_kwargs, routing = self._request(prompt, kwargs)
        plan = await aplan_call(lambda: self.router.aroute(routing, **route_kwargs),
                                forced=req.forced, kept=req.kept, excluded=req.excluded)
        return req, self._planned(req, plan)

    def _planned(self, req: Request, plan: CallPlan) -> CallPlan:
        """Remember the run's model and announce the decision (routed calls only)."""
        if plan.forced:
            return plan
        if req.run is not None:
            self._runs.put(req.run, plan.order[0])
        info = plan.report(plan.order[0], ranking_aliases=True)
        dispatcher.event(RoutingDecisionEvent(model=plan.order[0], order=list(plan.order), info=info))
        return plan

    def _forced_key(self, model: Any) -> str:
        return forced_candidate(model, {k: own_name(llm) for k, llm in self.candidates.items()})

    # ------------------------------------------------------------------ one routed call
    def _policy(self) -> Any:
        return retry_policy(self.retry_policy, self.max_retries)

    def _async_candidate(self, key: str) -> LLM:
        """Candidate `key` as async calls in the running event loop use it (`for_this_loop`)."""
        llm = self.candidates[key]
        return self._loop_candidates.get(key, llm, lambda: for_this_loop(llm))  # type: ignore[no-any-return]

    def _call(
        self, kind: str, prompt: Any, kwargs: dict[str, Any], *, stream: bool = False, formatted: bool = False
    ) -> Any:
        """A sync call of `kind` ("chat" or "completion"), streamed or not: one callback event,
        the rate limiter, the routing, then the candidates in order under the retry-and-
        fallback policy; the answer (or each item of the stream) tagged."""
        method = candidate_method(kind, stream=stream, is_async=False)
        with llm_run(self, kind, prompt, kwargs) as run:
            self._acquire()
            req, plan = self._route(prompt, kwargs)
            sent = untagged(prompt) if kind == "chat" else prompt

            def attempt(key: str) -> Any:
                answer = send(self.candidates[key], kind, method, sent, req, formatted)
                return hold_empty_head(answer, output_test(kind)) if stream else answer

            if stream:
                fallback = stream_with_fallback(
                    plan.order, attempt, classify_error, policy=self._policy(), text_of=delta
                )
                return relay(self._relay(fallback, req, plan, run))
            result = run_with_fallback(plan.order, attempt, classify_error, policy=self._policy())
            return self._finish(result, req, plan, run)

    async def _acall(
        self, kind: str, prompt: Any, kwargs: dict[str, Any], *, stream: bool = False, formatted: bool = False
    ) -> Any:
        """`_call` for the async forms, each attempt with the candidate's copy for this event loop."""
        method = candidate_method(kind, stream=stream, is_async=True)
        with llm_run(self, kind, prompt, kwargs) as run:
            await self._aacquire()
            req, plan = await self._aroute(prompt, kwargs)
            sent = untagged(prompt) if kind == "chat" else prompt

            async def attempt(key: str) -> Any:
                answer = await send(self._async_candidate(key), kind, method, sent, req, formatted)
                return ahold_empty_head(answer, output_test(kind)) if stream else answer

            if stream:
                fallback = await astream_with_fallback(
                    plan.order, attempt, classify_error, policy=self._policy(), text_of=delta
                )
                return arelay(self._relay(fallback, req, plan, run))
            result = await arun_with_fallback(plan.order, attempt, classify_error, policy=self._policy())
            return self._finish(result, req, plan, run)

    def _info(
        self, key: str, plan: CallPlan, attempts: Sequence[Any], used: tuple[int, int] | None
    ) -> dict[str, Any]:
        cost = None
        if used is not None:
            cost = call_cost_usd([key, own_name(self.candidates[key])], *used, router=self.router)
        return plan.report(key, attempts, cost_usd=cost, cost_source="list_price", ranking_aliases=True)

    def _finish(self, result: Any, req: Request, plan: CallPlan, run: LLMRun) -> Any:
        """The answer of a call that is not streamed, tagged; its callback event ended."""
        info = self._info(result.model, plan, result.attempts, usage(result.value))
        answer_id = self._record(getattr(result.value, "raw", None), req, result.model)
        response = tagged(result.value, result.model, info, answer_id)
        run.end(response)
        return response

    def _relay(self, stream: Any, req: Request, plan: CallPlan, run: LLMRun) -> Relay:
        """How the items of a routed stream are tagged, and its callback event ended."""
        return Relay(
            stream, run,
            record=lambda raw, key: self._record(raw, req, key),
            info=lambda key, attempts, used: self._info(key, plan, attempts, used),
        )

    def _acquire(self) -> None:
        if self.rate_limiter is not None:
            self.rate_limiter.acquire()

    async def _aacquire(self) -> None:
        if self.rate_limiter is not None:
            await self.rate_limiter.async_acquire()

    # ------------------------------------------------------------------ LlamaIndex LLM API
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._call("chat", messages, kwargs)

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return await self._acall("chat", messages, kwargs)

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return self._call("chat", messages, kwargs, stream=True)

    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        return await self._acall("chat", messages, kwargs, stream=True)

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return self._call("completion", prompt, kwargs, formatted=formatted)

    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return await self._acall("completion", prompt, kwargs, formatted=formatted)

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        return self._call("completion", prompt, kwargs, stream=True, formatted=formatted)

    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        return await self._acall("completion", prompt, kwargs, stream=True, formatted=formatted)

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
        request = Tools(
            tools=list(tools),
            tool_choice=kwargs.pop("tool_choice", None),
            tool_required=tool_required,
            allow_parallel_tool_calls=allow_parallel_tool_calls,
            verbose=verbose,
        )
        return {"messages": messages, TOOLS_KWARG: request, **kwargs}

    def get_tool_calls_from_response(
        self,
        response: ChatResponse,
        error_on_no_tool_call: bool = True,
        **kwargs: Any,
    ) -> list[ToolSelection]:
        """The tool calls of a response, read by the candidate that gave it (tagged
        `additional_kwargs["router_candidate"]`), else from its `ToolCallBlock`s."""
        key = answering_candidate(response)
        llm = self.candidates.get(key) if isinstance(key, str) else None
        if isinstance(llm, FunctionCallingLLM):
            try:
                return llm.get_tool_calls_from_response(
                    response, error_on_no_tool_call=error_on_no_tool_call, **kwargs
                )
            except NotImplementedError:
                pass
        return tool_calls_from_blocks(response, error_on_no_tool_call)

