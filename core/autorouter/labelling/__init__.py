"""Turn a user's own prompts into routing data: every candidate model answers each prompt, an
LLM judge grades every answer, and the grades become the `scores` a router learns from.

    from autorouter.labelling import LabelJob, read_prompts

    job = LabelJob(read_prompts("my_prompts.txt"),
                   models=["openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet"],
                   judge="openai/gpt-4o", out="my_data.jsonl")
    print(job.estimate().describe())   # what it would cost, before anything is paid for
    summary = job.run(budget_usd=5.0)   # refuses unless the estimate fits the budget (or yes=True)
    router = autorouter.Router().fit(autorouter.load_dataset("my_data.jsonl"))

How it goes (docs/labelling.md has the details and the judge prompts):

- Reading: a text file (one prompt per line, blank lines skipped), JSON Lines with `prompt` or
  `messages` per line, or an OpenAI-format chat log (request bodies, `{"request": {...}}`,
  `{"body": {...}}` or `{"messages": [...], "response": ...}` records; the conversation is cut
  after its last user turn). A bad line raises `DatasetError` naming the file and the line.
- Calling: each candidate through the project's `ChatClient` at the endpoint `Endpoints` gives it,
  under one `RetryPolicy` for that one model (no fallback: the answer must be that model's). The
  cost of a call is the provider's `usage.cost` when it reports one, else list price x tokens.
- Judging: single-answer grading on 1-10 (MT-Bench style, `Rating: [[N]]`; score (N-1)/9), or,
  with a `reference` model, pairwise against its answer in both orders (`[[A]]`/`[[B]]`/`[[C]]`;
  score = mean over the two orders of win 1, tie 0.5, loss 0), which cancels position bias. An
  unparsable verdict is asked once more, then recorded as missing, never as 0.
- Money: `estimate()` prices the remaining work from list prices and prompt lengths with an
  assumed answer length (`ASSUMED_ANSWER_TOKENS`, or the `max_tokens` sent); `run` refuses to
  start unless `yes=True` or the estimate fits `budget_usd`, and during the run no paid call
  starts once the spend plus what the calls in flight are expected to cost would pass the budget.
- Resuming: every finished answer and verdict is appended to a journal beside the output
  (`<out>.journal`, one JSON line each, flushed and fsync'd as it arrives), keyed by a hash of
  the prompt and model (and judge, template and order for verdicts). A rerun after a crash or
  Ctrl-C reuses it, so nothing paid for is paid for twice or lost; the output is built from it.
- Concurrency: asyncio, with a limit on calls in flight per endpoint base URL.
"""

# One module per job (each one's docstring says which):
#   settings   the defaults a job starts from, and the types its parts share
#   prompts    `LabelPrompt` and reading prompts from files, strings and the journal
#   selection  choosing the prompts to label: a seeded sample, or the least sure first
#   judging    the judge prompts, reading ratings and verdicts, turning them into scores
#   journal    the resumable journal: its keys, reading it back, appending to it under a lock
#   results    `LabelEstimate`, `LabelSummary` and the refusal that carries an estimate
#   runner     one run in flight: the calls, within the budget and the endpoint limits
#   job        `LabelJob`: planning, pricing, allowing, running and writing the routing data
#   planning   `plan_labelling`, the CLI's entry point
# Every name the single module `autorouter.labelling` defined is importable from here as before,
# private ones included (re-exported as `X as X`); `__all__` is unchanged.

from .job import LabelJob
from .job import _add as _add
from .job import _check_budget as _check_budget
from .job import _model_list as _model_list
from .job import _positive_int as _positive_int
from .job import _request_params as _request_params
from .job import _tokens_of as _tokens_of
from .journal import JOURNAL_SUFFIX as JOURNAL_SUFFIX
from .journal import JOURNAL_VERSION as JOURNAL_VERSION
from .journal import _canonical as _canonical
from .journal import _digest as _digest
from .journal import _Journal as _Journal
from .journal import _State as _State
from .journal import journal_path_for
from .judging import _FIELDS as _FIELDS
from .judging import _RATING as _RATING
from .judging import _RATING_BACKUPS as _RATING_BACKUPS
from .judging import _REQUIRED as _REQUIRED
from .judging import _VERDICT as _VERDICT
from .judging import (
    PAIRWISE_JUDGE,
    PAIRWISE_JUDGE_PROMPT,
    PAIRWISE_JUDGE_SYSTEM,
    SINGLE_JUDGE,
    SINGLE_JUDGE_PROMPT,
    SINGLE_JUDGE_SYSTEM,
    JudgeTemplate,
    pair_outcome,
    parse_rating,
    parse_verdict,
    rating_to_score,
)
from .judging import _template_fields as _template_fields
from .planning import _load_active as _load_active
from .planning import plan_labelling
from .prompts import _MESSAGE_FIELDS as _MESSAGE_FIELDS
from .prompts import _WIRE_ROLES as _WIRE_ROLES
from .prompts import LabelPrompt, read_prompts
from .prompts import _detect_format as _detect_format
from .prompts import _lines as _lines
from .prompts import _prompt_from_record as _prompt_from_record
from .prompts import _prompt_list as _prompt_list
from .prompts import _prompt_of_record as _prompt_of_record
from .prompts import logger as logger
from .results import ConfirmationRequiredError, LabelEstimate, LabelSummary, ModelEstimate, ModelSummary
from .runner import T as T
from .runner import _all as _all
from .runner import _Item as _Item
from .runner import _Runner as _Runner
from .runner import _short as _short
from .runner import _Stop as _Stop
from .selection import _check_n as _check_n
from .selection import _router_candidates as _router_candidates
from .selection import least_sure_prompts, sample_prompts, select_prompts, uncertainty_margins
from .settings import _REQUEST_PARAMS_REFUSED as _REQUEST_PARAMS_REFUSED
from .settings import (
    ASSUMED_ANSWER_TOKENS,
    ASSUMED_JUDGE_TOKENS,
    DEFAULT_CONCURRENCY,
    DEFAULT_JUDGE_PARAMS,
    DEFAULT_RETRY_POLICY,
    Progress,
)
from .settings import DEFAULT_CALL_TIMEOUT_S as DEFAULT_CALL_TIMEOUT_S
from .settings import GIVE_UP_AFTER_FAILURES as GIVE_UP_AFTER_FAILURES
from .settings import MESSAGE_OVERHEAD_TOKENS as MESSAGE_OVERHEAD_TOKENS
from .settings import VERDICT_ATTEMPTS as VERDICT_ATTEMPTS
from .settings import Mode as Mode
from .settings import Order as Order

__all__ = [
    "ASSUMED_ANSWER_TOKENS",
    "ASSUMED_JUDGE_TOKENS",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_JUDGE_PARAMS",
    "DEFAULT_RETRY_POLICY",
    "PAIRWISE_JUDGE",
    "PAIRWISE_JUDGE_PROMPT",
    "PAIRWISE_JUDGE_SYSTEM",
    "SINGLE_JUDGE",
    "SINGLE_JUDGE_PROMPT",
    "SINGLE_JUDGE_SYSTEM",
    "ConfirmationRequiredError",
    "JudgeTemplate",
    "LabelEstimate",
    "LabelJob",
    "LabelPrompt",
    "LabelSummary",
    "ModelEstimate",
    "ModelSummary",
    "Progress",
    "journal_path_for",
    "least_sure_prompts",
    "pair_outcome",
    "parse_rating",
    "parse_verdict",
    "plan_labelling",
    "rating_to_score",
    "read_prompts",
    "sample_prompts",
    "select_prompts",
    "uncertainty_margins",
]
