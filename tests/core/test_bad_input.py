"""The checklist of bad input (issue 6): each gets a clear, typed error, raised before any call
reaches a provider; and no API key ever shows in a repr, a log line or an error message."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import math
import traceback

import numpy as np
import pytest
from pydantic import SecretStr

import autorouter
from autorouter.calls import Endpoints
from autorouter.client import ChatClient, Endpoint, aclose_pools
from autorouter.errors import (
    AuthenticationError,
    DatasetError,
    FallbackExhaustedError,
    InvalidRequestError,
    MissingAPIKeyError,
    NoCandidateError,
    NotFittedError,
    RouterLoadError,
    UnknownModelError,
)
from autorouter.reliability import RetryPolicy
from autorouter.types import ModelLimits
from openai_server import OpenAIServer
from synthetic import MODELS, hash_embed, make_rows, write_jsonl

SECRET = "sk-or-v1-0123456789abcdef-secret-do-not-print"
PROMPT = "write a python function to sort 3 lists"


@pytest.fixture(scope="module")
def base_router(tmp_path_factory) -> autorouter.Router:
    path = write_jsonl(make_rows(), tmp_path_factory.mktemp("bad") / "train.jsonl.gz")
    return autorouter.Router(embedder=hash_embed).fit(autorouter.load_dataset(path))


@pytest.fixture
def router(base_router, openai_server: OpenAIServer) -> autorouter.Router:
    r = copy.deepcopy(base_router)
    r.set_endpoints(default=Endpoint(base_url=openai_server.base_url, api_key=SecretStr("k"),
                                     timeout=2.0))
    r.retry_policy = RetryPolicy(base_delay=0.001, max_delay=0.01, cooldown_s=0)
    return r


async def _consume(router, messages, **kw):
    try:
        async for _ in router.astream(messages, **kw):
            pass
    finally:
        await aclose_pools()


def every_call(router, messages, /, **kw):
    """Raise what each of complete / acomplete / stream / astream raises for this request."""
    errors = []
    for call in (
        lambda: router.complete(messages, **kw),
        lambda: asyncio.run(router.acomplete(messages, **kw)),
        lambda: router.stream(messages, **kw),
        lambda: asyncio.run(_consume(router, messages, **kw)),
    ):
        with pytest.raises(autorouter.AutorouterError) as info:
            call()
        errors.append(info.value)
    assert len({type(e) for e in errors}) == 1, errors
    return errors[0]


# --- requests -------------------------------------------------------------------------------


def test_an_empty_message_list(router, openai_server):
    error = every_call(router, [])
    assert isinstance(error, InvalidRequestError) and "message list is empty" in str(error)
    assert openai_server.total_calls == 0


@pytest.mark.parametrize("messages", [
    "   ",
    [{"role": "user", "content": ""}],
    [{"role": "user", "content": None}, {"role": "assistant", "content": "  "}],
    [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}],
])
def test_messages_with_no_text(router, openai_server, messages):
    error = every_call(router, messages)
    assert isinstance(error, InvalidRequestError)
    assert "empty" in str(error) or "no text" in str(error)
    assert openai_server.total_calls == 0


@pytest.mark.parametrize("messages, match", [
    ([{"role": "wizard", "content": "hi"}], "unknown role 'wizard'"),
    ([{"content": "hi"}], "has no role"),
    ([{"role": "user", "content": "hi"}, {"role": 3, "content": "x"}], "message 1 has no role"),
    (42, "expected a prompt string or a list of chat messages"),
])
def test_unknown_or_missing_roles_and_wrong_types(router, openai_server, messages, match):
    error = every_call(router, messages)
    assert isinstance(error, InvalidRequestError) and match in str(error)
    assert openai_server.total_calls == 0


@pytest.mark.parametrize("tradeoff", [-0.1, 1.5, math.nan, math.inf, "cheap"])
def test_a_tradeoff_outside_0_1_or_nan(router, openai_server, tradeoff):
    error = every_call(router, PROMPT, tradeoff=tradeoff)
    assert isinstance(error, InvalidRequestError) and "tradeoff must be" in str(error)
    assert openai_server.total_calls == 0


@pytest.mark.parametrize("max_cost", [-1.0, 0.0, math.nan])
def test_a_max_cost_that_is_not_a_positive_number(router, openai_server, max_cost):
    error = every_call(router, PROMPT, max_cost=max_cost)
    assert isinstance(error, InvalidRequestError) and "max_cost must be" in str(error)


def test_an_unknown_model_name(router, openai_server):
    error = every_call(router, PROMPT, candidates=["big", "gpt-9"])
    assert isinstance(error, UnknownModelError)
    assert "gpt-9" in str(error) and "big" in str(error)
    assert openai_server.total_calls == 0
    with pytest.raises(UnknownModelError, match="unknown model 'gpt-9'"):
        router.set_limits("gpt-9", ModelLimits(context_window=10))


def test_a_prompt_larger_than_every_context_window(router, openai_server):
    for m in MODELS:
        router.set_limits(m, ModelLimits(context_window=1000))
    error = every_call(router, "word " * 5000)
    assert isinstance(error, NoCandidateError)
    for m in MODELS:  # the reason, model by model
        assert f"{m}: prompt (~6250 tokens) exceeds its context window of 1000" in str(error)
    assert openai_server.total_calls == 0


def test_no_candidate_left_after_the_constraints(router, openai_server):
    error = every_call(router, PROMPT, max_cost=1e-12)
    assert isinstance(error, NoCandidateError) and "above max_cost" in str(error)
    assert openai_server.total_calls == 0


def test_fields_the_router_owns_cannot_be_passed(router, openai_server):
    for field in ("model", "stream"):
        error = every_call(router, PROMPT, **{field: "x"})
        assert isinstance(error, InvalidRequestError) and f"pass no '{field}'" in str(error)
    assert openai_server.total_calls == 0


def test_bad_endpoint_configuration(router):
    with pytest.raises(InvalidRequestError, match="must be an Endpoint"):
        router.set_endpoints({"openai": "https://api.openai.com/v1"})
    with pytest.raises(InvalidRequestError, match="must be a mapping"):
        router.set_endpoints([Endpoint()])
    with pytest.raises(InvalidRequestError, match="model_names"):
        router.set_endpoints(model_names={"big": ""})


def test_an_unfitted_router(openai_server):
    r = autorouter.Router()
    r.set_endpoints(default=Endpoint(base_url=openai_server.base_url, api_key_env=None))
    with pytest.raises(NotFittedError, match="not fitted"):
        r.complete(PROMPT)
    assert openai_server.total_calls == 0


# --- keys -----------------------------------------------------------------------------------


def test_a_missing_api_key_names_the_variable(base_router, monkeypatch):
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    r = copy.deepcopy(base_router)  # no endpoints set: OpenRouter, which is never reached
    error = every_call(r, PROMPT)
    assert isinstance(error, MissingAPIKeyError) and error.env_var == "OPENROUTER_API_KEY"
    assert "set the OPENROUTER_API_KEY environment variable" in str(error)

    r.set_endpoints({"big": Endpoint(base_url="http://127.0.0.1:9/v1", api_key_env="ACME_KEY")})
    monkeypatch.delenv("ACME_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError, match="ACME_KEY"):
        r.complete(PROMPT, candidates=["big"])


# --- routers and data -------------------------------------------------------------------------


def test_a_router_folder_that_is_corrupt_or_from_another_version(base_router, tmp_path):
    with pytest.raises(RouterLoadError, match="not a saved router"):
        autorouter.Router.load(tmp_path / "nowhere")
    d = base_router.save(tmp_path / "r")
    meta = json.loads((d / "router.json").read_text())

    (d / "router.json").write_text(json.dumps({**meta, "format_version": 1}))
    with pytest.raises(RouterLoadError, match="format 1.*retrain"):
        autorouter.Router.load(d, embedder=hash_embed)

    (d / "router.json").write_text(json.dumps({**meta, "format": "someone-else"}))
    with pytest.raises(RouterLoadError, match="not written by autorouter"):
        autorouter.Router.load(d, embedder=hash_embed)

    (d / "router.json").write_text(json.dumps(meta)[:100])
    with pytest.raises(RouterLoadError, match="not valid JSON"):
        autorouter.Router.load(d, embedder=hash_embed)

    (d / "router.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "params"}))
    with pytest.raises(RouterLoadError, match="corrupt"):
        autorouter.Router.load(d, embedder=hash_embed)

    base_router.save(d)
    (d / "arrays.npz").write_bytes(b"not an npz file")
    with pytest.raises(RouterLoadError, match="corrupt"):
        autorouter.Router.load(d, embedder=hash_embed)


def test_a_router_folder_with_a_truncated_arrays_file(base_router, tmp_path):
    d = base_router.save(tmp_path / "r")
    (d / "arrays.npz").write_bytes((d / "arrays.npz").read_bytes()[:200])
    with pytest.raises(RouterLoadError, match="corrupt"):
        autorouter.Router.load(d, embedder=hash_embed)


def test_a_dataset_with_nan_scores(tmp_path):
    rows = make_rows(20)
    rows[3]["scores"]["big"] = float("nan")
    path = tmp_path / "nan.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))  # json writes NaN
    with pytest.raises(DatasetError, match="row 4: score for 'big' is not a finite number"):
        autorouter.load_dataset(path, on_invalid="error")
    with pytest.warns(UserWarning, match="skipped 1 rows"):
        assert len(autorouter.load_dataset(path)) == 19  # the default: skip it, and say so

    for r in rows:
        r["scores"]["tiny"] = float("nan")
    path.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(DatasetError, match="every row was invalid"):
        autorouter.load_dataset(path)

    scores = np.ones((2, 3))
    scores[1, 2] = np.nan
    with pytest.raises(DatasetError, match="NaN"):
        autorouter.RoutingDataset(prompts=["a", "b"], models=list(MODELS), scores=scores)


# --- secrets --------------------------------------------------------------------------------


def test_no_api_key_in_reprs_logs_or_error_messages(router, openai_server, monkeypatch, caplog):
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    openai_server.require_api_key = "a-different-key"  # 401s that echo the key we sent
    endpoint = Endpoint(base_url=openai_server.base_url)  # the key comes from the environment
    explicit = Endpoint(base_url=openai_server.base_url, api_key=SecretStr(SECRET))
    router.set_endpoints(default=endpoint)
    texts = [repr(endpoint), str(endpoint), repr(explicit), explicit.model_dump_json(),
             repr(router), repr(router.endpoints), repr(Endpoints({"big": explicit})),
             repr(ChatClient(explicit))]

    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError) as info:
        router.complete(PROMPT)
    error = info.value
    assert SECRET[:12] in openai_server.requests[-1].headers["authorization"]  # it was sent...
    texts += [str(error), repr(error), error.provider_message or "", str(error.args),
              "".join(traceback.format_exception(error))]

    openai_server.require_api_key = None
    openai_server.set_mode("big", "500")
    openai_server.set_mode("coder", "500")
    openai_server.set_mode("tiny", "500")
    with pytest.raises(FallbackExhaustedError) as exhausted:
        router.complete(PROMPT)
    texts += [str(exhausted.value), "".join(traceback.format_exception(exhausted.value))]

    openai_server.reset()
    answer = router.complete(PROMPT)
    stream = router.stream(PROMPT)
    list(stream)
    texts += [repr(answer), repr(answer.completion), repr(answer.attempts), repr(stream),
              repr(stream.result), caplog.text]
    texts += [f"{r.getMessage()} {r.args}" for r in caplog.records]

    assert caplog.records  # the calls did log, at DEBUG and above
    for text in texts:
        assert SECRET not in text
        assert SECRET[8:30] not in text  # nor a recognisable part of it
