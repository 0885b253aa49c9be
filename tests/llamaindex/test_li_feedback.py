"""Feedback on `AutoRouterLLM`'s answers: every response has an id
(`additional_kwargs["response_id"]`, the same on every item of a stream),
`feedback(response or id, score)` records it (in a `FeedbackLog` when one is set) and teaches
the adapter's own router, and bad feedback changes nothing.

Each test fits a router of its own (learning changes it) on the synthetic data
(tests/core/synthetic.py: `big` right on everything, `coder` on code, `tiny` on chit-chat),
over real `OpenAILike` clients talking to the loopback test server (tests/openai_server.py).
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import autorouter

pytest.importorskip("llama_index.core", reason="needs the llamaindex extra")
pytest.importorskip("llama_index.llms.openai_like", reason="needs the llamaindex extra")
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.llms.custom import CustomLLM

from autorouter.errors import InvalidRequestError, UnknownModelError, UnknownResponseError
from li_support import CHAT_PROMPT, CODE_PROMPT, FAST_POLICY, MODELS, fit_router, openai_like
from llamaindex_autorouter import AutoRouterLLM
from openai_server import OpenAIServer
from synthetic import make_rows

MATH = "prove that 12 plus 7 is an integer"
MATH_LIKE = "prove that 981 plus 33 is an integer"  # a similar prompt, never answered
MATH_PROMPTS = [
    "prove that {n} plus 7 is an integer",
    "solve the integral of x^{n} dx from 0 to 5",
    "compute the derivative of sin({n}x) times 2",
    "find all primes below {n}",
]


def user(text: str, system: str | None = None) -> list[ChatMessage]:
    head = [ChatMessage(role="system", content=system)] if system else []
    return [*head, ChatMessage(role="user", content=text)]


@pytest.fixture
def own_router() -> autorouter.Router:
    """A router of this test's own: feedback changes it."""
    return fit_router(make_rows(150))


@pytest.fixture
def llm(openai_server: OpenAIServer, own_router: autorouter.Router, tmp_path: Path) -> AutoRouterLLM:
    return AutoRouterLLM(
        router=own_router, candidates={n: openai_like(openai_server, n) for n in MODELS},
        retry_policy=FAST_POLICY, feedback_log=str(tmp_path / "feedback.jsonl"),
    )


def quality(router: autorouter.Router, prompt: str, model: str) -> float:
    predicted, _ = router.predict([prompt])
    return float(predicted[0, router.models_.index(model)])


