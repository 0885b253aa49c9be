"""The labelling job: `LabelJob` holds what to label and how (models, judge, reference,
endpoints, prices, request fields), keys its answers and verdicts, plans and prices what is
left, checks a run is allowed to pay for it, runs it, and builds the routing data from the
journal."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..calls import Endpoints
from ..client import Endpoint, aclose_pools
from ..costs import list_price
from ..errors import InvalidRequestError
from ..predictors import CHARS_PER_TOKEN
from ..prompts import _content_text
from ..reliability import RetryPolicy
from ..report import format_usd
from ..types import ModelPrice
from .journal import _digest, _Journal, _State, journal_path_for
from .judging import PAIRWISE_JUDGE, SINGLE_JUDGE, JudgeTemplate, pair_outcome, rating_to_score
from .prompts import LabelPrompt, _prompt_list, _prompt_of_record
from .results import ConfirmationRequiredError, LabelEstimate, LabelSummary, ModelEstimate, ModelSummary
from .runner import _Item, _Runner
from .settings import (
    _REQUEST_PARAMS_REFUSED,
    ASSUMED_ANSWER_TOKENS,
    ASSUMED_JUDGE_TOKENS,
    DEFAULT_CALL_TIMEOUT_S,
    DEFAULT_CONCURRENCY,
    DEFAULT_JUDGE_PARAMS,
    DEFAULT_RETRY_POLICY,
    GIVE_UP_AFTER_FAILURES,
    MESSAGE_OVERHEAD_TOKENS,
    VERDICT_ATTEMPTS,
    Mode,
    Order,
    Progress,
)


class LabelJob:
    """Label `prompts` with the answers of `models`, graded by `judge`, into routing data `out`.

    Args:
        prompts: `LabelPrompt`s (see `read_prompts`, `select_prompts`) or prompt strings, in the
            order to label them.
        models: the candidates to label (the columns of the routing data).
        judge: the model that grades the answers.
        out: the routing data to write (`.jsonl` or `.jsonl.gz`); its journal sits beside it
            (`journal_path_for(out)`) unless `journal` says otherwise.
        reference: grade pairwise against this model's answer (both orders) instead of on a
            1-10 scale. If it is one of `models` its score is 0.5 (a tie with itself); if not,
            its answers are bought for the comparison only.
        endpoints: where each model is called (`autorouter.Endpoints`); default OpenRouter
            (`OPENROUTER_API_KEY`) for every model.
        prices: list prices `{model: (USD per 1M input tokens, per 1M output)}` for models the
            catalog does not price (or prices differently at your provider).
        judge_template: the judge prompt (`JudgeTemplate`, or a user-message string with named
            fields); default `SINGLE_JUDGE`, or `PAIRWISE_JUDGE` with a reference.
        params: extra request fields for the candidates (`max_tokens`, `temperature`, ...).
            Part of an answer's key: changing them asks the models again.
        judge_params: request fields for the judge (default `DEFAULT_JUDGE_PARAMS`).
        concurrency: calls in flight at once per endpoint base URL.
        endpoint_concurrency: `{base URL: limit}` overriding `concurrency` for some endpoints.
        retry_policy: how each call is retried (default `DEFAULT_RETRY_POLICY`).
        assumed_answer_tokens, assumed_judge_tokens: answer lengths the estimate assumes.
        journal: the journal file (default beside `out`).
        fsync: force every journal line to disk as it is written (off only for tests).
    """

    def __init__(
        self,
        prompts: Sequence[LabelPrompt | str],
        *,
        models: Sequence[str],
        judge: str,
        out: str | Path,
        reference: str | None = None,
        endpoints: Endpoints | None = None,
        prices: Mapping[str, ModelPrice | Sequence[float]] | None = None,
        judge_template: JudgeTemplate | str | None = None,
        params: Mapping[str, Any] | None = None,
        judge_params: Mapping[str, Any] | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        endpoint_concurrency: Mapping[str, int] | None = None,
        retry_policy: RetryPolicy | None = None,
        assumed_answer_tokens: int = ASSUMED_ANSWER_TOKENS,
        assumed_judge_tokens: int = ASSUMED_JUDGE_TOKENS,
        give_up_after: int = GIVE_UP_AFTER_FAILURES,
        journal: str | Path | None = None,
        fsync: bool = True,
    ) -> None:
        self.models = _model_list(models, "models")
        if not isinstance(judge, str) or not judge.strip():
            raise InvalidRequestError("give the judge model, e.g. judge='openai/gpt-4o'")
        self.judge = judge.strip()
        if reference is not None and (not isinstance(reference, str) or not reference.strip()):
            raise InvalidRequestError("reference must be a model name")
        self.reference = reference.strip() if reference else None
        self.mode: Mode = "pairwise" if self.reference else "single"
        if judge_template is None:
            template = PAIRWISE_JUDGE if self.mode == "pairwise" else SINGLE_JUDGE
        elif isinstance(judge_template, str):
            template = JudgeTemplate(judge_template, None, self.mode)
        elif isinstance(judge_template, JudgeTemplate):
            template = judge_template
        else:
            raise InvalidRequestError(f"judge_template must be a JudgeTemplate or a string, not {type(judge_template).__name__}")
        if template.kind != self.mode:
            raise InvalidRequestError(
                f"a {template.kind} judge template cannot grade in {self.mode} mode "
                f"({'a reference model was given' if self.reference else 'no reference model was given'})"
            )
        self.template = template
        self.out = Path(out)
        if not self.out.name.lower().endswith((".jsonl", ".jsonl.gz", ".ndjson")):
            raise InvalidRequestError(f"the output is JSON Lines routing data: name it .jsonl or .jsonl.gz, not {self.out.name!r}")
        self.journal_path = Path(journal) if journal is not None else journal_path_for(self.out)
        self.endpoints = endpoints if endpoints is not None else Endpoints(
            default=Endpoint(timeout=DEFAULT_CALL_TIMEOUT_S)
        )
        if not isinstance(self.endpoints, Endpoints):
            raise InvalidRequestError("endpoints must be an autorouter.Endpoints")
        self.prices = {m: ModelPrice.of(p) for m, p in (prices or {}).items()}
        self.params = _request_params(params, "params")
        self.judge_params = _request_params(DEFAULT_JUDGE_PARAMS if judge_params is None else judge_params, "judge_params")
        self.concurrency = _positive_int(concurrency, "concurrency")
        self.endpoint_concurrency = {
            k.rstrip("/"): _positive_int(v, f"endpoint_concurrency[{k!r}]") for k, v in (endpoint_concurrency or {}).items()
        }
        self.retry_policy = retry_policy or DEFAULT_RETRY_POLICY
        self.assumed_answer_tokens = _positive_int(assumed_answer_tokens, "assumed_answer_tokens")
        self.assumed_judge_tokens = _positive_int(assumed_judge_tokens, "assumed_judge_tokens")
        self.give_up_after = _positive_int(give_up_after, "give_up_after")
        self.fsync = fsync
        self.prompts = _prompt_list(prompts)
        # the models that answer: the candidates, then the reference if it is not one
        self.answerers = self.models + ([self.reference] if self.reference and self.reference not in self.models else [])

    def __repr__(self) -> str:
        return (f"LabelJob({len(self.prompts)} prompts, models={self.models}, judge={self.judge!r}, "
                f"mode={self.mode!r}, out={str(self.out)!r})")

    # --- keys

    def answer_key(self, prompt: LabelPrompt, model: str) -> str:
        """The journal key of `model`'s answer to `prompt` (with these request params)."""
        return _digest("answer", [prompt.key, model, self.params])[:32]

    def verdict_key(self, prompt: LabelPrompt, model: str, order: Order | None, answers: Sequence[str]) -> str:
        """The journal key of one verdict: prompt, model, judge, template, mode, order,
        reference, judge params, and the answer text(s) judged."""
        texts = [hashlib.sha256(a.encode()).hexdigest()[:16] for a in answers]
        return _digest("verdict", [prompt.key, model, self.judge, self.template.digest, self.mode, order,
                                   self.reference, self.judge_params, texts])[:32]

    def _judged(self) -> list[str]:
        """The models the judge grades (the reference does not grade against itself)."""
        return [m for m in self.models if m != self.reference]

    def _orders(self) -> tuple[Order | None, ...]:
        return ("ab", "ba") if self.mode == "pairwise" else (None,)

    # --- prices

    def price(self, model: str) -> ModelPrice | None:
        """`model`'s list price: the job's `prices`, else the catalog's; None if unknown."""
        return list_price(model, self.prices, self.endpoints.card)

    def _thinking_tokens(self, model: str) -> int:
        card = self.endpoints.target(model).card
        return int(card.reasoning_tokens or 0) if card is not None else 0

    def _answer_tokens(self) -> int:
        limit = self.params.get("max_completion_tokens") or self.params.get("max_tokens")
        return int(limit) if isinstance(limit, int) and limit > 0 else self.assumed_answer_tokens

    def _judge_out_tokens(self) -> int:
        limit = self.judge_params.get("max_completion_tokens") or self.judge_params.get("max_tokens")
        cap = int(limit) if isinstance(limit, int) and limit > 0 else self.assumed_judge_tokens
        return min(self.assumed_judge_tokens, cap)

    def _usd(self, model: str, tokens_in: int, tokens_out: int) -> float | None:
        price = self.price(model)
        if price is None:
            return None
        return price.cost_usd(tokens_in, tokens_out)

    def _answer_call(self, prompt: LabelPrompt, model: str) -> tuple[int, int]:
        """Expected (input, output) tokens of one answer."""
        return _tokens_of(prompt.messages), self._answer_tokens() + self._thinking_tokens(model)

    def _judge_call(self, prompt: LabelPrompt, answer_chars: Sequence[int]) -> tuple[int, int]:
        """Expected (input, output) tokens of one judge call on answers of these lengths."""
        chars = self.template.fixed_chars() + len(prompt.question) + sum(answer_chars)
        n_messages = 2 if self.template.system else 1
        return (math.ceil(chars / CHARS_PER_TOKEN) + MESSAGE_OVERHEAD_TOKENS * n_messages,
                self._judge_out_tokens() + self._thinking_tokens(self.judge))

    # --- planning

    def _plan(self, state: _State) -> tuple[list[tuple[LabelPrompt, str]], list[tuple[_Item, list[int]]], int]:
        """What is left to do: answers to get, verdicts to get (with the lengths of the answers
        they will show, known or assumed), and how many results the journal already holds."""
        answers: list[tuple[LabelPrompt, str]] = []
        verdicts: list[tuple[_Item, list[int]]] = []
        reused = 0
        assumed_chars = int(self._answer_tokens() * CHARS_PER_TOKEN)
        for p in self.prompts:
            have: dict[str, dict[str, Any]] = {}
            for m in self.answerers:
                rec = state.answers.get(self.answer_key(p, m))
                if rec is None:
                    answers.append((p, m))
                else:
                    have[m] = rec
                    reused += 1
            for m in self._judged():
                for order in self._orders():
                    shown = [m] if order is None else [m, self.reference or ""]
                    recs = [have.get(x) for x in shown]
                    if all(r is not None for r in recs):
                        texts = [str(r["text"]) for r in recs if r is not None]
                        if state.verdict_final(self.verdict_key(p, m, order, texts)):
                            reused += 1
                            continue
                        lengths = [len(t) for t in texts]
                    else:
                        lengths = [len(str(r["text"])) if r is not None else assumed_chars for r in recs]
                    verdicts.append((_Item(p, m, order), lengths))
        return answers, verdicts, reused

    def estimate(self) -> LabelEstimate:
        """What the remaining work is expected to cost (nothing is called; no key is needed)."""
        return self._estimate(_State.read(self.journal_path))

    def _estimate(self, state: _State) -> LabelEstimate:
        answers, verdicts, reused = self._plan(state)
        per: dict[tuple[str, str], list[Any]] = {}
        for p, m in answers:
            role = "candidate" if m in self.models else "reference"
            t_in, t_out = self._answer_call(p, m)
            _add(per, (m, role), t_in, t_out, self._usd(m, t_in, t_out))
        for item, lengths in verdicts:
            t_in, t_out = self._judge_call(item.prompt, lengths)
            _add(per, (self.judge, "judge"), t_in, t_out, self._usd(self.judge, t_in, t_out))
        rows = []
        for (m, role), (calls, t_in, t_out, usd) in per.items():
            rows.append(ModelEstimate(m, role, calls, t_in, t_out, usd))  # type: ignore[arg-type]
        answer_usd = sum(r.usd or 0.0 for r in rows if r.role != "judge")
        judge_usd = sum(r.usd or 0.0 for r in rows if r.role == "judge")
        unpriced = tuple(dict.fromkeys(r.model for r in rows if r.usd is None))
        return LabelEstimate(
            prompts=len(self.prompts), answer_calls=len(answers), judge_calls=len(verdicts),
            answer_usd=answer_usd, judge_usd=judge_usd, per_model=tuple(rows), unpriced=unpriced,
            reused=reused, spent_usd=state.spent, assumed_answer_tokens=self._answer_tokens(),
            assumed_judge_tokens=self._judge_out_tokens(),
        )

    # --- running

    def run(self, *, yes: bool = False, budget_usd: float | None = None, progress: Progress | None = None) -> LabelSummary:
        """Label the prompts, write the routing data, return a `LabelSummary`.

        Refuses (`ConfirmationRequiredError`, before any call) when there is something to pay
        for and neither `yes=True` nor a `budget_usd` that `spent so far + estimate` fits was
        given (nor when a budget is given and some model has no known price, since the budget
        could not be checked). With a budget, no paid call starts once the journal's spend
        plus what the calls in flight are expected to cost would pass it; what finished is
        kept and written. The budget covers the whole journal, earlier runs included.

        Runs its own event loop; from async code use `await job.arun(...)`.

        Raises:
            ConfirmationRequiredError: as above.
            MissingAPIKeyError: an endpoint needs a key that is not set (before any call).
            AuthenticationError: a provider refused the key (the run stops; the journal keeps
                what finished).
        """
        async def main() -> LabelSummary:
            try:
                return await self.arun(yes=yes, budget_usd=budget_usd, progress=progress)
            finally:
                await aclose_pools()

        return asyncio.run(main())

    async def arun(self, *, yes: bool = False, budget_usd: float | None = None, progress: Progress | None = None) -> LabelSummary:
        """`run` for asyncio."""
        budget = _check_budget(budget_usd)
        state = _State.read(self.journal_path)
        estimate = self._estimate(state)
        self._check_allowed(estimate, yes, budget)
        runner = _Runner(self, state, budget, progress, estimate)
        if estimate.calls:
            clients = runner.clients()  # a missing key fails here, before any call
            journal = _Journal(self.journal_path, fsync=self.fsync)
            journal.open()
            try:
                await runner.go(clients, journal)
            finally:
                journal.close()
        rows = self.rows(state)
        written = self._write(rows) if rows else None
        return self._summary(state, runner, estimate, written, len(rows))

    def _check_allowed(self, estimate: LabelEstimate, yes: bool, budget: float | None) -> None:
        if not estimate.calls or yes:
            return
        total = estimate.spent_usd + estimate.total_usd
        if budget is None:
            raise ConfirmationRequiredError(
                f"labelling would make {estimate.calls} paid calls, estimated {format_usd(estimate.total_usd)}"
                + (" (plus models without a price: " + ", ".join(estimate.unpriced) + ")" if estimate.unpriced else "")
                + ": pass yes=True (CLI: --yes) to go ahead, or a budget (--budget USD) it must fit",
                estimate,
            )
        if estimate.unpriced:
            raise ConfirmationRequiredError(
                f"no list price for {', '.join(estimate.unpriced)}, so the budget cannot be checked: "
                "give their prices (prices={model: (in, out)}; CLI --prices FILE), or pass yes=True "
                "to run under the budget anyway",
                estimate,
            )
        if total > budget:
            spent = f" + {format_usd(estimate.spent_usd)} already spent" if estimate.spent_usd else ""
            raise ConfirmationRequiredError(
                f"the estimate {format_usd(estimate.total_usd)}{spent} passes the budget of "
                f"{format_usd(budget)}: raise the budget, label fewer prompts (sample), or pass "
                "yes=True to label until the budget is spent",
                estimate,
            )

    # --- output

    def rows(self, state: _State | None = None) -> list[dict[str, Any]]:
        """The routing-data rows the journal holds for these models, judge and settings: every
        prompt of the journal (this job's and earlier runs') that is fully labelled."""
        state = state if state is not None else _State.read(self.journal_path)
        rows = []
        for key, rec in state.prompts.items():
            p = _prompt_of_record(key, rec)
            if p is None:
                continue
            row = self._row(p, state)
            if row is not None:
                rows.append(row)
        return rows

    def _score(self, p: LabelPrompt, model: str, state: _State) -> tuple[float | None, float | None]:
        """(score on [0, 1], 1-10 rating if single) of `model` on `p`, or None if missing."""
        if self.reference is not None and model == self.reference:
            return 0.5, None
        ans = state.answers.get(self.answer_key(p, model))
        if ans is None:
            return None, None
        if self.mode == "single":
            v = state.verdict(self.verdict_key(p, model, None, [str(ans["text"])]))
            if v is None or not isinstance(v.get("rating"), (int, float)):
                return None, None
            return rating_to_score(float(v["rating"])), float(v["rating"])
        assert self.reference is not None
        ref = state.answers.get(self.answer_key(p, self.reference))
        if ref is None:
            return None, None
        outcomes = []
        orders: tuple[Order, Order] = ("ab", "ba")
        for order in orders:
            v = state.verdict(self.verdict_key(p, model, order, [str(ans["text"]), str(ref["text"])]))
            if v is None or v.get("verdict") not in ("A", "B", "C"):
                return None, None
            outcomes.append(pair_outcome(str(v["verdict"]), order))
        return sum(outcomes) / len(outcomes), None

    def _row(self, p: LabelPrompt, state: _State) -> dict[str, Any] | None:
        scores: dict[str, float] = {}
        costs: dict[str, float] = {}
        chars: dict[str, int] = {}
        latency: dict[str, float] = {}
        ratings: dict[str, float] = {}
        for m in self.models:
            ans = state.answers.get(self.answer_key(p, m))
            score, rating = self._score(p, m, state)
            if ans is None or score is None:
                return None
            scores[m] = round(score, 6)
            if rating is not None:
                ratings[m] = rating
            if isinstance(ans.get("cost_usd"), (int, float)):
                costs[m] = float(ans["cost_usd"])
            chars[m] = int(ans.get("output_chars") or 0)
            if isinstance(ans.get("latency_s"), (int, float)):
                latency[m] = float(ans["latency_s"])
        row: dict[str, Any] = {"prompt": p.text, "scores": scores}
        if costs:
            row["cost_usd"] = costs
        row["output_chars"] = chars
        if latency:
            row["latency_s"] = latency
        if ratings:
            row["ratings"] = ratings
        if len(p.messages) > 1:
            row["messages"] = p.messages
        row.update({"prompt_key": p.key, "source": p.source, "judge": self.judge, "judge_mode": self.mode})
        if self.reference:
            row["reference"] = self.reference
        return row

    def _write(self, rows: list[dict[str, Any]]) -> Path:
        """Write `rows` to `out` atomically (a temporary file renamed over it)."""
        self.out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.out.name + ".", suffix=".tmp", dir=self.out.parent)
        try:
            with os.fdopen(fd, "wb") as raw:
                if self.out.name.lower().endswith(".gz"):
                    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
                        for row in rows:
                            gz.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
                else:
                    for row in rows:
                        raw.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
            os.replace(tmp, self.out)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return self.out

    def _summary(self, state: _State, runner: _Runner, estimate: LabelEstimate, written: Path | None, n_rows: int) -> LabelSummary:
        per = []
        judge_cost = 0.0
        ref_cost = 0.0
        for p in self.prompts:
            if self.reference and self.reference not in self.models:
                ans = state.answers.get(self.answer_key(p, self.reference))
                ref_cost += float((ans or {}).get("cost_usd") or 0.0)
        for m in self.models:
            scores, lat = [], []
            answers = failures = 0
            cost = 0.0
            for p in self.prompts:
                ak = self.answer_key(p, m)
                ans = state.answers.get(ak)
                if ans is None:
                    failures += ak in state.answer_failures
                    continue
                answers += 1
                cost += float(ans.get("cost_usd") or 0.0)
                if isinstance(ans.get("latency_s"), (int, float)):
                    lat.append(float(ans["latency_s"]))
                score, _ = self._score(p, m, state)
                if score is not None:
                    scores.append(score)
                if m == self.reference:
                    continue
                ref = state.answers.get(self.answer_key(p, self.reference)) if self.reference else None
                if self.reference and ref is None:
                    continue
                for order in self._orders():
                    texts = [str(ans["text"])] + ([str(ref["text"])] if ref is not None else [])
                    vk = self.verdict_key(p, m, order, texts)
                    judge_cost += sum(float(r.get("cost_usd") or 0.0) for r in state.verdicts.get(vk, ()))
                    missing = (state.unparsable(vk) >= VERDICT_ATTEMPTS and state.verdict(vk) is None) or (
                        vk in state.verdict_failures and not state.verdict_final(vk))
                    failures += missing
            per.append(ModelSummary(
                model=m, mean_score=float(np.mean(scores)) if scores else None, scored=len(scores),
                answers=answers, failures=int(failures), answer_cost_usd=cost,
                mean_latency_s=float(np.mean(lat)) if lat else None,
            ))
        return LabelSummary(
            out=written, journal=self.journal_path, prompts=len(self.prompts), rows=n_rows, models=tuple(per),
            judge=self.judge, judge_cost_usd=judge_cost, reference_cost_usd=ref_cost, spent_usd=runner.spent,
            total_spent_usd=state.spent, paid_calls=runner.paid_calls, reused=estimate.reused,
            stopped=runner.stopped, estimate=estimate,
        )


