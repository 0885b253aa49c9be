"""`ChatAutoRouter`: a LangChain chat model that sends each call to the model an
`autorouter.Router` picks, among chat models you already have."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Literal, Self

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.language_models.model_profile import ModelProfile
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import add_usage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableBinding
from langchain_core.tools import BaseTool
from langchain_core.utils import secret_from_env
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_core.utils.utils import LC_ID_PREFIX
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr, field_validator, model_validator

from autorouter import delegation as dlg
from autorouter.errors import InvalidRequestError, NoCandidateError
from autorouter.feedback import Feedback, FeedbackLog
from langchain_autorouter import _support as sup
from langchain_autorouter.errors import classify_error

__all__ = ["OPENROUTER_BASE_URL", "ChatAutoRouter"]

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
ROUTER_KEY = dlg.ROUTER_KEY
"""The key of `response_metadata` under which every answer carries the routing decision."""

# Call kwargs the router consumes, and the tool-calling ones it hands to the chosen
# candidate's own `bind_tools`, so each provider formats them its own way.
_ROUTER_KWARGS = ("model", "tradeoff", "max_cost", "max_latency_s", "latency_weight", "stream")
_TOOL_KWARGS = ("tools", "tool_choice", "parallel_tool_calls", "strict", "response_format")
_NOT_FORCING = (None, False, "auto", "none")
# Other frameworks' names for settings this class takes under LangChain's names, for the
# message of the TypeError they raise (LlamaIndex's OpenAI LLMs say `api_base`).
_SYNONYMS = {"api_base": "base_url", "openai_api_base": "base_url", "openai_api_key": "api_key"}


@dataclass
class _Plan:
    """One call, routed: the candidates to try in order, and what to send them."""

    order: list[str]
    stop: list[str] | None
    bind: dict[str, Any]  # tools & co., for the candidate's bind_tools
    rest: dict[str, Any]  # every other kwarg, passed through unchanged
    decision: Any = None  # autorouter.RoutingDecision, None when forced
    forced: bool = False
    sticky: str | None = None
    excluded: dict[str, str] = field(default_factory=dict)  # candidate -> why it cannot serve the call


@dataclass
class _Request:
    """A call before routing: what it needs and what the router is asked."""

    messages: list[BaseMessage]
    stop: list[str] | None
    bind: dict[str, Any]
    rest: dict[str, Any]
    forced: str | None = None
    eligible: list[str] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)
    sticky: str | None = None
    tradeoff: float | None = None
    max_cost: float | None = None
    max_latency_s: float | None = None
    latency_weight: float | None = None


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

    _answers: dlg.AnswerBook = PrivateAttr(default_factory=dlg.AnswerBook)
    _caps_cache: dict[str, dict[str, Any]] = PrivateAttr(default_factory=dict)
    _loop_candidates: dlg.LoopLocal[BaseChatModel] = PrivateAttr(default_factory=dlg.LoopLocal)

    # ------------------------------------------------------------------ construction
    @model_validator(mode="before")
    @classmethod
    def _resolve_router_and_candidates(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        dlg.check_arguments(cls.__name__, data, _accepted_names(cls), _SYNONYMS)
        data = dict(data)
        router = data.get("router")
        if router is None:
            router = data["router"] = dlg.default_router()
        known = dlg.router_models(router)
        candidates = data.get("candidates")
        if candidates is None:
            data["candidates"] = _openrouter_candidates(router, data)
        elif isinstance(candidates, Mapping):
            dlg.check_candidate_keys(candidates, known, "chat model")
            if not candidates:
                raise ValueError(_NO_CANDIDATES)
            # Non-models are left for pydantic to refuse with its own message.
            data["candidates"] = {
                k: sup.without_own_retries(m, k) if isinstance(m, BaseChatModel) else m
                for k, m in candidates.items()
            }
        elif isinstance(candidates, Sequence) and not isinstance(candidates, str):
            by_name = _candidates_by_name(list(candidates), known)
            data["candidates"] = {k: sup.without_own_retries(m, k) for k, m in by_name.items()}
        return data

    @field_validator("feedback_log", mode="before")
    @classmethod
    def _feedback_log(cls, value: Any) -> FeedbackLog | None:
        return dlg.feedback_log(value)

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
            self.router, _response_id(response), score,
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
            "router": _router_fingerprint(self.router),
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
        """What the router can take: a capability the router routes on (tools, forced tool
        choice, images, pdf, audio, video, structured output) is there if one candidate
        has it, as calls needing it never go to candidates known to lack it;
        `max_input_tokens` is the largest known window (longer inputs skip smaller models),
        `max_output_tokens` the smallest known limit."""
        if not self.candidates:
            return None
        caps = [self._capabilities(k) for k in self.candidates]
        profile: dict[str, Any] = {"text_inputs": True, "text_outputs": True}
        flags = {
            "tool_calling": "tools", "tool_choice": "tool_choice", "image_inputs": "images",
            "pdf_inputs": "pdf", "audio_inputs": "audio", "video_inputs": "video",
            "structured_output": "structured_output",
        }
        for key, cap in flags.items():
            values = [c[cap] for c in caps]
            if any(v is True for v in values):
                profile[key] = True
            elif values and all(v is False for v in values):
                profile[key] = False
        windows = [c["context_window"] for c in caps if c["context_window"]]
        if windows:
            profile["max_input_tokens"] = max(windows)
        outputs = [c["max_output_tokens"] for c in caps if isinstance(c["max_output_tokens"], int)]
        if outputs:
            profile["max_output_tokens"] = min(outputs)
        return ModelProfile(**profile)  # type: ignore[typeddict-item]

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
        from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
        from langchain_core.output_parsers.openai_tools import (
            JsonOutputKeyToolsParser,
            PydanticToolsParser,
        )
        from langchain_core.runnables import RunnableMap, RunnablePassthrough
        from langchain_core.utils.function_calling import convert_to_openai_function
        from langchain_core.utils.pydantic import is_basemodel_subclass

        if kwargs:
            raise ValueError(f"unsupported arguments {sorted(kwargs)}")
        is_pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
        ls_format = {"kwargs": {"method": method, "strict": strict}, "schema": schema}
        parser: Runnable[Any, Any]
        if method == "function_calling":
            tool_name = convert_to_openai_tool(schema)["function"]["name"]
            bind: dict[str, Any] = {"tool_choice": tool_name, "ls_structured_output_format": ls_format}
            if strict is not None:
                bind["strict"] = strict
            llm = self.bind_tools([schema], **bind)
            parser = (
                PydanticToolsParser(tools=[schema], first_tool_only=True)  # type: ignore[list-item]
                if is_pydantic
                else JsonOutputKeyToolsParser(key_name=tool_name, first_tool_only=True)
            )
        elif method in ("json_mode", "json_schema"):
            if method == "json_mode":
                if strict is not None:
                    raise ValueError("`strict` is not supported with method='json_mode'")
                response_format: dict[str, Any] = {"type": "json_object"}
                ls_format["kwargs"] = {"method": method}
            else:
                function = convert_to_openai_function(schema, strict=strict)
                function["schema"] = function.pop("parameters")
                response_format = {"type": "json_schema", "json_schema": function}
            llm = self.bind(response_format=response_format, ls_structured_output_format=ls_format)
            parser = PydanticOutputParser(pydantic_object=schema) if is_pydantic else JsonOutputParser()  # type: ignore[arg-type]
        else:
            raise ValueError(
                f"unknown method {method!r}: use 'function_calling', 'json_schema' or 'json_mode'"
            )
        if not include_raw:
            return llm | parser
        parsed = RunnablePassthrough.assign(
            parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
        ).with_fallbacks(
            [RunnablePassthrough.assign(parsed=lambda _: None)], exception_key="parsing_error"
        )
        return RunnableMap(raw=llm) | parsed

    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        """The first candidate's count (each provider knows its tokenizer), else LangChain's
        approximate count."""
        from langchain_core.messages.utils import count_tokens_approximately

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
            cache[key] = sup.capabilities(self.candidates[key], key)
        return cache[key]

    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> _Request:
        rest = dict(kwargs)
        force, tradeoff, max_cost, max_latency_s, latency_weight, _ = (rest.pop(k, None) for k in _ROUTER_KWARGS)
        bind = {k: rest.pop(k) for k in _TOOL_KWARGS if k in rest}
        req = _Request(
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
        req.eligible, req.excluded = self._eligible(messages, bind)
        sticky = self._sticky_key(messages)
        req.sticky = sticky if sticky in req.eligible else None
        return req

    def _forced_key(self, model: Any) -> str:
        return dlg.forced_candidate(model, {k: sup.model_name_of(m) for k, m in self.candidates.items()})

    def _eligible(
        self, messages: list[BaseMessage], bind: Mapping[str, Any]
    ) -> tuple[list[str], dict[str, str]]:
        """The candidates that can serve the call, and why each other one cannot."""
        needs: list[str] = []
        if bind.get("tools"):
            needs.append("tools")
            if bind.get("tool_choice") not in _NOT_FORCING:
                needs.append("tool_choice")
        if bind.get("response_format"):
            needs.append("structured_output")
        needs += sorted(sup.content_needs(messages))
        caps = {k: self._capabilities(k) for k in self.candidates}
        tokens = None
        if any(c["context_window"] for c in caps.values()):
            from langchain_core.messages.utils import count_tokens_approximately

            tokens = count_tokens_approximately(messages)
        return dlg.eligible_candidates(caps, needs, tokens)

    def _sticky_key(self, messages: Sequence[BaseMessage]) -> str | None:
        """The candidate that answered since the last user message, if one did."""
        return dlg.sticky_candidate(
            ("user", None) if m.type in ("human", "HumanMessageChunk")
            else ("assistant", self._key_of_answer(m)) if m.type in ("ai", "AIMessageChunk")
            else (m.type, None)
            for m in messages
        )

    def _key_of_answer(self, message: BaseMessage) -> str | None:
        meta = message.response_metadata or {}
        ours = meta.get(ROUTER_KEY)
        if isinstance(ours, Mapping) and ours.get("model") in self.candidates:
            return str(ours["model"])
        name = meta.get("model_name")
        if not isinstance(name, str) or not name:
            return None
        if name in self.candidates:
            return name
        # Providers answer with a dated name ("gpt-4o-2024-08-06"): the longest prefix wins.
        matches = [
            (len(own), k)
            for k, m in self.candidates.items()
            if (own := sup.model_name_of(m) or k) and (name == own or name.startswith(own))
        ]
        return max(matches)[1] if matches else None

    def _route_kwargs(self, req: _Request) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "tradeoff": req.tradeoff, "max_cost": req.max_cost, "max_latency_s": req.max_latency_s,
            "latency_weight": req.latency_weight, "candidates": req.eligible,
        }
        # The router also knows limits of its own (tools, structured output, images,
        # context windows, from the catalog) and applies them, where it takes these flags.
        accepted = _route_flags(type(self.router))  # type: ignore[arg-type]
        if "tools" in accepted:
            kwargs["tools"] = bool(req.bind.get("tools"))
        if "structured_output" in accepted:
            kwargs["structured_output"] = bool(req.bind.get("response_format"))
        return kwargs

    def _plan_from(self, req: _Request, decision: Any) -> _Plan:
        return _Plan(order=dlg.call_order(decision, req.sticky), stop=req.stop, bind=req.bind,
                     rest=req.rest, decision=decision, sticky=req.sticky, excluded=req.excluded)

    def _plan(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> _Plan:
        req = self._request(messages, stop, kwargs)
        if req.forced is not None:
            return _Plan([req.forced], req.stop, req.bind, req.rest, forced=True)
        try:
            decision = self.router.route(sup.routing_messages(messages), **self._route_kwargs(req))
        except Exception as exc:
            if req.sticky is None or not isinstance(exc, NoCandidateError):
                raise
            decision = None  # a cap excludes the model the agent run started with: keep it
        return self._plan_from(req, decision)

    async def _aplan(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> _Plan:
        req = self._request(messages, stop, kwargs)
        if req.forced is not None:
            return _Plan([req.forced], req.stop, req.bind, req.rest, forced=True)
        try:
            decision = await self.router.aroute(sup.routing_messages(messages), **self._route_kwargs(req))
        except Exception as exc:
            if req.sticky is None or not isinstance(exc, NoCandidateError):
                raise
            decision = None
        return self._plan_from(req, decision)

    # ------------------------------------------------------------------ delegation
    def _policy(self) -> Any:
        return dlg.retry_policy(self.retry_policy, self.max_retries)

    def _async_candidate(self, key: str) -> BaseChatModel:
        """Candidate `key` as async calls in the running event loop use it (`for_this_loop`)."""
        model = self.candidates[key]
        return self._loop_candidates.get(key, model, lambda: sup.for_this_loop(model))

    @staticmethod
    def _target(
        model: BaseChatModel, bind: Mapping[str, Any]
    ) -> tuple[Runnable[Any, Any], dict[str, Any], dict[str, Any] | None]:
        """What to call on candidate `model`: (runnable, kwargs, config). The config is None
        when the runnable is not the bare candidate and must run in a cleared context."""
        tools = bind.get("tools")
        if tools and sup.overrides_bind_tools(model):
            extra = {k: bind[k] for k in _TOOL_KWARGS[1:] if bind.get(k) is not None}
            bound = model.bind_tools(tools, **extra)
            if isinstance(bound, RunnableBinding) and bound.bound is model:
                config = {k: v for k, v in (bound.config or {}).items() if k != "callbacks"}
                return model, dict(bound.kwargs), {**config, "callbacks": []}
            return bound, {}, None
        extra = {"response_format": bind["response_format"]} if bind.get("response_format") else {}
        return model, extra, {"callbacks": []}

    def _invoke(self, key: str, messages: list[BaseMessage], plan: _Plan) -> BaseMessage:
        target, kwargs, config = self._target(self.candidates[key], plan.bind)
        kwargs = {**kwargs, **plan.rest}
        if config is not None:
            return target.invoke(messages, config=config, stop=plan.stop, **kwargs)  # type: ignore[arg-type]
        return sup.run_isolated(
            lambda: target.invoke(messages, config={"callbacks": []}, stop=plan.stop, **kwargs)
        )

    async def _ainvoke(self, key: str, messages: list[BaseMessage], plan: _Plan) -> BaseMessage:
        target, kwargs, config = self._target(self._async_candidate(key), plan.bind)
        kwargs = {**kwargs, **plan.rest}
        if config is not None:
            return await target.ainvoke(messages, config=config, stop=plan.stop, **kwargs)  # type: ignore[arg-type]
        return await sup.arun_isolated(
            lambda: target.ainvoke(messages, config={"callbacks": []}, stop=plan.stop, **kwargs)
        )

    def _open_stream(self, key: str, messages: list[BaseMessage], plan: _Plan) -> Iterator[Any]:
        target, kwargs, config = self._target(self.candidates[key], plan.bind)
        kwargs = {**kwargs, **plan.rest}
        if config is not None:
            stream = target.stream(messages, config=config, stop=plan.stop, **kwargs)  # type: ignore[arg-type]
        else:
            stream = sup.iterate_isolated(
                target.stream(messages, config={"callbacks": []}, stop=plan.stop, **kwargs)
            )
        return sup.hold_empty_head(stream)

    def _aopen_stream(self, key: str, messages: list[BaseMessage], plan: _Plan) -> AsyncIterator[Any]:
        target, kwargs, config = self._target(self._async_candidate(key), plan.bind)
        kwargs = {**kwargs, **plan.rest}
        if config is not None:
            stream = target.astream(messages, config=config, stop=plan.stop, **kwargs)  # type: ignore[arg-type]
        else:
            stream = sup.aiterate_isolated(
                target.astream(messages, config={"callbacks": []}, stop=plan.stop, **kwargs)
            )
        return sup.ahold_empty_head(stream)

    # ------------------------------------------------------------------ the answer
    def _router_info(
        self, key: str, plan: _Plan, attempts: Sequence[Any], usage: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        cost = None
        if usage:
            names = [key, sup.model_name_of(self.candidates[key])]
            cost = dlg.call_cost_usd(
                names, usage.get("input_tokens"), usage.get("output_tokens"), router=self.router
            )
        return dlg.decision_info(
            key, plan.decision, attempts, forced=plan.forced, sticky=plan.sticky,
            excluded=plan.excluded, cost_usd=cost,
        )

    def _finish(
        self,
        message: BaseMessage,
        key: str,
        plan: _Plan,
        attempts: Sequence[Any],
        messages: list[BaseMessage],
        run_manager: Any,
    ) -> BaseMessage:
        meta = dict(message.response_metadata)
        if not meta.get("model_name"):
            meta["model_name"] = sup.model_name_of(self.candidates[key]) or key
        meta[ROUTER_KEY] = self._router_info(key, plan, attempts, getattr(message, "usage_metadata", None))
        # The candidate's own id, else the one LangChain would give the router's run.
        answer_id = _outer_id(message.id)
        if answer_id is None and run_manager is not None:
            answer_id = f"{LC_ID_PREFIX}-{run_manager.run_id}-0"
        answer_id = self._record(answer_id, messages, key)
        return message.model_copy(update={"response_metadata": meta, "id": answer_id})

    def _record(self, answer_id: str | None, messages: list[BaseMessage], key: str) -> str:
        """Remember an answer for `feedback`; returns its id (a new one if it had none)."""
        return self._answers.record(answer_id, sup.routing_messages(messages), key)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        from autorouter.reliability import run_with_fallback

        plan = self._plan(messages, stop, kwargs)
        with sup.no_tracing():
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
        from autorouter.reliability import arun_with_fallback

        plan = await self._aplan(messages, stop, kwargs)
        with sup.no_tracing():
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
        from autorouter.reliability import stream_with_fallback

        plan = self._plan(messages, stop, kwargs)
        with sup.no_tracing():
            stream = stream_with_fallback(
                plan.order, lambda key: self._open_stream(key, messages, plan), classify_error,
                policy=self._policy(), text_of=_chunk_text,
            )
        relay = _Relay(self, plan, stream.model, stream.attempts, messages, run_manager)
        try:
            while True:
                with sup.no_tracing():
                    try:
                        chunk = next(stream)
                    except StopIteration:
                        break
                out = relay.chunk(chunk)
                if run_manager is not None:
                    run_manager.on_llm_new_token(out.text, chunk=out)
                yield out
            if (final := relay.final()) is not None:
                if run_manager is not None:
                    run_manager.on_llm_new_token(final.text, chunk=final)
                yield final
        finally:
            stream.close()

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        from autorouter.reliability import astream_with_fallback

        plan = await self._aplan(messages, stop, kwargs)
        with sup.no_tracing():
            stream = await astream_with_fallback(
                plan.order, lambda key: self._aopen_stream(key, messages, plan), classify_error,
                policy=self._policy(), text_of=_chunk_text,
            )
        relay = _Relay(self, plan, stream.model, stream.attempts, messages, run_manager)
        try:
            while True:
                with sup.no_tracing():
                    try:
                        chunk = await stream.__anext__()
                    except StopAsyncIteration:
                        break
                out = relay.chunk(chunk)
                if run_manager is not None:
                    await run_manager.on_llm_new_token(out.text, chunk=out)
                yield out
            if (final := relay.final()) is not None:
                if run_manager is not None:
                    await run_manager.on_llm_new_token(final.text, chunk=final)
                yield final
        finally:
            await stream.aclose()


class _Relay:
    """Passes a candidate's chunks on, adding the routing metadata (and `model_name` if the
    candidate gave none) to its last chunk only: string values of chunks are concatenated
    when chunks are added, so each must appear once.

    Every chunk carries the answer's id, the one it is remembered by for `feedback`: with a
    run manager (LangChain's v2 streaming, whose message takes the run's id whatever the
    chunks say), the router's run id; else the candidate's own id, else a new one.
    """

    def __init__(
        self, owner: ChatAutoRouter, plan: _Plan, key: str, attempts: Sequence[Any],
        messages: list[BaseMessage], run_manager: Any,
    ) -> None:
        self.owner, self.plan, self.key, self.attempts = owner, plan, key, attempts
        self.messages, self.run_manager = messages, run_manager
        self.answer_id: str | None = None
        self.usage: Any = None
        self.has_model_name = False
        self.done = False
        self.last: AIMessageChunk | None = None

    def _id(self, chunk_id: str | None) -> str:
        """The answer's id, recorded at its first chunk (as the gateway records a stream)."""
        if self.answer_id is None:
            own = _outer_id(chunk_id)  # not the id of the candidate's own run, which no callback saw
            if self.run_manager is not None:
                own = f"{LC_ID_PREFIX}-{self.run_manager.run_id}"
            self.answer_id = self.owner._record(own, self.messages, self.key)
        return self.answer_id

    def chunk(self, chunk: Any) -> ChatGenerationChunk:
        chunk = _as_chunk(chunk)
        chunk.id = self._id(chunk.id)
        if chunk.usage_metadata:
            self.usage = add_usage(self.usage, chunk.usage_metadata)
        if chunk.response_metadata.get("model_name"):
            self.has_model_name = True
        if chunk.chunk_position == "last" and not self.done:
            chunk = chunk.model_copy(update={"response_metadata": self._metadata(chunk.response_metadata)})
            self.done = True
        self.last = chunk
        return ChatGenerationChunk(message=chunk)

    def final(self) -> ChatGenerationChunk | None:
        """A closing chunk with the metadata, if the candidate's stream had no last chunk."""
        if self.done:
            return None
        self.done = True
        content: Any = "" if self.last is None or isinstance(self.last.content, str) else []
        chunk = AIMessageChunk(
            content=content,
            chunk_position="last",
            id=self._id(None),
            response_metadata=self._metadata({}),
        )
        return ChatGenerationChunk(message=chunk)

    def _metadata(self, existing: Mapping[str, Any]) -> dict[str, Any]:
        meta = dict(existing)
        if not self.has_model_name:
            meta["model_name"] = sup.model_name_of(self.owner.candidates[self.key]) or self.key
        meta[ROUTER_KEY] = self.owner._router_info(self.key, self.plan, self.attempts, self.usage)
        return meta


