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

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import io
import json
import logging
import math
import os
import random
import re
import string
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from .calling import Endpoints, EndpointTarget
from .client import (
    DEFAULT_API_KEY_ENV,
    DEFAULT_BASE_URL,
    ChatClient,
    ChatCompletion,
    Endpoint,
    Usage,
    aclose_pools,
)
from .costs import call_cost, list_price
from .dataset import ModelPrice, _text_lines
from .decision import RoutingDecision
from .errors import (
    AuthenticationError,
    DatasetError,
    FallbackExhaustedError,
    InvalidRequestError,
    NoCandidateError,
    ProviderError,
    UnknownModelError,
)
from .predictors import CHARS_PER_TOKEN
from .prompts import _content_text, prompt_info
from .reliability import CooldownTracker, RetryPolicy, arun_with_fallback

if TYPE_CHECKING:
    from .router import Router

try:  # POSIX: one labelling run per journal at a time
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

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

logger = logging.getLogger("autorouter.labelling")

# --- settings ------------------------------------------------------------------------------

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
#: What the journal's name adds to the output's.
JOURNAL_SUFFIX = ".journal"
JOURNAL_VERSION = 1

_WIRE_ROLES = {"human": "user", "ai": "assistant", "model": "assistant", "chatbot": "assistant"}
# The message fields sent on: anything else in a logged message (ids, timestamps) could make a
# provider refuse the request.
_MESSAGE_FIELDS = ("role", "content", "name", "tool_calls", "tool_call_id")
_REQUEST_PARAMS_REFUSED = ("model", "messages", "stream")

T = TypeVar("T")
Mode = Literal["single", "pairwise"]
Order = Literal["ab", "ba"]
Progress = Callable[[str, int, int, float], None]
"""`progress(stage, done, total, spend_usd)`: stage is "answers" or "verdicts"; `spend_usd` is
everything the journal has paid for so far (earlier runs included)."""


# --- the judge prompts -----------------------------------------------------------------------

#: MT-Bench's single-answer grading prompt ("single-v1", Zheng et al. 2023), with a rubric for
#: the 1-10 scale added. Fields: {question}, {answer}.
SINGLE_JUDGE_SYSTEM = "You are a helpful assistant."
SINGLE_JUDGE_PROMPT = (
    "[Instruction]\n"
    "Please act as an impartial judge and evaluate the quality of the response provided by an AI "
    "assistant to the user question displayed below. Your evaluation should consider factors such "
    "as the helpfulness, relevance, accuracy, depth, creativity, and level of detail of the "
    "response. Begin your evaluation by providing a short explanation. Be as objective as "
    "possible. After providing your explanation, you must rate the response on a scale of 1 to 10 "
    'by strictly following this format: "[[rating]]", for example: "Rating: [[5]]".\n'
    "Use the whole scale: 1-2 the response is wrong, off-topic or harmful; 3-4 it has major "
    "errors or misses most of what was asked; 5-6 it is partly right or helpful but has clear "
    "flaws; 7-8 it is correct and helpful with minor flaws; 9-10 it is correct, complete and "
    "could hardly be better.\n"
    "\n"
    "[Question]\n"
    "{question}\n"
    "\n"
    "[The Start of Assistant's Answer]\n"
    "{answer}\n"
    "[The End of Assistant's Answer]"
)
#: MT-Bench's pairwise prompt ("pair-v2"). Fields: {question}, {answer_a}, {answer_b}.
PAIRWISE_JUDGE_SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two "
    "AI assistants to the user question displayed below. You should choose the assistant that "
    "follows the user's instructions and answers the user's question better. Your evaluation "
    "should consider factors such as the helpfulness, relevance, accuracy, depth, creativity, and "
    "level of detail of their responses. Begin your evaluation by comparing the two responses and "
    "provide a short explanation. Avoid any position biases and ensure that the order in which "
    "the responses were presented does not influence your decision. Do not allow the length of "
    "the responses to influence your evaluation. Do not favor certain names of the assistants. Be "
    "as objective as possible. After providing your explanation, output your final verdict by "
    'strictly following this format: "[[A]]" if assistant A is better, "[[B]]" if assistant B is '
    'better, and "[[C]]" for a tie.'
)
PAIRWISE_JUDGE_PROMPT = (
    "[User Question]\n"
    "{question}\n"
    "\n"
    "[The Start of Assistant A's Answer]\n"
    "{answer_a}\n"
    "[The End of Assistant A's Answer]\n"
    "\n"
    "[The Start of Assistant B's Answer]\n"
    "{answer_b}\n"
    "[The End of Assistant B's Answer]"
)

