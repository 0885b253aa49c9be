"""One labelling run in flight: calling each model within the budget and the per-endpoint
limit, under the retry policy, journalling every answer and verdict as it arrives, and giving
up on a model (or stopping) after failures in a row."""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ..calls import EndpointTarget
from ..client import ChatClient, ChatCompletion, Usage
from ..costs import call_cost
from ..errors import AuthenticationError, FallbackExhaustedError, ProviderError
from ..reliability import CooldownTracker, arun_with_fallback
from .journal import JOURNAL_VERSION, _Journal, _State
from .judging import parse_rating, parse_verdict
from .prompts import LabelPrompt
from .results import LabelEstimate
from .settings import Order, Progress

if TYPE_CHECKING:
    from .job import LabelJob

logger = logging.getLogger("autorouter.labelling")

T = TypeVar("T")


@dataclass
class _Item:
    """One judge verdict to get: for `model` on `prompt`, in `order` (pairwise) or None."""

    prompt: LabelPrompt
    model: str
    order: Order | None


class _Stop(Exception):
    """Raised inside a run when no further paid call may start."""


class _Runner:
    """The mutable state of one run: counters, reservations, semaphores, the journal."""

    def __init__(self, job: LabelJob, state: _State, budget: float | None, progress: Progress | None,
                 estimate: LabelEstimate) -> None:
        self.job = job
        self.state = state
        self.budget = budget
        self.progress = progress
        self.spent = 0.0
        self.reserved = 0.0
        self.paid_calls = 0
        self.stopped: str | None = None
        self.given_up: set[str] = set()
        self.failures_in_a_row: dict[str, int] = {}
        self.cooldowns = CooldownTracker()
        self.semaphores: dict[str, asyncio.Semaphore] = {}
        self._clients: dict[str, ChatClient] = {}
        self._journal: _Journal | None = None
        n = len(job.prompts)
        judged = len(job._judged()) * len(job._orders())
        self.totals = {"answers": n * len(job.answerers), "verdicts": n * judged}
        self.done = {"answers": self.totals["answers"] - estimate.answer_calls,
                     "verdicts": self.totals["verdicts"] - estimate.judge_calls}

    # setup

    def clients(self) -> dict[str, ChatClient]:
        by_endpoint: dict[int, ChatClient] = {}
        out = {}
        for m in [*self.job.answerers, self.job.judge]:
            target = self.job.endpoints.target(m)
            client = by_endpoint.get(id(target.endpoint))
            if client is None:
                client = by_endpoint[id(target.endpoint)] = ChatClient(target.endpoint)
            out[m] = client
        return out

    def _semaphore(self, target: EndpointTarget) -> asyncio.Semaphore:
        url = target.endpoint.base_url.rstrip("/")
        sem = self.semaphores.get(url)
        if sem is None:
            sem = self.semaphores[url] = asyncio.Semaphore(self.job.endpoint_concurrency.get(url, self.job.concurrency))
        return sem

    def _report(self, stage: str) -> None:
        if self.progress is not None:
            self.progress(stage, self.done[stage], self.totals[stage], self.state.spent)

    async def go(self, clients: dict[str, ChatClient], journal: _Journal) -> None:
        self._clients = clients
        self._journal = journal
        for stage in ("answers", "verdicts"):
            self._report(stage)
        prompts = iter(self.job.prompts)
        limits = [self.job.concurrency, *self.job.endpoint_concurrency.values()]
        workers = [asyncio.create_task(self._worker(prompts)) for _ in range(min(len(self.job.prompts), max(limits)))]
        try:
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                error = None if task.cancelled() else task.exception()
                if error is not None:
                    raise error
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(self, prompts: Iterator[LabelPrompt]) -> None:
        for p in prompts:
            if self.stopped:
                return
            await self._prompt(p)

    # one prompt

    async def _prompt(self, p: LabelPrompt) -> None:
        job = self.job
        ref_task: asyncio.Task[dict[str, Any] | None] | None = None
        if job.reference is not None:
            ref_task = asyncio.ensure_future(self._answer(p, job.reference))

        async def one(model: str) -> None:
            if model == job.reference:
                return  # its answer is `ref_task`
            ans = await self._answer(p, model)
            ref = await asyncio.shield(ref_task) if ref_task is not None else None
            for order in job._orders():
                if ans is None or (ref_task is not None and ref is None):
                    self._skip_verdict()
                    continue
                texts = [str(ans["text"])] + ([str(ref["text"])] if ref is not None else [])
                await self._verdict(_Item(p, model, order), texts)

        try:
            await _all([one(m) for m in job.models])
            if ref_task is not None:
                await ref_task
        finally:
            if ref_task is not None and not ref_task.done():
                ref_task.cancel()
                await asyncio.gather(ref_task, return_exceptions=True)

    def _skip_verdict(self) -> None:
        """A verdict that cannot be asked (its answer is missing): done, for the progress bar,
        unless the run is stopping (then it is left for a rerun)."""
        if not self.stopped:
            self.done["verdicts"] += 1
            self._report("verdicts")

    # money

    def _reserve(self, usd: float | None) -> float:
        """Book the expected cost of a call about to start; raises `_Stop` when the budget
        would be passed."""
        if self.stopped:
            raise _Stop
        cost = usd or 0.0
        if self.budget is not None and self.state.spent + self.reserved + cost > self.budget * (1 + 1e-9):
            self.stopped = "budget"
            logger.info("budget of %.6g USD reached: no new call starts", self.budget)
            raise _Stop
        self.reserved += cost
        return cost

    def _cost(self, model: str, usage: Usage | None, expected: float | None) -> tuple[float | None, str | None]:
        """The call's cost (`autorouter.costs.call_cost`), else the expected one, marked "estimate"."""
        if usage is not None:
            price = self.job.price(model)
            cost, source = call_cost(price, usage.prompt_tokens, usage.completion_tokens, usage.cost)
            if cost is not None:
                return cost, source
        if expected is not None:
            return expected, "estimate"
        return None, None

    def _record(self, rec: dict[str, Any]) -> None:
        assert self._journal is not None
        self._journal.append(rec)
        self.state.add(rec)
        cost = rec.get("cost_usd")
        if isinstance(cost, (int, float)):
            self.spent += float(cost)

    def _note_prompt(self, p: LabelPrompt) -> None:
        if p.key in self.state.prompts:
            return
        rec: dict[str, Any] = {"type": "prompt", "key": p.key, "prompt": p.text, "source": p.source, "v": JOURNAL_VERSION}
        if len(p.messages) > 1 or set(p.messages[0]) != {"role", "content"} or p.messages[0]["content"] != p.text:
            rec["messages"] = p.messages
        self._record(rec)

    async def _call(
        self, model: str, messages: list[dict[str, Any]], params: Mapping[str, Any], expected: float | None,
        finish: Callable[[ChatCompletion, float], T],
    ) -> T:
        """One paid call under the endpoint's limit and the budget; `finish(answer, seconds)`
        journals it and gives what this returns.

        If the run is cancelled (Ctrl-C, or a failure elsewhere) while the call is in flight, the
        call is let finish and journalled before the cancellation goes on: it is paid for. A
        second cancellation abandons it.
        """
        target = self.job.endpoints.target(model)
        client = self._clients[model]

        def call(_model: str) -> Awaitable[ChatCompletion]:
            return client.acomplete(target.upstream_model, messages, **params)

        async with self._semaphore(target):
            booked = self._reserve(expected)
            inner = asyncio.ensure_future(
                arun_with_fallback([model], call, policy=self.job.retry_policy, cooldowns=self.cooldowns))
            try:
                try:
                    result = await asyncio.shield(inner)
                except AuthenticationError:
                    self.stopped = f"{model}: the provider refused the key"
                    raise
                except asyncio.CancelledError:
                    logger.info("stopping: waiting for the call to %s in flight (it is paid for)", model)
                    try:
                        late = await inner
                    except asyncio.CancelledError:
                        inner.cancel()
                        raise
                    except Exception:  # noqa: BLE001 - it failed: nothing to keep, stop as asked
                        raise asyncio.CancelledError from None
                    self.paid_calls += 1
                    try:
                        finish(late.value, late.attempts[-1].elapsed_s)
                    except Exception:  # e.g. a progress callback: the record is written first
                        logger.debug("while stopping", exc_info=True)
                    raise
            finally:
                self.reserved -= booked
        self.paid_calls += 1
        return finish(result.value, result.attempts[-1].elapsed_s)

    def _failed(self, model: str, error: BaseException) -> None:
        n = self.failures_in_a_row[model] = self.failures_in_a_row.get(model, 0) + 1
        if n >= self.job.give_up_after:
            if model == self.job.judge:
                self.stopped = f"the judge {model} failed {n} times in a row ({_short(error)})"
            elif model not in self.given_up:
                self.given_up.add(model)
                warnings.warn(f"giving up on {model} for this run after {n} failures in a row "
                              f"({_short(error)}); a rerun tries its prompts again", stacklevel=2)

    # answers

    async def _answer(self, p: LabelPrompt, model: str) -> dict[str, Any] | None:
        job = self.job
        key = job.answer_key(p, model)
        have = self.state.answers.get(key)
        if have is not None:
            return have
        if self.stopped or model in self.given_up:
            return None
        t_in, t_out = job._answer_call(p, model)
        expected = job._usd(model, t_in, t_out)

        def finish(completion: ChatCompletion, seconds: float) -> dict[str, Any]:
            self.failures_in_a_row[model] = 0
            usage = completion.usage
            cost, source = self._cost(model, usage, expected)
            text = completion.text or "\n".join(f"(tool call) {c.name}({c.arguments})" for c in completion.tool_calls)
            rec = {
                "type": "answer", "key": key, "prompt_key": p.key, "model": model, "status": "ok",
                "text": text, "output_chars": len(text), "finish_reason": completion.finish_reason,
                "upstream_model": completion.model,
                "prompt_tokens": usage.prompt_tokens if usage else None,
                "completion_tokens": usage.completion_tokens if usage else None,
                "cost_usd": cost, "cost_source": source, "latency_s": round(seconds, 4),
                "at": round(time.time(), 3),
            }
            self._note_prompt(p)
            self._record(rec)
            self.done["answers"] += 1
            self._report("answers")
            return rec

        try:
            return await self._call(model, p.messages, job.params, expected, finish)
        except _Stop:
            return None
        except AuthenticationError:
            raise
        except (ProviderError, FallbackExhaustedError) as e:
            self._note_prompt(p)
            self._record({"type": "answer", "key": key, "prompt_key": p.key, "model": model,
                          "status": "failed", "error": _short(e), "at": round(time.time(), 3)})
            self._failed(model, e)
            self.done["answers"] += 1
            self._report("answers")
            return None

    # verdicts

    async def _verdict(self, item: _Item, texts: list[str]) -> None:
        job = self.job
        key = job.verdict_key(item.prompt, item.model, item.order, texts)
        if self.state.verdict_final(key):
            return
        if item.order == "ba":
            values = {"answer_a": texts[1], "answer_b": texts[0]}
        elif item.order == "ab":
            values = {"answer_a": texts[0], "answer_b": texts[1]}
        else:
            values = {"answer": texts[0]}
        messages = job.template.render(question=item.prompt.question, **values)
        t_in, t_out = job._judge_call(item.prompt, [len(t) for t in texts])
        expected = job._usd(job.judge, t_in, t_out)

        def finish(completion: ChatCompletion, seconds: float) -> None:
            self.failures_in_a_row[job.judge] = 0
            cost, source = self._cost(job.judge, completion.usage, expected)
            rec: dict[str, Any] = {
                "type": "verdict", "key": key, "prompt_key": item.prompt.key, "model": item.model,
                "judge": job.judge, "mode": job.mode, "order": item.order, "reference": job.reference,
                "template": job.template.digest, "attempt": len(self.state.verdicts.get(key, ())) + 1,
                "text": completion.text, "cost_usd": cost, "cost_source": source,
                "latency_s": round(seconds, 4), "at": round(time.time(), 3),
            }
            if job.mode == "single":
                rating = parse_rating(completion.text)
                rec["rating"] = rating
                rec["status"] = "ok" if rating is not None else "unparsable"
            else:
                verdict = parse_verdict(completion.text)
                rec["verdict"] = verdict
                rec["status"] = "ok" if verdict is not None else "unparsable"
            if rec["status"] == "unparsable":
                logger.info("unparsable verdict on %s / %s (attempt %d)", item.prompt.source, item.model,
                            rec["attempt"])
            self._record(rec)

        while not self.state.verdict_final(key):
            if self.stopped:
                return
            try:
                await self._call(job.judge, messages, job.judge_params, expected, finish)
            except _Stop:
                return
            except AuthenticationError:
                raise
            except (ProviderError, FallbackExhaustedError) as e:
                self._record({"type": "verdict", "key": key, "prompt_key": item.prompt.key, "model": item.model,
                              "judge": job.judge, "order": item.order, "status": "failed", "error": _short(e),
                              "at": round(time.time(), 3)})
                self._failed(job.judge, e)
                break
        self.done["verdicts"] += 1
        self._report("verdicts")


async def _all(coros: Sequence[Awaitable[None]]) -> None:
    """Await every coroutine; if one fails, cancel the others and wait for them before the
    error goes on, so that no call outlives the run that made it.

    Each task is cancelled once only: a second cancellation would abandon a call in flight
    instead of letting it finish and be journalled (see `_Runner._call`).
    """
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.gather(*tasks)
    except BaseException as error:
        if not isinstance(error, asyncio.CancelledError):  # gather cancels them itself if so
            for task in tasks:
                if not task.done():
                    task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _short(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]
