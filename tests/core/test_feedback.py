"""Learning from outcomes after fitting: `Router.partial_fit`, `apply_feedback`, `FeedbackLog`."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

import autorouter
from autorouter import Feedback, FeedbackLog
from autorouter.errors import InvalidRequestError, UnknownModelError
from synthetic import hash_embed, make_rows, write_jsonl

MATH = [f"prove that {a} plus {b} is an integer" for a, b in zip(range(40), range(7, 47), strict=True)]
CHAT = [f"hello there friend number {a}" for a in range(40)]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> autorouter.Router:
    path = write_jsonl(make_rows(), tmp_path_factory.mktemp("fb") / "train.jsonl.gz")
    return autorouter.Router(embedder=hash_embed).fit(autorouter.load_dataset(path))


@pytest.fixture
def router(fitted) -> autorouter.Router:
    return copy.deepcopy(fitted)


def quality(router: autorouter.Router, prompts: list[str], model: str) -> float:
    q, _ = router.predict(prompts)
    return float(q[:, router.models_.index(model)].mean())


def test_outcomes_move_routing_toward_the_model_that_did_well(router):
    probe = "prove that 901 plus 77 is an integer"
    assert router.route(probe, tradeoff=0).model == "big"
    router.partial_fit(MATH, "tiny", [1.0] * len(MATH))
    router.partial_fit(MATH, "big", [0.0] * len(MATH))
    assert router.route(probe, tradeoff=0).model == "tiny"
    # prompts unlike the judged ones keep their ranking
    assert router.route("hello there friend number 999", tradeoff=0).model == "big"


def test_a_few_outcomes_nudge_many_outweigh(router):
    before = quality(router, MATH[:5], "tiny")
    router.partial_fit(MATH[:2], "tiny", [1.0, 1.0])
    few = quality(router, MATH[:5], "tiny")
    router.partial_fit(MATH[2:], "tiny", [1.0] * (len(MATH) - 2))
    many = quality(router, MATH[:5], "tiny")
    assert before < few < many
    assert few - before < 0.5 * (many - before)
    assert many > 0.8


def test_order_of_outcomes_does_not_matter(fitted):
    scores = [float(i % 2) for i in range(len(MATH))]
    at_once = copy.deepcopy(fitted).partial_fit(MATH, "coder", scores)
    one_by_one = copy.deepcopy(fitted)
    for p, s in reversed(list(zip(MATH, scores, strict=True))):
        one_by_one.partial_fit([p], "coder", [s])
    a, _ = at_once.predict(MATH + CHAT)
    b, _ = one_by_one.predict(MATH + CHAT)
    np.testing.assert_allclose(a, b, atol=1e-9)


def test_a_model_known_only_by_facts_learns_and_grows_surer(router):
    router.add_model("newbie", task_scores={"math": 0.2, "code": 0.2, "chat": 0.2},
                     price=(0.05, 0.1), task_score_sd=0.8)
    before = router.route(MATH[0], tradeoff=0)
    sd_before = next(r.uncertainty for r in before.ranking if r.model == "newbie")
    router.partial_fit(MATH, "newbie", [1.0] * len(MATH))
    after = router.route(MATH[0], tradeoff=0)
    sd_after = next(r.uncertainty for r in after.ranking if r.model == "newbie")
    assert quality(router, MATH[:3], "newbie") > 0.8
    assert sd_after < 0.5 * sd_before
    ranked = [r.model for r in after.ranking]
    assert ranked.index("newbie") < ranked.index("coder") < ranked.index("tiny")


def test_feedback_survives_save_and_load(router, tmp_path):
    router.partial_fit(MATH, "tiny", [1.0] * len(MATH))
    loaded = autorouter.Router.load(router.save(tmp_path / "r"), embedder=hash_embed)
    np.testing.assert_allclose(loaded.predict(MATH)[0], router.predict(MATH)[0], atol=1e-6)
    assert loaded.route(MATH[0], tradeoff=0).model == router.route(MATH[0], tradeoff=0).model


@pytest.mark.parametrize(
    ("model", "scores", "error"),
    [("nobody", [1.0], UnknownModelError), ("tiny", [1.5], InvalidRequestError),
     ("tiny", [float("nan")], InvalidRequestError), ("tiny", [True], InvalidRequestError),
     ("tiny", ["good"], InvalidRequestError), ("tiny", ["0.5"], InvalidRequestError),
     ("tiny", [1.0, 0.0], InvalidRequestError)],
)
def test_bad_outcomes_are_refused_and_change_nothing(router, model, scores, error):
    before = router.predict(MATH)[0].copy()
    with pytest.raises(error):
        router.partial_fit(MATH[:1], model, scores)
    np.testing.assert_array_equal(router.predict(MATH)[0], before)


def test_a_log_naming_an_unknown_model_changes_nothing(router):
    before = router.predict(MATH)[0].copy()
    records = [Feedback(prompt=MATH[0], model="tiny", score=1.0),
               Feedback(prompt=MATH[1], model="ghost", score=1.0)]
    with pytest.raises(UnknownModelError, match="ghost"):
        router.apply_feedback(records)
    np.testing.assert_array_equal(router.predict(MATH)[0], before)


def test_feedback_log_appends_and_replays(router, tmp_path):
    log = FeedbackLog(tmp_path / "feedback.jsonl")
    for p in MATH:
        log.append(Feedback(prompt=p, model="tiny", score=1.0, response_id="chatcmpl-1"))
    records = log.read()
    assert len(records) == len(MATH) and records[0].response_id == "chatcmpl-1"
    replayed = copy.deepcopy(router).apply_feedback(records)
    direct = copy.deepcopy(router).partial_fit(MATH, "tiny", [1.0] * len(MATH))
    np.testing.assert_allclose(replayed.predict(MATH)[0], direct.predict(MATH)[0])


@pytest.mark.parametrize(
    ("line", "field"),
    [('{"prompt": "hi", "model": "tiny", "score": 2}', "score"),
     ('{"prompt": "hi", "score": 1}', "model"), ("not json", "JSON")],
)
def test_a_bad_feedback_line_is_named(tmp_path, line, field):
    path = tmp_path / "feedback.jsonl"
    good = json.dumps({"prompt": "hi", "model": "tiny", "score": 1.0})
    path.write_text(good + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(InvalidRequestError, match=rf"feedback.jsonl:2: .*{field}"):
        FeedbackLog(path).read()


def test_the_answer_ledger_forgets_the_oldest_answers_when_their_prompts_grow_too_long():
    """A gateway serving 100k-character prompts keeps tens of MB of them, not 10,000 x 100k."""
    from autorouter.errors import UnknownResponseError
    from autorouter.feedback import AnswerLedger

    ledger = AnswerLedger(capacity=100, max_chars=250)
    for i in range(10):
        ledger.record(f"id{i}", "x" * 100, "m")
    assert len(ledger) == 2 and "id9" in ledger and "id8" in ledger and "id7" not in ledger
    with pytest.raises(UnknownResponseError, match="fewer when prompts are long"):
        ledger.get("id0")
    ledger.record("huge", "y" * 1000, "big")  # the newest is kept, whatever its length
    assert ledger.get("huge") == ("y" * 1000, "big") and len(ledger) == 1
    ledger.record("huge", "z", "big")  # recording an id again replaces it, and its length
    for i in range(3):
        ledger.record(f"s{i}", "a" * 10, "m")
    assert len(ledger) == 4
    with pytest.raises(InvalidRequestError, match="max_chars"):
        AnswerLedger(max_chars=0)
