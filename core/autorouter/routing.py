"""How a fitted router routes prompts it has embedded: what it predicts for every candidate
(`Predictions`), and the decisions it makes of that (who may serve, the policy's pick, why)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .decision import RoutingDecision
from .eligibility import allowed, exclusions
from .explain import decisions, domains
from .latency import latency_for_scoring, predicted_latency
from .policy import (
    check_latency_weight,
    check_max_cost,
    check_max_latency,
    check_tradeoff,
    decide,
    family_strength,
    order_with_pick,
)

if TYPE_CHECKING:
    from .router import Router


class Predictions(NamedTuple):
    """What the router predicts for n prompts, and the weights the explanation reuses."""

    quality: np.ndarray  # (n, models) chance of a good answer
    cost: np.ndarray  # (n, models) USD
    sd: np.ndarray  # (n, models) uncertainty of `quality`
    latency: np.ndarray  # (n, models) seconds until the whole answer has arrived; NaN if unknown
    proto_w: np.ndarray  # (n, k) cluster weights
    task_w: np.ndarray  # (n, T) task weights


def predictions(router: Router, x: np.ndarray, chars: np.ndarray, *, corrected: bool = True) -> Predictions:
    """What `router` predicts for embedded prompts `x` of lengths `chars` (see
    `Predictions`). `corrected=False` leaves out what outcomes taught (`partial_fit`):
    the base that residuals are measured against."""
    proto_w = router.prototypes_.weights(x)
    task_w = router.profile_.task_probs(x)
    n_data = len(router.data_models_)
    q = np.zeros((len(x), len(router.models_)))
    # Models placed from facts carry their task scores' uncertainty through the task mix;
    # the cross-validated predictor of models learned from per-prompt data is taken at
    # its word (sd 0).
    sd = np.zeros_like(q)
    if router.quality_ is not None:
        q[:, :n_data] = router.quality_.predict(x, proto_w)
    if router.fact_models_:
        q[:, n_data:], sd[:, n_data:] = router.profile_.fact_quality(
            x, router.fact_scores_, router.fact_sd_, task_probs=task_w
        )
    if corrected and router.feedback_.outcomes:
        q = np.clip(q + router.feedback_.offset(proto_w), 0.0, 1.0)
        # outcomes of similar prompts shrink a placed model's uncertainty
        seen = router.feedback_.evidence(proto_w)[:, n_data:]
        sd[:, n_data:] *= np.sqrt(router.feedback_.strength / (router.feedback_.strength + seen))
    latency = predicted_latency(router.speeds_, router.models_, proto_w, router.answer_tokens_)
    return Predictions(q, router.cost_.predict(chars, proto_w), sd, latency, proto_w, task_w)


def strength(router: Router) -> np.ndarray:
    """`router.strength_`, worked out from the calibration sample the first time a loaded router
    needs it (a tenth of a second: not worth holding up every load)."""
    if router.strength_ is None:
        p = predictions(router, router.calib_x_, router.calib_chars_)
        router.strength_ = family_strength(p.quality, p.sd, p.task_w)
    return router.strength_


def routing_decisions(
    router: Router, x: np.ndarray, chars: np.ndarray, tradeoff: float | None, max_cost: float | None,
    candidates: Sequence[str] | None, images: np.ndarray | None = None, tools: bool = False,
    structured_output: bool = False, max_latency_s: float | None = None, latency_weight: float | None = None,
) -> list[RoutingDecision]:
    """`router`'s decisions for embedded prompts `x` of lengths `chars`, as `Router.route_batch`
    makes them."""
    t = check_tradeoff(router.tradeoff if tradeoff is None else tradeoff)
    cap = check_max_cost(router.max_cost if max_cost is None else max_cost)
    lat_cap = check_max_latency(router.max_latency_s if max_latency_s is None else max_latency_s)
    mu = check_latency_weight(router.latency_weight if latency_weight is None else latency_weight)
    ok = allowed(router.models_, candidates)
    q, c, sd, lat, proto_w, task_w = predictions(router, x, chars)
    images = np.zeros(len(q), dtype=bool) if images is None else images
    reasons = exclusions(
        router.models_, router.limits_, c, chars, ok, cap, images, tools, structured_output, lat, lat_cap
    )
    eligible = np.array([[r is None for r in row] for row in reasons], dtype=bool).reshape(q.shape)
    lam = router.scale_.lam_for(t)
    scores, picks = decide(
        q, c, eligible, lam, mu * latency_for_scoring(lat), sd, task_w @ strength(router) if lam == 0 else None
    )
    order = order_with_pick(scores, eligible, picks)
    return decisions(
        router.models_, order, reasons, domains(router.profile_, router.proto_groups_, proto_w, task_w),
        router.difficulty_cuts_, quality=q, cost_usd=c, score=scores, eligible=eligible, uncertainty=sd,
        latency_s=lat, tradeoff=t, max_cost=cap, max_latency_s=lat_cap,
    )
