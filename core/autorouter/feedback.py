"""What a router learns from outcomes after it was fitted, and the log that keeps them.

`OutcomeCorrection` is the learner behind `Router.partial_fit`: for each prompt cluster and
candidate it holds the summed weight of the outcomes seen and of their residuals (score minus
the router's own prediction before any feedback). Its correction of a prediction is the
residuals' mean shrunk toward zero by `strength` pseudo-outcomes, so a few outcomes nudge a
model and many outweigh what it was first placed by. Sums make updates exact and
order-free: fitting on all outcomes at once or one at a time gives the same state.

`FeedbackLog` is an append-only JSON Lines file of `Feedback` records (the prompt, the model
that answered, the score): durable, replayable with `autorouter train --feedback FILE`.
`AnswerLedger` remembers which prompt and model recent answer ids belong to, so feedback can
name an answer by its id (the gateway's `POST /v1/feedback`, the adapters' `feedback`), and
`give_feedback` records and learns one such outcome.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import InvalidRequestError, UnknownModelError, UnknownResponseError
from .state import Dims, State, check_members, check_number, check_ranges, check_shapes

if TYPE_CHECKING:
    from .router import Router

__all__ = [
    "DEFAULT_FEEDBACK_STRENGTH", "AnswerLedger", "Feedback", "FeedbackLog", "OutcomeCorrection",
    "default_feedback_path", "give_feedback", "outcome_scores",
]

#: pseudo-outcomes of the router's own prediction per prompt cluster
DEFAULT_FEEDBACK_STRENGTH = 5.0


def outcome_scores(scores: Sequence[Any]) -> np.ndarray:
    """`scores` as outcomes: finite numbers in [0, 1] (not booleans, not strings), as an
    array; an `InvalidRequestError` saying what is wrong and how to fix it otherwise."""
    bad = [v for v in scores if isinstance(v, bool) or not isinstance(v, numbers.Real)]
    if bad:
        raise InvalidRequestError(
            f"scores must be numbers in [0, 1], not {bad[0]!r} (a thumbs up as 1.0, down as 0.0)"
        )
    y = np.array([float(v) for v in scores], dtype=np.float64)
    out = ~(np.isfinite(y) & (y >= 0.0) & (y <= 1.0))
    if out.any():
        raise InvalidRequestError(
            f"scores must be finite numbers in [0, 1]; got {y[out][:3].tolist()}: rescale a "
            "1-10 grade as (grade - 1) / 9"
        )
    return y


@dataclass
class OutcomeCorrection:
    """Per cluster (k) and model (m): summed outcome weight and summed residual."""

    weight: np.ndarray  # (k, m)
    residual: np.ndarray  # (k, m)
    strength: float = DEFAULT_FEEDBACK_STRENGTH

    #: its arrays.npz members (`state`)
    MEMBERS: ClassVar[tuple[str, ...]] = ("feedback_weight", "feedback_residual")

    @classmethod
    def empty(cls, clusters: int, models: int, strength: float = DEFAULT_FEEDBACK_STRENGTH) -> OutcomeCorrection:
        return cls(np.zeros((clusters, models)), np.zeros((clusters, models)), strength)

    def updated(self, cluster_w: np.ndarray, model: int, residual: np.ndarray) -> OutcomeCorrection:
        """A copy with outcomes of `model` added: `cluster_w` (n, k) soft cluster weights,
        `residual` (n,). A copy, so a router routing in another thread meanwhile sees the old
        state or the new one, never half of it."""
        weight, res = self.weight.copy(), self.residual.copy()
        weight[:, model] += cluster_w.sum(axis=0)
        res[:, model] += cluster_w.T @ residual
        return OutcomeCorrection(weight, res, self.strength)

    def offset(self, cluster_w: np.ndarray) -> np.ndarray:
        """(n, m) correction to add to predicted quality."""
        return cluster_w @ (self.residual / (self.strength + self.weight))

    def evidence(self, cluster_w: np.ndarray) -> np.ndarray:
        """(n, m) outcomes seen near each prompt, in units of whole outcomes."""
        return cluster_w @ self.weight

    def with_new_model(self) -> OutcomeCorrection:
        k = len(self.weight)
        return OutcomeCorrection(
            np.hstack([self.weight, np.zeros((k, 1))]),
            np.hstack([self.residual, np.zeros((k, 1))]),
            self.strength,
        )

    def without_model(self, model: int) -> OutcomeCorrection:
        return OutcomeCorrection(
            np.delete(self.weight, model, axis=1), np.delete(self.residual, model, axis=1),
            self.strength,
        )

    @property
    def outcomes(self) -> float:
        """Outcomes learned so far (each counts 1 whatever its cluster weights)."""
        return float(self.weight.sum())

    def state(self) -> State:
        """router.json's `feedback_strength` and the arrays `feedback_weight`, `feedback_residual`."""
        return {"feedback_strength": self.strength}, dict(zip(self.MEMBERS, (self.weight, self.residual), strict=True))

    @classmethod
    def from_state(cls, fields: Mapping[str, Any], arrays: Mapping[str, np.ndarray], dims: Dims) -> OutcomeCorrection:
        """The correction `state` gave, for `dims.models` models on the clusters of `dims`; none
        of it (no outcomes yet) from a router saved before outcomes were learned, which has
        neither the strength nor the arrays. `RouterLoadError` naming the field or member at fault."""
        if "feedback_strength" not in fields and not any(name in arrays for name in cls.MEMBERS):
            return cls.empty(dims.clusters, dims.models)
        check_number(fields, "feedback_strength", "", above=True)
        check_members(arrays, cls.MEMBERS)
        shape = (dims.clusters, dims.models)
        check_shapes(arrays, {name: (shape, dims.of_models) for name in cls.MEMBERS})
        check_ranges(arrays, {"feedback_weight": (0.0, None)})
        return cls(arrays["feedback_weight"], arrays["feedback_residual"], float(fields["feedback_strength"]))


