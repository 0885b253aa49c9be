"""One contract, four surfaces: `Router.complete` / `Router.stream`, LangChain's
`ChatAutoRouter`, LlamaIndex's `AutoRouterLLM` and the gateway over HTTP make the same routed
call with the same router, against the same upstream (the loopback OpenAI-compatible server,
tests/openai_server.py), and must come out the same: the model that answered, its text, the
routing report and the requests the upstream saw.

Each surface has a small driver that makes the call its own way (OpenAI dicts, LangChain
messages and `bind_tools`, LlamaIndex `ChatMessage`s and `chat_with_tools`, an HTTP request)
and returns a normalised `Outcome`. Every case runs on every surface and checks the outcome
against what the router and the upstream say it must be (the decision from `router.route`,
the upstream's own usage for the cost), so the surfaces agree with each other by agreeing
with that.

Cases: the report's fields (also every check of tests/test_report_schema.py), fallback after
a transient upstream error, a permanent error not retried elsewhere, the cost at list prices
(of a plain and of a streamed answer),
tool eligibility, and a stream that falls back before its first chunk.

Router.complete returns a `RoutedCompletion`, not a report dict: its driver reads the report's
values from the completion's own attributes (`model`, `decision`, `attempts`, `fell_back`,
`cost_usd`, ...), so it is compared on those values, not on the key set.
"""

from __future__ import annotations

import copy
import functools
import json
import operator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

pytest.importorskip("starlette", reason="needs the serve extra")
pytest.importorskip("langchain_openai", reason="needs the langchain extra")
pytest.importorskip("llama_index.llms.openai_like", reason="needs the llamaindex extra")

import autorouter
from autorouter.client import Endpoint
from autorouter.decision import RANKING_ALIASES, RoutingDecision, routing_report
from autorouter.reliability import RetryPolicy
from autorouter.server import create_app
from autorouter.types import ModelLimits
from gateway_server import BackgroundServer
from openai_server import OpenAIServer, RecordedRequest
from synthetic import MODELS, hash_embed, make_rows, write_jsonl

PROMPT = "write a python function to sort 3 lists"
SYSTEM = "Answer in one line."
# The caller's conversation, as OpenAI dicts; each driver turns it into its surface's messages.
MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": PROMPT},
]
TRADEOFF = 0.5
PRICES = {"big": (10.0, 30.0), "coder": (1.0, 2.0), "tiny": (0.1, 0.2)}  # USD per 1M in / out
POLICY = RetryPolicy(base_delay=0.0, jitter=False, total_budget_s=20.0)  # 2 tries a model, no waits
TIMEOUT_S = 5.0

# One tool, with the same JSON schema on every surface (LlamaIndex builds it from `Add`).
TOOL_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
}
TOOL: dict[str, Any] = {
    "type": "function",
    "function": {"name": "add", "description": "Add two integers.", "parameters": TOOL_PARAMETERS},
}


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


# --- what a call through any surface comes to -------------------------------------------------


@dataclass
class Outcome:
    """A call as a user of the surface sees it, normalised."""

    model: str  # the model that answered, as the surface's answer names it (not its report)
    text: str
    report: dict[str, Any]  # the routing report (Router: built from the completion's attributes)
    requests: list[RecordedRequest]  # the chat requests the upstream received, in order
    tool_calls: list[str] = field(default_factory=list)  # names of the tools the answer calls
    # What the caller is told the call cost: the report's, except a gateway stream's, whose
    # report rides on the first chunk (ahead of the cost): its final usage chunk's `cost`.
    cost_usd: float | None = None

    def __post_init__(self) -> None:
        if self.cost_usd is None:
            self.cost_usd = self.report.get("cost_usd")


def chat_requests(server: OpenAIServer) -> list[RecordedRequest]:
    return [r for r in list(server.requests) if r.path.endswith("/chat/completions")]


def answer_text(model: str) -> str:
    """What the loopback upstream answers `model` to MESSAGES."""
    return f"[{model}] {PROMPT}"


