"""The retry-and-fallback policy, driven through the real client and test server."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import pickle
import random
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import SecretStr, ValidationError

from autorouter import reliability
from autorouter.client import ChatChunk, ChatClient, ChatCompletion, Endpoint, aclose_pools
from autorouter.decision import RankedModel, RoutingDecision
from autorouter.errors import (
    AuthenticationError,
    BadRequestError,
    FallbackExhaustedError,
    InvalidRequestError,
    MissingAPIKeyError,
    ProviderConnectionError,
    ProviderServerError,
    ProviderTimeoutError,
    RateLimitError,
    StreamInterruptedError,
)
from autorouter.reliability import (
    AttemptLimits,
    CooldownTracker,
    RetryPolicy,
    arun_with_fallback,
    astream_with_fallback,
    current_attempt_limits,
    default_cooldowns,
    retry_after_from_headers,
    run_with_fallback,
    stream_with_fallback,
)
from openai_server import OpenAIServer

SECRET = "sk-test-0a1b2c3d4e5f-do-not-leak"
HELLO = [{"role": "user", "content": "hello world"}]
AB = ["model-a", "model-b"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def client(openai_server: OpenAIServer) -> ChatClient:
    return ChatClient(Endpoint(base_url=openai_server.base_url, api_key=SecretStr(SECRET),
                               timeout=0.25))


@pytest.fixture
def cooldowns() -> CooldownTracker:
    return CooldownTracker()


@pytest.fixture
def policy() -> RetryPolicy:
    return RetryPolicy(base_delay=0.01, max_delay=0.5, total_budget_s=10, cooldown_s=30)


@pytest.fixture
async def async_pools() -> AsyncIterator[None]:
    yield
    await aclose_pools()


def ask(client: ChatClient):  # noqa: ANN201 - a call function for run_with_fallback
    return lambda model: client.complete(model, HELLO)


# --- retry on the same model --------------------------------------------------------


def test_429_without_retry_after_is_retried_with_backoff(
    client: ChatClient, openai_server: OpenAIServer, policy: RetryPolicy,
    cooldowns: CooldownTracker,
) -> None:
    openai_server.script("model-a", ["429"])
    answer, model, attempts = run_with_fallback(AB, ask(client), policy=policy,
                                                cooldowns=cooldowns)
    assert (model, answer.text) == ("model-a", "[model-a] hello world")
    assert [(a.model, type(a.error)) for a in attempts] == [
        ("model-a", RateLimitError), ("model-a", type(None))]
    assert openai_server.calls == {"model-a": 2}
    assert not cooldowns.is_cooling("model-a")


def test_429_retry_after_is_honoured(
    client: ChatClient, openai_server: OpenAIServer, policy: RetryPolicy,
    cooldowns: CooldownTracker,
) -> None:
    openai_server.script("model-a", ["429:0.3"])
    start = time.monotonic()
    result = run_with_fallback(AB, ask(client), policy=policy, cooldowns=cooldowns)
    assert time.monotonic() - start >= 0.3
    assert result.model == "model-a"
    assert openai_server.calls == {"model-a": 2}


def test_retry_after_beyond_max_delay_moves_on_and_cools_that_long(
    client: ChatClient, openai_server: OpenAIServer, policy: RetryPolicy,
    cooldowns: CooldownTracker,
) -> None:
    openai_server.script("model-a", ["429:120"])
    start = time.monotonic()
    result = run_with_fallback(AB, ask(client), policy=policy, cooldowns=cooldowns)
    assert time.monotonic() - start < 1
    assert result.model == "model-b"
    assert openai_server.calls == {"model-a": 1, "model-b": 1}
    assert cooldowns.remaining("model-a") > 100  # the provider's 120 s, not our 30 s


# --- fall back down the ranking -----------------------------------------------------


def test_server_errors_fall_back_to_the_next_model(
    client: ChatClient, openai_server: OpenAIServer, policy: RetryPolicy,
    cooldowns: CooldownTracker,
) -> None:
    openai_server.set_mode("model-a", "500")
    result = run_with_fallback(["model-a", "model-b", "model-c"], ask(client), policy=policy,
                               cooldowns=cooldowns)
    assert result.model == "model-b"
    assert result.value.text == "[model-b] hello world"
    # Two tries of model-a, one answer from model-b, nothing sent after the answer.
    assert openai_server.calls == {"model-a": 2, "model-b": 1}
    assert [a.model for a in result.attempts] == ["model-a", "model-a", "model-b"]
    assert all(isinstance(a.error, ProviderServerError) for a in result.attempts[:2])


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [("stall:2", ProviderTimeoutError), ("reset", ProviderConnectionError),
     ("502", ProviderServerError), ("503", ProviderServerError)],
)
def test_transient_failures_fall_back(
    client: ChatClient, openai_server: OpenAIServer, policy: RetryPolicy,
    cooldowns: CooldownTracker, fault: str, error_type: type[Exception],
) -> None:
    openai_server.set_mode("model-a", fault)
    start = time.monotonic()
    result = run_with_fallback(AB, ask(client), policy=policy, cooldowns=cooldowns)
    assert time.monotonic() - start < 1.5  # two 0.25 s timeouts at worst, never the stall
    assert result.model == "model-b"
    assert openai_server.calls == {"model-a": 2, "model-b": 1}
    assert {type(a.error) for a in result.attempts[:2]} == {error_type}


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [("400", BadRequestError), ("401", AuthenticationError), ("403", AuthenticationError)],
)
def test_request_errors_surface_at_once_unchanged(
    client: ChatClient, openai_server: OpenAIServer, policy: RetryPolicy,
    cooldowns: CooldownTracker, fault: str, error_type: type[Exception],
) -> None:
    openai_server.set_mode("model-a", fault)
    with pytest.raises(error_type) as caught:
        run_with_fallback(AB, ask(client), policy=policy, cooldowns=cooldowns)
    assert caught.value.status_code == int(fault)  # type: ignore[attr-defined]
    assert openai_server.calls == {"model-a": 1}
    assert not cooldowns.is_cooling("model-a")  # the request was wrong, not the model


def test_all_models_failing_lists_each_model_and_error(
    client: ChatClient, openai_server: OpenAIServer, policy: RetryPolicy,
    cooldowns: CooldownTracker,
) -> None:
    openai_server.set_mode("model-a", "503")
    openai_server.set_mode("model-b", "reset")
    with pytest.raises(FallbackExhaustedError) as caught:
        run_with_fallback(AB, ask(client), policy=policy, cooldowns=cooldowns)
    error = caught.value
    assert error.models == AB
    assert [type(e) for _, e in error.failures] == [ProviderServerError, ProviderConnectionError]
    assert "model-a" in str(error) and "model-b" in str(error)
    assert isinstance(error.__cause__, ProviderConnectionError)
    assert openai_server.calls == {"model-a": 2, "model-b": 2}
    assert cooldowns.is_cooling("model-a") and cooldowns.is_cooling("model-b")


def test_time_budget_stops_new_attempts(
    client: ChatClient, openai_server: OpenAIServer, cooldowns: CooldownTracker
) -> None:
    for model in ("model-a", "model-b", "model-c"):
        openai_server.set_mode(model, "stall:2")
    policy = RetryPolicy(base_delay=0.01, total_budget_s=0.4)
    start = time.monotonic()
    with pytest.raises(FallbackExhaustedError, match="budget") as caught:
        run_with_fallback(["model-a", "model-b", "model-c"], ask(client), policy=policy,
                          cooldowns=cooldowns)
    assert time.monotonic() - start < 1.0
    # Each hanging model is left after its attempt limit (half the budget), not retried;
    # two of them spend the budget, so the third is never called.
    assert caught.value.models == ["model-a", "model-b"]
    assert dict(openai_server.calls) == {"model-a": 1, "model-b": 1}


def test_backoff_longer_than_the_budget_skips_to_the_next_model(
    client: ChatClient, openai_server: OpenAIServer, cooldowns: CooldownTracker
) -> None:
    openai_server.script("model-a", ["500"])
    policy = RetryPolicy(base_delay=4, max_delay=4, jitter=False, total_budget_s=1)
    start = time.monotonic()
    result = run_with_fallback(AB, ask(client), policy=policy, cooldowns=cooldowns)
    assert time.monotonic() - start < 1
    assert result.model == "model-b"


def test_a_routing_decision_is_tried_in_order_skipping_excluded_models(
    client: ChatClient, openai_server: OpenAIServer, policy: RetryPolicy,
    cooldowns: CooldownTracker,
) -> None:
    decision = RoutingDecision(
        model="model-a",
        ranking=[
            RankedModel(model="model-a", quality=0.9, cost_usd=0.01, score=0.9),
            RankedModel(model="model-b", quality=0.8, cost_usd=0.001, score=0.8),
            RankedModel(model="model-c", quality=0.5, cost_usd=0.5, score=0.1, eligible=False,
                        excluded_because="over max_cost"),
        ],
        tradeoff=0.5,
        explanation="test",
    )
    openai_server.set_mode("model-a", "500")
    openai_server.set_mode("model-b", "500")
    with pytest.raises(FallbackExhaustedError) as caught:
        run_with_fallback(decision, ask(client), policy=policy, cooldowns=cooldowns)
    assert caught.value.models == ["model-a", "model-b"]
    assert "model-c" not in openai_server.calls


def test_empty_ranking_is_refused_and_a_bare_name_is_one_model() -> None:
    with pytest.raises(InvalidRequestError):
        run_with_fallback([], lambda m: m)
    assert run_with_fallback("model-a", lambda m: m).model == "model-a"


# --- cooldown -----------------------------------------------------------------------


def test_a_failed_model_cools_down_and_moves_to_the_back(
    client: ChatClient, openai_server: OpenAIServer, policy: RetryPolicy
) -> None:
    clock = FakeClock()
    cooldowns = CooldownTracker(clock=clock)
    openai_server.script("model-a", ["500", "500"])

    first = run_with_fallback(AB, ask(client), policy=policy, cooldowns=cooldowns)
    assert first.model == "model-b"
    assert cooldowns.order(AB) == ["model-b", "model-a"]

    second = run_with_fallback(AB, ask(client), policy=policy, cooldowns=cooldowns)
    assert second.model == "model-b"
    assert [a.model for a in second.attempts] == ["model-b"]  # model-a not even tried
    assert openai_server.calls == {"model-a": 2, "model-b": 2}

    clock.now += policy.cooldown_s + 1
    third = run_with_fallback(AB, ask(client), policy=policy, cooldowns=cooldowns)
    assert third.model == "model-a"


def test_a_cooling_model_is_still_tried_last(
    client: ChatClient, openai_server: OpenAIServer, policy: RetryPolicy
) -> None:
    cooldowns = CooldownTracker(clock=FakeClock())
    cooldowns.cool("model-a", 30)
    openai_server.set_mode("model-b", "500")
    result = run_with_fallback(AB, ask(client), policy=policy, cooldowns=cooldowns)
    assert result.model == "model-a"
    assert not cooldowns.is_cooling("model-a")  # it answered: back to its rank


def test_cooldown_tracker_orders_and_expires() -> None:
    clock = FakeClock()
    tracker = CooldownTracker(clock=clock)
    tracker.cool("a", 10)
    tracker.cool("c", 5)
    tracker.cool("a", 1)  # never shortens
    assert tracker.order(["a", "b", "c", "d"]) == ["b", "d", "a", "c"]
    clock.now += 6
    assert tracker.order(["a", "b", "c", "d"]) == ["b", "c", "d", "a"]
    assert tracker.remaining("a") == pytest.approx(4)
    tracker.clear()
    assert not tracker.is_cooling("a")


def test_cooldown_tracker_is_thread_safe() -> None:
    tracker = CooldownTracker()
    models = [f"m{i}" for i in range(50)]

    def churn(i: int) -> None:
        for _ in range(200):
            tracker.cool(models[i % 50], 60)
            tracker.order(models)
            tracker.clear(models[(i + 1) % 50])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(churn, range(64)))
    assert set(tracker.order(models)) == set(models)


def test_the_process_wide_tracker_is_used_by_default(
    client: ChatClient, openai_server: OpenAIServer
) -> None:
    openai_server.set_mode("model-a", "500")
    policy = RetryPolicy(max_attempts_per_model=1, cooldown_s=30)
    try:
        assert run_with_fallback(AB, ask(client), policy=policy).model == "model-b"
        assert default_cooldowns.is_cooling("model-a")
    finally:
        default_cooldowns.clear()


# --- streams ------------------------------------------------------------------------


def open_stream(client: ChatClient):  # noqa: ANN201
    return lambda model: client.stream(model, HELLO)


def test_stream_dropped_before_first_chunk_falls_back(
    client: ChatClient, openai_server: OpenAIServer, policy: RetryPolicy,
    cooldowns: CooldownTracker,
) -> None:
    openai_server.set_mode("model-a", "drop:0")
    with stream_with_fallback(AB, open_stream(client), policy=policy,
                              cooldowns=cooldowns) as stream:
        assert stream.model == "model-b"
        chunks = list(stream)
    assert ChatCompletion.from_chunks(chunks).text == "[model-b] hello world"
    assert openai_server.calls == {"model-a": 2, "model-b": 1}
    assert [type(a.error) for a in stream.attempts] == [
        ProviderConnectionError, ProviderConnectionError, type(None)]


@pytest.mark.parametrize("fault", ["503", "429", "stall:2", "reset"])
def test_stream_failing_before_first_chunk_falls_back(
    client: ChatClient, openai_server: OpenAIServer, policy: RetryPolicy,
    cooldowns: CooldownTracker, fault: str,
) -> None:
    openai_server.set_mode("model-a", fault)
    stream = stream_with_fallback(AB, open_stream(client), policy=policy, cooldowns=cooldowns)
    assert stream.model == "model-b"
    assert "".join(c.text for c in stream) == "[model-b] hello world"


def test_stream_dropped_half_way_raises_with_the_partial_text(
    client: ChatClient, openai_server: OpenAIServer, policy: RetryPolicy,
    cooldowns: CooldownTracker,
) -> None:
    openai_server.set_mode("model-a", "drop:3")
    stream = stream_with_fallback(AB, open_stream(client), policy=policy, cooldowns=cooldowns)
    received: list[ChatChunk] = []
    with pytest.raises(StreamInterruptedError) as caught:
        for chunk in stream:
            received.append(chunk)
    assert caught.value.text == "[model-a] hello "
    assert caught.value.chunks == received
    assert openai_server.calls == {"model-a": 1}  # no retry, no fallback: text was out
    assert cooldowns.is_cooling("model-a")


def test_generic_stream_interruption_is_wrapped(cooldowns: CooldownTracker) -> None:
    class Flaky(Exception):
        pass

    def words(model: str) -> Iterator[str]:
        yield f"{model}: one "
        yield "two "
        raise Flaky("gone")

    stream = stream_with_fallback(["x", "y"], words, lambda e: isinstance(e, Flaky) or None,
                                  cooldowns=cooldowns, text_of=str)
    with pytest.raises(StreamInterruptedError) as caught:
        list(stream)
    assert caught.value.text == "x: one two "
    assert isinstance(caught.value.__cause__, Flaky)
    assert cooldowns.is_cooling("x")


def test_an_empty_stream_is_an_answer(cooldowns: CooldownTracker) -> None:
    stream = stream_with_fallback(["x", "y"], lambda m: iter(()), cooldowns=cooldowns)
    assert stream.model == "x" and list(stream) == []


# --- other callers' exceptions ------------------------------------------------------


def test_a_custom_classifier_drives_generic_calls(cooldowns: CooldownTracker) -> None:
    class Transient(Exception):
        retry_after = 0.0

    class Fatal(Exception):
        pass

    def classify(exc: BaseException) -> bool | None:
        if isinstance(exc, Transient):
            return True
        if isinstance(exc, Fatal):
            return False
        return None

    calls: list[str] = []

    def call(model: str) -> str:
        calls.append(model)
        if model == "x":
            raise Transient()
        return model.upper()

    policy = RetryPolicy(base_delay=0.001)
    result = run_with_fallback(["x", "y"], call, classify, policy=policy, cooldowns=cooldowns)
    assert (result.value, result.model, len(result.attempts)) == ("Y", "y", 3)
    assert calls == ["x", "x", "y"]

    fatal = Fatal("bad request")

    def fail(model: str) -> str:
        raise fatal

    with pytest.raises(Fatal) as caught:
        run_with_fallback(["y", "z"], fail, classify, policy=policy, cooldowns=cooldowns)
    assert caught.value is fatal

    bug = KeyError("a bug in the caller")
    with pytest.raises(KeyError) as unknown:  # None from classify, not ours: surfaces
        run_with_fallback(["y", "z"], lambda m: (_ for _ in ()).throw(bug), classify,
                          policy=policy, cooldowns=cooldowns)
    assert unknown.value is bug


def test_retry_after_is_read_from_an_sdk_style_response(cooldowns: CooldownTracker) -> None:
    class Response:
        headers = {"Retry-After": "0.2"}

    class SdkRateLimit(Exception):
        response = Response()

    attempts: list[float] = []

    def call(model: str) -> str:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise SdkRateLimit()
        return "ok"

    result = run_with_fallback(["x"], call, lambda e: isinstance(e, SdkRateLimit) or None,
                               cooldowns=cooldowns)
    assert result.value == "ok"
    assert attempts[1] - attempts[0] >= 0.2


def test_errors_survive_pickling() -> None:  # e.g. to cross a process pool
    exhausted = FallbackExhaustedError(
        [("a", RateLimitError("a: HTTP 429", model="a", retry_after=2.0)),
         ("b", StreamInterruptedError("b broke", model="b", text="par", chunks=["par"]))],
        "time budget of 1s spent",
    )
    missing = MissingAPIKeyError("MY_KEY")
    for error in (exhausted, missing):
        copy = pickle.loads(pickle.dumps(error))
        assert (type(copy), str(copy)) == (type(error), str(error))
    copy = pickle.loads(pickle.dumps(exhausted))
    assert copy.models == ["a", "b"]
    assert copy.failures[0][1].retry_after == 2.0  # type: ignore[attr-defined]
    assert copy.failures[1][1].text == "par"  # type: ignore[attr-defined]
    assert pickle.loads(pickle.dumps(missing)).env_var == "MY_KEY"


def test_retry_after_header_forms() -> None:
    assert retry_after_from_headers({"Retry-After": "3"}) == 3.0
    assert retry_after_from_headers({"retry-after": "0.5"}) == 0.5
    assert retry_after_from_headers({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < (retry_after_from_headers({"Retry-After": date}) or 0) <= 30
    assert retry_after_from_headers({"Retry-After": "soon"}) is None
    assert retry_after_from_headers({}) is None


def test_policy_backoff_and_validation() -> None:
    policy = RetryPolicy(jitter=False)
    assert [policy.backoff(n) for n in range(1, 7)] == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0]
    jittered = RetryPolicy()
    rng = random.Random(0)
    for n in range(1, 7):
        full = policy.backoff(n)
        assert full / 2 <= jittered.backoff(n, rng) <= full
    assert RetryPolicy() == RetryPolicy(max_attempts_per_model=2, base_delay=0.25, max_delay=4.0,
                                        jitter=True, total_budget_s=120, cooldown_s=30)
    with pytest.raises(ValidationError):
        RetryPolicy(max_attempts_per_model=0)


# --- async --------------------------------------------------------------------------


async def test_async_fallback_and_streams(
    client: ChatClient, openai_server: OpenAIServer, policy: RetryPolicy,
    cooldowns: CooldownTracker, async_pools: None,
) -> None:
    openai_server.set_mode("model-a", "500")
    result = await arun_with_fallback(AB, lambda m: client.acomplete(m, HELLO), policy=policy,
                                      cooldowns=cooldowns)
    assert result.model == "model-b"
    assert openai_server.calls == {"model-a": 2, "model-b": 1}

    openai_server.reset()
    cooldowns.clear()
    openai_server.set_mode("model-a", "drop:0")
    stream = await astream_with_fallback(AB, lambda m: client.astream(m, HELLO), policy=policy,
                                         cooldowns=cooldowns)
    async with stream:
        text = "".join([c.text async for c in stream])
    assert (stream.model, text) == ("model-b", "[model-b] hello world")

    openai_server.reset()
    cooldowns.clear()
    openai_server.set_mode("model-a", "drop:2")
    stream = await astream_with_fallback(AB, lambda m: client.astream(m, HELLO), policy=policy,
                                         cooldowns=cooldowns)
    with pytest.raises(StreamInterruptedError) as caught:
        async for _ in stream:
            pass
    assert caught.value.text == "[model-a] "
    assert openai_server.calls == {"model-a": 1}

    openai_server.reset()
    cooldowns.clear()
    openai_server.set_mode("model-a", "401")
    with pytest.raises(AuthenticationError):
        await arun_with_fallback(AB, lambda m: client.acomplete(m, HELLO), policy=policy,
                                 cooldowns=cooldowns)
    assert openai_server.calls == {"model-a": 1}


async def test_200_concurrent_requests_with_faults(
    openai_server: OpenAIServer, async_pools: None
) -> None:
    client = ChatClient(Endpoint(base_url=openai_server.base_url, api_key_env=None,
                                 timeout=5.0))
    # No cooldown, so every request walks its ranking the same way and counts are exact.
    policy = RetryPolicy(base_delay=0.005, max_delay=0.05, cooldown_s=0)
    cooldowns = CooldownTracker()
    openai_server.set_mode("c-bad", "500")
    openai_server.script("c-flaky", ["503"] * 20 + ["429:0"] * 10 + ["reset"] * 5)
    rankings = ([["c-good"]] * 100 + [["c-bad", "c-spare"]] * 40
                + [["c-flaky", "c-good"]] * 60)
    random.Random(1).shuffle(rankings)

    results = await asyncio.gather(*(
        arun_with_fallback(ranking, lambda m, i=i: client.acomplete(
            m, [{"role": "user", "content": f"request {i}"}]), policy=policy,
            cooldowns=cooldowns)
        for i, ranking in enumerate(rankings)
    ))

    assert len(results) == 200
    for i, result in enumerate(results):  # each got its own answer
        assert result.value.text == f"[{result.model}] request {i}"
    assert openai_server.pending("c-flaky") == 0  # every scripted fault was hit once
    failures: dict[str, int] = {}
    answers: dict[str, int] = {}
    for result in results:
        for attempt in result.attempts:
            bucket = answers if attempt.error is None else failures
            bucket[attempt.model] = bucket.get(attempt.model, 0) + 1
    assert sum(failures.values()) + 200 == openai_server.total_calls
    assert failures.get("c-flaky", 0) == 35
    assert openai_server.calls["c-bad"] == failures["c-bad"] == 80
    assert openai_server.calls["c-spare"] == answers["c-spare"] == 40
    for model in openai_server.calls:  # nothing duplicated: calls = answers + failures
        assert openai_server.calls[model] == answers.get(model, 0) + failures.get(model, 0)


def test_sync_fallback_is_thread_safe(
    openai_server: OpenAIServer, cooldowns: CooldownTracker
) -> None:
    client = ChatClient(Endpoint(base_url=openai_server.base_url, api_key_env=None,
                                 timeout=5.0))
    openai_server.set_mode("model-a", "503")
    policy = RetryPolicy(base_delay=0.001, max_delay=0.01, cooldown_s=0)

    def one(i: int) -> str:
        result = run_with_fallback(AB, lambda m: client.complete(
            m, [{"role": "user", "content": str(i)}]), policy=policy, cooldowns=cooldowns)
        return result.value.text

    with ThreadPoolExecutor(16) as pool:
        texts = list(pool.map(one, range(64)))
    assert texts == [f"[model-b] {i}" for i in range(64)]
    assert openai_server.calls == {"model-a": 128, "model-b": 64}


# --- secrets ------------------------------------------------------------------------


def test_fallback_logs_and_errors_never_show_the_key(
    client: ChatClient, openai_server: OpenAIServer, policy: RetryPolicy,
    cooldowns: CooldownTracker, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    openai_server.set_mode("model-a", "429:0")
    openai_server.set_mode("model-b", "reset")
    with pytest.raises(FallbackExhaustedError) as exhausted:
        run_with_fallback(AB, ask(client), policy=policy, cooldowns=cooldowns)
    openai_server.require_api_key = "sk-another"
    openai_server.set_mode("model-a", "ok")
    cooldowns.clear()
    with pytest.raises(AuthenticationError) as auth:
        run_with_fallback(AB, ask(client), policy=policy, cooldowns=cooldowns)

    assert any("giving up" in r.getMessage() for r in caplog.records)
    texts = [caplog.text]
    for error in (exhausted.value, auth.value):
        texts += [str(error), repr(error), "".join(traceback.format_exception(error))]
    assert [t for t in texts if SECRET in t] == []


# --- attempt and stall limits: a hanging model is left in time for the next ---------------


@pytest.fixture
def patient_client(openai_server: OpenAIServer) -> ChatClient:
    """A client whose own socket timeout (60 s) is far longer than any test: only the
    fallback run's limits can cut a wait short."""
    return ChatClient(Endpoint(base_url=openai_server.base_url, api_key=SecretStr(SECRET)))


