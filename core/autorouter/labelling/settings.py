"""The settings of a labelling job: the defaults it starts from (assumed answer lengths,
concurrency, timeouts, retries, judge request fields) and the types its parts share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from ..reliability import RetryPolicy

#: Answer length, in tokens, the estimate assumes for a candidate when no `max_tokens` is sent
#: (a long chat answer; most are shorter, so the estimate errs on the dear side). A reasoning
#: model's typical hidden thinking (the catalog's `reasoning_tokens`) is added: it is billed.
ASSUMED_ANSWER_TOKENS = 500
#: Length, in tokens, the estimate assumes for a judge's reply (a short explanation, then the
#: verdict).
ASSUMED_JUDGE_TOKENS = 250
#: Tokens the estimate adds per chat message for the role and separators.
MESSAGE_OVERHEAD_TOKENS = 4
#: Calls in flight at once per endpoint base URL (candidates and judge share the limit when they
#: share the endpoint).
DEFAULT_CONCURRENCY = 8
#: Seconds an endpoint built here waits for an answer (long answers take a while).
DEFAULT_CALL_TIMEOUT_S = 300.0
#: After this many failures in a row a candidate is given up on for the rest of the run (its
#: other prompts are left for a rerun); the judge failing that often stops the run.
GIVE_UP_AFTER_FAILURES = 5
#: Judge verdicts asked per answer (or per order, in pairwise mode) when the first is unparsable.
VERDICT_ATTEMPTS = 2
#: How each call is retried: transient failures up to 3 times with backoff; a call may take 5
#: minutes. No cooldown: there is no other model to fall back to.
DEFAULT_RETRY_POLICY = RetryPolicy(
    max_attempts_per_model=3, base_delay=1.0, max_delay=20.0, total_budget_s=900.0,
    attempt_timeout_s=DEFAULT_CALL_TIMEOUT_S, cooldown_s=0.0,
)
#: Sent with every judge call unless the caller gives other `judge_params`.
DEFAULT_JUDGE_PARAMS: Mapping[str, Any] = {"temperature": 0, "max_tokens": 1024}
_REQUEST_PARAMS_REFUSED = ("model", "messages", "stream")

Mode = Literal["single", "pairwise"]
Order = Literal["ab", "ba"]
Progress = Callable[[str, int, int, float], None]
"""`progress(stage, done, total, spend_usd)`: stage is "answers" or "verdicts"; `spend_usd` is
everything the journal has paid for so far (earlier runs included)."""
