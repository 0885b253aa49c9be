"""The answers a framework adapter gave, by id (`AnswerBook`), so that feedback on one
(`autorouter.give_feedback`) reaches the adapter's router; and how an adapter's `feedback_log`
setting becomes a `FeedbackLog`."""

from __future__ import annotations

import os
import threading
import uuid
from typing import Any

from ..errors import InvalidRequestError
from ..feedback import AnswerLedger, Feedback, FeedbackLog, give_feedback
from ..prompts import prompt_text

__all__ = ["AnswerBook", "feedback_log", "new_answer_id"]


def new_answer_id() -> str:
    """A fresh answer id (`run-<uuid4>`), for an answer whose candidate gave it none."""
    return f"run-{uuid.uuid4()}"


def feedback_log(value: Any) -> FeedbackLog | None:
    """An adapter's `feedback_log` setting as a `FeedbackLog`: a path (str or `os.PathLike`)
    becomes the log of that JSON Lines file; None and a `FeedbackLog` stay as they are.

    Raises:
        TypeError: anything else.
    """
    if value is None or isinstance(value, FeedbackLog):
        return value
    if isinstance(value, str | os.PathLike):
        path = os.fspath(value)
        if not isinstance(path, str) or not path.strip():
            raise TypeError(f"feedback_log must be an autorouter.FeedbackLog, a file path or None, not {value!r}")
        return FeedbackLog(path)
    raise TypeError(f"feedback_log must be an autorouter.FeedbackLog, a file path or None, not {type(value).__name__}")


class AnswerBook:
    """The answers an adapter gave, by id: which prompt each answered and which candidate
    answered it, so that feedback naming an answer by its id can teach the adapter's router.

    An `autorouter.AnswerLedger` (the last `capacity` answers, fewer when their prompts are
    long) under the same rules as the
    gateway's (`POST /v1/feedback`): the prompt kept is the text the router embedded
    (`autorouter.prompts.prompt_text(...)[0]`), the model the candidate's key (a router model
    name). Thread-safe.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.ledger = AnswerLedger(capacity)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.ledger)

    def __repr__(self) -> str:
        return f"AnswerBook({len(self)} answers, capacity={self.ledger.capacity})"

    def record(self, response_id: str | None, prompt: Any, model: str) -> str:
        """Record one answer; returns the id it is recorded under.

        Args:
            response_id: the id the answer already has (its provider's, or its framework
                run's); None, empty, or the id of another answer already recorded (some
                servers send the same id every time): a new one (`new_answer_id`) is used.
            prompt: what the router routed on: a prompt string or chat messages as role/content
                dicts (the framework's messages translated as for routing).
            model: the key of the candidate that answered.

        An answer with no text to route on (a forced call with an empty prompt) gets an id
        but is not recorded: feedback on it is an `UnknownResponseError`.
        """
        try:
            text = prompt_text(prompt)[0]
        except InvalidRequestError:
            text = None
        with self._lock:
            if not isinstance(response_id, str) or not response_id or response_id in self.ledger:
                response_id = new_answer_id()
            if text is not None:
                self.ledger.record(response_id, text, model)
        return response_id

    def feedback(
        self,
        router: Any,
        response_id: Any,
        score: Any,
        *,
        log: FeedbackLog | None = None,
        learn: bool = True,
    ) -> Feedback:
        """`autorouter.give_feedback` on the answer `response_id` with `router`: checks the id,
        the score and the model first, so bad feedback changes nothing; then appends to `log`
        (if any) and, with `learn`, updates `router` (`Router.partial_fit`).

        Raises:
            InvalidRequestError: `response_id` is not a string, or the score is not a
                finite number in [0, 1].
            UnknownResponseError: no recent answer of this adapter has that id.
            UnknownModelError: the answer's candidate is no longer one of `router`'s models.
            TypeError: `learn` is set and `router` cannot learn (it has no `partial_fit`).
        """
        if not isinstance(response_id, str):
            raise InvalidRequestError(
                f"feedback names an answer by its id (a string), not a {type(response_id).__name__}"
            )
        if learn and not callable(getattr(router, "partial_fit", None)):
            raise TypeError(
                f"the router ({type(router).__name__}) cannot learn from feedback: it has no "
                "partial_fit; pass an autorouter.Router, or learn_from_feedback=False to only log it"
            )
        return give_feedback(router, self.ledger, response_id, score, log=log, learn=learn)
