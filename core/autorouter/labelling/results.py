"""What a labelling job hands back: what the rest of it is expected to cost (`LabelEstimate`,
per model `ModelEstimate`), the refusal that carries that estimate
(`ConfirmationRequiredError`), and what a run did (`LabelSummary`, per model `ModelSummary`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import InvalidRequestError
from ..report import format_usd


@dataclass(frozen=True)
class ModelEstimate:
    """The expected cost of one model's remaining calls (`usd` None: no price known)."""

    model: str
    role: Literal["candidate", "reference", "judge"]
    calls: int
    input_tokens: int
    output_tokens: int
    usd: float | None


@dataclass(frozen=True)
class LabelEstimate:
    """What the rest of a labelling job is expected to cost, from list prices, the prompts'
    lengths, and assumed answer lengths (`assumed_answer_tokens`, `assumed_judge_tokens`).

    Calls whose result the journal already holds are not counted (`reused`, `spent_usd`), nor
    the second judge call an unparsable verdict costs, nor retries of failed calls (failures
    are seldom billed). `total_usd` leaves out the models in `unpriced`.
    """

    prompts: int
    answer_calls: int
    judge_calls: int
    answer_usd: float
    judge_usd: float
    per_model: tuple[ModelEstimate, ...]
    unpriced: tuple[str, ...]
    reused: int
    spent_usd: float
    assumed_answer_tokens: int
    assumed_judge_tokens: int

    @property
    def total_usd(self) -> float:
        """Candidates and judge together (priced models only)."""
        return self.answer_usd + self.judge_usd

    @property
    def calls(self) -> int:
        return self.answer_calls + self.judge_calls

    def describe(self) -> str:
        """A few lines a person can read before saying yes."""
        lines = [(
            f"{self.prompts} prompts: {self.answer_calls} answers and {self.judge_calls} judge calls "
            f"to make, estimated {format_usd(self.total_usd)} "
            f"({format_usd(self.answer_usd)} answers + {format_usd(self.judge_usd)} judge)"
        )]
        for m in self.per_model:
            if m.calls:
                usd = "no price known" if m.usd is None else format_usd(m.usd)
                lines.append(f"  {m.model} ({m.role}): {m.calls} calls, ~{m.input_tokens:,} in + "
                             f"~{m.output_tokens:,} out tokens, {usd}")
        if self.reused:
            lines.append(f"  {self.reused} results reused from the journal ({format_usd(self.spent_usd)} already spent)")
        if self.unpriced:
            lines.append(f"  not in the total (no list price): {', '.join(self.unpriced)}")
        lines.append(f"  assumes answers of {self.assumed_answer_tokens} tokens and judge replies of "
                     f"{self.assumed_judge_tokens}")
        return "\n".join(lines)


class ConfirmationRequiredError(InvalidRequestError):
    """`run` would pay for calls it was not allowed to: give `yes=True`, or a `budget_usd` the
    estimate fits. `estimate` is the `LabelEstimate` it refused on."""

    def __init__(self, message: str, estimate: LabelEstimate) -> None:
        super().__init__(message)
        self.estimate = estimate


# --- what it did -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSummary:
    """One labelled model over the job's prompts.

    `failures` counts answers that failed (after retries) and verdicts that are missing (the
    judge failed, or gave no parsable verdict twice); prompts a budget stop left undone are not
    failures. `answer_cost_usd` is what its answers cost (known costs only).
    """

    model: str
    mean_score: float | None
    scored: int
    answers: int
    failures: int
    answer_cost_usd: float
    mean_latency_s: float | None


@dataclass(frozen=True)
class LabelSummary:
    """The end of a run: what was written, what it cost, how each model did.

    `spent_usd` and `paid_calls` are this run's; `total_spent_usd` is the whole journal's.
    `stopped` says why the run ended early ("budget", or the judge failing), None if it did not.
    `out` is None when no prompt was fully labelled yet (nothing is written then).
    """

    out: Path | None
    journal: Path
    prompts: int
    rows: int
    models: tuple[ModelSummary, ...]
    judge: str
    judge_cost_usd: float
    reference_cost_usd: float
    spent_usd: float
    total_spent_usd: float
    paid_calls: int
    reused: int
    stopped: str | None
    estimate: LabelEstimate

    def describe(self) -> str:
        head = (f"{self.rows} of {self.prompts} prompts labelled"
                + (f" into {self.out}" if self.out else "")
                + f"; this run {self.paid_calls} calls, {format_usd(self.spent_usd)} "
                f"(journal total {format_usd(self.total_spent_usd)})")
        if self.stopped:
            head += f"; stopped early: {self.stopped}"
        lines = [head]
        for m in self.models:
            score = "n/a" if m.mean_score is None else f"{m.mean_score:.3f}"
            lines.append(f"  {m.model}: mean score {score} over {m.scored}, answers "
                         f"{format_usd(m.answer_cost_usd)}, failures {m.failures}")
        lines.append(f"  judge {self.judge}: {format_usd(self.judge_cost_usd)}")
        return "\n".join(lines)
