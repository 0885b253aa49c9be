"""What a routing decision says besides the pick: every candidate's row of the ranking, how hard
the prompt looks, what it looks like (its domain), and the one-line explanation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from .decision import RoutingDecision
from .errors import NoCandidateError
from .families import FAMILIES
from .profiles import TaskProfile

#: A prompt is "hard" where the typical candidate answers it well less than 70% of the time and
#: "easy" from 90%: what the words mean to a reader, the same for every router (quantiles of the
#: calibration prompts made a third of any traffic "hard", everyday small talk included).
DIFFICULTY_CUTS = (0.7, 0.9)


def decisions(
    models: Sequence[str],
    order: np.ndarray,
    reasons: list[list[str | None]],
    domains: list[str],
    cuts: np.ndarray,
    *,
    quality: np.ndarray,
    cost_usd: np.ndarray,
    score: np.ndarray,
    eligible: np.ndarray,
    uncertainty: np.ndarray,
    latency_s: np.ndarray,
    tradeoff: float,
    max_cost: float | None,
    max_latency_s: float | None,
) -> list[RoutingDecision]:
    """One decision per prompt, ranking the candidates `models` in `order` (n, models).

    Args:
        reasons: why each model cannot serve each prompt, None where it can.
        domains: what each prompt looks like ("" where nothing names it).
        cuts: the router's difficulty cuts (`difficulty`).
        quality, cost_usd, score, eligible, uncertainty, latency_s: (n, models) each, as the
            ranking reports them (`RankedModel`); latency NaN where unknown.

    Raises:
        NoCandidateError: no candidate can serve a prompt; the message lists every one's reason.
    """
    # Plain Python values once, and one validation call per decision (nested in Rust): 20
    # RankedModel constructions per prompt would cost more than the scoring itself.
    ql, cl, sl, el, sdl = quality.tolist(), cost_usd.tolist(), score.tolist(), eligible.tolist(), uncertainty.tolist()
    latl = [[None if v != v else v for v in row] for row in latency_s.tolist()]
    out = []
    for i, row_order in enumerate(order.tolist()):
        if not any(el[i]):
            why = "; ".join(f"{m}: {reasons[i][j]}" for j, m in enumerate(models))
            raise NoCandidateError(
                f"no candidate model can serve this request ({why}); relax the constraints "
                "(max_cost, candidates, tools, images) or add models"
            )
        ranking = [
            {"model": models[j], "quality": ql[i][j], "cost_usd": cl[i][j], "score": sl[i][j],
             "eligible": el[i][j], "excluded_because": reasons[i][j], "latency_s": latl[i][j],
             "uncertainty": sdl[i][j]}
            for j in row_order
        ]
        label = difficulty(quality[i], cuts)
        out.append(
            RoutingDecision.model_validate({
                "model": ranking[0]["model"],
                "ranking": ranking,
                "tradeoff": tradeoff,
                "max_cost": max_cost,
                "max_latency_s": max_latency_s,
                "explanation": explanation(ranking, label, domains[i], tradeoff),
                "family": domains[i] or None,
                "difficulty": label,
            })
        )
    return out


def difficulty(q: np.ndarray, cuts: np.ndarray) -> str:
    """Easy, medium or hard: the typical (median) candidate's predicted chance of a good
    answer `q` against the router's `cuts` (`DIFFICULTY_CUTS` since routers were given them)."""
    typical = float(np.median(q))
    return "hard" if typical < cuts[0] else "easy" if typical >= cuts[1] else "medium"


def explanation(ranking: list[dict[str, Any]], difficulty: str, domain: str, t: float) -> str:
    """Why the first of `ranking` was chosen: against the best eligible candidate by quality,
    what it gives up and saves, and whether the gap is within the router's uncertainty."""
    chosen = ranking[0]
    best = max((r for r in ranking if r["eligible"]), key=lambda r: r["quality"])
    looks = f"looks like {domain}, " if domain else ""
    if chosen["model"] == best["model"]:
        why = f"highest predicted quality {chosen['quality']:.2f}"
    else:
        ratio = best["cost_usd"] / max(chosen["cost_usd"], 1e-12)
        gap = best["quality"] - chosen["quality"]
        noise = float(np.hypot(best["uncertainty"], chosen["uncertainty"]))
        within = f", an edge within the router's uncertainty (±{noise:.2f})" if 0 < gap <= noise else ""
        cost_part = f"at {ratio:.1f}x less cost" if ratio >= 1.0 else f"at {1 / ratio:.1f}x the cost"
        why = (
            f"predicted quality {chosen['quality']:.2f} vs {best['quality']:.2f} for {best['model']}"
            f"{slower(best, chosen)} {cost_part}{within}"
        )
    speed = f", ~{chosen['latency_s']:.1f}s" if chosen["latency_s"] is not None else ""
    return (
        f"{chosen['model']}: {why}, ~${chosen['cost_usd']:.6f} per call{speed}; prompt {looks}{difficulty} "
        f"difficulty; tradeoff {t:.2f}"
    )


def slower(best: dict[str, Any], chosen: dict[str, Any]) -> str:
    """" (~143s to answer)" after the better model's name when it answers much more slowly than
    the chosen one (at least twice as long and 10 s more), so the explanation says what the
    latency term paid for."""
    b, c = best["latency_s"], chosen["latency_s"]
    if b is None or c is None or b < 2 * c or b - c < 10:
        return ""
    return f" (~{b:.0f}s to answer)"


def domains(profile: TaskProfile, cluster_names: Sequence[str], proto_w: np.ndarray, task_w: np.ndarray) -> list[str]:
    """A name for what each prompt looks like: its most likely task when the router knows
    named tasks, else the main task of its nearest cluster of training prompts."""
    if profile.tasks and not profile.tasks[0].startswith("cluster-"):
        names = [FAMILIES[t].label if t in FAMILIES else t for t in profile.tasks]
        return [names[k] for k in task_w.argmax(axis=1)]
    return [cluster_names[k] for k in proto_w.argmax(axis=1)]


def cluster_names(labels: np.ndarray, k: int, groups: list[str] | None) -> list[str]:
    """The main group of each of the `k` clusters of training prompts ("" where none)."""
    if not groups:
        return ["" for _ in range(k)]
    out = []
    for c in range(k):
        members = Counter(g for g, lab in zip(groups, labels, strict=True) if lab == c and g)
        out.append(members.most_common(1)[0][0] if members else "")
    return out