class Feedback(BaseModel):
    """One outcome: how good `model`'s answer to `prompt` was, as a score in [0, 1]."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str = Field(min_length=1, description="the prompt's text as the router read it")
    model: str = Field(min_length=1, description="the candidate that answered")
    score: float = Field(ge=0.0, le=1.0, description="0 = useless, 1 = as good as it gets")
    response_id: str | None = Field(default=None, description="the answer's id, if it had one")
    time: float = Field(default_factory=time.time, description="when it was given (Unix time)")

    @field_validator("score")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("the score must be a finite number in [0, 1]")
        return v


class FeedbackLog:
    """An append-only JSON Lines file of `Feedback`; safe to share between threads.

    Each record is written and flushed as one line, so a crash loses at most the line being
    written, and `read()` reports a torn or edited line by its number instead of guessing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FeedbackLog({str(self.path)!r})"

    def append(self, feedback: Feedback) -> None:
        line = json.dumps(feedback.model_dump(), ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())

    def read(self) -> list[Feedback]:
        """Every record, in the order given; raises `InvalidRequestError` naming a bad line."""
        return list(self)

    def __iter__(self) -> Iterator[Feedback]:
        if not self.path.is_file():
            raise InvalidRequestError(f"no feedback file at {self.path}")
        with self.path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                yield _parse(line, self.path, number)


def _parse(line: str, path: Path, number: int) -> Feedback:
    try:
        raw: Any = json.loads(line)
        return Feedback.model_validate(raw)
    except (json.JSONDecodeError, RecursionError) as e:
        raise InvalidRequestError(f"{path}:{number}: not a JSON object: {e}") from None
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "record"
        raise InvalidRequestError(
            f"{path}:{number}: field {where!r}: {first['msg']} (a feedback line holds prompt, "
            "model and score in [0, 1])"
        ) from None


class AnswerLedger:
    """The prompt and model of the last `capacity` answers, by answer id; thread-safe.

    Memory is bounded twice: by the number of answers and by the characters of their prompts
    together (`max_chars`, 20M by default: tens of MB), the oldest answers going first, so that
    a gateway serving long prompts does not grow to gigabytes. The newest answer is always kept.
    """

    def __init__(self, capacity: int = 10_000, max_chars: int = 20_000_000) -> None:
        if capacity < 1:
            raise InvalidRequestError(f"capacity must be >= 1, got {capacity}")
        if max_chars < 1:
            raise InvalidRequestError(f"max_chars must be >= 1, got {max_chars}")
        self.capacity = capacity
        self.max_chars = max_chars
        self._answers: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def record(self, response_id: str, prompt: str, model: str) -> None:
        with self._lock:
            old = self._answers.pop(response_id, None)
            if old is not None:
                self._chars -= len(old[0])
            self._answers[response_id] = (prompt, model)
            self._chars += len(prompt)
            while len(self._answers) > 1 and (len(self._answers) > self.capacity or self._chars > self.max_chars):
                _, (dropped, _) = self._answers.popitem(last=False)
                self._chars -= len(dropped)

    def get(self, response_id: str) -> tuple[str, str]:
        """(prompt, model) of the answer; `UnknownResponseError` if it is not remembered."""
        with self._lock:
            found = self._answers.get(response_id)
        if found is None:
            raise UnknownResponseError(
                f"no recent answer has id {response_id!r}: give feedback on an answer of this "
                f"process (the last {self.capacity} are remembered, fewer when prompts are long)"
            )
        return found

    def __contains__(self, response_id: object) -> bool:
        with self._lock:
            return response_id in self._answers

    def __len__(self) -> int:
        return len(self._answers)


def give_feedback(
    router: Router,
    ledger: AnswerLedger,
    response_id: str,
    score: float,
    *,
    log: FeedbackLog | None = None,
    learn: bool = True,
) -> Feedback:
    """Record how good answer `response_id` was and learn from it.

    Checks everything first (the id, the score, the model), so bad feedback changes nothing;
    then appends to `log` (if any) and, with `learn`, updates `router` (`partial_fit`).

    Raises:
        UnknownResponseError: the id is not among the ledger's recent answers.
        InvalidRequestError: the score is not a finite number in [0, 1].
        UnknownModelError: the answer's model is no longer a candidate of `router`.
    """
    with _learning:  # one read-update-write of the router at a time
        return _give(router, ledger, response_id, score, log, learn)


_learning = threading.Lock()


def _give(
    router: Router, ledger: AnswerLedger, response_id: str, score: float,
    log: FeedbackLog | None, learn: bool,
) -> Feedback:
    prompt, model = ledger.get(response_id)
    (checked,) = outcome_scores([score])
    record = Feedback(prompt=prompt, model=model, score=float(checked), response_id=response_id)
    if model not in router.models_:
        raise UnknownModelError(f"the answer came from {model!r}, which is no longer a candidate")
    if log is not None:
        log.append(record)
    if learn:
        router.partial_fit([prompt], model, [record.score])
    return record


def default_feedback_path() -> Path:
    """Where `autorouter serve` keeps feedback unless told: $XDG_STATE_HOME/autorouter/
    feedback.jsonl, else ~/.local/state/autorouter/feedback.jsonl."""
    state = os.environ.get("XDG_STATE_HOME", "").strip()
    root = Path(state) if state else Path.home() / ".local" / "state"
    return root / "autorouter" / "feedback.jsonl"