class Surface:
    """A driver: make one call through the surface and normalise what comes out."""

    name = ""
    has_report = True  # the answer carries a routing report dict of its own

    def complete(
        self, router: autorouter.Router, server: OpenAIServer, tools: list[dict[str, Any]] | None = None
    ) -> Outcome:
        raise NotImplementedError

    def stream(self, router: autorouter.Router, server: OpenAIServer, *, usage: bool = False) -> Outcome:
        """`usage`: ask for the stream's token usage the surface's own way (Router.stream
        always asks the upstream for it)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class CoreSurface(Surface):
    """`Router.complete` and `Router.stream`."""

    name = "router"
    has_report = False

    @staticmethod
    def report(model: str, decision: RoutingDecision, attempts: Any, *, fell_back: bool, sticky: bool,
               cost_usd: float | None, cost_source: str | None) -> dict[str, Any]:
        """The report's values as the core's own result states them. The core refuses a
        `model=` argument, so its calls are routed and never forced by construction."""
        return {
            "model": model,
            "routed": True,
            "forced": False,
            "chosen": decision.model,
            "sticky": sticky,
            "fell_back": fell_back,
            "fallback_from": list(dict.fromkeys(a.model for a in attempts if a.error is not None)),
            "attempts": [{"model": a.model, "status_code": getattr(a.error, "status_code", None)} for a in attempts],
            "tradeoff": decision.tradeoff,
            "max_cost": decision.max_cost,
            "max_latency_s": decision.max_latency_s,
            "explanation": decision.explanation,  # without the report's fallback note
            "family": decision.family,
            "difficulty": decision.difficulty,
            "ranking": [r.model_dump(mode="json") for r in decision.ranking],
            "cost_usd": cost_usd,
            "cost_source": cost_source,
        }

    def complete(
        self, router: autorouter.Router, server: OpenAIServer, tools: list[dict[str, Any]] | None = None
    ) -> Outcome:
        r = router.complete(MESSAGES, tradeoff=TRADEOFF, tools=tools)
        report = self.report(r.model, r.decision, r.attempts, fell_back=r.fell_back, sticky=r.sticky,
                             cost_usd=r.cost_usd, cost_source=r.cost_source)
        return Outcome(r.model, r.text, report, chat_requests(server), [c.name for c in r.tool_calls])

    def stream(self, router: autorouter.Router, server: OpenAIServer, *, usage: bool = False) -> Outcome:
        with router.stream(MESSAGES, tradeoff=TRADEOFF) as s:
            text = "".join(chunk.text for chunk in s)
        assert s.model is not None and s.result is not None
        fell_back = bool(s.attempts) and s.attempts[0].model != s.model
        report = self.report(s.model, s.decision, s.attempts, fell_back=fell_back, sticky=s.sticky,
                             cost_usd=s.result.cost_usd, cost_source=s.result.cost_source)
        return Outcome(s.model, text, report, chat_requests(server))


class LangChainSurface(Surface):
    """`ChatAutoRouter.invoke` (tools through `bind_tools`) and `.stream`."""

    name = "langchain"

    @staticmethod
    def llm(router: autorouter.Router, server: OpenAIServer) -> Any:
        import openai
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr

        from langchain_autorouter import ChatAutoRouter

        candidates: dict[str, Any] = {
            m: ChatOpenAI(model=m, base_url=server.base_url, api_key=SecretStr("test"), max_retries=0,
                          timeout=openai.Timeout(TIMEOUT_S))
            for m in MODELS
        }
        return ChatAutoRouter(router=router, candidates=candidates, retry_policy=POLICY, tradeoff=TRADEOFF)

    @staticmethod
    def messages() -> list[Any]:
        from langchain_core.messages import HumanMessage, SystemMessage

        kinds = {"system": SystemMessage, "user": HumanMessage}
        return [kinds[m["role"]](content=m["content"]) for m in MESSAGES]

    def complete(
        self, router: autorouter.Router, server: OpenAIServer, tools: list[dict[str, Any]] | None = None
    ) -> Outcome:
        llm = self.llm(router, server)
        runnable = llm.bind_tools(tools) if tools else llm
        message = runnable.invoke(self.messages())
        meta = message.response_metadata
        return Outcome(meta["model_name"], message.text, meta["autorouter"], chat_requests(server),
                       [c["name"] for c in message.tool_calls])

    def stream(self, router: autorouter.Router, server: OpenAIServer, *, usage: bool = False) -> Outcome:
        extra = {"stream_usage": True} if usage else {}  # ChatOpenAI's own per-call option
        chunks = list(self.llm(router, server).stream(self.messages(), **extra))
        reporting = [c for c in chunks if "autorouter" in c.response_metadata]
        assert len(reporting) == 1, "the routing report rides on exactly one chunk"
        merged = functools.reduce(operator.add, chunks)  # the message a LangChain user gets
        return Outcome(merged.response_metadata["model_name"], merged.text,
                       reporting[0].response_metadata["autorouter"], chat_requests(server))


class LlamaIndexSurface(Surface):
    """`AutoRouterLLM.chat` (tools through `chat_with_tools`) and `.stream_chat`."""

    name = "llamaindex"

    @staticmethod
    def llm(router: autorouter.Router, server: OpenAIServer, *, usage: bool = False) -> Any:
        from llama_index.llms.openai_like import OpenAILike

        from llamaindex_autorouter import AutoRouterLLM

        # LlamaIndex has no per-call option for a stream's usage: the candidate asks for it.
        extra = {"additional_kwargs": {"stream_options": {"include_usage": True}}} if usage else {}
        candidates = {
            m: OpenAILike(model=m, api_base=server.base_url, api_key="test", max_retries=0, timeout=TIMEOUT_S,
                          is_chat_model=True, is_function_calling_model=True, context_window=16_000, **extra)
            for m in MODELS
        }
        return AutoRouterLLM(router=router, candidates=candidates, retry_policy=POLICY, tradeoff=TRADEOFF)

    @staticmethod
    def messages() -> list[Any]:
        from llama_index.core.llms import ChatMessage

        return [ChatMessage(role=m["role"], content=m["content"]) for m in MESSAGES]

    @staticmethod
    def answered_by(response: Any) -> str:
        raw = response.raw
        model = raw.get("model") if isinstance(raw, dict) else getattr(raw, "model", None)
        assert isinstance(model, str), f"the candidate's response names no model: {raw!r}"
        return model

    def complete(
        self, router: autorouter.Router, server: OpenAIServer, tools: list[dict[str, Any]] | None = None
    ) -> Outcome:
        llm = self.llm(router, server)
        if tools:
            from llama_index.core.tools import FunctionTool
            from pydantic import BaseModel

            class Add(BaseModel):
                a: int
                b: int

            assert [t["function"]["name"] for t in tools] == ["add"], "this driver knows the one tool"
            tool = FunctionTool.from_defaults(fn=add, name="add", description="Add two integers.", fn_schema=Add)
            response = llm.chat_with_tools([tool], chat_history=self.messages())
            calls = [c.tool_name for c in llm.get_tool_calls_from_response(response, error_on_no_tool_call=False)]
        else:
            response = llm.chat(self.messages())
            calls = []
        return Outcome(self.answered_by(response), response.message.content or "",
                       response.additional_kwargs["autorouter"], chat_requests(server), calls)

    def stream(self, router: autorouter.Router, server: OpenAIServer, *, usage: bool = False) -> Outcome:
        items = list(self.llm(router, server, usage=usage).stream_chat(self.messages()))
        assert items, "the stream yielded nothing"
        last = items[-1]
        return Outcome(self.answered_by(last), "".join(i.delta or "" for i in items),
                       last.additional_kwargs["autorouter"], chat_requests(server))


class GatewaySurface(Surface):
    """The gateway (`create_app(router)`, served on loopback) with `model: "auto"`."""

    name = "gateway"

    @staticmethod
    def body(tools: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"model": "auto", "messages": MESSAGES, "tradeoff": TRADEOFF, **extra}
        if tools:
            body["tools"] = tools
        return body

    def complete(
        self, router: autorouter.Router, server: OpenAIServer, tools: list[dict[str, Any]] | None = None
    ) -> Outcome:
        with BackgroundServer(create_app(copy.deepcopy(router))) as gateway:
            resp = httpx.post(f"{gateway.base_url}/chat/completions", json=self.body(tools), timeout=20)
        resp.raise_for_status()
        data = resp.json()
        message = data["choices"][0]["message"]
        calls = [c["function"]["name"] for c in message.get("tool_calls") or []]
        return Outcome(data["model"], message.get("content") or "", data["autorouter"], chat_requests(server), calls)

    def stream(self, router: autorouter.Router, server: OpenAIServer, *, usage: bool = False) -> Outcome:
        report: dict[str, Any] | None = None
        models: set[str] = set()
        text = ""
        done = False
        costs: list[Any] = []
        extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if usage else {}
        with BackgroundServer(create_app(copy.deepcopy(router))) as gateway:
            with httpx.stream("POST", f"{gateway.base_url}/chat/completions",
                              json=self.body(stream=True, **extra), timeout=20) as resp:
                resp.raise_for_status()
                for line in resp.iter_lines():
                    if not line.startswith("data: "):
                        continue
                    payload = line.removeprefix("data: ")
                    if payload == "[DONE]":
                        done = True
                        break
                    event = json.loads(payload)
                    assert "error" not in event, event
                    if "autorouter" in event:
                        assert report is None, "the routing report rides on the first chunk only"
                        report = event["autorouter"]
                    models.add(event["model"])
                    if event.get("usage"):
                        costs.append(event["usage"].get("cost"))
                    text += "".join((c.get("delta") or {}).get("content") or "" for c in event.get("choices") or [])
        assert done and report is not None and len(models) == 1, (done, report, models)
        assert len(costs) == (1 if usage else 0), costs  # one usage chunk, when asked for
        return Outcome(models.pop(), text, report, chat_requests(server), cost_usd=costs[0] if costs else None)


SURFACES: list[Surface] = [CoreSurface(), LangChainSurface(), LlamaIndexSurface(), GatewaySurface()]


def on_every_surface(**xfail: str) -> pytest.MarkDecorator:
    """Parametrize a case over the surfaces; `xfail={surface: reason}` marks a known drift
    (strict: the day it is fixed, the mark must go)."""
    unknown = set(xfail) - {s.name for s in SURFACES}
    assert not unknown, unknown
    return pytest.mark.parametrize("surface", [
        pytest.param(s, id=s.name,
                     marks=[pytest.mark.xfail(strict=True, reason=xfail[s.name])] if s.name in xfail else [])
        for s in SURFACES
    ])


# --- the router, and what the upstream says ---------------------------------------------------


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory, openai_server_session: OpenAIServer) -> autorouter.Router:
    data = write_jsonl(make_rows(150), tmp_path_factory.mktemp("contract") / "train.jsonl")
    r = autorouter.Router(embedder=hash_embed, prices=PRICES).fit(autorouter.load_dataset(data))
    r.set_endpoints(default=Endpoint(base_url=openai_server_session.base_url, api_key="test", timeout=TIMEOUT_S))
    r.retry_policy = POLICY
    return r


@pytest.fixture
def router(fitted: autorouter.Router) -> autorouter.Router:
    """A copy of the fitted router per test, so that limits a case sets stay in it."""
    return copy.deepcopy(fitted)


def decide(router: autorouter.Router, **kwargs: Any) -> RoutingDecision:
    """The router's own decision on MESSAGES: what every surface must act on."""
    return router.route(MESSAGES, tradeoff=TRADEOFF, **kwargs)