HANG = "stall:30"


def test_a_hanging_model_is_left_in_time_for_the_next(
    patient_client: ChatClient, openai_server: OpenAIServer, cooldowns: CooldownTracker
) -> None:
    openai_server.script("model-a", [HANG])
    policy = RetryPolicy(base_delay=0.01, total_budget_s=2)  # attempt limit: 1 s
    start = time.monotonic()
    result = run_with_fallback(AB, ask(patient_client), policy=policy, cooldowns=cooldowns)
    assert result.model == "model-b"
    assert 0.9 < time.monotonic() - start < 5
    assert openai_server.calls["model-a"] == 1  # not retried: it would likely hang again
    assert isinstance(result.attempts[0].error, ProviderTimeoutError)
    assert "attempt limit of 1s" in str(result.attempts[0].error)
    assert cooldowns.is_cooling("model-a")


async def test_a_hanging_model_is_left_in_time_async(
    patient_client: ChatClient, openai_server: OpenAIServer, cooldowns: CooldownTracker,
    async_pools: None,
) -> None:
    openai_server.script("model-a", [HANG])
    policy = RetryPolicy(base_delay=0.01, attempt_timeout_s=0.5, total_budget_s=30)
    start = time.monotonic()
    result = await arun_with_fallback(
        AB, lambda m: patient_client.acomplete(m, HELLO), policy=policy, cooldowns=cooldowns
    )
    assert result.model == "model-b"
    assert time.monotonic() - start < 5
    assert openai_server.calls["model-a"] == 1


