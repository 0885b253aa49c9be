"""What `Router.add_model` makes of the facts that describe a candidate without per-prompt data:
its task scores keyed by the router's tasks, their uncertainties, its price; and, for a catalog
model (`Router.add_catalog_model`), all of those read from its card."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import astuple
from typing import Any

import numpy as np

from .catalog import ModelCard
from .errors import InvalidRequestError
from .families import family_of_benchmark
from .placement import FactPlacer
from .profiles import TaskProfile
from .prompts import prompt_text
from .types import ModelLimits, ModelPrice

#: Uncertainty (sd, logit units) of task scores given to `add_model` without one.
DEFAULT_TASK_SCORE_SD = 0.3
#: Reasoning models spend hidden thinking tokens: without a catalog figure for them, answers
#: cost this many times a plain one.
REASONING_ANSWER_FACTOR = 5.0


def task_score_column(
    profile: TaskProfile, name: str, task_scores: Mapping[str, float] | None, has_prompts: bool
) -> np.ndarray:
    """(T,) the task scores model `name` starts from: `task_scores` keyed by the profile's tasks
    (tasks without one at the mean of those given), or 0.5 everywhere when only scored prompts
    (`has_prompts`) describe it."""
    if task_scores is None and not has_prompts:
        raise InvalidRequestError(
            f"describe {name!r} by task_scores={{task: score}} (tasks: {profile.tasks}) "
            "or by scored_prompts=[(prompt, score), ...]"
        )
    if task_scores is not None:
        bad = [t for t, v in task_scores.items() if not 0.0 <= float(v) <= 1.0]
        if bad:
            raise InvalidRequestError(f"task scores must be in [0, 1]; check {bad}")
        task_scores = as_router_tasks(profile.tasks, task_scores)
        if not any(t in profile.tasks for t in task_scores):
            raise InvalidRequestError(
                f"none of the tasks {sorted(task_scores)} is known; this router knows {profile.tasks}"
            )
    return profile.scores_from_facts(task_scores or {}, fallback=None if task_scores else 0.5)


def refined_column(
    profile: TaskProfile, col: np.ndarray, scored: Sequence[tuple[Any, float]],
    embed: Callable[[list[str]], np.ndarray], prior_weight: float,
) -> np.ndarray:
    """The task scores `col` moved toward how the model fared on `scored` (prompt, score)
    pairs, each counting for the tasks it resembles; `col` weighs as `prior_weight` prompts."""
    texts = [prompt_text(p)[0] for p, _ in scored]
    y = np.array([float(v) for _, v in scored])
    if not np.all((y >= 0) & (y <= 1)):
        raise InvalidRequestError("scores of scored_prompts must be in [0, 1]")
    probs = profile.task_probs(embed(texts))
    weight = probs.sum(axis=0)
    return (probs.T @ y + prior_weight * col) / (weight + prior_weight)


def as_router_tasks(tasks: Sequence[str], task_scores: Mapping[str, float]) -> dict[str, float]:
    """Task scores keyed by a router's `tasks`: a benchmark name (e.g. "MATH") given to a
    router whose tasks are prompt families counts for the family it measures."""
    known = set(tasks)
    out: dict[str, float] = {}
    for t, v in task_scores.items():
        family = family_of_benchmark(t)
        key = family if t not in known and family is not None and family in known else t
        out.setdefault(key, float(v))
    return out


def sd_column(tasks: Sequence[str], sd: float | Mapping[str, float]) -> np.ndarray:
    """A (T,) column of task-score uncertainties (logit units): one for all, or per task (tasks
    without one at the largest given)."""
    if isinstance(sd, Mapping):
        given = {t: float(v) for t, v in as_router_tasks(tasks, sd).items() if t in tasks}
        fill = max(given.values()) if given else DEFAULT_TASK_SCORE_SD
        col = np.array([given.get(t, fill) for t in tasks])
    else:
        col = np.full(len(tasks), float(sd))
    if not np.all(np.isfinite(col)) or np.any(col < 0):
        raise InvalidRequestError(f"task_score_sd must be finite and >= 0, got {sd!r}")
    return col


def checked_price(price: ModelPrice | tuple[float, float]) -> tuple[float, float]:
    """USD per 1M input and output tokens, each >= 0."""
    pin, pout = astuple(ModelPrice.of(price))
    if pin < 0 or pout < 0:
        raise InvalidRequestError(f"prices must be >= 0, got {(pin, pout)}")
    return pin, pout


def catalog_model_args(card: ModelCard, placer: FactPlacer, tasks: Sequence[str]) -> dict[str, Any]:
    """`add_model`'s description of the catalog model `card`: task scores and their
    uncertainty placed from its public facts (`placer`), price, limits and speed."""
    scores, sds, _ = placer.task_scores_sd(card, tasks)
    if not scores:
        raise InvalidRequestError(f"the catalog has no benchmark scores or Arena rating for {card.id}")
    if card.price is None:
        raise InvalidRequestError(f"the catalog has no price for {card.id}; add one with Catalog.override")
    caps = card.capabilities
    limits = ModelLimits(
        context_window=card.context_window, tools=caps.tools, images=caps.images,
        structured_output=caps.structured_output,
    )
    # without a figure for the hidden thinking, a reasoning model's answers cost a multiple
    factor = REASONING_ANSWER_FACTOR if caps.reasoning and not card.reasoning_tokens else 1.0
    return {
        "task_scores": scores, "price": card.price, "answer_token_factor": factor, "limits": limits,
        "speed": card.speed, "task_score_sd": sds,
    }