def eligible(decision: RoutingDecision) -> list[str]:
    return [r.model for r in decision.ranking if r.eligible]


def list_price_cost(server: OpenAIServer, request: RecordedRequest) -> float:
    """The cost of an answered request at its model's list price, from the usage the upstream
    reports when it gets the same request again (it is deterministic)."""
    body = {k: v for k, v in request.body.items() if k not in ("stream", "stream_options")}
    resp = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=TIMEOUT_S)
    resp.raise_for_status()
    usage = resp.json()["usage"]
    price_in, price_out = PRICES[request.model or ""]
    return (usage["prompt_tokens"] * price_in + usage["completion_tokens"] * price_out) / 1e6


# --- 1. the report's fields -------------------------------------------------------------------


@on_every_surface()
def test_report_fields(surface: Surface, router: autorouter.Router, openai_server: OpenAIServer) -> None:
    decision = decide(router)
    out = surface.complete(router, openai_server)
    report = out.report
    json.dumps(report)  # plain values

    assert out.model == decision.model and out.text == answer_text(decision.model)
    assert [r.model for r in out.requests] == [decision.model]
    expected = {
        "model": decision.model, "chosen": decision.model, "routed": True, "forced": False, "sticky": False,
        "fell_back": False, "fallback_from": [], "tradeoff": TRADEOFF, "max_cost": decision.max_cost,
        "max_latency_s": decision.max_latency_s, "explanation": decision.explanation,
        "family": decision.family, "difficulty": decision.difficulty,
        "cost_usd": pytest.approx(list_price_cost(openai_server, out.requests[0]), rel=1e-9),
        "cost_source": "list_price",
    }
    assert {k: report[k] for k in expected} == expected
    assert [a["model"] for a in report["attempts"]] == [decision.model]

    # The ranking: every candidate, best first, with the decision's predictions.
    ranking = [r.model_dump(mode="json") for r in decision.ranking]
    assert [e["model"] for e in report["ranking"]] == [e["model"] for e in ranking]
    for entry, want in zip(report["ranking"], ranking, strict=True):
        fields = {k: v for k, v in entry.items() if k not in RANKING_ALIASES}
        assert set(fields) == set(want), sorted(set(fields) ^ set(want))
        assert fields == pytest.approx(want)
        if surface.name in ("langchain", "llamaindex"):  # the deprecated aliases, for one release
            assert {a: entry[a] for a in RANKING_ALIASES} == {a: entry[f] for a, f in RANKING_ALIASES.items()}
        else:
            assert not set(entry) & set(RANKING_ALIASES)

    if surface.has_report:  # one schema: the keys `routing_report` gives, no more, no fewer
        assert set(report) == set(routing_report(decision.model, decision)), surface