_FIELDS: dict[str, frozenset[str]] = {
    "single": frozenset({"question", "answer"}),
    "pairwise": frozenset({"question", "answer_a", "answer_b"}),
}
_REQUIRED: dict[str, frozenset[str]] = {
    "single": frozenset({"answer"}),
    "pairwise": frozenset({"answer_a", "answer_b"}),
}


def _template_fields(text: str, part: str) -> set[str]:
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as e:
        raise InvalidRequestError(
            f"the judge template's {part} message is not a valid format string ({e}); "
            "write a literal brace as {{ or }}"
        ) from None
    names: set[str] = set()
    for _, name, _, _ in parsed:
        if name is None:
            continue
        if not name or name.isdigit() or not name.isidentifier():
            raise InvalidRequestError(
                f"the judge template's {part} message has the field {{{name}}}: use named "
                "fields only, such as {question} and {answer}; write a literal brace as {{ or }}"
            )
        names.add(name)
    return names


@dataclass(frozen=True)
class JudgeTemplate:
    """A judge prompt: an optional system message and a user message with named `{fields}`
    (`str.format` syntax; a literal brace is written `{{` or `}}`).

    Single-answer templates (`kind="single"`) may use `{question}` and must use `{answer}`;
    pairwise ones may use `{question}` and must use `{answer_a}` and `{answer_b}`. `{question}`
    is the prompt, or for a conversation its transcript (`[System]`, `[User]`, `[Assistant]`
    blocks). The judge must answer in the format the parser reads: `Rating: [[N]]` with N in
    1..10 (single) or `[[A]]`, `[[B]]` or `[[C]]` for a tie (pairwise).
    """

    user: str
    system: str | None = None
    kind: Mode = "single"

    def __post_init__(self) -> None:
        if self.kind not in _FIELDS:
            raise InvalidRequestError(f"a judge template is 'single' or 'pairwise', not {self.kind!r}")
        if not isinstance(self.user, str) or not self.user.strip():
            raise InvalidRequestError("the judge template's user message is empty")
        used = _template_fields(self.user, "user")
        if self.system is not None:
            used |= _template_fields(self.system, "system")
        unknown = used - _FIELDS[self.kind]
        if unknown:
            raise InvalidRequestError(
                f"the {self.kind} judge template uses unknown fields {sorted(unknown)}; "
                f"it may use {sorted(_FIELDS[self.kind])}"
            )
        missing = _REQUIRED[self.kind] - used
        if missing:
            raise InvalidRequestError(
                f"the {self.kind} judge template must show the judge {sorted(missing)}: "
                f"add {' and '.join('{' + f + '}' for f in sorted(missing))}"
            )

    @property
    def digest(self) -> str:
        """A short hash of the template: verdicts are journalled per template."""
        return _digest("template", [self.kind, self.system, self.user])[:16]

    def render(self, **values: str) -> list[dict[str, str]]:
        """The judge's chat messages with the fields filled in."""
        messages = []
        if self.system:
            messages.append({"role": "system", "content": self.system.format(**values)})
        messages.append({"role": "user", "content": self.user.format(**values)})
        return messages

    def fixed_chars(self) -> int:
        """Characters of the messages without the fields (for the estimate)."""
        blank = {f: "" for f in _FIELDS[self.kind]}
        return sum(len(_content_text(m["content"])) for m in self.render(**blank))


SINGLE_JUDGE = JudgeTemplate(SINGLE_JUDGE_PROMPT, SINGLE_JUDGE_SYSTEM, "single")
PAIRWISE_JUDGE = JudgeTemplate(PAIRWISE_JUDGE_PROMPT, PAIRWISE_JUDGE_SYSTEM, "pairwise")

_RATING = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*(?:/\s*10\s*)?\]\]")
_RATING_BACKUPS = (
    re.compile(r"\brating\s*(?:is|of|:|=)?\s*\[?\s*(\d+(?:\.\d+)?)\s*\]?(?!\s*[\d.])", re.IGNORECASE),
    re.compile(r"\b(\d+(?:\.\d+)?)\s*/\s*10\b"),
)
_VERDICT = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.IGNORECASE)


