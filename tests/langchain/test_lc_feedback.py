"""Feedback on `ChatAutoRouter`'s answers: every answer has an id (`AIMessage.id`, the same on
every chunk of a stream), `feedback(answer or id, score)` records it (in a `FeedbackLog` when
one is set) and teaches the adapter's own router, and bad feedback changes nothing.

Each test fits a router of its own (learning changes it) on the synthetic data
(tests/core/synthetic.py: `big` right on everything, `coder` on code, `tiny` on chit-chat),
over real `ChatOpenAI` clients talking to the loopback test server (tests/openai_server.py).
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration

import autorouter
from autorouter.errors import InvalidRequestError, UnknownModelError, UnknownResponseError
from langchain_autorouter import ChatAutoRouter
from lc_support import FAST_POLICY, fit_router, openai_candidates
from openai_server import OpenAIServer

MATH = "prove that 12 plus 7 is an integer"
MATH_LIKE = "prove that 981 plus 33 is an integer"  # a similar prompt, never answered
MATH_PROMPTS = [
    "prove that {n} plus 7 is an integer",
    "solve the integral of x^{n} dx from 0 to 5",
    "compute the derivative of sin({n}x) times 2",
    "find all primes below {n}",
]
CHAT = "hello there friend number 7"
CODE = "write a python function to sort 12 lists"


@pytest.fixture
def own_router() -> autorouter.Router:
    """A router of this test's own: feedback changes it."""
    return fit_router()


@pytest.fixture
def llm(openai_server: OpenAIServer, own_router: autorouter.Router, tmp_path: Path) -> ChatAutoRouter:
    return ChatAutoRouter(
        router=own_router, candidates=openai_candidates(openai_server), retry_policy=FAST_POLICY,
        feedback_log=tmp_path / "feedback.jsonl",
    )


def quality(router: autorouter.Router, prompt: str, model: str) -> float:
    predicted, _ = router.predict([prompt])
    return float(predicted[0, router.models_.index(model)])