# --- 2. fallback after a transient error ------------------------------------------------------


@pytest.mark.parametrize("status", ["500", "429"])
@on_every_surface()
def test_transient_error_falls_back_with_the_same_messages(
    surface: Surface, status: str, router: autorouter.Router, openai_server: OpenAIServer
) -> None:
    decision = decide(router)
    first, second = eligible(decision)[:2]
    openai_server.set_mode(first, status)

    out = surface.complete(router, openai_server)

    assert out.model == second and out.text == answer_text(second)
    report = out.report
    assert (report["model"], report["chosen"], report["fell_back"], report["fallback_from"]) == (
        second, first, True, [first]
    )
    # The policy's tries of the first model, then one of the next; the report tells them all.
    tried = [r.model for r in out.requests]
    assert tried == [first] * POLICY.max_attempts_per_model + [second]
    assert [(a["model"], a["status_code"]) for a in report["attempts"]] == [
        (first, int(status))] * POLICY.max_attempts_per_model + [(second, None)]
    if surface.has_report:
        assert report["explanation"] == f"{decision.explanation}; answered by {second} after {first} failed"
    # The caller's conversation reaches the fallback model unchanged, as it reached the first.
    for request in out.requests:
        assert request.body["messages"] == MESSAGES, (request.model, request.body["messages"])
    # Priced as the model that answered, not the one chosen.
    assert report["cost_source"] == "list_price"
    assert report["cost_usd"] == pytest.approx(list_price_cost(openai_server, out.requests[-1]), rel=1e-9)


