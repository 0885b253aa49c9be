"""The families real prompts fall into, and what each asks of a model.

The bundled default router reads every prompt as a mix of these families (small talk, a quick
fact, a unit conversion, a proof, competition maths, hard coding, ...), not as benchmark names. For each family this
module says:

- `label`: the name the explanation shows ("looks like a unit conversion");
- `skills`: which groups of independent figures measure the ability it needs, with weights
  (see `SKILL_COLUMNS`: e.g. a proof needs maths, a chat answer is judged like the Arena);
- `base`, `spread`: how a typical catalog model does on a typical prompt of the family (logit of
  the chance of a good answer) and how much that chance moves per standard deviation of ability
  across the catalog. Small talk and unit conversions sit near the ceiling for every model, so
  the choice of model hardly matters there; on a proof or hard code it matters a lot.

`base` and `spread` are priors written for this project, checked against the per-prompt data
where it exists (GSM8K-style word problems, competition maths, MMLU-style knowledge, coding);
`benchmarks/seed_sets.py` measures what they buy on held-out data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["FAMILIES", "Family", "SKILL_COLUMNS", "family_of_dataset_task", "family_of_benchmark"]


@dataclass(frozen=True)
class Family:
    """One kind of prompt: its display label, the skills it needs, and how hard it typically is."""

    id: str
    label: str
    skills: Mapping[str, float]
    base: float
    spread: float
    #: typical answer length in tokens (for cost and latency)
    answer_tokens: float


#: Skill group -> the catalog figures that measure it: exact benchmark names, or prefixes ending
#: in "/" matched against the category part of LiveBench keys ("LiveBench-<date>/<Category>").
SKILL_COLUMNS: dict[str, tuple[str, ...]] = {
    "chat": ("Arena",),
    "knowledge": ("MMLU", "GPQA", "ARC-Challenge"),
    "grade_math": ("GSM8K",),
    "math": ("MATH", "/Mathematics"),
    "coding": ("HumanEval", "MBPP", "/Coding"),
    "reasoning": ("/Reasoning", "GPQA"),
    "data": ("/Data Analysis",),
    "language": ("/Language",),
    "instructions": ("/IF", "/Instruction Following"),
    # single LiveBench tasks closest to one family
    "summarize": ("/summarize",),
    "story": ("/story_generation",),
    "paraphrase": ("/paraphrase", "/simplify"),
    "typos": ("/typos",),
    "code_generation": ("/LCB_generation", "/code_generation"),
    "code_completion": ("/coding_completion", "/code_completion"),
    "tables": ("/cta", "/tablejoin", "/tablereformat"),
    # maths with an answer to find (MATH, AMC/AIME-style) vs proofs (LiveBench olympiad: proofs)
    "contest_math": ("MATH", "/AMPS_Hard", "/math_comp", "/integrals_with_game"),
    "olympiad": ("/olympiad",),
}

_F = Family
FAMILIES: dict[str, Family] = {f.id: f for f in (
    _F("smalltalk", "small talk", {"chat": 1.0}, 3.6, 0.12, 40),
    _F("quick_fact", "a quick fact", {"knowledge": 0.5, "chat": 0.5}, 2.6, 0.35, 60),
    _F("unit_conversion", "a unit conversion", {"grade_math": 0.5, "instructions": 0.5}, 3.0, 0.3, 60),
    _F("translation", "a translation", {"language": 0.5, "chat": 0.5}, 2.2, 0.4, 120),
    _F("rewriting", "rewriting or editing", {"paraphrase": 0.4, "typos": 0.2, "instructions": 0.2, "chat": 0.2}, 2.3, 0.35, 250),
    _F("summarising", "summarising", {"summarize": 0.5, "instructions": 0.2, "chat": 0.3}, 2.0, 0.45, 250),
    _F("extraction", "extraction", {"tables": 0.5, "instructions": 0.5}, 2.0, 0.45, 200),
    _F("creative_writing", "creative writing", {"chat": 0.6, "story": 0.4}, 1.2, 0.55, 450),
    _F("advice", "advice", {"chat": 0.8, "instructions": 0.2}, 1.6, 0.45, 450),
    _F("knowledge", "a knowledge question", {"knowledge": 0.6, "chat": 0.4}, 1.1, 0.7, 400),
    _F("math_word_problem", "a maths word problem", {"grade_math": 0.5, "math": 0.5}, 2.2, 0.8, 300),
    _F("proof", "a proof", {"olympiad": 0.6, "reasoning": 0.2, "math": 0.2}, -0.3, 1.1, 700),
    _F("competition_math", "competition maths", {"contest_math": 1.0}, -0.2, 1.2, 600),
    _F("coding_easy", "easy coding", {"coding": 1.0}, 2.0, 0.6, 300),
    _F("coding_hard", "hard coding", {"code_generation": 0.5, "coding": 0.3, "reasoning": 0.2}, -0.1, 1.0, 900),
    _F("debugging", "debugging", {"code_completion": 0.4, "coding": 0.4, "reasoning": 0.2}, 0.6, 0.8, 500),
    _F("system_design", "system design", {"coding": 0.3, "reasoning": 0.3, "chat": 0.4}, 0.8, 0.7, 900),
    _F("sql_data", "SQL and data", {"coding": 0.5, "data": 0.5}, 1.0, 0.8, 350),
    _F("tool_use", "tool use or an agentic request", {"instructions": 0.5, "chat": 0.3, "coding": 0.2}, 0.9, 0.7, 300),
    _F("long_document", "a question on a long document", {"data": 0.3, "instructions": 0.4, "reasoning": 0.3}, 0.9, 0.7, 350),
)}

#: Dataset task names in ../shared/data -> the family their prompts belong to (None: not real
#: traffic, such as Winogrande's fill-in-the-blank sentences).
_DATASET_TASK_FAMILY = {
    "mmlu": "knowledge", "cmmlu": "knowledge", "ceval": "knowledge", "mmlu-pro": "knowledge",
    "gpqa": "knowledge", "arc_challenge": "knowledge", "arc-challenge": "knowledge",
    "arc_easy": "quick_fact", "commonsense_qa": "quick_fact", "openbook_qa": "quick_fact",
    "gsm8k": "math_word_problem", "gsm": "math_word_problem", "agentverse-mgsm": "math_word_problem",
    "math": "competition_math", "math-l5": "competition_math", "math_prealgebra": "math_word_problem",
    "human_eval": "coding_easy", "humaneval": "coding_easy", "humanevalpack_js": "coding_easy",
    "mbpp": "coding_easy",
    "natural_qa": "quick_fact", "trivia_qa": "quick_fact",
}
#: MT-Bench categories -> family.
_MT_BENCH_FAMILY = {
    "writing": "creative_writing", "roleplay": "creative_writing", "reasoning": "knowledge",
    "math": "math_word_problem", "coding": "coding_hard", "extraction": "extraction",
    "stem": "knowledge", "humanities": "knowledge",
}
#: Benchmark names a user may describe a model by -> the family they measure.
_BENCHMARK_FAMILY = {
    "mmlu": "knowledge", "gpqa": "knowledge", "arc-challenge": "knowledge", "triviaqa": "quick_fact",
    "gsm8k": "math_word_problem", "math": "competition_math", "humaneval": "coding_easy",
    "mbpp": "coding_easy", "chat": "advice", "smalltalk": "smalltalk", "winogrande": "knowledge",
    "hellaswag": "knowledge",
}


def family_of_dataset_task(task: str, category: str | None = None) -> str | None:
    """The family of a routing dataset's task (and MT-Bench category), or None."""
    t = task.lower()
    if t == "mt_bench":
        return _MT_BENCH_FAMILY.get((category or "").lower())
    return _DATASET_TASK_FAMILY.get(t)


def family_of_benchmark(name: str) -> str | None:
    """The family a benchmark name (e.g. "GSM8K", "MATH") measures, a family id as is, or None."""
    if name in FAMILIES:
        return name
    return _BENCHMARK_FAMILY.get(name.lower())
