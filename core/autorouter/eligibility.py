"""Which candidates may serve a request: those allowed, able to take it (tools, images,
structured output, context window: `types.exclusion_reason`) and within its caps on
predicted cost and latency; with the reason for every one that may not."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .errors import UnknownModelError
from .predictors import CHARS_PER_TOKEN
from .types import ModelLimits, exclusion_reason


def allowed(models: Sequence[str], candidates: Sequence[str] | str | None) -> np.ndarray:
    """(models,) bool: which of `models` the caller allows (None: every one)."""
    if candidates is None:
        return np.ones(len(models), dtype=bool)
    if isinstance(candidates, str):
        candidates = [candidates]
    unknown = [m for m in candidates if m not in models]
    if unknown:
        raise UnknownModelError(
            f"unknown model(s) {unknown}; this router knows {list(models)}"
        )
    return np.array([m in set(candidates) for m in models])


def exclusions(
    models: Sequence[str],
    limits: Mapping[str, ModelLimits],
    cost: np.ndarray,
    chars: np.ndarray,
    allowed: np.ndarray,
    cap: float | None,
    images: np.ndarray,
    tools: bool,
    structured_output: bool,
    latency: np.ndarray | None = None,
    latency_cap: float | None = None,
) -> list[list[str | None]]:
    """Per prompt and model: why the model cannot serve the request, or None if it can."""
    if cap is None and latency_cap is None and allowed.all() and not limits:
        return [[None] * len(models) for _ in range(len(cost))]  # nothing can exclude
    known = [limits.get(m) or ModelLimits() for m in models]
    out = []
    for i in range(len(cost)):
        tokens = chars[i] / CHARS_PER_TOKEN
        needs = [n for n, wanted in (("tools", tools), ("images", images[i]),
                                     ("structured_output", structured_output)) if wanted]
        row: list[str | None] = []
        for j, lim in enumerate(known):
            why = None
            if not allowed[j]:
                why = "not among the allowed candidates"
            elif (lacks := exclusion_reason(lim, needs, tokens)) is not None:
                why = lacks  # the one eligibility rule, the adapters' too
            elif cap is not None and cost[i, j] > cap:
                why = f"predicted cost ${cost[i, j]:.3g} is above max_cost ${cap:.3g}"
            elif latency_cap is not None and latency is not None and latency[i, j] > latency_cap:
                why = f"predicted latency {latency[i, j]:.1f}s is above max_latency_s {latency_cap:g}s"
            row.append(why)
        out.append(row)
    return out