def logged(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def answer_id(response: Any) -> str:
    value = response.additional_kwargs["response_id"]
    assert isinstance(value, str) and value
    return value


# --- answers and their ids ---------------------------------------------------------------------


def test_chat_feedback_is_logged_and_learned(
    llm: AutoRouterLLM, own_router: autorouter.Router, tmp_path: Path
) -> None:
    response = llm.chat(user(MATH, system="answer briefly"), tradeoff=0.0)
    model = response.additional_kwargs["router_candidate"]
    assert model == "big"
    assert answer_id(response) == response.raw.id  # the candidate's own completion id
    before = quality(own_router, MATH_LIKE, model)

    record = llm.feedback(response, 0.0)

    assert isinstance(record, autorouter.Feedback)
    # the prompt is the text the router routed on: the last user message
    assert (record.prompt, record.model, record.score) == (MATH, "big", 0.0)
    assert record.response_id == answer_id(response)
    after = quality(own_router, MATH_LIKE, model)
    assert after < before - 0.05  # a bad answer lowers the prediction on similar prompts
    rows = logged(tmp_path / "feedback.jsonl")
    assert len(rows) == 1
    assert {k: rows[0][k] for k in ("prompt", "model", "score", "response_id")} == {
        "prompt": MATH, "model": "big", "score": 0.0, "response_id": answer_id(response),
    }
    assert autorouter.FeedbackLog(tmp_path / "feedback.jsonl").read() == [record]

    # by id, a good score on a completion: the prediction goes back up
    again = llm.complete(MATH, tradeoff=0.0)
    assert isinstance(again, CompletionResponse) and answer_id(again) != answer_id(response)
    llm.feedback(answer_id(again), 1.0)
    assert quality(own_router, MATH_LIKE, model) > after
    assert [r["score"] for r in logged(tmp_path / "feedback.jsonl")] == [0.0, 1.0]


def test_streamed_answers_have_one_id_and_take_feedback(
    llm: AutoRouterLLM, own_router: autorouter.Router, tmp_path: Path
) -> None:
    items = list(llm.stream_chat(user(MATH), tradeoff=0.0))
    ids = {answer_id(i) for i in items}
    assert len(ids) == 1
    last = items[-1]
    assert last.additional_kwargs["router_candidate"] == "big"
    before = quality(own_router, MATH_LIKE, "big")

    record = llm.feedback(last, 0.0)

    assert (record.prompt, record.model, record.response_id) == (MATH, "big", answer_id(last))
    assert quality(own_router, MATH_LIKE, "big") < before
    assert llm.feedback(items[0], 0.0).response_id == answer_id(last)  # any item names the answer
    assert [r["response_id"] for r in logged(tmp_path / "feedback.jsonl")] == [answer_id(last)] * 2


def test_every_call_form_records_its_answer(llm: AutoRouterLLM) -> None:
    async def async_forms() -> list[Any]:
        chat = await llm.achat(user(CHAT_PROMPT))
        completion = await llm.acomplete(CHAT_PROMPT)
        chat_items = [i async for i in await llm.astream_chat(user(CHAT_PROMPT))]
        completion_items = [i async for i in await llm.astream_complete(CHAT_PROMPT)]
        for items in (chat_items, completion_items):
            assert len({answer_id(i) for i in items}) == 1
        return [chat, completion, chat_items[-1], completion_items[-1]]

    streamed_chat = list(llm.stream_chat(user(CHAT_PROMPT)))
    streamed_completion = list(llm.stream_complete(CHAT_PROMPT))
    for items in (streamed_chat, streamed_completion):
        assert len({answer_id(i) for i in items}) == 1
    responses = [
        llm.chat(user(CHAT_PROMPT)),
        llm.complete(CHAT_PROMPT),
        streamed_chat[-1],
        streamed_completion[-1],
        *asyncio.run(async_forms()),
    ]
    ids = [answer_id(r) for r in responses]
    assert len(set(ids)) == len(ids)
    for response in responses:
        assert isinstance(response, ChatResponse | CompletionResponse)
        record = llm.feedback(response, 1.0)
        assert record.prompt == CHAT_PROMPT
        assert record.model == response.additional_kwargs["router_candidate"]
        assert record.response_id == answer_id(response)
    assert asyncio.run(llm.afeedback(responses[0], 0.5)).response_id == ids[0]
    # the id is on the response, not on its message (which goes back to providers in later turns)
    assert "response_id" not in responses[0].message.additional_kwargs


def test_forced_and_fallback_answers_name_the_candidate_that_answered(
    llm: AutoRouterLLM, openai_server: OpenAIServer
) -> None:
    assert llm.feedback(llm.complete(MATH, model="tiny"), 0.0).model == "tiny"
    openai_server.set_mode("big", "503")  # big fails; the next in the ranking answers
    response = llm.chat(user(MATH), tradeoff=0.0)
    info = response.additional_kwargs["autorouter"]
    assert info["fallback_from"] == ["big"] and info["model"] != "big"
    assert llm.feedback(response, 1.0).model == info["model"]


class FixedIdLLM(CustomLLM):
    """A LlamaIndex LLM whose answers all carry the same id, as some servers send."""

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="tiny")

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=f"ok: {prompt}", raw={"id": "chatcmpl-same"})

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        yield CompletionResponse(text="ok", delta="ok", raw={"id": "chatcmpl-same"})


def test_a_repeated_upstream_id_gets_a_new_one(own_router: autorouter.Router) -> None:
    llm = AutoRouterLLM(router=own_router, candidates={"tiny": FixedIdLLM()}, retry_policy=FAST_POLICY)
    first, second = llm.complete(MATH), llm.complete(CODE_PROMPT)
    assert answer_id(first) == "chatcmpl-same"
    assert answer_id(second) != "chatcmpl-same" and answer_id(second).startswith("run-")
    assert llm.feedback(first, 1.0).prompt == MATH  # each still names its own prompt
    assert llm.feedback(second, 1.0).prompt == CODE_PROMPT