def _tokens_of(messages: Sequence[Mapping[str, Any]]) -> int:
    chars = sum(len(_content_text(m.get("content"))) for m in messages)
    return math.ceil(chars / CHARS_PER_TOKEN) + MESSAGE_OVERHEAD_TOKENS * len(messages)


def _add(per: dict[tuple[str, str], list[Any]], key: tuple[str, str], t_in: int, t_out: int, usd: float | None) -> None:
    row = per.setdefault(key, [0, 0, 0, 0.0])
    row[0] += 1
    row[1] += t_in
    row[2] += t_out
    row[3] = None if usd is None or row[3] is None else row[3] + usd


def _model_list(models: Sequence[str], what: str) -> list[str]:
    if isinstance(models, str):
        models = [models]
    names = [m.strip() for m in models if isinstance(m, str) and m.strip()]
    if len(names) != len(list(models)) or not names:
        raise InvalidRequestError(f"{what} must be one or more model names, got {models!r}")
    dupes = sorted({m for m in names if names.count(m) > 1})
    if dupes:
        raise InvalidRequestError(f"{what} names {dupes} more than once")
    return names


def _request_params(params: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    out = dict(params or {})
    bad = [k for k in _REQUEST_PARAMS_REFUSED if k in out]
    if bad:
        raise InvalidRequestError(f"{what} may not set {bad}: the job chooses the model and messages, and does not stream")
    return out


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequestError(f"{what} must be a whole number >= 1, got {value!r}")
    return value


def _check_budget(budget: float | None) -> float | None:
    if budget is None:
        return None
    try:
        value = float(budget)
    except (TypeError, ValueError):
        raise InvalidRequestError(f"the budget is a number of USD, got {budget!r}") from None
    if not math.isfinite(value) or value < 0:
        raise InvalidRequestError(f"the budget must be a finite number of USD >= 0, got {budget!r}")
    return value
