"""The framework-neutral steps both adapters take around a call (`autorouter.calls`): which
candidates can serve it, the agent run's model, the order to try, the provider errors worth a
retry, names, cost and the routing report."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import httpx
import openai
import pytest

import autorouter
from autorouter.calls import CallPlan
from autorouter.calls.plan import eligible_candidates, estimate_tokens, sticky_candidate
from autorouter.calls.sdk_errors import classify_error
from autorouter.catalog import shared_match
from autorouter.costs import call_cost_usd
from autorouter.errors import NoCandidateError, ProviderServerError
from autorouter.reliability import Attempt
from autorouter.types import ModelLimits

CAPS = {
    "big": {"tools": True, "images": True, "context_window": 100_000},
    "coder": {"tools": True, "images": None, "context_window": 8_000},
    "tiny": {"tools": False, "images": None, "context_window": 2_000},
}


def test_eligible_by_needs_and_window() -> None:
    assert eligible_candidates(CAPS) == (["big", "coder", "tiny"], {})
    keys, why = eligible_candidates(CAPS, ["tools"])
    assert keys == ["big", "coder"] and why == {"tiny": "does not support tool calling"}
    # as in the router, a candidate nobody vouches for stays beside the one known to have it
    assert eligible_candidates(CAPS, ["images"]) == (["big", "coder", "tiny"], {})
    keys, why = eligible_candidates(CAPS, [], prompt_tokens=5_000)
    assert keys == ["big", "coder"] and "context window of 2000" in why["tiny"]
    with pytest.raises(NoCandidateError, match="tiny: prompt .* exceeds its context window of 2000"):
        eligible_candidates(CAPS, [], prompt_tokens=200_000)
    with pytest.raises(NoCandidateError, match="tool calling"):
        eligible_candidates({"tiny": CAPS["tiny"]}, ["tools"])
    unknown = {k: {} for k in CAPS}  # nobody says: everything stays eligible
    assert eligible_candidates(unknown, ["images", "pdf"], prompt_tokens=10**9)[0] == list(CAPS)
    with pytest.raises(ValueError, match="unknown need"):
        eligible_candidates(CAPS, ["telepathy"])


_ROUTE_FLAG = {"tools": {"tools": True}, "structured_output": {"structured_output": True}, "images": {}}


def _request(need: str) -> list[dict[str, Any]]:
    """A request that needs `need`, ~100 tokens long: an image part for "images"."""
    content: list[dict[str, Any]] = [{"type": "text", "text": "write a python function " * 16 + "now"}]
    if need == "images":
        content.append({"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}})
    return [{"role": "user", "content": content}]


@pytest.mark.parametrize("need", ["tools", "images", "structured_output"])
def test_candidates_are_eligible_by_the_routers_own_rule(fitted: autorouter.Router, need: str) -> None:
    """One eligibility rule: for every mix of has it / unknown / has not (and a window too
    small for the prompt), the adapters leave out exactly the candidates `Router.route` ranks
    as ineligible when it knows the same, for the same reasons."""
    known = copy.deepcopy(fitted)
    windows = {"big": None, "coder": 100_000, "tiny": 50}
    request = _request(need)
    tokens = estimate_tokens(len(request[0]["content"][0]["text"]))
    for values in itertools.product((True, None, False), repeat=len(windows)):
        caps = {m: {need: v, "context_window": windows[m]} for m, v in zip(windows, values, strict=True)}
        for m, c in caps.items():
            known.set_limits(m, ModelLimits(**{need: c[need]}, context_window=windows[m]))
        try:
            eligible, excluded = eligible_candidates(caps, [need], tokens)
        except NoCandidateError:
            with pytest.raises(NoCandidateError):
                known.route(request, **_ROUTE_FLAG[need])
            continue
        decision = known.route(request, **_ROUTE_FLAG[need])
        assert sorted(eligible) == sorted(r.model for r in decision.ranking if r.eligible), values
        assert excluded == {r.model: r.excluded_because for r in decision.ranking if not r.eligible}, values


def test_sticky_candidate() -> None:
    assert sticky_candidate([("user", None)]) is None
    turns = [("system", None), ("user", None), ("assistant", "big"), ("tool", None)]
    assert sticky_candidate(turns) == "big"
    assert sticky_candidate([*turns, ("user", None)]) is None
    assert sticky_candidate([*turns, ("assistant", None)]) == "big"


class Decision:
    model = "coder"
    fallbacks = ["tiny", "big"]


def test_call_order() -> None:
    assert CallPlan.routed(Decision()).order == ("coder", "tiny", "big")  # type: ignore[arg-type]
    assert CallPlan.routed(Decision(), kept="big").order == ("big", "coder", "tiny")  # type: ignore[arg-type]
    assert CallPlan.routed(None, kept="big").order == ("big",)
    with pytest.raises(ValueError):
        CallPlan.routed(None)


def test_classify_error() -> None:
    request = httpx.Request("POST", "http://x/v1/chat/completions")

    def status(code: int) -> openai.APIStatusError:
        response = httpx.Response(code, request=request)
        return openai.APIStatusError("boom", response=response, body=None)

    assert classify_error(openai.RateLimitError("slow", response=httpx.Response(429, request=request), body=None))
    assert classify_error(openai.APIConnectionError(request=request)) is True
    assert classify_error(openai.APITimeoutError(request=request)) is True
    assert classify_error(status(503)) is True
    assert classify_error(status(401)) is False
    assert classify_error(status(400)) is False
    assert classify_error(httpx.ReadTimeout("t")) is True
    assert classify_error(ProviderServerError("x")) is None  # the policy reads .retryable
    assert classify_error(TimeoutError()) is True
    assert classify_error(ValueError("bad")) is None


def test_names_match_by_the_catalog_and_cost() -> None:
    known = ["openai/gpt-4o-2024-08-06", "meta-llama/llama-3.1-8b-instruct"]
    assert shared_match("gpt-4o", known) == "openai/gpt-4o-2024-08-06"
    assert shared_match("llama-3.1-8b-instruct", known) == "meta-llama/llama-3.1-8b-instruct"
    assert shared_match("claude-9", known) is None
    assert call_cost_usd(["big", "gpt-4o"], 1000, 100) == pytest.approx((1000 * 2.5 + 100 * 10) / 1e6)
    assert call_cost_usd("big", 1000, 100) is None
    assert call_cost_usd("gpt-4o", None, 100) is None
    assert estimate_tokens(400) == 100


def test_the_report_of_an_adapters_call(fitted: autorouter.Router) -> None:
    decision = fitted.route("write a python function to sort 3 lists", tradeoff=0.8, candidates=["coder", "tiny"])
    attempts = [Attempt("tiny", 1, RuntimeError("x"), 0.1), Attempt(decision.model, 1, None, 0.1)]
    plan = CallPlan.routed(decision, excluded={"big": "does not support tool calling"})
    info = plan.report(decision.model, attempts, cost_usd=0.01, cost_source="list_price")
    assert info["model"] == decision.model and info["cost_usd"] == 0.01
    assert info["fallback_from"] == (["tiny"] if decision.model != "tiny" else [])
    reasons = {r["model"]: r["excluded_because"] for r in info["ranking"]}
    assert reasons["big"] == "does not support tool calling"
    sticky = CallPlan.routed(decision, kept="big").report("big")
    assert sticky["sticky"] is True and "kept for the tool turns" in sticky["explanation"]
    assert CallPlan.forced_to("big").report("big")["explanation"] == "big: forced by the call's model= argument"
