"""Models known only from facts (mean score per task) or a few scored prompts are routed to at
once; capability limits keep requests away from models that cannot serve them."""

from __future__ import annotations

import numpy as np
import pytest

from autorouter import InvalidRequestError, ModelLimits, NoCandidateError, Router, UnknownModelError
from synthetic import hash_embed, make_rows

MATH = "prove that 17 plus 4 is an integer"
CODE = "write a python function to sort 12 lists"
CHAT = "hello there friend number 7"


def test_tasks_come_from_the_data(fitted):
    assert fitted.tasks_ == ["chat", "code", "math"]


def test_fact_model_is_routed_where_its_facts_say(fitted):
    fitted.add_model("mathwhiz", task_scores={"math": 0.99, "code": 0.2, "chat": 0.6}, price=(0.5, 0.5))
    assert fitted.models_[-1] == "mathwhiz"
    q, _ = fitted.predict([MATH, CODE])
    j = fitted.models_.index("mathwhiz")
    assert q[0, j] > 0.9 and q[1, j] < 0.4
    assert fitted.route(MATH, tradeoff=0.0).model == "mathwhiz"
    assert fitted.route(CODE, tradeoff=0.0).model != "mathwhiz"


def test_fact_model_missing_tasks_take_the_mean_of_given(fitted):
    fitted.add_model("half", task_scores={"math": 0.8}, price=(1, 1))
    j = fitted.models_.index("half")
    assert np.allclose(fitted.fact_scores_[:, j - len(fitted.data_models_)], 0.8)


def test_model_from_a_handful_of_scored_prompts(fitted):
    scored = [(r["prompt"], 1.0 if r["task"] == "code" else 0.0) for r in make_rows(30, seed=3)]
    fitted.add_model("codeonly", scored_prompts=scored, price=(0.01, 0.01))
    q, _ = fitted.predict([CODE, MATH])
    j = fitted.models_.index("codeonly")
    assert q[0, j] > 0.6 > 0.3 > q[1, j]
    assert fitted.route(CODE, tradeoff=0.3).model == "codeonly"


def test_price_matters_for_fact_models(fitted):
    fitted.add_model("dear", task_scores={"math": 0.96, "code": 0.96, "chat": 0.96}, price=(1000, 1000))
    d = fitted.route(CHAT, tradeoff=0.5)
    assert d.model != "dear"
    assert next(r for r in d.ranking if r.model == "dear").cost_usd > 0.01


def test_add_model_errors(fitted):
    with pytest.raises(InvalidRequestError, match="task_scores"):
        fitted.add_model("x", price=(1, 1))
    with pytest.raises(InvalidRequestError, match="none of the tasks"):
        fitted.add_model("x", task_scores={"poetry": 0.9}, price=(1, 1))
    with pytest.raises(InvalidRequestError, match=r"\[0, 1\]"):
        fitted.add_model("x", task_scores={"math": 90}, price=(1, 1))
    with pytest.raises(InvalidRequestError, match="already a candidate"):
        fitted.add_model("big", task_scores={"math": 0.5}, price=(1, 1))
    with pytest.raises(InvalidRequestError, match=">= 0"):
        fitted.add_model("x", task_scores={"math": 0.5}, price=(-1, 1))
    with pytest.raises(UnknownModelError):
        fitted.remove_model("big")


def test_replace_and_remove(fitted):
    fitted.add_model("m", task_scores={"math": 0.2}, price=(1, 1))
    fitted.add_model("m", task_scores={"math": 0.99}, price=(1, 1), replace=True)
    assert fitted.models_.count("m") == 1
    assert fitted.route(MATH, tradeoff=0.0).model == "m"
    fitted.remove_model("m")
    assert "m" not in fitted.models_
    assert fitted.route(MATH, tradeoff=0.0).model == "big"


def test_fact_models_survive_save_and_load(fitted, tmp_path):
    fitted.add_model("mathwhiz", task_scores={"math": 0.99, "code": 0.2, "chat": 0.6}, price=(0.5, 0.5),
                     limits=ModelLimits(tools=False, context_window=50))
    fitted.save(tmp_path / "r")
    loaded = Router.load(tmp_path / "r", embedder=hash_embed)
    assert loaded.models_ == fitted.models_
    assert loaded.limits_ == fitted.limits_
    for t in (0.0, 0.5, 1.0):
        assert loaded.route_batch([MATH, CODE, CHAT], tradeoff=t) == fitted.route_batch([MATH, CODE, CHAT], tradeoff=t)


def test_tools_never_go_to_a_model_without_tools(fitted):
    fitted.set_limits("tiny", ModelLimits(tools=False))
    assert fitted.route(CHAT, tradeoff=1.0).model == "tiny"
    d = fitted.route(CHAT, tradeoff=1.0, tools=True)
    assert d.model != "tiny"
    tiny = next(r for r in d.ranking if r.model == "tiny")
    assert not tiny.eligible and "tool" in tiny.excluded_because


def test_images_never_go_to_a_text_only_model(fitted):
    fitted.set_limits("tiny", ModelLimits(images=False))
    msgs = [{"role": "user", "content": [{"type": "text", "text": CHAT},
                                         {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]
    assert fitted.route(msgs, tradeoff=1.0).model != "tiny"
    assert fitted.route(CHAT, tradeoff=1.0).model == "tiny"


def test_prompt_longer_than_the_context_window_never_goes_there(fitted):
    fitted.set_limits("tiny", ModelLimits(context_window=100))
    long_chat = CHAT + " " + "hello " * 400
    d = fitted.route(long_chat, tradeoff=1.0)
    assert d.model != "tiny"
    assert "context window" in next(r for r in d.ranking if r.model == "tiny").excluded_because
    for m in fitted.models_:
        fitted.set_limits(m, ModelLimits(context_window=100))
    with pytest.raises(NoCandidateError, match="context window"):
        fitted.route(long_chat)


def test_router_without_task_labels_uses_clusters(tmp_path):
    import autorouter
    from synthetic import write_jsonl

    rows = make_rows(200)
    for r in rows:
        del r["task"]
    ds = autorouter.load_dataset(write_jsonl(rows, tmp_path / "n.jsonl"))
    r = Router(embedder=hash_embed).fit(ds)
    assert all(t.startswith("cluster-") for t in r.tasks_)
    scored = [(x["prompt"], 1.0 if "python" in x["prompt"] else 0.0) for x in make_rows(30, seed=5)]
    r.add_model("coder2", scored_prompts=scored, price=(0.001, 0.001))
    q, _ = r.predict([CODE, "write python code that parses 3 json files", CHAT, MATH])
    j = r.models_.index("coder2")
    assert min(q[:2, j]) > max(q[2:, j])