# --- 3. a permanent error -----------------------------------------------------------------------


@on_every_surface()
def test_permanent_error_is_not_retried_elsewhere(
    surface: Surface, router: autorouter.Router, openai_server: OpenAIServer
) -> None:
    first = decide(router).model
    openai_server.set_mode(first, "400")

    with pytest.raises(Exception) as raised:  # noqa: B017 - each surface raises its own type
        surface.complete(router, openai_server)

    assert not isinstance(raised.value, AssertionError), raised.value  # the driver's checks are not the error
    assert [r.model for r in chat_requests(openai_server)] == [first]


# --- 4. cost ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fallback", [False, True], ids=["routed-pick", "after-fallback"])
@on_every_surface()
def test_cost_is_tokens_times_list_price(
    surface: Surface, fallback: bool, router: autorouter.Router, openai_server: OpenAIServer
) -> None:
    order = eligible(decide(router))
    if fallback:  # the next model answers when the first one is down: priced as what answered
        openai_server.set_mode(order[0], "503")
    out = surface.complete(router, openai_server)
    answered = out.requests[-1]
    assert answered.model == out.model == (order[1] if fallback else order[0])

    expected = list_price_cost(openai_server, answered)
    assert expected > 0
    assert out.report["cost_usd"] == pytest.approx(expected, rel=1e-9)
    assert out.report["cost_source"] == "list_price"