def test_learn_from_feedback_false_only_logs(
    openai_server: OpenAIServer, own_router: autorouter.Router, tmp_path: Path
) -> None:
    log = autorouter.FeedbackLog(tmp_path / "only-logged.jsonl")
    llm = AutoRouterLLM(
        router=own_router, candidates={n: openai_like(openai_server, n) for n in MODELS},
        retry_policy=FAST_POLICY, feedback_log=log, learn_from_feedback=False,
    )
    assert llm.feedback_log is log
    before, _ = own_router.predict([MATH_LIKE, CHAT_PROMPT])
    response = llm.chat(user(MATH), tradeoff=0.0)
    llm.feedback(response, 0.0)
    after, _ = own_router.predict([MATH_LIKE, CHAT_PROMPT])
    assert np.array_equal(before, after)
    assert [r.response_id for r in log.read()] == [answer_id(response)]


# --- bad feedback changes nothing ----------------------------------------------------------------


def test_unknown_ids_and_bad_scores_raise_and_change_nothing(
    llm: AutoRouterLLM, own_router: autorouter.Router, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    response = llm.chat(user(MATH), tradeoff=0.0)
    other = AutoRouterLLM(
        router=fit_router(make_rows(150)), candidates={n: openai_like(openai_server, n) for n in MODELS},
        retry_policy=FAST_POLICY,
    ).chat(user(MATH))
    before, _ = own_router.predict([MATH_LIKE, CHAT_PROMPT, CODE_PROMPT])

    untagged = ChatResponse(message=ChatMessage(role="assistant", content="not ours"))
    for unknown in ("chatcmpl-nope", "", other, untagged, CompletionResponse(text="not ours")):
        with pytest.raises(UnknownResponseError):
            llm.feedback(unknown, 0.0)
    for score in (1.5, -0.1, math.nan, math.inf, "0.5", True, None):
        with pytest.raises(InvalidRequestError):
            llm.feedback(response, score)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError):
        llm.feedback(42, 0.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError):
        asyncio.run(llm.afeedback(response, 2.0))

    after, _ = own_router.predict([MATH_LIKE, CHAT_PROMPT, CODE_PROMPT])
    assert np.array_equal(before, after)
    assert not (tmp_path / "feedback.jsonl").exists()  # nothing logged either
    llm.feedback(response, 1.0)  # the answer itself is still there to judge
    assert len(logged(tmp_path / "feedback.jsonl")) == 1


def test_a_candidate_the_router_no_longer_has_is_a_typed_error(
    openai_server: OpenAIServer, own_router: autorouter.Router, tmp_path: Path
) -> None:
    own_router.add_model("extra", task_scores={"math": 0.5, "code": 0.5, "chat": 0.5}, price=(1.0, 2.0))
    llm = AutoRouterLLM(
        router=own_router, candidates={n: openai_like(openai_server, n) for n in ("big", "extra")},
        retry_policy=FAST_POLICY, feedback_log=tmp_path / "feedback.jsonl",
    )
    response = llm.chat(user(CHAT_PROMPT), model="extra")
    own_router.remove_model("extra")
    with pytest.raises(UnknownModelError):
        llm.feedback(response, 1.0)
    assert not (tmp_path / "feedback.jsonl").exists()


def test_feedback_log_setting_is_checked(own_router: autorouter.Router, openai_server: OpenAIServer) -> None:
    with pytest.raises(Exception, match="feedback_log"):
        AutoRouterLLM(router=own_router, candidates={"big": openai_like(openai_server, "big")}, feedback_log=42)


# --- many outcomes move routing --------------------------------------------------------------------


def test_many_zero_scores_move_math_routing_away_from_a_model(
    llm: AutoRouterLLM, own_router: autorouter.Router
) -> None:
    assert llm.complete(MATH_LIKE, tradeoff=0.0).additional_kwargs["router_candidate"] == "big"
    chat_before = quality(own_router, CHAT_PROMPT, "big")
    math_before = quality(own_router, MATH_LIKE, "big")
    zeros = 0
    for n in range(60):
        response = llm.chat(user(MATH_PROMPTS[n % 4].format(n=100 + n)), tradeoff=0.0)
        if response.additional_kwargs["router_candidate"] != "big":
            break  # the router moved away from big, by itself, mid-way
        llm.feedback(response, 0.0)
        zeros += 1
    assert 5 < zeros < 60
    moved = llm.chat(user(MATH_LIKE), tradeoff=0.0)
    assert moved.additional_kwargs["router_candidate"] != "big"
    assert moved.additional_kwargs["router_candidate"] == own_router.route(MATH_LIKE, tradeoff=0.0).model
    # what big is predicted to do on chit-chat moved far less than on maths
    math_drop = math_before - quality(own_router, MATH_LIKE, "big")
    assert math_drop > 3 * abs(chat_before - quality(own_router, CHAT_PROMPT, "big"))
