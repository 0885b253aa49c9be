"""`autorouter.labelling` against loopback servers: the scripted candidate server
(tests/openai_server.py, answers "[<model>] <prompt>") and a judge server here that grades by
looking at which model answered which kind of prompt. Nothing goes to the internet and none of
the project's own functions is mocked.

The candidates: `strong` (dear) is clearly better on maths; `cheap` is as good on small talk.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self

import numpy as np
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import autorouter
from autorouter.calls import Endpoints
from autorouter.client import Endpoint, aclose_pools
from autorouter.errors import (
    AuthenticationError,
    DatasetError,
    InvalidRequestError,
    MissingAPIKeyError,
)
from autorouter.labelling import (
    PAIRWISE_JUDGE,
    SINGLE_JUDGE,
    ConfirmationRequiredError,
    JudgeTemplate,
    LabelJob,
    LabelPrompt,
    journal_path_for,
    least_sure_prompts,
    pair_outcome,
    parse_rating,
    parse_verdict,
    plan_labelling,
    read_prompts,
    sample_prompts,
    uncertainty_margins,
)
from autorouter.reliability import RetryPolicy
from openai_server import OpenAIServer
from synthetic import TEMPLATES, hash_embed

PRICES = {"strong": (10.0, 30.0), "cheap": (0.1, 0.2), "judge-model": (1.0, 2.0), "ref": (1.0, 1.0)}
FAST = RetryPolicy(max_attempts_per_model=2, base_delay=0.001, max_delay=0.01, jitter=False,
                   cooldown_s=0, total_budget_s=20)
MATH_WORDS = ("prove", "integral", "derivative", "primes")
#: (kind of prompt, model) -> the grade the judge gives
GRADES = {("math", "strong"): 9, ("math", "cheap"): 2, ("math", "ref"): 5,
          ("chat", "strong"): 8, ("chat", "cheap"): 8, ("chat", "ref"): 5}


def math_prompts(n: int) -> list[str]:
    t = TEMPLATES["math"]
    return [t[i % 4].format(a=i * 7 + 3, b=i * 13 + 1) for i in range(n)]


def chat_prompts(n: int) -> list[str]:
    t = TEMPLATES["chat"]
    return [t[i % 4].format(a=i * 5 + 2, b=i * 11 + 4) for i in range(n)]


def kind_of(text: str) -> str:
    return "math" if any(w in text for w in MATH_WORDS) else "chat"


def answer_grade(answer: str) -> int | None:
    """The grade of one candidate answer "[<model>] <prompt>"."""
    m = re.match(r"\[([^\]]+)\] (.*)", answer.strip(), re.DOTALL)
    if m is None:
        return None
    return GRADES.get((kind_of(m.group(2)), m.group(1)))


def between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0].strip()


def grade(body: dict[str, Any]) -> str:
    """A judge that knows the answers: single grades, or pairwise verdicts."""
    user = body["messages"][-1]["content"]
    if "[The Start of Assistant A's Answer]" in user:
        a = answer_grade(between(user, "[The Start of Assistant A's Answer]", "[The End of Assistant A's Answer]"))
        b = answer_grade(between(user, "[The Start of Assistant B's Answer]", "[The End of Assistant B's Answer]"))
        verdict = "C" if a == b else ("A" if (a or 0) > (b or 0) else "B")
        return f"Both answer the question. Final verdict: [[{verdict}]]"
    answer = between(user, "[The Start of Assistant's Answer]", "[The End of Assistant's Answer]")
    return f"The answer is adequate for the question asked. Rating: [[{answer_grade(answer)}]]"


class JudgeServer:
    """A small OpenAI-wire chat server whose replies a test scripts (`reply(body) -> text`, or an
    int: answer with that HTTP status). Counts calls and the most calls in flight at once."""

    def __init__(self) -> None:
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])])
        self._lock = threading.Lock()
        self.port: int | None = None
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: list[dict[str, Any]] = []
            self.in_flight = 0
            self.max_in_flight = 0
        self.reply: Callable[[dict[str, Any]], str | int] = grade
        self.delay = 0.0
        self.report_cost = False

    @property
    def calls(self) -> int:
        return len(self.requests)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            self.requests.append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            text = self.reply(body)
        finally:
            with self._lock:
                self.in_flight -= 1
        if isinstance(text, int):
            return JSONResponse({"error": {"message": "scripted failure", "type": "server_error"}}, status_code=text)
        words_in = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        usage: dict[str, Any] = {"prompt_tokens": words_in, "completion_tokens": len(text.split()),
                                 "total_tokens": words_in + len(text.split())}
        if self.report_cost:
            usage["cost"] = 0.001
        return JSONResponse({
            "id": "judge-1", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": usage,
        })

    def __enter__(self) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, loop="asyncio", lifespan="off", access_log=False, log_config=None,
                                log_level="warning", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        for _ in range(1000):
            if self._server.started:
                return self
            threading.Event().wait(0.01)
        raise RuntimeError("the judge server did not start")

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def judge_session() -> Iterator[JudgeServer]:
    with JudgeServer() as server:
        yield server


@pytest.fixture
def judge(judge_session: JudgeServer) -> JudgeServer:
    judge_session.reset()
    return judge_session


@pytest.fixture
def endpoints(openai_server: OpenAIServer, judge: JudgeServer) -> Endpoints:
    return Endpoints({"judge-model": Endpoint(base_url=judge.base_url, api_key_env=None)},
                     default=Endpoint(base_url=openai_server.base_url, api_key_env=None))


def make_job(tmp_path: Path, endpoints: Endpoints, prompts: list[str] | list[LabelPrompt], **kw: Any) -> LabelJob:
    kw.setdefault("models", ["strong", "cheap"])
    kw.setdefault("judge", "judge-model")
    kw.setdefault("out", tmp_path / "data.jsonl")
    kw.setdefault("prices", PRICES)
    kw.setdefault("retry_policy", FAST)
    kw.setdefault("fsync", False)
    return LabelJob(prompts, endpoints=endpoints, **kw)


def journal_lines(job: LabelJob) -> list[dict[str, Any]]:
    return [json.loads(line) for line in job.journal_path.read_text().splitlines() if line.strip()]


MIXED = math_prompts(20) + chat_prompts(20)


# --- reading prompts -----------------------------------------------------------------------


def test_a_text_file_gives_one_prompt_per_line_and_skips_blank_ones(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("What is 2 + 2?\n\n   \nWrite a haiku about rain\nWhat is 2 + 2?\n", encoding="utf-8")
    prompts = read_prompts(path)
    assert [p.text for p in prompts] == ["What is 2 + 2?", "Write a haiku about rain"]  # repeat dropped
    assert prompts[0].messages == [{"role": "user", "content": "What is 2 + 2?"}]
    assert prompts[0].source == f"{path}, line 1" and prompts[1].source == f"{path}, line 4"
    assert prompts[0].key != prompts[1].key


def test_jsonl_and_openai_chat_logs_are_read_up_to_the_last_user_turn(tmp_path):
    convo = [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "human", "content": "How are you?", "id": "msg_1"},
        {"role": "assistant", "content": "Bien."},  # the logged answer: not sent on
    ]
    lines = [
        {"prompt": "plain prompt"},
        {"messages": [{"role": "user", "content": "a request body"}], "model": "gpt-4o", "temperature": 0.2},
        {"request": {"model": "x", "messages": [{"role": "user", "content": "wrapped request"}]}, "response": {"id": 1}},
        {"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions",
         "body": {"messages": [{"role": "user", "content": [{"type": "text", "text": "batch input"}]}]}},
        {"messages": convo, "response": {"choices": [{"message": {"content": "Bien."}}]}},
    ]
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    prompts = read_prompts(path)
    assert [p.text for p in prompts] == ["plain prompt", "a request body", "wrapped request", "batch input", "How are you?"]
    last = prompts[-1]
    assert [m["role"] for m in last.messages] == ["system", "user", "assistant", "user"]
    assert last.messages[-1] == {"role": "user", "content": "How are you?"}  # role mapped, id dropped
    assert last.question.startswith("[System]\nAnswer in French.") and "[User]\nHow are you?" in last.question
    # no suffix: detected from the first line
    other = tmp_path / "log.data"
    other.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    assert [p.key for p in read_prompts(other)] == [p.key for p in prompts]


@pytest.mark.parametrize(("line", "why"), [
    ('{"prompt": "fine"', "not valid JSON"),
    ('{"text": "no prompt field"}', "no prompt"),
    ('{"messages": [{"role": "assistant", "content": "hi"}]}', "no user message"),
    ('{"messages": [{"role": "wizard", "content": "hi"}, {"role": "user", "content": "x"}]}', "unknown role"),
    ('["a", "list"]', "JSON object"),
    ('{"prompt": "   "}', "empty"),
])
def test_a_bad_line_is_named_by_file_and_line(tmp_path, line, why):
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "one"}\n\n' + line + '\n{"prompt": "four"}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=rf"prompts\.jsonl, line 3: .*{why}"):
        read_prompts(path)
    with pytest.warns(UserWarning, match="skipped 1 bad lines"):
        assert [p.text for p in read_prompts(path, on_invalid="skip")] == ["one", "four"]


def test_a_missing_or_empty_file_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        read_prompts(tmp_path / "nope.txt")
    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="no prompts"):
        read_prompts(tmp_path / "empty.txt")


# --- judge prompts and verdicts ----------------------------------------------------------------


def test_ratings_and_verdicts_are_parsed_robustly():
    assert parse_rating("Good answer. Rating: [[7]]") == 7
    assert parse_rating("format: 'Rating: [[5]]' ... my verdict: [[8.5]]") == 8.5  # the last one
    assert parse_rating("Rating: 6") == 6 and parse_rating("I'd give it 9/10.") == 9
    assert parse_rating("[[7/10]]") == 7
    assert parse_rating("no number at all") is None
    assert parse_rating("Rating: [[11]]") is None and parse_rating("[[0]]") is None  # off the scale
    assert parse_verdict("A is better. [[A]]") == "A"
    assert parse_verdict("first [[A]] then on reflection [[B]]") == "B"
    assert parse_verdict("[[tie]]") == "C" and parse_verdict("[[C]]") == "C"
    assert parse_verdict("Assistant A") is None
    assert pair_outcome("A", "ab") == 1.0 and pair_outcome("A", "ba") == 0.0 and pair_outcome("C", "ba") == 0.5


def test_judge_templates_are_checked_and_replaceable():
    assert {"question", "answer"} <= set(re.findall(r"{(\w+)}", SINGLE_JUDGE.user))
    assert "Rating: [[5]]" in SINGLE_JUDGE.user and "[[C]]" in (PAIRWISE_JUDGE.system or "")
    custom = JudgeTemplate("Q: {question}\nA: {answer}\nScore 1-10 as [[N]]. Literal {{braces}}.")
    assert custom.render(question="q", answer="a")[-1]["content"].endswith("Literal {braces}.")
    with pytest.raises(InvalidRequestError, match="unknown fields"):
        JudgeTemplate("{question} {answer} {reference_answer}")
    with pytest.raises(InvalidRequestError, match="answer"):
        JudgeTemplate("{question} only")
    with pytest.raises(InvalidRequestError, match="answer_a"):
        JudgeTemplate("{question} {answer}", kind="pairwise")
    with pytest.raises(InvalidRequestError, match="named fields"):
        JudgeTemplate("{} {answer}")


# --- estimate and refusal ------------------------------------------------------------------------


def test_the_estimate_comes_before_any_call_and_a_refusal_calls_nothing(tmp_path, endpoints, openai_server, judge):
    job = make_job(tmp_path, endpoints, MIXED)
    est = job.estimate()
    n = len(MIXED)
    assert (est.prompts, est.answer_calls, est.judge_calls, est.reused) == (n, 2 * n, 2 * n, 0)
    by = {(m.model, m.role): m for m in est.per_model}
    strong = by[("strong", "candidate")]
    # list price x (prompt tokens from the length + 4 per message) + the assumed answer
    tokens_in = sum(-(-len(p) // 4) + 4 for p in MIXED)
    assert strong.input_tokens == tokens_in and strong.output_tokens == 500 * n
    assert strong.usd == pytest.approx((tokens_in * 10.0 + 500 * n * 30.0) / 1e6)
    assert by[("judge-model", "judge")].calls == 2 * n
    assert est.total_usd == pytest.approx(sum(m.usd for m in est.per_model))
    assert est.unpriced == () and f"{2 * n} answers and {2 * n} judge calls" in est.describe()

    with pytest.raises(ConfirmationRequiredError, match="yes=True") as refused:
        job.run()
    assert refused.value.estimate.total_usd == pytest.approx(est.total_usd)
    with pytest.raises(ConfirmationRequiredError, match="passes the budget"):
        job.run(budget_usd=est.total_usd / 2)
    unpriced = make_job(tmp_path, endpoints, MIXED, prices={"strong": (1, 1), "cheap": (1, 1)})
    assert unpriced.estimate().unpriced == ("judge-model",)
    with pytest.raises(ConfirmationRequiredError, match="no list price for judge-model"):
        unpriced.run(budget_usd=100.0)
    assert openai_server.total_calls == 0 and judge.calls == 0
    assert not job.journal_path.exists() and not job.out.exists()


def test_a_budget_the_estimate_fits_lets_the_run_start(tmp_path, endpoints, openai_server, judge):
    job = make_job(tmp_path, endpoints, MIXED[:4], out=tmp_path / "data.jsonl.gz")
    summary = job.run(budget_usd=job.estimate().total_usd * 1.01)
    assert summary.rows == 4 and summary.stopped is None
    assert summary.spent_usd < summary.estimate.total_usd  # real answers are shorter than assumed
    assert len(autorouter.load_dataset(tmp_path / "data.jsonl.gz")) == 4
    assert summary.journal == tmp_path / "data.jsonl.gz.journal"


def test_a_second_run_on_the_same_journal_is_refused(tmp_path, endpoints, openai_server, judge):
    fcntl = pytest.importorskip("fcntl")
    job = make_job(tmp_path, endpoints, MIXED[:2])
    with open(job.journal_path, "ab") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a run in another process does
        with pytest.raises(InvalidRequestError, match="another labelling run"):
            job.run(yes=True)
    assert openai_server.total_calls == 0


def test_a_missing_api_key_fails_before_any_call(tmp_path, openai_server, judge, monkeypatch):
    monkeypatch.delenv("LABELLING_TEST_KEY", raising=False)
    eps = Endpoints(default=Endpoint(base_url=openai_server.base_url, api_key_env="LABELLING_TEST_KEY"))
    job = make_job(tmp_path, eps, MIXED[:2], judge="strong")
    with pytest.raises(MissingAPIKeyError, match="LABELLING_TEST_KEY"):
        job.run(yes=True)
    assert openai_server.total_calls == 0


# --- a full run ------------------------------------------------------------------------------------


def test_labels_load_as_routing_data_and_train_a_router_that_tells_the_kinds_apart(
    tmp_path, endpoints, openai_server, judge
):
    seen: list[tuple[str, int, int, float]] = []
    job = make_job(tmp_path, endpoints, MIXED)
    summary = job.run(yes=True, progress=lambda *a: seen.append(a))
    n = len(MIXED)
    assert summary.rows == n and summary.out == job.out and summary.stopped is None
    assert openai_server.calls == {"strong": n, "cheap": n} and judge.calls == 2 * n
    assert summary.paid_calls == 4 * n

    ds = autorouter.load_dataset(job.out)
    assert ds.models == ["cheap", "strong"] and len(ds) == n
    i_math, i_chat = ds.prompts.index(MIXED[0]), ds.prompts.index(MIXED[-1])
    assert ds.scores[i_math].tolist() == pytest.approx([(2 - 1) / 9, (9 - 1) / 9])  # cheap, strong
    assert ds.scores[i_chat].tolist() == pytest.approx([7 / 9, 7 / 9])
    # the real cost: the server's token usage x list price (it reports no cost of its own)
    rows = [json.loads(line) for line in job.out.read_text().splitlines()]
    row = next(r for r in rows if r["prompt"] == MIXED[0])
    rec = next(r for r in journal_lines(job) if r["type"] == "answer" and r["model"] == "strong"
               and r["prompt_key"] == row["prompt_key"])
    assert row["cost_usd"]["strong"] == pytest.approx((rec["prompt_tokens"] * 10 + rec["completion_tokens"] * 30) / 1e6)
    assert rec["cost_source"] == "list_price" and rec["text"] == f"[strong] {MIXED[0]}"
    assert row["output_chars"]["strong"] == len(rec["text"]) and row["latency_s"]["strong"] > 0
    assert row["ratings"] == {"strong": 9.0, "cheap": 2.0} and row["judge"] == "judge-model"

    by = {m.model: m for m in summary.models}
    assert by["strong"].mean_score == pytest.approx((8 / 9 + 7 / 9) / 2)
    assert by["cheap"].mean_score == pytest.approx((1 / 9 + 7 / 9) / 2)
    assert by["strong"].answer_cost_usd > 10 * by["cheap"].answer_cost_usd > 0
    assert by["strong"].failures == by["cheap"].failures == 0
    assert summary.judge_cost_usd > 0
    assert summary.total_spent_usd == pytest.approx(
        sum(m.answer_cost_usd for m in summary.models) + summary.judge_cost_usd)
    # progress: both stages reach their totals and the spend never goes down
    last = {stage: (done, total) for stage, done, total, _ in seen}
    assert last == {"answers": (2 * n, 2 * n), "verdicts": (2 * n, 2 * n)}
    spends = [s for *_, s in seen]
    assert spends == sorted(spends) and spends[-1] == pytest.approx(summary.total_spent_usd)

    router = autorouter.Router(embedder=hash_embed).fit(ds)
    probe_math, probe_chat = "prove that 41 plus 59 is an integer", "hello there friend number 77"
    assert router.route(probe_math).model == "strong"
    assert router.route(probe_chat).model == "cheap"


def test_the_provider_reported_cost_wins_over_list_prices(tmp_path, endpoints, openai_server, judge):
    openai_server.report_cost = True
    judge.report_cost = True
    job = make_job(tmp_path, endpoints, MIXED[:3])
    summary = job.run(yes=True)
    answers = [r for r in journal_lines(job) if r["type"] == "answer"]
    assert {r["cost_source"] for r in answers} == {"provider"}
    for r in answers:  # the test server reports total_tokens x 1e-6
        assert r["cost_usd"] == pytest.approx((r["prompt_tokens"] + r["completion_tokens"]) * 1e-6)
    assert summary.judge_cost_usd == pytest.approx(0.001 * 6)


def test_chat_conversations_go_to_the_models_as_given_and_the_judge_sees_a_transcript(
    tmp_path, endpoints, openai_server, judge
):
    convo = LabelPrompt.from_messages([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello there friend number 3"},
        {"role": "assistant", "content": "Hi!"},
        {"role": "user", "content": "prove that 3 plus 4 is an integer"},
    ])
    job = make_job(tmp_path, endpoints, [convo])
    job.run(yes=True)
    sent = openai_server.requests_for("strong")[0].body["messages"]
    assert sent == convo.messages
    shown = judge.requests[0]["messages"][-1]["content"]
    assert "[System]\nBe brief." in shown and "[User]\nprove that 3 plus 4 is an integer" in shown
    row = json.loads(job.out.read_text().splitlines()[0])
    assert row["prompt"] == "prove that 3 plus 4 is an integer" and row["messages"] == convo.messages
    assert autorouter.load_dataset(job.out).prompts == ["prove that 3 plus 4 is an integer"]


# --- budget, crash and resume -------------------------------------------------------------------


def test_the_run_stops_at_the_budget_keeps_what_finished_and_resumes_without_repeating(
    tmp_path, endpoints, openai_server, judge
):
    full = make_job(tmp_path / "full", endpoints, MIXED, concurrency=1)
    spent_all = full.run(yes=True).total_spent_usd
    openai_server.reset()
    judge.reset()

    budget = spent_all * 0.4
    job = make_job(tmp_path / "budget", endpoints, MIXED, concurrency=1)
    # the reservation uses the estimate per call; make it match real calls so the budget binds
    job.assumed_answer_tokens = job.assumed_judge_tokens = 12
    first = job.run(yes=True, budget_usd=budget)
    assert first.stopped == "budget"
    assert first.total_spent_usd <= budget
    assert 0 < first.rows < len(MIXED)
    assert len(autorouter.load_dataset(job.out)) == first.rows  # what finished is written
    calls_first = dict(openai_server.calls)
    judge_first = judge.calls
    journal = journal_lines(job)
    answered = {m: sum(1 for r in journal if r["type"] == "answer" and r["model"] == m) for m in ("strong", "cheap")}
    assert calls_first == answered  # every call made is in the journal
    assert judge_first == sum(1 for r in journal if r["type"] == "verdict")

    # a rerun with a budget the rest does not fit is refused; with yes it finishes
    with pytest.raises(ConfirmationRequiredError, match="already spent"):
        job.run(budget_usd=budget)
    openai_server.reset()
    judge.reset()
    second = job.run(yes=True)
    assert second.rows == len(MIXED) and second.stopped is None
    assert {m: openai_server.calls[m] for m in answered} == {m: len(MIXED) - k for m, k in answered.items()}
    assert judge.calls == 2 * len(MIXED) - judge_first
    assert second.reused > 0 and second.total_spent_usd == pytest.approx(spent_all)

    # a third run pays for nothing, needs no confirmation, and rewrites the same data
    openai_server.reset()
    judge.reset()
    third = job.run()
    assert openai_server.total_calls == 0 and judge.calls == 0 and third.paid_calls == 0
    assert third.rows == len(MIXED) and third.estimate.calls == 0


class Crash(Exception):
    pass


def test_a_crash_mid_run_loses_nothing_paid_for_and_the_rerun_repeats_no_call(
    tmp_path, endpoints, openai_server, judge
):
    judge.delay = 0.01
    job = make_job(tmp_path, endpoints, MIXED, concurrency=3)

    def crash(stage: str, done: int, total: int, spend: float) -> None:
        if stage == "verdicts" and done >= 7:
            raise Crash

    with pytest.raises(Crash):
        job.run(yes=True, progress=crash)
    journal = journal_lines(job)
    answered = {m: sum(1 for r in journal if r["type"] == "answer" and r["model"] == m) for m in ("strong", "cheap")}
    # calls in flight when it crashed were let finish and journalled: nothing paid for is lost
    assert dict(openai_server.calls) == answered
    assert judge.calls == sum(1 for r in journal if r["type"] == "verdict")
    assert 0 < sum(answered.values()) < 2 * len(MIXED)
    # a crash in the middle of writing a line leaves half a line: it is ignored
    with open(job.journal_path, "a", encoding="utf-8") as f:
        f.write('{"type": "answer", "key": "abc", "sta')
    before_judge = judge.calls
    openai_server.reset()
    judge.reset()
    summary = job.run(yes=True)
    assert summary.rows == len(MIXED)
    assert {m: openai_server.calls[m] for m in answered} == {m: len(MIXED) - k for m, k in answered.items()}
    assert judge.calls == 2 * len(MIXED) - before_judge
    assert len(journal_lines(job)) > len(journal)  # the half line was cut off; every line reads


def test_cancelling_the_run_like_ctrl_c_lets_calls_in_flight_finish_into_the_journal(
    tmp_path, endpoints, openai_server, judge
):
    judge.delay = 0.02
    job = make_job(tmp_path, endpoints, MIXED, concurrency=4)

    async def main() -> None:
        task = asyncio.create_task(job.arun(yes=True))
        while judge.calls < 5:
            await asyncio.sleep(0.002)
        task.cancel()  # what asyncio.run does with the main task on Ctrl-C
        with pytest.raises(asyncio.CancelledError):
            await task
        await aclose_pools()

    asyncio.run(main())
    journal = journal_lines(job)
    verdicts = sum(1 for r in journal if r["type"] == "verdict")
    answered = {m: sum(1 for r in journal if r["type"] == "answer" and r["model"] == m) for m in ("strong", "cheap")}
    assert judge.calls == verdicts >= 5 and dict(openai_server.calls) == answered
    openai_server.reset()
    judge.reset()
    assert job.run(yes=True).rows == len(MIXED)
    assert judge.calls == 2 * len(MIXED) - verdicts
    assert {m: openai_server.calls[m] for m in answered} == {m: len(MIXED) - k for m, k in answered.items()}


# --- pairwise, failures, concurrency -----------------------------------------------------------------


def test_pairwise_asks_both_orders_and_scores_the_mean(tmp_path, endpoints, openai_server, judge):
    prompts = [math_prompts(1)[0], chat_prompts(1)[0]]
    job = make_job(tmp_path, endpoints, prompts, reference="ref")
    assert job.estimate().judge_calls == 2 * 2 * 2  # prompts x models x orders
    summary = job.run(yes=True)
    assert openai_server.calls == {"strong": 2, "cheap": 2, "ref": 2}
    assert judge.calls == 8
    shown = []
    for body in judge.requests:
        user = body["messages"][-1]["content"]
        a = between(user, "[The Start of Assistant A's Answer]", "[The End of Assistant A's Answer]")
        b = between(user, "[The Start of Assistant B's Answer]", "[The End of Assistant B's Answer]")
        shown.append((a.split("]")[0][1:], b.split("]")[0][1:], kind_of(a)))
        assert body["messages"][0]["role"] == "system" and "[[C]]" in body["messages"][0]["content"]
    for model in ("strong", "cheap"):
        for kind in ("math", "chat"):
            assert (model, "ref", kind) in shown and ("ref", model, kind) in shown  # both orders
    ds = autorouter.load_dataset(job.out)
    scores = dict(zip(ds.prompts, ds.scores.tolist(), strict=True))
    assert scores[prompts[0]] == [0.0, 1.0]  # maths: cheap loses to ref, strong beats it
    assert scores[prompts[1]] == [1.0, 1.0]
    assert summary.reference_cost_usd > 0 and "ref" not in ds.models


def test_position_bias_cancels_out_over_the_two_orders(tmp_path, endpoints, openai_server, judge):
    judge.reply = lambda body: "The first one. [[A]]"  # always prefers whatever is shown first
    job = make_job(tmp_path, endpoints, MIXED[:4], models=["strong", "cheap", "ref"], reference="ref")
    job.run(yes=True)
    ds = autorouter.load_dataset(job.out)
    assert ds.models == ["cheap", "ref", "strong"]
    assert np.all(ds.scores == 0.5)  # a win as A and a loss as B; the reference ties itself
    assert judge.calls == 4 * 2 * 2  # the reference is not judged against itself


def test_an_unparsable_verdict_is_asked_once_more_then_recorded_as_missing_not_zero(
    tmp_path, endpoints, openai_server, judge
):
    bad_prompt = MIXED[0]

    def reply(body: dict[str, Any]) -> str:
        user = body["messages"][-1]["content"]
        if f"[cheap] {bad_prompt}" in user:
            return "I cannot decide."
        if f"[strong] {bad_prompt}" in user and not any(
                f"[strong] {bad_prompt}" in r["messages"][-1]["content"] for r in judge.requests[:-1]):
            return "Hmm, hard to say."  # the first ask only
        return grade(body)

    judge.reply = reply
    job = make_job(tmp_path, endpoints, MIXED[:3])
    summary = job.run(yes=True)
    asked = [r for r in judge.requests if bad_prompt in r["messages"][-1]["content"]]
    assert len(asked) == 4  # each model's answer asked twice
    verdicts = [r for r in journal_lines(job) if r["type"] == "verdict" and r["model"] == "cheap"
                and r["status"] == "unparsable"]
    assert len(verdicts) == 2 and all(r["rating"] is None for r in verdicts)
    assert summary.rows == 2  # the prompt missing a score is not written (and no 0 stands in)
    by = {m.model: m for m in summary.models}
    assert by["cheap"].failures == 1 and by["strong"].failures == 0 and by["strong"].scored == 3
    # a rerun does not ask again: the verdict is final
    judge.reset()
    job.run(yes=True)
    assert judge.calls == 0


def test_a_failing_model_is_recorded_and_tried_again_on_the_rerun(tmp_path, endpoints, openai_server, judge):
    openai_server.set_mode("cheap", "500")
    job = make_job(tmp_path, endpoints, MIXED[:3])
    summary = job.run(yes=True)
    assert summary.rows == 0 and summary.out is None
    assert {m.model: m.failures for m in summary.models} == {"strong": 0, "cheap": 3}
    assert openai_server.calls["cheap"] == 3 * FAST.max_attempts_per_model
    openai_server.reset()
    summary = job.run(yes=True)
    assert summary.rows == 3 and openai_server.calls == {"cheap": 3}


def test_a_model_failing_again_and_again_is_given_up_for_the_run(tmp_path, endpoints, openai_server, judge):
    openai_server.set_mode("cheap", "503")
    job = make_job(tmp_path, endpoints, MIXED[:8], concurrency=1, give_up_after=2)
    with pytest.warns(UserWarning, match="giving up on cheap"):
        summary = job.run(yes=True)
    assert openai_server.calls["cheap"] == 2 * FAST.max_attempts_per_model
    assert openai_server.calls["strong"] == 8 and summary.rows == 0


def test_a_judge_that_keeps_failing_stops_the_run(tmp_path, endpoints, openai_server, judge):
    judge.reply = lambda body: 500
    job = make_job(tmp_path, endpoints, MIXED[:8], concurrency=1, give_up_after=2)
    summary = job.run(yes=True)
    assert summary.stopped is not None and "the judge judge-model failed 2 times" in summary.stopped
    assert judge.calls == 2 * FAST.max_attempts_per_model and summary.rows == 0


def test_a_refused_key_stops_the_run_and_keeps_what_finished(tmp_path, endpoints, openai_server, judge):
    judge.reply = lambda body: 401
    job = make_job(tmp_path, endpoints, MIXED[:4], concurrency=1)
    with pytest.raises(AuthenticationError):
        job.run(yes=True)
    assert judge.calls == 1  # not retried, not asked again
    answers = [r for r in journal_lines(job) if r["type"] == "answer"]
    assert len(answers) == sum(openai_server.calls.values()) >= 1


def test_calls_in_flight_are_limited_per_endpoint(tmp_path, endpoints, openai_server, judge):
    judge.delay = 0.03
    job = make_job(tmp_path, endpoints, MIXED, concurrency=8, endpoint_concurrency={judge.base_url: 2})
    job.run(yes=True)
    assert judge.max_in_flight == 2
    judge.reset()
    judge.delay = 0.03
    job = make_job(tmp_path / "more", endpoints, MIXED, concurrency=5)
    job.run(yes=True)
    assert 2 < judge.max_in_flight <= 5


def test_a_custom_judge_template_is_what_the_judge_receives(tmp_path, endpoints, openai_server, judge):
    template = JudgeTemplate(
        "Grade this.\nQUESTION: {question}\n[The Start of Assistant's Answer]\n{answer}\n"
        "[The End of Assistant's Answer]\nReply with Rating: [[N]].",
        system="You grade strictly.",
    )
    job = make_job(tmp_path, endpoints, MIXED[:2], judge_template=template)
    job.run(yes=True)
    first = judge.requests[0]["messages"]
    assert first[0] == {"role": "system", "content": "You grade strictly."}
    assert first[1]["content"].startswith("Grade this.\nQUESTION: ")
    # another template is another verdict: the answers are reused, the judge is asked again
    openai_server.reset()
    judge.reset()
    other = make_job(tmp_path, endpoints, MIXED[:2])
    other.run(yes=True)
    assert openai_server.total_calls == 0 and judge.calls == 4


# --- choosing what to label -----------------------------------------------------------------------


def test_a_seeded_sample_grows_by_its_head():
    prompts = [LabelPrompt.from_text(p) for p in MIXED]
    small, big = sample_prompts(prompts, 5, seed=3), sample_prompts(prompts, 10, seed=3)
    assert big[:5] == small and len(set(big)) == 10
    assert sample_prompts(prompts, 5, seed=4) != small
    with pytest.raises(InvalidRequestError):
        sample_prompts(prompts, 0)


def test_active_selection_picks_the_prompts_the_router_is_least_sure_of():
    # maths: one model clearly better; chat: two models alike in quality and cost
    rows = []
    for i, p in enumerate(math_prompts(40) + chat_prompts(40)):
        math_kind = i < 40
        rows.append((p, [0.9, 0.1] if math_kind else [0.6 + 0.02 * (i % 2), 0.6 + 0.02 * ((i + 1) % 2)]))
    ds = autorouter.RoutingDataset(prompts=[p for p, _ in rows], models=["a", "b"],
                                   scores=np.array([s for _, s in rows]), cost_usd=np.full((80, 2), 0.001))
    router = autorouter.Router(embedder=hash_embed).fit(ds)
    pool = [LabelPrompt.from_text(p) for p in math_prompts(60)[40:] + chat_prompts(60)[40:]]
    z = uncertainty_margins(pool, router)
    assert z[20:].max() < z[:20].min()
    chosen = least_sure_prompts(pool, router, 10)
    assert all(kind_of(p.text) == "chat" for p in chosen)


def test_plan_labelling_reads_selects_and_points_every_model_at_one_endpoint(tmp_path, openai_server, judge):
    path = tmp_path / "prompts.txt"
    path.write_text("\n".join(MIXED) + "\n", encoding="utf-8")
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"strong": [10, 30], "cheap": [0.1, 0.2], "judge-model": [1, 2]}))
    job = plan_labelling(path, models=["strong,cheap"], judge="judge-model", out=tmp_path / "d.jsonl",
                         sample=6, seed=1, base_url=openai_server.base_url, api_key_env="",
                         prices=prices, max_tokens=50)
    assert job.models == ["strong", "cheap"] and len(job.prompts) == 6
    assert job.params == {"max_tokens": 50}
    assert job.estimate().assumed_answer_tokens == 50 and job.estimate().unpriced == ()
    assert job.journal_path == journal_path_for(tmp_path / "d.jsonl")
    target = job.endpoints.target("judge-model")
    assert target.endpoint.base_url == openai_server.base_url and target.endpoint.api_key_env is None
    summary = job.run(yes=True)
    # the candidate server plays the judge here: it echoes the judge prompt, whose example
    # "Rating: [[5]]" is the last rating in it
    assert openai_server.calls["judge-model"] == 6 * 2 and summary.rows == 6
    assert all(r.body.get("max_tokens") == 50 for r in openai_server.requests_for("strong"))


def test_the_cli_estimates_refuses_then_labels_and_the_result_trains(tmp_path, openai_server):
    """The README's three commands: label (estimate first), train, route."""
    from typer.testing import CliRunner

    from autorouter.cli import app

    runner = CliRunner()
    path = tmp_path / "prompts.txt"
    path.write_text("\n".join(MIXED) + "\n", encoding="utf-8")
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"strong": [10, 30], "cheap": [0.1, 0.2], "judge-model": [1, 2]}))
    args = ["label", str(path), "--models", "strong,cheap", "--judge", "judge-model", "--out",
            str(tmp_path / "labels.jsonl"), "--prices", str(prices), "--base-url", openai_server.base_url,
            "--api-key-env", ""]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "$" in refused.output
    assert openai_server.total_calls == 0
    done = runner.invoke(app, [*args, "--yes"])
    assert done.exit_code == 0, done.output
    assert "wrote 40 labelled prompts" in done.output
    trained = runner.invoke(app, ["train", str(tmp_path / "labels.jsonl"), "--out", str(tmp_path / "r")])
    assert trained.exit_code == 0, trained.output
    routed = runner.invoke(app, ["route", MIXED[0], "--router", str(tmp_path / "r"), "--json"])
    assert json.loads(routed.output)["model"] in ("strong", "cheap")