@on_every_surface()
def test_streamed_cost_is_tokens_times_list_price(
    surface: Surface, router: autorouter.Router, openai_server: OpenAIServer
) -> None:
    # Each surface asked for the stream's usage its own way (see `Surface.stream`); without
    # that, only Router.stream knows a streamed call's cost (it always asks the upstream).
    chosen = decide(router).model
    out = surface.stream(router, openai_server, usage=True)
    assert out.model == chosen and out.text == answer_text(chosen)
    [answered] = out.requests
    assert answered.body["stream_options"] == {"include_usage": True}

    assert out.cost_usd == pytest.approx(list_price_cost(openai_server, answered), rel=1e-9)
    if surface.name == "gateway":  # its report rode on the first chunk, ahead of the cost
        assert (out.report["cost_usd"], out.report["cost_source"]) == (None, None)
    else:
        assert out.report["cost_source"] == "list_price"


# --- 5. eligibility: tools ----------------------------------------------------------------------


@on_every_surface()
def test_tools_only_go_to_a_tool_capable_model(
    surface: Surface, router: autorouter.Router, openai_server: OpenAIServer
) -> None:
    # The model that would get this tool call is known not to call tools: the router's limits,
    # which every surface routes by (the adapters pass `tools=True` to `route`; their own
    # candidates, OpenAI clients, all call tools). The adapters can also learn it from the
    # candidate itself (a LangChain profile with `tool_calling: False`, a LlamaIndex LLM with
    # `is_function_calling_model=False`): Router.complete and the gateway have no candidate
    # objects, so that setup cannot be expressed on them and is left to the adapters' tests.
    top = decide(router, tools=True).model
    router.set_limits(top, ModelLimits(tools=False))
    decision = decide(router, tools=True)
    assert decision.model != top

    out = surface.complete(router, openai_server, tools=[TOOL])

    assert out.model == decision.model == out.report["model"] == out.report["chosen"]
    assert out.tool_calls == ["add"]
    assert [r.model for r in out.requests] == [decision.model]
    sent = out.requests[0].body["tools"]
    assert [(t["function"]["name"], sorted(t["function"]["parameters"]["properties"])) for t in sent] == [
        ("add", ["a", "b"])
    ]
    entries = {e["model"]: e for e in out.report["ranking"]}
    want = next(r for r in decision.ranking if r.model == top)
    assert (entries[top]["eligible"], entries[top]["excluded_because"]) == (False, want.excluded_because)
    assert "tool" in str(want.excluded_because)


# --- 6. a stream falls back before its first chunk ---------------------------------------------


@pytest.mark.parametrize("fault", ["500", "drop:0"], ids=["http-500", "closed-before-any-event"])
@on_every_surface()
def test_stream_falls_back_before_the_first_chunk(
    surface: Surface, fault: str, router: autorouter.Router, openai_server: OpenAIServer
) -> None:
    first, second = eligible(decide(router))[:2]
    openai_server.set_mode(first, fault)

    out = surface.stream(router, openai_server)

    assert out.model == second and out.text == answer_text(second)
    assert (out.report["model"], out.report["fell_back"], out.report["fallback_from"]) == (second, True, [first])
    tried = [r.model for r in out.requests]
    assert tried == [first] * POLICY.max_attempts_per_model + [second]
    assert [a["model"] for a in out.report["attempts"]] == tried
    for request in out.requests:
        assert request.body["stream"] is True and request.body["messages"] == MESSAGES