async def test_the_attempt_limit_holds_for_any_coroutine(cooldowns: CooldownTracker) -> None:
    """Adapters pass their framework's calls: the limit does not rely on our client."""

    async def call(model: str) -> str:
        if model == "model-a":
            await asyncio.sleep(30)
        return model

    policy = RetryPolicy(base_delay=0.01, attempt_timeout_s=0.2)
    start = time.monotonic()
    result = await arun_with_fallback(AB, call, policy=policy, cooldowns=cooldowns)
    assert result.value == "model-b"
    assert time.monotonic() - start < 2


def test_a_stream_that_never_starts_falls_back(
    patient_client: ChatClient, openai_server: OpenAIServer, cooldowns: CooldownTracker
) -> None:
    openai_server.script("model-a", [HANG])
    policy = RetryPolicy(base_delay=0.01, attempt_timeout_s=0.5)
    start = time.monotonic()
    stream = stream_with_fallback(
        AB, lambda m: patient_client.stream(m, HELLO), policy=policy, cooldowns=cooldowns
    )
    text = "".join(c.text for c in stream)
    assert stream.model == "model-b" and text == "[model-b] hello world"
    assert time.monotonic() - start < 5


async def test_a_stream_that_never_starts_falls_back_async(
    patient_client: ChatClient, openai_server: OpenAIServer, cooldowns: CooldownTracker,
    async_pools: None,
) -> None:
    openai_server.script("model-a", [HANG])
    policy = RetryPolicy(base_delay=0.01, attempt_timeout_s=0.5)
    start = time.monotonic()
    stream = await astream_with_fallback(
        AB, lambda m: patient_client.astream(m, HELLO), policy=policy, cooldowns=cooldowns
    )
    text = "".join([c.text async for c in stream])
    assert stream.model == "model-b" and text == "[model-b] hello world"
    assert time.monotonic() - start < 5


