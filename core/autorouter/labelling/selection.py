"""Choosing the prompts to label, in the order to label them: a seeded random sample, or
active learning (the prompts a router is least sure about first)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..catalog import Catalog
from ..decision import RoutingDecision
from ..errors import InvalidRequestError, NoCandidateError, UnknownModelError
from .prompts import LabelPrompt

if TYPE_CHECKING:
    from ..router import Router


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
