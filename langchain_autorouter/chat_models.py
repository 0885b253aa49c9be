"""`ChatAutoRouter`: a LangChain chat model that sends each call to the model an
`autorouter.Router` picks, among chat models you already have.

This module is the framework surface (fields, validators, `invoke`/`stream` and their
async twins, tools, structured output, feedback); the steps it is made of live beside it:
`_messages` (pure message converters), `_routing` (one call, routed), `_candidates` (the
candidate models as the router calls them), `_isolation` (running one without the caller's
callbacks), `_streaming` (the relayed stream), `_structured` (structured output's parts)
and `_construction` (building it)."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, Self

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.language_models.model_profile import ModelProfile
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils import secret_from_env
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_core.utils.utils import LC_ID_PREFIX
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr, field_validator, model_validator

from autorouter.calls import ahold_empty_head, aplan_call, hold_empty_head, plan_call
from autorouter.calls.adapter_support import LoopLocal, check_arguments, default_router, forced_candidate, retry_policy
from autorouter.calls.answers import AnswerBook, feedback_log
from autorouter.costs import call_cost_usd
from autorouter.feedback import Feedback, FeedbackLog
from autorouter.reliability import arun_with_fallback, astream_with_fallback, run_with_fallback, stream_with_fallback
from langchain_autorouter import _candidates as cand
from langchain_autorouter._construction import (
    OPENROUTER_BASE_URL,
    SYNONYMS,
    accepted_names,
    candidates_for,
    router_fingerprint,
)
from langchain_autorouter._isolation import (
    aiterate_isolated,
    arun_isolated,
    iterate_isolated,
    no_tracing,
    run_isolated,
)
from langchain_autorouter._messages import chunk_text, outer_id, response_id, routing_messages
from langchain_autorouter._routing import (
    ROUTER_KEY,
    ROUTER_KWARGS,
    Plan,
    Request,
    eligible,
    route_kwargs,
    sticky_key,
)
from langchain_autorouter._streaming import Relay, merged, substantive
from langchain_autorouter._structured import parsed, structured_output
from langchain_autorouter.errors import classify_error

__all__ = ["OPENROUTER_BASE_URL", "ChatAutoRouter"]

_CandidateCall = Literal["invoke", "ainvoke", "stream", "astream"]


class ChatAutoRouter(BaseChatModel):
    """A chat model that routes each call to one of several chat models.

    Per call it asks a fitted `autorouter.Router` for a decision on the messages (the last
    user message decides), restricted to the candidates that can serve the call (tools
    bound: only candidates with tool calling; images: only image-capable ones; a
    `response_format`: only those with structured output), then calls the chosen
    candidate. A transient failure (rate limit, 5xx, timeout, connection) before any
    output is retried and then falls back down the ranking, with autorouter's one
    retry-and-fallback policy; a stream falls back only before its first chunk; a
    request the provider refuses (400, 401, ...) surfaces unchanged.

    Within an agent run the model stays put: when the messages after the last user message
    hold an answer from one of the candidates (tool-call and tool-result turns), that
    candidate answers again; the choice changes only at a new user message.

    The answer is the candidate's own message: `usage_metadata` and
    `response_metadata["model_name"]` are those of the model that answered, and
    `response_metadata["autorouter"]` holds the routing report, the gateway's schema
    (`autorouter.decision.routing_report` documents each key; the ranking's
    `predicted_quality` and `predicted_cost_usd` are deprecated aliases kept for one
    release). Its `cost_usd` is the call's cost at the router's or the catalog's list
    prices (None when neither prices the model). Callbacks and tracing see one
    chat-model run per call, the router's: candidates run with their callbacks and tracing off.

    Per-call overrides: `model=` forces a candidate (its router name or its own model
    name), `tradeoff=`, `max_cost=`, `max_latency_s=` and `latency_weight=` override the
    fields (also via `.bind(...)`).

    Feedback: every answer has an id (`AIMessage.id`; a stream's chunks all carry it, so the
    merged message has it too): the candidate's own id when it gives one, else the id
    LangChain gives the router's run (`lc_run--<run id>...`), else a new `run-<uuid>`. The
    last 10,000 answers (fewer when their prompts are long) are remembered with the prompt the
    router routed on and the
    candidate that answered, so `feedback(answer, score)` (or `afeedback`) can record how
    good one was and teach this router (see `feedback`).

    Args:
        router: a fitted `autorouter.Router`; None uses `Router.default()` where available.
        candidates: `{router model name: chat model}`, or a list of chat models whose own
            model names the router knows (directly or through the catalog's aliases).
            Omitted: one `ChatOpenAI` per router model through OpenRouter (see
            `from_openrouter`).
        tradeoff: 0 = best predicted quality, 1 = cheapest; None: the router's default.
        max_cost: USD cap per call; None: the router's default.
        max_latency_s: cap in seconds until the whole answer has arrived (candidates
            predicted slower are excluded); None: the router's default.
        latency_weight: quality points one second of predicted latency costs in the score;
            None: the router's default.
        model_name: the name this model reports to LangSmith (alias `model`).
        temperature, max_tokens: reported to tracing, and applied to the candidates the
            router builds itself; candidates you pass keep their own settings.
        stop: default stop sequences, passed to the candidate when a call gives none.
        streaming: whether `invoke` streams from the candidate.
        retry_policy: an `autorouter.reliability.RetryPolicy`; None: the default one
            (2 tries per model, then the next model).
        max_retries: LangChain's usual setting, as retries per model under that policy
            (`max_attempts_per_model = max_retries + 1`); None: the policy's.
        api_key, base_url, timeout: for the candidates built through OpenRouter
            (`api_key` defaults to the `OPENROUTER_API_KEY` environment variable).
        feedback_log: where `feedback` appends its records: an `autorouter.FeedbackLog` or
            the path of its JSON Lines file (replayable with `autorouter train --feedback`);
            None: feedback is kept nowhere but in what the router learns.
        learn_from_feedback: whether `feedback` updates the router (`Router.partial_fit`);
            False: it is only checked and logged.

    Candidates retry nothing themselves: the policy is the one that retries. A
    langchain-openai candidate (`ChatOpenAI`, ...) is therefore used as a copy with
    `max_retries=0` (`candidates` holds the copies; your objects are left as they are); any
    other candidate with a nonzero `max_retries` is used as it is, with a warning. Async
    calls use a copy of each langchain-openai candidate per event loop, with a connection
    pool of its own, so that repeated `asyncio.run(llm.ainvoke(...))` send each request once.

    Unknown keyword arguments are a `TypeError` naming them (a typo such as `tradoff=`, or
    `api_base=`, LlamaIndex's name for `base_url`), not silently dropped.
    """

    model_config = ConfigDict(populate_by_name=True)

    router: Any = Field(default=None, exclude=True, description="a fitted autorouter.Router")
    candidates: dict[str, BaseChatModel] = Field(default_factory=dict)
    tradeoff: float | None = None
    max_cost: float | None = None
    max_latency_s: float | None = None
    latency_weight: float | None = None
    model_name: str = Field(default="autorouter", alias="model")
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    streaming: bool = False
    retry_policy: Any = Field(default=None, exclude=True)
    max_retries: int | None = Field(default=None, ge=0)
    openrouter_api_key: SecretStr | None = Field(
        alias="api_key", default_factory=secret_from_env("OPENROUTER_API_KEY", default=None)
    )
    openrouter_base_url: str = Field(default=OPENROUTER_BASE_URL, alias="base_url")
    request_timeout: float | None = Field(default=None, alias="timeout")
    feedback_log: Any = Field(
        default=None, exclude=True,
        description="an autorouter.FeedbackLog (or a file path) that feedback is appended to; None: none",
    )
    learn_from_feedback: bool = Field(
        default=True, description="whether feedback updates the router (Router.partial_fit)"
    )

    _answers: AnswerBook = PrivateAttr(default_factory=AnswerBook)
    _caps_cache: dict[str, dict[str, Any]] = PrivateAttr(default_factory=dict)
    _loop_candidates: LoopLocal[BaseChatModel] = PrivateAttr(default_factory=LoopLocal)

    # ------------------------------------------------------------------ construction
    @model_validator(mode="before")
    @classmethod
    def _resolve_router_and_candidates(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        check_arguments(cls.__name__, data, accepted_names(cls), SYNONYMS)
        data = dict(data)
        router = data.get("router")
        if router is None:
            router = data["router"] = default_router()
        data["candidates"] = candidates_for(router, data)
        return data

    @field_validator("feedback_log", mode="before")
    @classmethod
    def _feedback_log(cls, value: Any) -> FeedbackLog | None:
        return feedback_log(value)

    @model_validator(mode="after")
    def _set_autorouter_version(self) -> Self:
        version = getattr(sys.modules.get("autorouter"), "__version__", None)
        if isinstance(version, str):
            self._add_version("autorouter", version)
        return self

    @classmethod
    def from_openrouter(
        cls,
        router: Any = None,
        *,
        base_url: str = OPENROUTER_BASE_URL,
        api_key: str | SecretStr | None = None,
        timeout: float | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        **kwargs: Any,
    ) -> ChatAutoRouter:
        """Reach every model of `router` through one OpenAI-compatible endpoint.

        Builds one `ChatOpenAI` (from `langchain-openai`, the `langchain` extra) per router
        model, named by the catalog's id for it where the catalog knows it, pointed at
        `base_url` (OpenRouter unless you say otherwise), with `max_retries=0` so that
        autorouter's policy is the one that retries. `AutoRouterLLM.from_openrouter` takes
        the same arguments.

        Args:
            router: a fitted `autorouter.Router`; None: `Router.default()`.
            base_url: any OpenAI-compatible endpoint that serves the router's models.
            api_key: its key; None: the `OPENROUTER_API_KEY` environment variable.
            timeout: seconds per request of the built clients; None: the SDK's default.
            temperature, max_tokens: for the built clients (and reported to tracing).
            **kwargs: other fields of `ChatAutoRouter` (`tradeoff`, `max_cost`, ...).

        Raises:
            MissingAPIKeyError: no `api_key`, and `OPENROUTER_API_KEY` is unset.
            TypeError: an argument `ChatAutoRouter` does not take.
        """
        params: dict[str, Any] = {"router": router, "candidates": None, "base_url": base_url, **kwargs}
        for name, value in (("api_key", api_key), ("timeout", timeout),
                            ("temperature", temperature), ("max_tokens", max_tokens)):
            if value is not None:
                params[name] = value
        return cls(**params)

    # ------------------------------------------------------------------ feedback
    def feedback(self, response: BaseMessage | ChatGeneration | str, score: float) -> Feedback:
        """Record how good one of this router's answers was, and learn from it.

        Args:
            response: the answer (the `AIMessage` of `invoke`, a streamed `AIMessageChunk`
                or the chunks merged, a `ChatGeneration`) or its id (`message.id`).
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
                is neither an answer nor an id.
            UnknownModelError: the candidate that answered is no longer one of the router's.
        """
        return self._answers.feedback(
            self.router, response_id(response), score,
            log=self.feedback_log, learn=self.learn_from_feedback,
        )

    async def afeedback(self, response: BaseMessage | ChatGeneration | str, score: float) -> Feedback:
        """`feedback` without blocking the event loop (learning embeds the prompt)."""
        return await asyncio.to_thread(self.feedback, response, score)

    # ------------------------------------------------------------------ LangChain surface
    @property
    def _llm_type(self) -> str:
        return "autorouter-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "tradeoff": self.tradeoff,
            "max_cost": self.max_cost,
            "max_latency_s": self.max_latency_s,
            "latency_weight": self.latency_weight,
            "router": router_fingerprint(self.router),
            "candidates": {
                key: {"_type": model._llm_type, **model._identifying_params}
                for key, model in sorted(self.candidates.items())
            },
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        model = kwargs.get("model")
        params = LangSmithParams(
            ls_provider="autorouter",
            ls_model_name=model if isinstance(model, str) and model else self.model_name,
            ls_model_type="chat",
        )
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens:
            params["ls_max_tokens"] = max_tokens
        ls_stop = stop or kwargs.get("stop") or self.stop
        if ls_stop:
            params["ls_stop"] = list(ls_stop)
        return params

    def _resolve_model_profile(self) -> ModelProfile | None:
        """What the router can take: what its candidates can, joined (`joint_profile`)."""
        if not self.candidates:
            return None
        caps = [self._capabilities(k) for k in self.candidates]
        return ModelProfile(**cand.joint_profile(caps))  # type: ignore[typeddict-item]

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, Any] | str | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; at call time they go to the chosen candidate's own `bind_tools`.

        Tools are stored as OpenAI-format dicts (what LangGraph reads back from a binding);
        `tool_choice` ("auto", "any", a tool name, ...) and any other kwargs
        (`parallel_tool_calls`, `strict`, `response_format`, ...) are passed on unchanged.
        """
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        method: Literal["function_calling", "json_mode", "json_schema"] = "function_calling",
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | Any]:
        """Answers parsed into `schema` (a pydantic class, TypedDict or JSON schema).

        `method="function_calling"` (the default, which every tool-calling provider
        supports) forces a call of one tool shaped like `schema`; `"json_schema"` and
        `"json_mode"` pass an OpenAI-style `response_format` to the candidate and never route
        to candidates known to lack structured output. It is one run of the
        router, so callbacks see one chat-model start carrying
        `ls_structured_output_format`.
        """
        if kwargs:
            raise ValueError(f"unsupported arguments {sorted(kwargs)}")
        as_tool, bind, parser = structured_output(schema, method, strict)
        llm = self.bind_tools([schema], **bind) if as_tool else self.bind(**bind)
        return parsed(llm, parser, include_raw)

    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        """The first candidate's count (each provider knows its tokenizer), else LangChain's
        approximate count."""
        first = next(iter(self.candidates.values()), None)
        if first is not None:
            try:
                return first.get_num_tokens_from_messages(messages, tools=tools)
            except Exception:  # noqa: BLE001, S110 - e.g. LangChain's default tokenizer is missing
                pass
        return count_tokens_approximately(messages, tools=list(tools) if tools else None)


    # ------------------------------------------------------------------ routing
    def _capabilities(self, key: str) -> dict[str, Any]:
        cache = self._caps_cache
        if key not in cache:
            cache[key] = cand.capabilities(self.candidates[key], key)
        return cache[key]

    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> Request:
        rest = dict(kwargs)
        force, tradeoff, max_cost, max_latency_s, latency_weight, _ = (rest.pop(k, None) for k in ROUTER_KWARGS)
        bind = {k: rest.pop(k) for k in cand.TOOL_KWARGS if k in rest}
        req = Request(
            messages=messages,
            stop=stop if stop is not None else (list(self.stop) if self.stop else None),
            bind=bind,
            rest=rest,
            tradeoff=self.tradeoff if tradeoff is None else tradeoff,
            max_cost=self.max_cost if max_cost is None else max_cost,
            max_latency_s=self.max_latency_s if max_latency_s is None else max_latency_s,
            latency_weight=self.latency_weight if latency_weight is None else latency_weight,
        )
        if force is not None:
            req.forced = self._forced_key(force)
            if bind.get("tools") and self._capabilities(req.forced)["tools"] is False:
                raise ValueError(
                    f"model={force!r} forces candidate {req.forced!r}, which cannot call tools "
                    f"({type(self.candidates[req.forced]).__name__} does not implement bind_tools)"
                )
            return req
        caps = {k: self._capabilities(k) for k in self.candidates}
        req.eligible, req.excluded = eligible(caps, messages, bind)
        sticky = sticky_key(messages, self.candidates)
        req.sticky = sticky if sticky in req.eligible else None
        return req

    def _forced_key(self, model: Any) -> str:
        return forced_candidate(model, {k: cand.model_name_of(m) for k, m in self.candidates.items()})

    def _plan(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> Plan:
        req = self._request(messages, stop, kwargs)
        call = plan_call(lambda: self.router.route(routing_messages(messages), **route_kwargs(req, self.router)),
                         forced=req.forced, kept=req.sticky, excluded=req.excluded)
        return req.planned(call)

    async def _aplan(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> Plan:
        req = self._request(messages, stop, kwargs)
        call = await aplan_call(lambda: self.router.aroute(routing_messages(messages), **route_kwargs(req, self.router)),
                                forced=req.forced, kept=req.sticky, excluded=req.excluded)
        return req.planned(call)

    # ------------------------------------------------------------------ the candidates
    def _policy(self) -> Any:
        return retry_policy(self.retry_policy, self.max_retries)

    def _async_candidate(self, key: str) -> BaseChatModel:
        """Candidate `key` as async calls in the running event loop use it (`for_this_loop`)."""
        model = self.candidates[key]
        return self._loop_candidates.get(key, model, lambda: cand.for_this_loop(model))

    @staticmethod
    def _candidate_call(
        model: BaseChatModel, method: _CandidateCall, messages: list[BaseMessage], plan: Plan
    ) -> tuple[Callable[[], Any], bool]:
        """Candidate `model`'s `method` bound to the call's messages and arguments (tools &
        co. through its `bind_tools`, its callbacks off), and whether it must run in a
        cleared context: when it is not the bare candidate, whose config turns callbacks off."""
        target, kwargs, config = cand.call_target(model, plan.bind)
        isolated = config is None
        call = functools.partial(
            getattr(target, method), messages, config={"callbacks": []} if isolated else config,
            stop=plan.stop, **{**kwargs, **plan.rest},
        )
        return call, isolated

    def _invoke(self, key: str, messages: list[BaseMessage], plan: Plan) -> BaseMessage:
        call, isolated = self._candidate_call(self.candidates[key], "invoke", messages, plan)
        return run_isolated(call) if isolated else call()

    async def _ainvoke(self, key: str, messages: list[BaseMessage], plan: Plan) -> BaseMessage:
        call, isolated = self._candidate_call(self._async_candidate(key), "ainvoke", messages, plan)
        return await (arun_isolated(call) if isolated else call())

    def _open_stream(self, key: str, messages: list[BaseMessage], plan: Plan) -> Iterator[Any]:
        call, isolated = self._candidate_call(self.candidates[key], "stream", messages, plan)
        return hold_empty_head(iterate_isolated(call()) if isolated else call(), substantive, fold=merged)

    def _aopen_stream(self, key: str, messages: list[BaseMessage], plan: Plan) -> AsyncIterator[Any]:
        call, isolated = self._candidate_call(self._async_candidate(key), "astream", messages, plan)
        return ahold_empty_head(aiterate_isolated(call()) if isolated else call(), substantive, fold=merged)

    # ------------------------------------------------------------------ the answer
    def _router_info(
        self, key: str, plan: Plan, attempts: Sequence[Any], usage: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        cost = None
        if usage:
            names = [key, cand.model_name_of(self.candidates[key])]
            cost = call_cost_usd(
                names, usage.get("input_tokens"), usage.get("output_tokens"), router=self.router
            )
        return plan.call.report(key, attempts, cost_usd=cost, cost_source="list_price", ranking_aliases=True)

    def _finish(
        self,
        message: BaseMessage,
        key: str,
        plan: Plan,
        attempts: Sequence[Any],
        messages: list[BaseMessage],
        run_manager: Any,
    ) -> BaseMessage:
        meta = dict(message.response_metadata)
        if not meta.get("model_name"):
            meta["model_name"] = cand.model_name_of(self.candidates[key]) or key
        meta[ROUTER_KEY] = self._router_info(key, plan, attempts, getattr(message, "usage_metadata", None))
        # The candidate's own id, else the one LangChain would give the router's run.
        answer_id = outer_id(message.id)
        if answer_id is None and run_manager is not None:
            answer_id = f"{LC_ID_PREFIX}-{run_manager.run_id}-0"
        answer_id = self._record(answer_id, messages, key)
        return message.model_copy(update={"response_metadata": meta, "id": answer_id})

    def _record(self, answer_id: str | None, messages: list[BaseMessage], key: str) -> str:
        """Remember an answer for `feedback`; returns its id (a new one if it had none)."""
        return self._answers.record(answer_id, routing_messages(messages), key)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        plan = self._plan(messages, stop, kwargs)
        with no_tracing():
            result = run_with_fallback(
                plan.order, lambda key: self._invoke(key, messages, plan), classify_error,
                policy=self._policy(),
            )
        message = self._finish(result.value, result.model, plan, result.attempts, messages, run_manager)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        plan = await self._aplan(messages, stop, kwargs)
        with no_tracing():
            result = await arun_with_fallback(
                plan.order, lambda key: self._ainvoke(key, messages, plan), classify_error,
                policy=self._policy(),
            )
        message = self._finish(result.value, result.model, plan, result.attempts, messages, run_manager)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        plan = self._plan(messages, stop, kwargs)
        with no_tracing():
            stream = stream_with_fallback(
                plan.order, lambda key: self._open_stream(key, messages, plan), classify_error,
                policy=self._policy(), text_of=chunk_text,
            )
        relay = Relay(self, plan, stream.model, stream.attempts, messages, run_manager)
        try:
            while (out := relay.pull(stream)) is not None:
                if run_manager is not None:
                    run_manager.on_llm_new_token(out.text, chunk=out)
                yield out
        finally:
            stream.close()

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        plan = await self._aplan(messages, stop, kwargs)
        with no_tracing():
            stream = await astream_with_fallback(
                plan.order, lambda key: self._aopen_stream(key, messages, plan), classify_error,
                policy=self._policy(), text_of=chunk_text,
            )
        relay = Relay(self, plan, stream.model, stream.attempts, messages, run_manager)
        try:
            while (out := await relay.apull(stream)) is not None:
                if run_manager is not None:
                    await run_manager.on_llm_new_token(out.text, chunk=out)
                yield out
        finally:
            await stream.aclose()