def logged(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def merged(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    full = chunks[0]
    for c in chunks[1:]:
        full = full + c
    return full


# --- answers and their ids ---------------------------------------------------------------------


def test_invoke_feedback_is_logged_and_learned(
    llm: ChatAutoRouter, own_router: autorouter.Router, tmp_path: Path
) -> None:
    message = llm.invoke([SystemMessage("answer briefly"), HumanMessage(MATH)], tradeoff=0.0)
    model = message.response_metadata["model_name"]
    assert model == message.response_metadata["autorouter"]["model"] == "big"
    assert isinstance(message.id, str) and message.id.startswith("lc_run--")  # the router's run
    before = quality(own_router, MATH_LIKE, model)

    record = llm.feedback(message, 0.0)

    assert isinstance(record, autorouter.Feedback)
    # the prompt is the text the router routed on: the last user message
    assert (record.prompt, record.model, record.score, record.response_id) == (MATH, "big", 0.0, message.id)
    after = quality(own_router, MATH_LIKE, model)
    assert after < before - 0.05  # a bad answer lowers the prediction on similar prompts
    rows = logged(tmp_path / "feedback.jsonl")
    assert len(rows) == 1
    assert {k: rows[0][k] for k in ("prompt", "model", "score", "response_id")} == {
        "prompt": MATH, "model": "big", "score": 0.0, "response_id": message.id,
    }
    assert autorouter.FeedbackLog(tmp_path / "feedback.jsonl").read() == [record]

    # by id, a good score: the prediction goes back up
    again = llm.invoke(MATH, tradeoff=0.0)
    assert again.id != message.id
    llm.feedback(again.id, 1.0)
    assert quality(own_router, MATH_LIKE, model) > after
    assert [r["score"] for r in logged(tmp_path / "feedback.jsonl")] == [0.0, 1.0]


def test_streamed_answers_have_one_id_and_take_feedback(
    llm: ChatAutoRouter, own_router: autorouter.Router, tmp_path: Path
) -> None:
    chunks = list(llm.stream(MATH, tradeoff=0.0))
    ids = {c.id for c in chunks}
    assert len(ids) == 1 and None not in ids
    full = merged(chunks)
    assert full.id == chunks[0].id and full.response_metadata["model_name"] == "big"
    before = quality(own_router, MATH_LIKE, "big")

    record = llm.feedback(full, 0.0)  # the merged message, or any of its chunks

    assert (record.prompt, record.model, record.response_id) == (MATH, "big", full.id)
    assert quality(own_router, MATH_LIKE, "big") < before
    assert llm.feedback(chunks[-1], 0.0).response_id == full.id
    assert [r["response_id"] for r in logged(tmp_path / "feedback.jsonl")] == [full.id, full.id]


def test_every_call_form_records_its_answer(llm: ChatAutoRouter) -> None:
    async def async_forms() -> list[AIMessage]:
        answer = await llm.ainvoke(CHAT)
        streamed = merged([c async for c in llm.astream(CHAT)])
        return [answer, streamed]

    streaming = llm.model_copy(update={"streaming": True})  # invoke streams from the candidate
    v3 = llm.stream_events(CHAT, version="v3")  # LangChain's v2 streaming: the run's id
    for _ in v3:
        pass
    answers: list[Any] = [
        llm.invoke(CHAT),
        merged(list(llm.stream(CHAT))),
        streaming.invoke(CHAT),
        v3.output_message,
        llm.batch([CHAT])[0],
        *asyncio.run(async_forms()),
    ]
    ids = [a.id for a in answers]
    assert all(isinstance(i, str) and i for i in ids) and len(set(ids)) == len(ids)
    for answer in answers:
        record = llm.feedback(answer, 1.0)
        assert record.prompt == CHAT and record.model == answer.response_metadata["autorouter"]["model"]
        assert record.response_id == answer.id
    # a ChatGeneration (from generate) works too, and so does afeedback
    generation = llm.generate([[HumanMessage(CHAT)]]).generations[0][0]
    assert isinstance(generation, ChatGeneration)
    assert llm.feedback(generation, 0.5).response_id == generation.message.id
    assert asyncio.run(llm.afeedback(answers[0], 0.5)).response_id == answers[0].id


def test_forced_and_fallback_answers_name_the_candidate_that_answered(
    llm: ChatAutoRouter, openai_server: OpenAIServer
) -> None:
    forced = llm.invoke(MATH, model="tiny")
    assert llm.feedback(forced, 0.0).model == "tiny"
    openai_server.set_mode("big", "503")  # big fails; the next in the ranking answers
    answer = llm.invoke(MATH, tradeoff=0.0)
    info = answer.response_metadata["autorouter"]
    assert info["fallback_from"] == ["big"] and info["model"] != "big"
    assert llm.feedback(answer, 1.0).model == info["model"]


def test_learn_from_feedback_false_only_logs(
    openai_server: OpenAIServer, own_router: autorouter.Router, tmp_path: Path
) -> None:
    log = autorouter.FeedbackLog(tmp_path / "only-logged.jsonl")
    llm = ChatAutoRouter(
        router=own_router, candidates=openai_candidates(openai_server), retry_policy=FAST_POLICY,
        feedback_log=log, learn_from_feedback=False,
    )
    assert llm.feedback_log is log
    before, _ = own_router.predict([MATH_LIKE, CHAT])
    answer = llm.invoke(MATH, tradeoff=0.0)
    llm.feedback(answer, 0.0)
    after, _ = own_router.predict([MATH_LIKE, CHAT])
    assert np.array_equal(before, after)
    assert [r.response_id for r in log.read()] == [answer.id]


# --- bad feedback changes nothing ----------------------------------------------------------------


def test_unknown_ids_and_bad_scores_raise_and_change_nothing(
    llm: ChatAutoRouter, own_router: autorouter.Router, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    answer = llm.invoke(MATH, tradeoff=0.0)
    other = ChatAutoRouter(router=fit_router(), candidates=openai_candidates(openai_server),
                           retry_policy=FAST_POLICY).invoke(MATH)
    before, _ = own_router.predict([MATH_LIKE, CHAT, CODE])

    for unknown in ("chatcmpl-nope", "", other, other.id, AIMessage("no id here")):
        with pytest.raises(UnknownResponseError):
            llm.feedback(unknown, 0.0)
    for score in (1.5, -0.1, math.nan, math.inf, "0.5", True, None):
        with pytest.raises(InvalidRequestError):
            llm.feedback(answer, score)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError):
        llm.feedback(42, 0.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError):
        asyncio.run(llm.afeedback(answer, 2.0))

    after, _ = own_router.predict([MATH_LIKE, CHAT, CODE])
    assert np.array_equal(before, after)
    assert not (tmp_path / "feedback.jsonl").exists()  # nothing logged either
    llm.feedback(answer, 1.0)  # the answer itself is still there to judge
    assert len(logged(tmp_path / "feedback.jsonl")) == 1


def test_a_candidate_the_router_no_longer_has_is_a_typed_error(
    openai_server: OpenAIServer, own_router: autorouter.Router, tmp_path: Path
) -> None:
    own_router.add_model("extra", task_scores={"math": 0.5, "code": 0.5, "chat": 0.5}, price=(1.0, 2.0))
    llm = ChatAutoRouter(
        router=own_router, candidates=openai_candidates(openai_server, ["big", "extra"]),
        retry_policy=FAST_POLICY, feedback_log=tmp_path / "feedback.jsonl",
    )
    answer = llm.invoke(CHAT, model="extra")
    own_router.remove_model("extra")
    with pytest.raises(UnknownModelError):
        llm.feedback(answer, 1.0)
    assert not (tmp_path / "feedback.jsonl").exists()


def test_feedback_log_setting_is_checked(own_router: autorouter.Router, openai_server: OpenAIServer) -> None:
    with pytest.raises(Exception, match="feedback_log"):
        ChatAutoRouter(router=own_router, candidates=openai_candidates(openai_server), feedback_log=42)


# --- many outcomes move routing --------------------------------------------------------------------


def test_many_zero_scores_move_math_routing_away_from_a_model(
    llm: ChatAutoRouter, own_router: autorouter.Router
) -> None:
    assert llm.invoke(MATH_LIKE, tradeoff=0.0).response_metadata["model_name"] == "big"
    chat_before = quality(own_router, CHAT, "big")
    math_before = quality(own_router, MATH_LIKE, "big")
    zeros = 0
    for n in range(60):
        answer = llm.invoke(MATH_PROMPTS[n % 4].format(n=100 + n), tradeoff=0.0)
        if answer.response_metadata["model_name"] != "big":
            break  # the router moved away from big, by itself, mid-way
        llm.feedback(answer, 0.0)
        zeros += 1
    assert 5 < zeros < 60
    moved = llm.invoke(MATH_LIKE, tradeoff=0.0)
    assert moved.response_metadata["model_name"] != "big"
    assert moved.response_metadata["autorouter"]["model"] == own_router.route(MATH_LIKE, tradeoff=0.0).model
    # what big is predicted to do on chit-chat moved far less than on maths
    assert math_before - quality(own_router, MATH_LIKE, "big") > 3 * abs(chat_before - quality(own_router, CHAT, "big"))