def _as_chunk(message: Any) -> AIMessageChunk:
    """A stream item as a chunk: a model without native streaming yields its whole answer
    (an `AIMessage`) as the one item of its stream."""
    if isinstance(message, AIMessageChunk):
        return message
    if not isinstance(message, AIMessage):
        raise TypeError(f"a candidate streamed a {type(message).__name__}, not message chunks")
    from langchain_core.messages.tool import tool_call_chunk

    return AIMessageChunk(
        content=message.content,
        additional_kwargs=message.additional_kwargs,
        response_metadata=message.response_metadata,
        usage_metadata=message.usage_metadata,
        name=message.name,
        id=message.id,
        tool_call_chunks=[
            tool_call_chunk(name=call["name"], args=json.dumps(call["args"]), id=call["id"], index=i)
            for i, call in enumerate(message.tool_calls)
        ],
        chunk_position="last",
    )


def _outer_id(message_id: str | None) -> str | None:
    """A message id worth keeping: a provider's; not the id of the candidate's own run,
    which no callback saw (LangChain then gives the message the router's run id)."""
    if message_id is not None and message_id.startswith("lc_run-"):
        return None
    return message_id


def _response_id(response: Any) -> Any:
    """The id `feedback` names an answer by: a message's `id`, a generation's message's, or
    the string given."""
    if isinstance(response, str):
        return response
    if isinstance(response, ChatGeneration):
        response = response.message
    if isinstance(response, BaseMessage):
        if not response.id:
            from autorouter.errors import UnknownResponseError

            raise UnknownResponseError(
                f"this {type(response).__name__} has no id, so it is no answer of a ChatAutoRouter"
            )
        return response.id
    raise InvalidRequestError(
        "feedback takes an answer of this router (an AIMessage, AIMessageChunk or "
        f"ChatGeneration) or its id, not a {type(response).__name__}"
    )


