"""Predicted latency: seconds until a candidate's whole answer has arrived, from its speed (time
to first token, output tokens per second, hidden thinking tokens) and the predicted length of
the answer; and how an unknown latency is priced in the score."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np

from .types import ModelSpeed


def predicted_latency(
    speeds: Mapping[str, ModelSpeed], models: Sequence[str], proto_w: np.ndarray, answer_tokens: np.ndarray
) -> np.ndarray:
    """(n, models) predicted seconds for prompts of cluster weights `proto_w` (n, k), whose
    answers run to `answer_tokens` (k,) per cluster; NaN for a model of unknown speed."""
    if not speeds:
        return np.full((len(proto_w), len(models)), np.nan)
    ttft, tps, thinking = _speed_table(tuple(speeds.get(m) for m in models))
    answer = proto_w @ answer_tokens
    return ttft + (answer[:, None] + thinking) / tps


def latency_for_scoring(lat: np.ndarray) -> np.ndarray:
    """Predicted latency (n, m) with a model of unknown speed taken as a typical known one
    (the row's median): unknown must not mean instant, or it would beat every timed model."""
    known = np.isfinite(lat)
    if known.all():
        return lat
    if not known.any():
        return np.zeros_like(lat)
    typical = np.array([[float(np.median(row[k])) if k.any() else 0.0] for row, k in zip(lat, known, strict=True)])
    return np.where(known, lat, typical)


@functools.lru_cache(maxsize=32)
def _speed_table(speeds: tuple[ModelSpeed | None, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time to first token, output speed and thinking tokens per model; NaN where unknown."""
    nan = float("nan")
    ttft = np.array([nan if s is None or s.ttft_s is None else s.ttft_s for s in speeds])
    tps = np.array([nan if s is None or s.output_tokens_per_s is None else s.output_tokens_per_s for s in speeds])
    thinking = np.array([0.0 if s is None else float(s.reasoning_tokens) for s in speeds])
    return ttft, tps, thinking
