"""`POST /v1/feedback`: feedback on a gateway answer by its id is recorded durably and moves
routing; bad feedback gets an OpenAI-style error and changes nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from pydantic import SecretStr

import autorouter
from autorouter import FeedbackLog
from autorouter.client import Endpoint
from autorouter.reliability import RetryPolicy
from autorouter.server import create_app
from gateway_server import BackgroundServer
from synthetic import make_rows, write_jsonl

KEY = "sk-upstream-secret-key-0123456789"
SERVER_KEY = "gw-server-key-abcdef-0123456789-xyz"
MATH = [f"prove that {a} plus {a + 7} is an integer" for a in range(30)]


@pytest.fixture(scope="module")
def base_router(tmp_path_factory) -> autorouter.Router:
    path = write_jsonl(make_rows(), tmp_path_factory.mktemp("fb") / "train.jsonl.gz")
    return autorouter.Router(embedder="static").fit(autorouter.load_dataset(path))  # saveable


@pytest.fixture
def router(base_router, openai_server) -> autorouter.Router:
    r = copy.deepcopy(base_router)
    r.set_endpoints(default=Endpoint(base_url=openai_server.base_url, api_key=SecretStr(KEY)))
    r.retry_policy = RetryPolicy(base_delay=0.001, cooldown_s=0)
    return r


@pytest.fixture
def served(router, tmp_path) -> Iterator[tuple[BackgroundServer, Path]]:
    log = tmp_path / "feedback.jsonl"
    with BackgroundServer(create_app(router, server_key=SERVER_KEY, feedback_log=log)) as gw:
        yield gw, log


def _client(gw: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=SERVER_KEY, max_retries=0, timeout=20)


def _post(gw: BackgroundServer, body: object, key: str = SERVER_KEY) -> httpx.Response:
    return httpx.post(f"{gw.base_url}/feedback", json=body, headers={"Authorization": f"Bearer {key}"})


def test_feedback_on_an_answer_is_logged_and_learned(served, router):
    gw, log = served
    answer = _client(gw).chat.completions.create(model="auto", messages=[{"role": "user", "content": MATH[0]}],
                                                 extra_body={"tradeoff": 0})
    before = router.predict(MATH[:3])[0][:, router.models_.index(answer.model)].mean()
    resp = _post(gw, {"id": answer.id, "score": 0.0})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"object": "feedback", "id": answer.id, "model": answer.model, "score": 0.0,
                           "learned": True}
    (record,) = FeedbackLog(log).read()
    assert (record.prompt, record.model, record.score, record.response_id) == (MATH[0], answer.model, 0.0, answer.id)
    after = router.predict(MATH[:3])[0][:, router.models_.index(answer.model)].mean()
    assert after < before


def test_feedback_on_a_streamed_answer(served):
    gw, log = served
    chunks = list(_client(gw).chat.completions.create(
        model="auto", messages=[{"role": "user", "content": MATH[1]}], stream=True))
    assert _post(gw, {"id": chunks[0].id, "score": 1.0}).status_code == 200
    assert FeedbackLog(log).read()[0].model == chunks[0].model


def test_bad_feedback_moves_routing_away_from_the_model(served, router):
    """Every math answer of the top model judged useless: math goes elsewhere."""
    gw, _ = served
    client = _client(gw)
    top = router.route(MATH[0], tradeoff=0).model
    for prompt in MATH:
        answer = client.chat.completions.create(model="auto", messages=[{"role": "user", "content": prompt}],
                                                extra_body={"tradeoff": 0})
        if answer.model == top:
            assert _post(gw, {"id": answer.id, "score": 0.0}).status_code == 200
    assert router.route("prove that 999 plus 5 is an integer", tradeoff=0).model != top


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [({"id": "chatcmpl-nope", "score": 1.0}, 404, "unknown_response"),
     ({"score": 1.0}, 400, None), ({"id": "X", "score": 1.5}, 400, None),
     ({"id": "X", "score": "good"}, 400, None), ({"id": "X", "score": 1.0, "extra": 1}, 400, None)],
)
def test_bad_feedback_is_refused_and_changes_nothing(served, router, body, status, code):
    gw, log = served
    answer = _client(gw).chat.completions.create(model="auto", messages=[{"role": "user", "content": MATH[2]}])
    if body.get("id") == "X":
        body = {**body, "id": answer.id}
    before = router.predict(MATH)[0].copy()
    resp = _post(gw, body)
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["message"] and (code is None or error["code"] == code)
    assert not log.exists() or log.read_text() == ""
    np.testing.assert_array_equal(router.predict(MATH)[0], before)


def test_feedback_needs_the_gateway_key(served):
    gw, log = served
    resp = _post(gw, {"id": "chatcmpl-1", "score": 1.0}, key="wrong-key-0123456789-0123456789-xx")
    assert resp.status_code == 401
    assert not log.exists()


def test_a_feedback_log_replays_into_a_saved_router(served, router, tmp_path):
    """`autorouter train --feedback`: the gateway's log applied to a router offline."""
    from typer.testing import CliRunner

    from autorouter.cli import app

    gw, log = served
    saved = router.save(tmp_path / "before")
    client = _client(gw)
    for prompt in MATH[:10]:
        answer = client.chat.completions.create(model="auto", messages=[{"role": "user", "content": prompt}],
                                                extra_body={"tradeoff": 0})
        _post(gw, {"id": answer.id, "score": 0.0})
    res = CliRunner().invoke(app, ["train", "--feedback", str(log), "--router", str(saved), "--out",
                                   str(tmp_path / "replayed")])
    assert res.exit_code == 0, res.output
    assert "learned 10 feedback records" in res.output
    replayed = autorouter.Router.load(tmp_path / "replayed")
    # the live router learned the same ten outcomes one by one: the same state
    np.testing.assert_allclose(replayed.predict(MATH)[0], router.predict(MATH)[0], atol=1e-6)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "hi", "model": "ghost", "score": 1.0}) + "\n")
    res = CliRunner().invoke(app, ["train", "--feedback", str(bad), "--router", str(saved), "--out",
                                   str(tmp_path / "never")])
    assert res.exit_code == 2 and "ghost" in res.output
    assert not (tmp_path / "never").exists()