def _chunk_text(chunk: Any) -> str:
    text = getattr(chunk, "text", "")
    return text if isinstance(text, str) else ""


# --- construction helpers -----------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _accepted_names(cls: type[ChatAutoRouter]) -> frozenset[str]:
    """The keyword arguments `cls(...)` takes: its fields, by name and by alias."""
    names = set(cls.model_fields)
    names |= {f.alias for f in cls.model_fields.values() if f.alias}
    return frozenset(names)


_NO_CANDIDATES = dlg.no_candidates_message("chat model")


def _candidates_by_name(models: list[Any], known: list[str]) -> dict[str, Any]:
    """Key each chat model by the router model it is, from its own model name."""
    if not models:
        raise ValueError(_NO_CANDIDATES)
    return dlg.candidates_by_name(models, known, sup.model_name_of, "chat model")


def _openrouter_candidates(router: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """One ChatOpenAI per router model through an OpenAI-compatible endpoint (OpenRouter)."""
    key = dlg.openrouter_api_key(data.get("api_key", data.get("openrouter_api_key")), "chat model")
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "building candidates through OpenRouter needs langchain-openai: "
            "pip install 'autorouter[langchain]'"
        ) from e
    base_url = data.get("base_url", data.get("openrouter_base_url")) or OPENROUTER_BASE_URL
    settings: dict[str, Any] = {}
    for name, alias in (("temperature", None), ("max_tokens", None), ("timeout", "request_timeout")):
        value = data.get(name, data.get(alias) if alias else None)
        if value is not None:
            settings[name] = value
    out = {}
    for name in dlg.router_models(router):
        card = dlg.catalog_card(name)
        model_id = getattr(card, "id", None) or name
        out[name] = ChatOpenAI(
            model=model_id,
            base_url=base_url,
            api_key=key if isinstance(key, SecretStr) else SecretStr(str(key)),
            max_retries=0,  # autorouter's policy retries, then falls back to the next model
            stream_usage=True,
            default_headers={"X-Title": "autorouter"},
            **settings,
        )
    return out


@functools.lru_cache(maxsize=16)
def _route_flags(router_type: type) -> frozenset[str]:
    """Which of the flags `tools` / `structured_output` the router's `route` takes."""
    import inspect

    try:
        params = inspect.signature(getattr(router_type, "route")).parameters  # noqa: B009
    except (TypeError, ValueError):
        return frozenset()
    return frozenset(p for p in ("tools", "structured_output") if p in params)


def _router_fingerprint(router: Any) -> str:
    """A short stable id of a fitted router (its models and prototypes), for cache keys."""
    digest = hashlib.sha1(json.dumps(list(getattr(router, "models_", []))).encode())
    centroids = getattr(getattr(router, "prototypes_", None), "centroids", None)
    if centroids is not None and hasattr(centroids, "tobytes"):
        digest.update(centroids.tobytes())
    return f"{type(router).__name__}:{digest.hexdigest()[:16]}"