def test_a_stream_gone_silent_is_broken_off_at_the_stall_limit(
    patient_client: ChatClient, openai_server: OpenAIServer, cooldowns: CooldownTracker
) -> None:
    openai_server.script("model-a", ["pause:2:30"])
    policy = RetryPolicy(base_delay=0.01, stall_timeout_s=0.5)
    stream = stream_with_fallback(
        AB, lambda m: patient_client.stream(m, HELLO), policy=policy, cooldowns=cooldowns
    )
    start = time.monotonic()
    with pytest.raises(StreamInterruptedError) as caught:
        for _ in stream:
            pass
    assert time.monotonic() - start < 5
    assert caught.value.model == "model-a" and caught.value.chunks


async def test_a_stream_gone_silent_is_broken_off_async(
    patient_client: ChatClient, openai_server: OpenAIServer, cooldowns: CooldownTracker,
    async_pools: None,
) -> None:
    openai_server.script("model-a", ["pause:2:30"])
    policy = RetryPolicy(base_delay=0.01, stall_timeout_s=0.5)
    stream = await astream_with_fallback(
        AB, lambda m: patient_client.astream(m, HELLO), policy=policy, cooldowns=cooldowns
    )
    start = time.monotonic()
    with pytest.raises(StreamInterruptedError):
        async for _ in stream:
            pass
    assert time.monotonic() - start < 5