def parse_rating(text: str) -> float | None:
    """The 1-10 rating in a judge's reply, or None when it gives none (or one off the scale).

    Read, in order: the last `[[N]]` (MT-Bench's format; `[[7.5]]` and `[[7/10]]` too), else the
    last `Rating: N` / `rating of [N]`, else the last `N/10`. The last, because a judge may quote
    the format ("for example: Rating: [[5]]") before giving its own.
    """
    if not isinstance(text, str):
        return None
    for pattern in (_RATING, *_RATING_BACKUPS):
        found = pattern.findall(text)
        if found:
            value = float(found[-1])
            return value if 1.0 <= value <= 10.0 else None
    return None


def parse_verdict(text: str) -> Literal["A", "B", "C"] | None:
    """The last `[[A]]`, `[[B]]` or `[[C]]` (`[[tie]]` counts as C) in a judge's reply, or None."""
    if not isinstance(text, str):
        return None
    found = _VERDICT.findall(text)
    if not found:
        return None
    last = found[-1].upper()
    if last == "A":
        return "A"
    if last == "B":
        return "B"
    return "C"


def rating_to_score(rating: float) -> float:
    """A 1-10 rating on [0, 1]: (rating - 1) / 9."""
    return (float(rating) - 1.0) / 9.0


def pair_outcome(verdict: str, order: Order) -> float:
    """What a verdict means for the labelled model: 1 win, 0.5 tie, 0 loss. In order "ab" the
    model's answer is shown as A and the reference's as B; in "ba" the other way round."""
    if verdict == "C":
        return 0.5
    mine = "A" if order == "ab" else "B"
    return 1.0 if verdict == mine else 0.0


# --- prompts ---------------------------------------------------------------------------------


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _digest(kind: str, value: Any) -> str:
    return hashlib.sha256(f"{kind}\0{_canonical(value)}".encode()).hexdigest()


