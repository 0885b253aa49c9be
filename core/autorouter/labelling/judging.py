"""Judging: the judge prompts (MT-Bench's single-answer and pairwise ones, or a user's own
`JudgeTemplate`), reading a rating or verdict out of a judge's reply, and turning it into a
score on [0, 1]."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Literal

from ..errors import InvalidRequestError
from ..prompts import _content_text
from .journal import _digest
from .settings import Mode, Order

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
