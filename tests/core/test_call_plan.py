"""autorouter.calls: the plan of a routed call (order, continuity, report), the stream rule that
holds the empty head, the bounded memory of sessions and runs, and a router's caller."""

from __future__ import annotations

import asyncio
import copy
import math
from collections.abc import AsyncIterator, Iterator

import pytest

import autorouter
from autorouter.calls import CallPlan, RecentMap, aplan_call, hold_empty_head, plan_call, session_plan
from autorouter.calls.streams import ahold_empty_head
from autorouter.errors import NoCandidateError
from autorouter.reliability import RetryPolicy

PROMPT = "write a python function to sort 3 lists"


def test_a_routed_plan_tries_the_choice_then_its_eligible_fallbacks(fitted: autorouter.Router) -> None:
    decision = fitted.route(PROMPT, tradeoff=0.5)
    plan = CallPlan.routed(decision)
    assert plan.order == (decision.model, *decision.fallbacks) and plan.kept is None
    kept = decision.fallbacks[-1]
    run = CallPlan.routed(decision, kept=kept)
    assert run.order[0] == kept and sorted(run.order) == sorted(plan.order) and run.kept_for == "run"
    assert CallPlan.routed(None, kept="big").order == ("big",)
    with pytest.raises(ValueError, match="nothing to call"):
        CallPlan.routed(None)


def test_plan_call_keeps_an_agent_runs_model_when_routing_finds_none(fitted: autorouter.Router) -> None:
    def unroutable() -> autorouter.RoutingDecision:
        raise NoCandidateError("every model costs more than max_cost")

    with pytest.raises(NoCandidateError):
        plan_call(unroutable)
    plan = plan_call(unroutable, kept="tiny")
    assert plan.order == ("tiny",) and plan.decision is None
    report = plan.report("tiny")
    assert report["sticky"] is True and report["routed"] is False and "kept for the tool turns" in report["explanation"]
    forced = asyncio.run(aplan_call(unroutable, forced="big"))  # routing is not even asked
    assert forced.order == ("big",) and forced.report("big")["forced"] is True


def test_the_report_says_why_a_kept_model_answered(fitted: autorouter.Router) -> None:
    decision = fitted.route(PROMPT, tradeoff=0.5)
    other = decision.fallbacks[0]
    report = CallPlan.routed(decision, kept=other).report(other)
    assert report["sticky"] is True and report["chosen"] == decision.model
    assert f"the router would pick {decision.model}" in report["explanation"]
    assert CallPlan.routed(decision).report(decision.model)["explanation"] == decision.explanation


def test_a_session_keeps_its_model_only_within_the_margin(fitted: autorouter.Router) -> None:
    decision = fitted.route(PROMPT, tradeoff=0.5)
    sessions = RecentMap(10)
    last = decision.fallbacks[-1]
    sessions.put("s", last)
    assert session_plan(decision, sessions, "s", margin=math.inf).order[0] == last
    assert session_plan(decision, sessions, "s", margin=math.inf).kept_for == "session"
    assert session_plan(decision, sessions, "s", margin=-1.0).order[0] == decision.model
    assert session_plan(decision, sessions, "other", margin=math.inf).kept is None


def _items(values: list[str], fail_after: int | None = None) -> Iterator[str]:
    for i, v in enumerate(values):
        if fail_after is not None and i == fail_after:
            raise ConnectionError("dropped")
        yield v


def test_the_empty_head_is_held_until_something_is_said() -> None:
    says = bool
    assert list(hold_empty_head(_items(["", "", "a", "", "b"]), says)) == ["a", "", "b"]
    assert list(hold_empty_head(_items(["", "x", "a"]), says, fold="|".join)) == ["|x", "a"]
    assert list(hold_empty_head(_items(["", ""]), says)) == [""]  # an empty answer is still one
    assert list(hold_empty_head(_items(["", ""]), says, keep_empty_answer=False)) == []
    # a failure before any output is still "before the first item": nothing was passed on
    head = hold_empty_head(_items(["", "", "a"], fail_after=2), says)
    with pytest.raises(ConnectionError):
        next(head)
    mapped = hold_empty_head(_items(["", "a"], fail_after=1), says, head_error=lambda e: TimeoutError(str(e)))
    with pytest.raises(TimeoutError, match="dropped"):
        next(mapped)
    late = hold_empty_head(_items(["a", "b"], fail_after=1), says, head_error=lambda e: TimeoutError(str(e)))
    assert next(late) == "a"
    with pytest.raises(ConnectionError):  # after output, a break is what it is
        next(late)


def test_the_async_head_rule_is_the_same_and_closes_the_stream() -> None:
    closed: list[bool] = []

    async def items() -> AsyncIterator[str]:
        try:
            for v in ["", "a", "b"]:
                yield v
        finally:
            closed.append(True)

    async def first() -> str:
        stream = ahold_empty_head(items(), bool)
        value = await stream.__anext__()
        await stream.aclose()  # type: ignore[attr-defined]
        return value

    assert asyncio.run(first()) == "a" and closed == [True]


def test_recent_map_is_bounded_and_a_copy_starts_empty() -> None:
    memory = RecentMap(2)
    memory.put("a", "x")
    memory.put("b", "y")
    assert memory.get("a") == "x"  # now the most recent
    memory.put("c", "z")
    assert memory.get("b") is None and memory.get("a") == "x" and len(memory) == 2
    assert len(copy.deepcopy(memory)) == 0 and copy.deepcopy(memory).capacity == 2
    memory.forget()
    assert len(memory) == 0


def test_a_routers_call_settings_live_in_its_caller(fitted: autorouter.Router) -> None:
    policy = RetryPolicy(max_attempts_per_model=1)
    fitted.retry_policy = policy
    assert fitted.caller.retry_policy is policy and fitted.retry_policy is policy
    fitted.caller.sessions.put("s", "tiny")
    twin = copy.deepcopy(fitted)
    assert twin.caller is not fitted.caller and twin.caller.router is twin
    assert len(twin.caller.sessions) == 0 and twin.retry_policy == policy
    assert autorouter.Router.complete.__doc__ and "fall" in autorouter.Router.complete.__doc__