def test_a_slow_but_live_stream_is_not_broken_off(
    patient_client: ChatClient, openai_server: OpenAIServer, cooldowns: CooldownTracker
) -> None:
    openai_server.script("model-a", ["pause:2:0.3"])
    policy = RetryPolicy(base_delay=0.01, stall_timeout_s=2)
    stream = stream_with_fallback(
        AB, lambda m: patient_client.stream(m, HELLO), policy=policy, cooldowns=cooldowns
    )
    assert "".join(c.text for c in stream) == "[model-a] hello world"


def test_attempt_limit_defaults_to_half_the_budget() -> None:
    assert RetryPolicy(total_budget_s=40).attempt_limit_s == 20
    assert RetryPolicy(total_budget_s=40, attempt_timeout_s=5).attempt_limit_s == 5
    with pytest.raises(ValidationError):
        RetryPolicy(attempt_timeout_s=0)


# --- the one flow under both drivers ------------------------------------------------


class _Opened:
    """A stream that fails on its first item and records whether it was closed."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.closed = False

    def __iter__(self) -> _Opened:
        return self

    def __next__(self) -> str:
        raise self.error

    def __aiter__(self) -> _Opened:
        return self

    async def __anext__(self) -> str:
        raise self.error

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


def test_a_call_raising_stop_iteration_surfaces_it_unchanged(cooldowns: CooldownTracker) -> None:
    stop = StopIteration("not a provider error")
    tried: list[str] = []

    def call(model: str) -> str:
        tried.append(model)
        raise stop

    with pytest.raises(StopIteration) as caught:
        run_with_fallback(AB, call, cooldowns=cooldowns)
    assert caught.value is stop and tried == ["model-a"]


def test_each_attempt_runs_under_its_own_limits(cooldowns: CooldownTracker, policy: RetryPolicy) -> None:
    seen: list[AttemptLimits | None] = []

    def call(model: str) -> str:
        seen.append(current_attempt_limits())
        if model == "model-a":
            raise ProviderServerError("model-a: HTTP 500", model=model, status_code=500)
        return model

    result = run_with_fallback(AB, call, policy=policy, cooldowns=cooldowns)
    assert result.model == "model-b" and len(seen) == policy.max_attempts_per_model + 1
    assert all(limits is not None for limits in seen)
    deadlines = [limits.deadline for limits in seen if limits is not None]
    assert deadlines == sorted(deadlines) and len(set(deadlines)) == len(deadlines)
    assert current_attempt_limits() is None  # set only while an attempt runs
    assert [a.model for a in result.attempts] == ["model-a", "model-a", "model-b"]


async def test_each_async_attempt_runs_under_its_own_limits(
    cooldowns: CooldownTracker, policy: RetryPolicy
) -> None:
    seen: list[AttemptLimits | None] = []

    async def call(model: str) -> str:
        seen.append(current_attempt_limits())
        if model == "model-a":
            raise ProviderServerError("model-a: HTTP 500", model=model, status_code=500)
        return model

    result = await arun_with_fallback(AB, call, policy=policy, cooldowns=cooldowns)
    assert result.model == "model-b" and all(limits is not None for limits in seen)
    assert current_attempt_limits() is None
    assert [a.error is None for a in result.attempts] == [False, False, True]


def test_a_stream_that_fails_to_start_is_closed_and_the_next_tried(cooldowns: CooldownTracker) -> None:
    opened: dict[str, _Opened] = {}

    def open_stream(model: str) -> Iterator[str]:
        if model == "model-a":
            opened[model] = _Opened(ProviderConnectionError("model-a: dropped", model=model))
            return opened[model]
        return iter(["b1", "b2"])

    policy = RetryPolicy(max_attempts_per_model=1)
    stream = stream_with_fallback(AB, open_stream, policy=policy, cooldowns=cooldowns)
    assert stream.model == "model-b" and list(stream) == ["b1", "b2"]
    assert opened["model-a"].closed
    assert [a.model for a in stream.attempts] == AB


def test_a_stream_whose_start_must_surface_is_closed_and_raised_unchanged(
    cooldowns: CooldownTracker,
) -> None:
    refused = AuthenticationError("model-a: HTTP 401", model="model-a", status_code=401)
    opened = _Opened(refused)
    with pytest.raises(AuthenticationError) as caught:
        stream_with_fallback(AB, lambda m: opened, cooldowns=cooldowns)
    assert caught.value is refused and opened.closed


async def test_an_async_stream_that_fails_to_start_is_closed_and_the_next_tried(
    cooldowns: CooldownTracker,
) -> None:
    opened: dict[str, _Opened] = {}

    async def rest() -> AsyncIterator[str]:
        yield "b1"

    def open_stream(model: str) -> AsyncIterator[str]:
        if model == "model-a":
            opened[model] = _Opened(ProviderConnectionError("model-a: dropped", model=model))
            return opened[model]
        return rest()

    policy = RetryPolicy(max_attempts_per_model=1)
    stream = await astream_with_fallback(AB, open_stream, policy=policy, cooldowns=cooldowns)
    assert stream.model == "model-b" and [x async for x in stream] == ["b1"]
    assert opened["model-a"].closed


async def test_a_break_after_the_first_item_is_raised_the_same_sync_and_async(
    cooldowns: CooldownTracker,
) -> None:
    class Flaky(Exception):
        pass

    def words(model: str) -> Iterator[str]:
        yield "one "
        raise Flaky("gone")

    async def awords(model: str) -> AsyncIterator[str]:
        yield "one "
        raise Flaky("gone")

    def classify(exc: BaseException) -> bool | None:
        return isinstance(exc, Flaky) or None

    sync = stream_with_fallback(AB, words, classify, cooldowns=cooldowns, text_of=str)
    with pytest.raises(StreamInterruptedError) as caught:
        list(sync)
    stream = await astream_with_fallback(AB, awords, classify, cooldowns=cooldowns, text_of=str)
    with pytest.raises(StreamInterruptedError) as acaught:
        [x async for x in stream]
    for error in (caught.value, acaught.value):
        assert error.text == "one " and error.chunks == ["one "] and isinstance(error.__cause__, Flaky)
    # What the classifier does not call transient passes unchanged, on either side.
    sync = stream_with_fallback(AB, words, lambda e: False, cooldowns=cooldowns)
    with pytest.raises(Flaky):
        list(sync)
    stream = await astream_with_fallback(AB, awords, lambda e: False, cooldowns=cooldowns)
    with pytest.raises(Flaky):
        [x async for x in stream]


def test_every_name_of_the_policy_is_importable_from_the_package() -> None:
    parts = (reliability.retry, reliability.flow, reliability.streams)
    assert sorted(reliability.__all__) == sorted(name for part in parts for name in part.__all__)
    for part in parts:
        for name in part.__all__:
            assert getattr(reliability, name) is getattr(part, name)
