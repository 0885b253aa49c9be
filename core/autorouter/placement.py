"""Place catalog models from public facts: turn published benchmark scores and the Chatbot
Arena rating into a score per task family of the default router.

The default router's tasks are benchmark families (MMLU, GSM8K, MATH, GPQA, HumanEval, MBPP,
ARC-Challenge, Winogrande) plus three with no single benchmark: `TriviaQA` (short factual
questions), `Chat` (open-ended requests, judged by the Arena rating) and `Smalltalk`
(greetings and trivial lookups, which every model answers well). A model's score on a family
is its published score where there is one; otherwise it is imputed from the model's general
ability (its mean logit over the benchmarks it has, or its Arena rating), through a line fitted
across every catalog model that does have that benchmark.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .catalog import ModelCard
from .profiles import logit

#: Dataset task names in ../shared/data -> the default router's task family.
FAMILY_OF = {
    "mmlu": "MMLU", "cmmlu": "MMLU", "ceval": "MMLU",
    "gsm8k": "GSM8K", "agentverse-mgsm": "GSM8K",
    "math": "MATH", "math_prealgebra": "MATH", "agentverse-logicgrid": "MATH",
    "gpqa": "GPQA",
    "human_eval": "HumanEval", "humaneval": "HumanEval", "humanevalpack_js": "HumanEval",
    "mbpp": "MBPP",
    "arc_challenge": "ARC-Challenge", "arc-challenge": "ARC-Challenge", "arc_easy": "ARC-Challenge",
    "commonsense_qa": "ARC-Challenge", "openbook_qa": "ARC-Challenge",
    "winogrande": "Winogrande",
    "natural_qa": "TriviaQA", "trivia_qa": "TriviaQA",
    "commongen": "Chat", "mt_bench": "Chat",
    "smalltalk": "Smalltalk",
}
BENCHMARK_FAMILIES = ("MMLU", "GSM8K", "MATH", "GPQA", "HumanEval", "MBPP", "ARC-Challenge", "Winogrande")
#: Every model answers greetings and trivial lookups well; this is the score all get there.
SMALLTALK_SCORE = 0.97
#: Arena rating of the reference model a `Chat` score is a win probability against.
CHAT_REFERENCE_ELO = 1100.0
#: Families with no benchmark of their own borrow the ability line of a related one.
PROXY = {"TriviaQA": "MMLU"}


def _ability(card: ModelCard, elo_line: tuple[float, float] | None) -> float | None:
    """Mean logit over the model's known benchmarks, else one predicted from its Arena rating."""
    known = [card.facts.benchmarks[b] for b in BENCHMARK_FAMILIES if b in card.facts.benchmarks]
    if known:
        return float(np.mean(logit(np.array(known))))
    if card.facts.arena_elo is not None and elo_line is not None:
        return elo_line[0] + elo_line[1] * card.facts.arena_elo
    return None


def _line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float] | None:
    if len(xs) < 3:
        return None
    slope, intercept = np.polyfit(np.asarray(xs), np.asarray(ys), 1)
    return float(intercept), float(slope)


class FactPlacer:
    """Imputes missing task scores from the catalog's models that have them."""

    def __init__(self, cards: Iterable[ModelCard]) -> None:
        cards = list(cards)
        with_both = [c for c in cards if c.facts.arena_elo is not None and any(
            b in c.facts.benchmarks for b in BENCHMARK_FAMILIES)]
        self.elo_line = _line(
            [c.facts.arena_elo for c in with_both],  # type: ignore[misc]
            [_ability(c, None) for c in with_both],  # type: ignore[misc]
        )
        self.lines: dict[str, tuple[float, float]] = {}
        for fam in BENCHMARK_FAMILIES:
            pairs = [(_ability(c, self.elo_line), float(logit(c.facts.benchmarks[fam])))
                     for c in cards if fam in c.facts.benchmarks]
            pairs = [(a, y) for a, y in pairs if a is not None]
            line = _line([a for a, _ in pairs], [y for _, y in pairs])
            if line is not None:
                self.lines[fam] = line
        self.chat_line = _line(
            [a for c in cards if c.facts.arena_elo is not None and (a := _ability(c, self.elo_line)) is not None],
            [float(logit(self.chat_score(c.facts.arena_elo)))
             for c in cards if c.facts.arena_elo is not None and _ability(c, self.elo_line) is not None],
        )

    @staticmethod
    def chat_score(elo: float) -> float:
        """Arena win probability against the reference model."""
        return float(1.0 / (1.0 + 10 ** ((CHAT_REFERENCE_ELO - elo) / 400.0)))

    def task_scores(self, card: ModelCard, tasks: Sequence[str]) -> tuple[dict[str, float], dict[str, str]]:
        """Score per task for `card`, and for each task whether it was `published` or `imputed`."""
        ability = _ability(card, self.elo_line)
        scores: dict[str, float] = {}
        how: dict[str, str] = {}
        for task in tasks:
            bench = FAMILY_OF.get(task.lower(), task)  # a user's own task names, e.g. "gsm8k"
            if task == "Smalltalk":
                scores[task], how[task] = SMALLTALK_SCORE, "assumed"
            elif task == "Chat" and card.facts.arena_elo is not None:
                scores[task], how[task] = self.chat_score(card.facts.arena_elo), "published (Arena)"
            elif bench in card.facts.benchmarks:
                scores[task], how[task] = card.facts.benchmarks[bench], "published"
            elif bench == "MBPP" and "HumanEval" in card.facts.benchmarks:
                scores[task], how[task] = card.facts.benchmarks["HumanEval"], "from HumanEval"
            elif bench == "HumanEval" and "MBPP" in card.facts.benchmarks:
                scores[task], how[task] = card.facts.benchmarks["MBPP"], "from MBPP"
            elif ability is not None:
                line = self.chat_line if task == "Chat" else self.lines.get(PROXY.get(bench, bench))
                z = ability if line is None else line[0] + line[1] * ability
                scores[task], how[task] = float(1 / (1 + np.exp(-z))), "imputed"
        return scores, how