@dataclass(frozen=True, eq=False)
class LabelPrompt:
    """One prompt to label: the chat messages sent to each candidate (the conversation up to
    its last user turn), the text routing data stores as `prompt` (the last user message, which
    is what a router embeds), where it came from, and its key (a hash of the messages)."""

    messages: list[dict[str, Any]]
    text: str
    source: str = ""
    key: str = ""

    @classmethod
    def from_text(cls, text: str, source: str = "") -> LabelPrompt:
        """A one-message prompt."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidRequestError(f"{source or 'a prompt'}: the prompt is empty")
        return cls.from_messages([{"role": "user", "content": text}], source)

    @classmethod
    def from_messages(cls, messages: Sequence[Mapping[str, Any]], source: str = "") -> LabelPrompt:
        """A conversation, cut after its last user turn (roles such as "human" become "user").

        Raises:
            InvalidRequestError: not a list of messages with roles, no user turn, or no text.
        """
        where = f"{source}: " if source else ""
        if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence) or not messages:
            raise InvalidRequestError(f"{where}`messages` must be a non-empty list of chat messages")
        wire: list[dict[str, Any]] = []
        for i, m in enumerate(messages):
            if not isinstance(m, Mapping):
                raise InvalidRequestError(f"{where}message {i} is not an object with a role and content")
            role = m.get("role")
            if not isinstance(role, str) or not role.strip():
                raise InvalidRequestError(f"{where}message {i} has no role")
            role = _WIRE_ROLES.get(role.strip().lower(), role.strip().lower())
            wire.append({k: (role if k == "role" else m[k]) for k in _MESSAGE_FIELDS if k in m})
        users = [i for i, m in enumerate(wire) if m["role"] == "user"]
        if not users:
            raise InvalidRequestError(f"{where}the conversation has no user message")
        wire = wire[: users[-1] + 1]
        try:
            text, _, _ = prompt_info(wire)
        except InvalidRequestError as e:
            raise InvalidRequestError(f"{where}{e}") from None
        return cls(wire, text, source, _digest("prompt", wire)[:32])

    @property
    def question(self) -> str:
        """What the judge is shown as the question: the prompt, or for a conversation (several
        messages, a system prompt included) its transcript."""
        if len(self.messages) == 1:
            return _content_text(self.messages[0].get("content"))
        labels = {"system": "System", "developer": "System", "user": "User", "assistant": "Assistant"}
        blocks = []
        for m in self.messages:
            label = labels.get(m["role"], m["role"].capitalize())
            blocks.append(f"[{label}]\n{_content_text(m.get('content'))}")
        return "\n\n".join(blocks)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelPrompt) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)


def _detect_format(path: Path) -> Literal["text", "jsonl"]:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith(".txt"):
        return "text"
    for line in _lines(path):
        s = line.strip()
        if not s:
            continue
        if s.startswith("{"):
            try:
                obj = json.loads(s)
            except (json.JSONDecodeError, RecursionError):
                return "text"
            if isinstance(obj, dict) and {"prompt", "messages", "request", "body"} & set(obj):
                return "jsonl"
        return "text"
    return "text"


def _lines(path: Path) -> Iterator[str]:
    try:
        yield from _text_lines(path)
    except OSError as e:
        raise DatasetError(f"cannot read {path}: {e}") from e


def _prompt_from_record(obj: Any, where: str) -> LabelPrompt:
    if not isinstance(obj, dict):
        raise DatasetError(f"{where}: expected a JSON object per line, with `prompt` or `messages`")
    try:
        if "messages" in obj:
            return LabelPrompt.from_messages(obj["messages"], where)
        if "prompt" in obj:
            value = obj["prompt"]
            if isinstance(value, list):
                return LabelPrompt.from_messages(value, where)
            if isinstance(value, str):
                return LabelPrompt.from_text(value, where)
            raise InvalidRequestError(f"{where}: `prompt` must be a string or a list of messages")
    except InvalidRequestError as e:
        raise DatasetError(str(e)) from None
    for name in ("request", "body"):
        inner = obj.get(name)
        if isinstance(inner, dict) and ("messages" in inner or "prompt" in inner):
            return _prompt_from_record(inner, where)
    raise DatasetError(
        f"{where}: no prompt: expected a `prompt` string, a `messages` list, or a `request` / "
        f"`body` object holding one; the line has {sorted(obj)[:8]}"
    )


def read_prompts(
    path: str | Path | Sequence[str | Path],
    *,
    format: Literal["auto", "text", "jsonl"] = "auto",
    on_invalid: Literal["error", "skip"] = "error",
) -> list[LabelPrompt]:
    """Read prompts to label from one or more files (UTF-8, optionally gzip'd).

    Formats (`"auto"`: by the name, `.txt` text and `.jsonl` / `.ndjson` / `.json` JSON Lines,
    else by the first line):
        text: one prompt per line; blank lines are skipped.
        jsonl: one JSON object per line: `{"prompt": "..."}`, `{"messages": [...]}` (a request
            body or a logged conversation, e.g. `{"messages": [...], "response": {...}}`), or
            `{"request": {"messages": [...]}, ...}` / `{"body": {...}}` (OpenAI batch input).
            A conversation is cut after its last user turn; an assistant reply after it is not
            sent to the candidates.

    A prompt whose text repeats an earlier one is dropped (routing data holds each prompt once).

    Args:
        on_invalid: "error" raises on the first bad line; "skip" drops bad lines with a warning.

    Raises:
        DatasetError: a file is missing or unreadable, a line is not valid JSON or holds no
            prompt (naming the file and the line), or no prompt is left.
    """
    if on_invalid not in ("error", "skip"):
        raise InvalidRequestError(f"on_invalid must be 'error' or 'skip', not {on_invalid!r}")
    if format not in ("auto", "text", "jsonl"):
        raise InvalidRequestError(f"format must be 'auto', 'text' or 'jsonl', not {format!r}")
    paths = [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]
    if not paths:
        raise DatasetError("no prompt file given")
    out: list[LabelPrompt] = []
    seen: set[str] = set()
    skipped: list[str] = []
    duplicates = 0
    for p in paths:
        if not p.is_file():
            raise DatasetError(f"prompt file not found: {p}")
        fmt = _detect_format(p) if format == "auto" else format
        for n, line in enumerate(_lines(p), 1):
            if not line.strip():
                continue
            where = f"{p}, line {n}"
            try:
                if fmt == "text":
                    item = LabelPrompt.from_text(line.strip(), where)
                else:
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise DatasetError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
                    except RecursionError:
                        raise DatasetError(f"{where}: JSON nested too deeply to read") from None
                    item = _prompt_from_record(obj, where)
            except (DatasetError, InvalidRequestError) as e:
                if on_invalid == "error":
                    raise DatasetError(str(e)) from None
                skipped.append(str(e))
                continue
            if item.text in seen:
                duplicates += 1
                continue
            seen.add(item.text)
            out.append(item)
    if skipped:
        warnings.warn(f"read_prompts skipped {len(skipped)} bad lines; the first: {skipped[0]}", stacklevel=2)
    if duplicates:
        logger.info("dropped %d repeated prompts", duplicates)
    if not out:
        raise DatasetError(f"no prompts in {', '.join(map(str, paths))}")
    return out


# --- choosing prompts ---------------------------------------------------------------------------


def sample_prompts(prompts: Sequence[LabelPrompt], n: int, *, seed: int = 0) -> list[LabelPrompt]:
    """`n` prompts drawn at random (seeded), in the drawn order.

    A seeded shuffle, so a larger `n` with the same seed keeps the smaller sample as its head:
    labelling 200 after 100 pays only for the 100 new ones.
    """
    _check_n(n)
    order = list(range(len(prompts)))
    random.Random(seed).shuffle(order)
    return [prompts[i] for i in order[:n]]


def _router_candidates(router: Router, models: Sequence[str] | None) -> list[str] | None:
    """The router's names for `models` (by name, or through the catalog), if it knows at least
    two of them; else None (its own candidates are used)."""
    if not models:
        return None
    known = set(router.models_)
    out: list[str] = []
    catalog = None
    for m in models:
        if m in known:
            out.append(m)
            continue
        if catalog is None:
            from .catalog import Catalog

            catalog = Catalog.default()
        try:
            cid = catalog.resolve(m)
        except UnknownModelError:
            continue
        if cid in known:
            out.append(cid)
    out = list(dict.fromkeys(out))
    return out if len(out) >= 2 else None


def uncertainty_margins(
    prompts: Sequence[LabelPrompt],
    router: Router,
    *,
    models: Sequence[str] | None = None,
    tradeoff: float | None = None,
    floor: float = 0.05,
) -> np.ndarray:
    """How sure `router` is of its choice on each prompt: small means unsure.

    For each prompt, the gap between the policy scores of its top two eligible candidates,
    divided by their combined predicted-quality uncertainty `sqrt(sd1^2 + sd2^2 + floor^2)`: a
    z-score of "the top two are in the right order". Models learned from per-prompt data have
    no uncertainty (sd 0), so for them it is the plain margin; models placed from facts (the
    default router's) add their spread. `models` restricts the choice to those candidates when
    the router knows at least two of them. One entry per prompt; inf when one candidate only.
    """
    if floor <= 0:
        raise InvalidRequestError(f"floor must be > 0, got {floor}")
    candidates = _router_candidates(router, models)
    out = np.full(len(prompts), np.inf)
    step = 512
    for start in range(0, len(prompts), step):
        chunk = prompts[start : start + step]
        decisions: list[RoutingDecision | None]
        try:
            decisions = list(router.route_batch([p.messages for p in chunk], tradeoff=tradeoff, candidates=candidates))
        except NoCandidateError:  # some prompt no candidate can take (too long, say): one by one
            decisions = []
            for p in chunk:
                try:
                    decisions.append(router.route(p.messages, tradeoff=tradeoff, candidates=candidates))
                except NoCandidateError:
                    decisions.append(None)  # nothing to learn about routing it: last
        for i, d in enumerate(decisions):
            if d is None:
                continue
            top = [r for r in d.ranking if r.eligible][:2]
            if len(top) < 2:
                continue
            gap = abs(top[0].score - top[1].score)
            if not math.isfinite(gap):  # at tradeoff 1 scores are minus costs, maybe infinite
                gap = abs(top[0].quality - top[1].quality)
            out[start + i] = gap / math.sqrt(top[0].uncertainty**2 + top[1].uncertainty**2 + floor**2)
    return out


def least_sure_prompts(
    prompts: Sequence[LabelPrompt],
    router: Router,
    n: int | None = None,
    *,
    models: Sequence[str] | None = None,
    tradeoff: float | None = None,
) -> list[LabelPrompt]:
    """The `n` prompts `router` is least sure about (all of them if None), least sure first
    (see `uncertainty_margins`): active learning, labelling where a label changes the most."""
    if n is not None:
        _check_n(n)
    z = uncertainty_margins(prompts, router, models=models, tradeoff=tradeoff)
    order = np.argsort(z, kind="stable")
    chosen = order if n is None else order[:n]
    return [prompts[int(i)] for i in chosen]


def select_prompts(
    prompts: Sequence[LabelPrompt],
    *,
    sample: int | None = None,
    active: Router | None = None,
    models: Sequence[str] | None = None,
    seed: int = 0,
) -> list[LabelPrompt]:
    """The prompts to label, in the order to label them: the least sure of `active` (its `sample`
    least sure, or all least sure first), else a seeded random `sample`, else all in file order.
    The order matters when a budget stops the run: what was labelled is the most useful part."""
    if active is not None:
        return least_sure_prompts(prompts, active, sample, models=models)
    if sample is not None:
        return sample_prompts(prompts, sample, seed=seed)
    return list(prompts)


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidRequestError(f"the number of prompts to label must be a whole number >= 1, got {n!r}")


# --- what it costs ---------------------------------------------------------------------------


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
        from .report import format_usd

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
        from .report import format_usd

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


# --- the journal ---------------------------------------------------------------------------------


def journal_path_for(out: str | Path) -> Path:
    """Where the journal of the output `out` lives: beside it, `<out>.journal`."""
    out = Path(out)
    return out.with_name(out.name + JOURNAL_SUFFIX)


class _State:
    """What a journal holds, indexed by key."""

    def __init__(self) -> None:
        self.prompts: dict[str, dict[str, Any]] = {}
        self.answers: dict[str, dict[str, Any]] = {}
        self.answer_failures: dict[str, dict[str, Any]] = {}
        self.verdicts: dict[str, list[dict[str, Any]]] = {}
        self.verdict_failures: dict[str, dict[str, Any]] = {}
        self.spent = 0.0
        self.records = 0

    def add(self, rec: dict[str, Any]) -> None:
        kind, key = rec.get("type"), rec.get("key")
        if not isinstance(key, str):
            return
        self.records += 1
        cost = rec.get("cost_usd")
        if isinstance(cost, (int, float)) and not isinstance(cost, bool) and math.isfinite(cost):
            self.spent += float(cost)
        ok = rec.get("status") == "ok"
        if kind == "prompt":
            self.prompts.setdefault(key, rec)
        elif kind == "answer":
            if ok:
                self.answers.setdefault(key, rec)
            else:
                self.answer_failures[key] = rec
        elif kind == "verdict":
            if rec.get("status") in ("ok", "unparsable"):
                self.verdicts.setdefault(key, []).append(rec)
            else:
                self.verdict_failures[key] = rec

    def verdict(self, key: str) -> dict[str, Any] | None:
        """The parsed verdict of `key`, if one came."""
        return next((r for r in self.verdicts.get(key, ()) if r.get("status") == "ok"), None)

    def unparsable(self, key: str) -> int:
        return sum(1 for r in self.verdicts.get(key, ()) if r.get("status") == "unparsable")

    def verdict_final(self, key: str) -> bool:
        """True when `key` needs no more judge calls: parsed, or unparsable every time."""
        return self.verdict(key) is not None or self.unparsable(key) >= VERDICT_ATTEMPTS

    @classmethod
    def read(cls, path: Path) -> _State:
        state = cls()
        if not path.is_file():
            return state
        bad = 0
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
        for i, raw in enumerate(lines):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                if i < len(lines) - 1:  # the last line may be cut short by a crash: expected
                    bad += 1
                continue
            if isinstance(rec, dict):
                state.add(rec)
        if bad:
            warnings.warn(f"{path}: {bad} unreadable journal lines ignored", stacklevel=3)
        return state


class _Journal:
    """The append-only journal file of one run, locked against a second run on it."""

    def __init__(self, path: Path, fsync: bool = True) -> None:
        self.path = path
        self.fsync = fsync
        self._f: io.BufferedWriter | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "ab")  # noqa: SIM115 - held open (and locked) for the whole run
        if fcntl is not None:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.close()
                raise InvalidRequestError(
                    f"another labelling run is writing {self.path}; wait for it to finish"
                ) from None
        size = f.tell()
        if size > 0:
            self._mend(f, size)
        self._f = f

    def _mend(self, f: io.BufferedWriter, size: int) -> None:
        """A crash in the middle of a write leaves half a line at the end: cut it off (it holds
        nothing readable), so the next record starts on a line of its own."""
        with open(self.path, "rb") as r:
            r.seek(max(0, size - (1 << 20)))
            tail = r.read()
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        last = tail[cut + 1:]
        try:
            json.loads(last.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            if cut < 0 and size > len(tail):  # a line longer than the window: leave it be
                f.write(b"\n")
            else:
                f.truncate(size - len(last))
            return
        f.write(b"\n")  # a whole record without its line break

    def append(self, rec: dict[str, Any]) -> None:
        assert self._f is not None
        self._f.write((json.dumps(rec, ensure_ascii=False, default=str) + "\n").encode("utf-8"))
        self._f.flush()
        if self.fsync:
            os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f is not None:
            self._f.close()  # closing releases the lock
            self._f = None


# --- the job -----------------------------------------------------------------------------------


@dataclass
class _Item:
    """One judge verdict to get: for `model` on `prompt`, in `order` (pairwise) or None."""

    prompt: LabelPrompt
    model: str
    order: Order | None


class _Stop(Exception):
    """Raised inside a run when no further paid call may start."""


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
        from .report import format_usd

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


# --- the CLI's entry point -------------------------------------------------------------------


def plan_labelling(
    prompts: str | Path | Sequence[str | Path],
    *,
    models: Sequence[str],
    judge: str,
    out: str | Path,
    reference: str | None = None,
    sample: int | None = None,
    active: str | Path | Router | None = None,
    seed: int = 0,
    base_url: str | None = None,
    api_key_env: str | None = DEFAULT_API_KEY_ENV,
    prices: str | Path | Mapping[str, Any] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_tokens: int | None = None,
) -> LabelJob:
    """Read prompt files, choose the prompts, and set up a `LabelJob` (nothing is called).

    `models` entries may hold several names separated by commas. `active` is a trained router
    folder, "default" for the bundled router, or a `Router`: label the prompts it is least sure
    of (`sample` of them, or all least sure first). `base_url` / `api_key_env` say where every
    model is called (default OpenRouter; `api_key_env` "" or None sends no key). `prices` is a
    mapping or a JSON file `{model: [USD per 1M input tokens, per 1M output tokens]}`.
    `max_tokens` caps each candidate answer (and makes the estimate a bound).
    """
    names = [n.strip() for m in models for n in str(m).split(",") if n.strip()]
    items = read_prompts(prompts)
    router = _load_active(active)
    chosen = select_prompts(items, sample=sample, active=router, models=names, seed=seed)
    price_map: Mapping[str, Any] | None
    if isinstance(prices, (str, Path)):
        try:
            price_map = json.loads(Path(prices).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise InvalidRequestError(f"cannot read prices from {prices}: {e}") from e
        if not isinstance(price_map, dict):
            raise InvalidRequestError(f"{prices}: prices are a JSON object {{model: [input, output]}}")
    else:
        price_map = prices
    endpoint = Endpoint(base_url=base_url or DEFAULT_BASE_URL, api_key_env=(api_key_env or "").strip() or None,
                        timeout=DEFAULT_CALL_TIMEOUT_S)
    params = {"max_tokens": max_tokens} if max_tokens else None
    return LabelJob(chosen, models=names, judge=judge, out=out, reference=reference,
                    endpoints=Endpoints(default=endpoint), prices=price_map, params=params,
                    concurrency=concurrency)


def _load_active(active: str | Path | Router | None) -> Router | None:
    if active is None:
        return None
    from .router import Router

    if isinstance(active, Router):
        return active
    if str(active).strip().lower() == "default":
        return Router.default()
    return Router.load(active)


# --- small helpers -----------------------------------------------------------------------------


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


def _prompt_list(prompts: Sequence[LabelPrompt | str]) -> list[LabelPrompt]:
    if isinstance(prompts, str):
        prompts = [prompts]
    out: list[LabelPrompt] = []
    seen: set[str] = set()
    for i, p in enumerate(prompts):
        item = p if isinstance(p, LabelPrompt) else LabelPrompt.from_text(p, f"prompt {i + 1}") if isinstance(p, str) else None
        if item is None:
            raise InvalidRequestError(f"prompt {i + 1} is a {type(p).__name__}; give strings or LabelPrompts")
        if item.text not in seen:
            seen.add(item.text)
            out.append(item)
    if not out:
        raise InvalidRequestError("no prompts to label")
    return out


def _prompt_of_record(key: str, rec: Mapping[str, Any]) -> LabelPrompt | None:
    text = rec.get("prompt")
    if not isinstance(text, str):
        return None
    messages = rec.get("messages")
    if not isinstance(messages, list):
        messages = [{"role": "user", "content": text}]
    return LabelPrompt(messages, text, str(rec.get("source") or ""), key)


def _short(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]

