"""Place catalog models from public facts: every figure the catalog holds about every model
(LiveBench categories, vendor benchmarks, the Arena rating) is read as a noisy observation of a
few latent abilities, and a model's score on a task follows from its abilities.

`AbilityModel` fits a low-rank model across all catalog models and figures at once: each figure
(column) is standardised, then approximated as `b_j + u_m . v_j` with ridge penalties, so that a
model's abilities `u_m` are pinned down by all of its figures together. One missing or inflated
figure moves them only a little, and a model with few figures gets a wide uncertainty rather
than a confident guess. Vendor figures (shots and grading differ) and LiveBench figures (one
protocol, each release its own column) enter the same way.

`FactPlacer.task_scores` turns abilities into a score per task of a router:
- the default router's prompt families (`autorouter.families`): `base + spread * z`, where `z` is
  the model's predicted standing in the skills the family needs (in catalog standard deviations);
- benchmark-named tasks of routers trained on benchmark data (MMLU, GSM8K, ...): the published
  score where there is one, else the latent model's prediction of that benchmark; `Chat` is the
  Arena win probability, `Smalltalk` a score every model gets.
`task_score_sds` gives each score's uncertainty in logit units, which the router uses so that an
edge smaller than its own uncertainty does not buy a much dearer model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .catalog import ModelCard
from .families import FAMILIES, SKILL_COLUMNS
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
#: Rank of the latent ability model, its ridge penalty, and the smallest noise it assumes. Rank 2
#: and ridge 1 predict held-out catalog figures best (5-fold over figures: RMSE 0.76 column sd,
#: against 0.79 for rank 1 and 0.73-0.83 for rank 3 across ridges).
ABILITY_RANK = 2
ABILITY_RIDGE = 1.0
_MIN_NOISE = 0.25
#: Share of a model's own figure's departure from the low-rank fit that is kept as real.
OBSERVED_SHARE = 0.5
#: Arena ratings enter in logit units of a win probability.
_ELO_SCALE = 400.0 / np.log(10.0)


def _column_values(card: ModelCard) -> dict[str, float]:
    """Every figure of a card as one number on a logit-like scale. A LiveBench category whose
    tasks are there too is left out: it is their mean, and would count them twice."""
    names = list(card.facts.benchmarks)
    out = {
        name: float(logit(v)) for name, v in card.facts.benchmarks.items()
        if not any(other.startswith(name + "/") for other in names)
    }
    if card.facts.arena_elo is not None:
        out["Arena"] = float(card.facts.arena_elo) / _ELO_SCALE
    return out


def _source_of(column: str) -> str:
    """Which independent measurement a figure comes from: LiveBench, or the benchmark itself."""
    return "LiveBench" if column.startswith("LiveBench-") else column


def _skill_of(column: str, skill: str) -> bool:
    """Whether a figure measures a skill: its exact name, or "/X" for a LiveBench category or
    task X (keys are "LiveBench-<date>/<Category>[/<task>]")."""
    parts = column.split("/")[1:]
    return any(pat[1:] in parts if pat.startswith("/") else column == pat for pat in SKILL_COLUMNS[skill])


class AbilityModel:
    """A low-rank model of every catalog figure: `standardised figure = b_j + u_m . v_j + noise`.

    Attributes (learned by `fit`):
        models_: card ids, the rows.
        columns_: figure names with at least 3 models, the columns.
        mean_, sd_: each column's standardisation.
        b_: (J,) column offsets; u_: (M, r) abilities; v_: (J, r) loadings.
        noise_: residual standard deviation (standardised units).
        z_: (M, J) the standardised figures, NaN where a model has none.
        cov_: (M, r, r) posterior covariance of each model's abilities.
    """

    def __init__(self, rank: int = ABILITY_RANK, ridge: float = ABILITY_RIDGE, iters: int = 60) -> None:
        self.rank = rank
        self.ridge = ridge
        self.iters = iters

    def fit(self, cards: Iterable[ModelCard]) -> AbilityModel:
        cards = list(cards)
        values = [_column_values(c) for c in cards]
        counts: dict[str, int] = {}
        for figures in values:
            for k in figures:
                counts[k] = counts.get(k, 0) + 1
        self.models_ = [c.id for c in cards]
        self.columns_ = sorted(k for k, n in counts.items() if n >= 3)
        m, j, r = len(cards), len(self.columns_), self.rank
        y = np.full((m, j), np.nan)
        for i, figures in enumerate(values):
            for jj, col in enumerate(self.columns_):
                if col in figures:
                    y[i, jj] = figures[col]
        obs = np.isfinite(y)
        self.mean_ = np.array([np.mean(y[obs[:, jj], jj]) if obs[:, jj].any() else 0.0 for jj in range(j)])
        self.sd_ = np.array([max(float(np.std(y[obs[:, jj], jj])), 1e-3) if obs[:, jj].sum() > 1 else 1.0
                             for jj in range(j)])
        z = np.where(obs, (y - self.mean_) / self.sd_, 0.0)
        u = np.zeros((m, r))
        if j:
            filled = np.where(obs, z, 0.0)
            left, s, _ = np.linalg.svd(filled, full_matrices=False)
            u[:, : min(r, len(s))] = left[:, :r] * np.sqrt(s[:r])
        v = np.zeros((j, r))
        b = np.zeros(j)
        eye = np.eye(r)
        for _ in range(self.iters if j else 0):
            # columns: offset and loadings given the abilities
            ua = np.hstack([u, np.ones((m, 1))])
            reg = np.diag(np.r_[np.full(r, self.ridge), 1e-6])
            for jj in range(j):
                o = obs[:, jj]
                sol = np.linalg.solve(ua[o].T @ ua[o] + reg, ua[o].T @ z[o, jj])
                v[jj], b[jj] = sol[:r], sol[r]
            # rows: abilities given the loadings
            for i in range(m):
                o = obs[i]
                u[i] = np.linalg.solve(v[o].T @ v[o] + self.ridge * eye, v[o].T @ (z[i, o] - b[o]))
        resid = (z - b - u @ v.T)[obs]
        dof = max(int(obs.sum()) - (m + j) * r - j, 1)
        self.noise_ = max(float(np.sqrt(np.sum(resid**2) / dof)), _MIN_NOISE)
        prec = self.ridge * eye
        self.cov_ = np.stack([
            np.linalg.inv(v[obs[i]].T @ v[obs[i]] / self.noise_**2 + prec) for i in range(m)
        ]) if m else np.zeros((0, r, r))
        # Abilities as the posterior means that go with those covariances: a model's figures
        # weigh by the fitted noise against the prior, so a model known by one figure (an
        # Arena rating) is placed by what that figure says rather than near the catalog's mean.
        for i in range(m):
            o = obs[i]
            u[i] = self.cov_[i] @ (v[o].T @ (z[i, o] - b[o])) / self.noise_**2
        self.u_, self.v_, self.b_ = u, v, b
        self.z_ = np.where(obs, z, np.nan)
        self._row = {name: i for i, name in enumerate(self.models_)}
        return self

    def has(self, model: str) -> bool:
        return model in self._row

    def predict(self, model: str, columns: Sequence[str]) -> tuple[float, float]:
        """Mean standardised value over `columns` for `model`, and its standard deviation."""
        idx = [self.columns_.index(c) for c in columns if c in self.columns_]
        if not idx:
            raise KeyError(f"none of {list(columns)} is a column of the ability model")
        i = self._row[model]
        w = self.v_[idx].mean(axis=0)
        pred = self.b_[idx] + self.v_[idx] @ self.u_[i]
        # Where the model has figures of its own among these columns, part of their departure
        # from the low-rank fit is a real strength or weakness in the skill, part is noise: keep
        # half of it, for the whole skill. A column the model lacks says nothing of such a
        # departure, so it must not dilute the ones it has: o1-mini beat o1-preview on every
        # contest-maths figure both have, yet ranked below it while o1-preview's missing later
        # releases were filled in from its strong general abilities.
        z = self.z_[i, idx]
        seen = np.isfinite(z)
        departure = float(np.mean(z[seen] - pred[seen])) if seen.any() else 0.0
        # One source's departure is half real (OBSERVED_SHARE); independent sources that agree
        # are more believable than one, as the mean of n noisy readings. LiveBench is one
        # source however many of its tasks and releases a model has: a category is the mean
        # of its tasks, and a later release re-lists an older model's scores.
        n = len({_source_of(self.columns_[j]) for j, s in zip(idx, seen, strict=True) if s})
        share = n / (n + (1.0 - OBSERVED_SHARE) / OBSERVED_SHARE)
        var = float(w @ self.cov_[i] @ w)
        return float(pred.mean() + share * departure), float(np.sqrt(max(var, 0.0)))

    def predict_logit(self, model: str, column: str) -> tuple[float, float]:
        """A column's prediction for `model` back on its own (logit) scale, with its sd."""
        jj = self.columns_.index(column)
        z, sd = self.predict(model, [column])
        return float(self.mean_[jj] + self.sd_[jj] * z), float(self.sd_[jj] * sd)

    def skill(self, model: str, skill: str) -> tuple[float, float] | None:
        """Standing in a skill group (catalog standard deviations) and its sd; None if no figure
        of the catalog measures that skill."""
        cols = [c for c in self.columns_ if _skill_of(c, skill)]
        return self.predict(model, cols) if cols else None

    def family(self, model: str, family: str) -> tuple[float, float]:
        """Standing in the skills a family needs: weighted over the skills the catalog measures."""
        parts = [(w, s) for name, w in FAMILIES[family].skills.items() if (s := self.skill(model, name))]
        if not parts:
            return 0.0, 1.0
        total = sum(w for w, _ in parts)
        mean = sum(w * s[0] for w, s in parts) / total
        # skill estimates of one model share its abilities: their errors add, not average out
        sd = sum(w * s[1] for w, s in parts) / total
        return float(mean), float(sd)


def _card_key(cards: list[ModelCard]) -> tuple[Any, ...]:
    return tuple((c.id, tuple(sorted(_column_values(c).items()))) for c in cards)


_ABILITY_CACHE: dict[tuple[Any, ...], AbilityModel] = {}


def ability_model(cards: Iterable[ModelCard]) -> AbilityModel:
    """The fitted ability model of these cards (cached: the same facts give the same fit)."""
    cards = list(cards)
    key = _card_key(cards)
    if key not in _ABILITY_CACHE:
        if len(_ABILITY_CACHE) > 8:
            _ABILITY_CACHE.clear()
        _ABILITY_CACHE[key] = AbilityModel().fit(cards)
    return _ABILITY_CACHE[key]


#: How far a model's success on a family's prompts departs from what its standing predicts
#: (logit units, after each dataset's own level is removed), used when no calibration is given:
#: `calibrate_families` measures 0.61 on the shared routing datasets.
PLACEMENT_ERROR_SD = 0.6
#: Pseudo-pairs pulling a family's fitted spread toward its written prior.
_SPREAD_PRIOR_WEIGHT = 10.0


class FactPlacer:
    """Scores a catalog model on a router's tasks from the facts of every catalog model.

    Args:
        cards: every catalog model (all of them inform the ability model).
        family_params: {family: (base, spread)} replacing `autorouter.families`' priors, e.g.
            from `calibrate_families`.
        error_sd: a family score's own uncertainty beyond the abilities' (logit units).
    """

    def __init__(
        self,
        cards: Iterable[ModelCard],
        family_params: Mapping[str, tuple[float, float]] | None = None,
        error_sd: float = PLACEMENT_ERROR_SD,
    ) -> None:
        self.cards = list(cards)
        self.abilities = ability_model(self.cards)
        self.family_params = dict(family_params or {})
        self.error_sd = float(error_sd)

    def family_params_of(self, family: str) -> tuple[float, float]:
        fam = FAMILIES[family]
        base, spread = self.family_params.get(family, (fam.base, fam.spread))
        return float(base), float(spread)

    @staticmethod
    def chat_score(elo: float) -> float:
        """Arena win probability against the reference model."""
        return float(1.0 / (1.0 + 10 ** ((CHAT_REFERENCE_ELO - elo) / 400.0)))

    def task_scores(self, card: ModelCard, tasks: Sequence[str]) -> tuple[dict[str, float], dict[str, str]]:
        """Score per task for `card`, and for each task how it was obtained."""
        scores, _, how = self.task_scores_sd(card, tasks)
        return scores, how

    def task_scores_sd(
        self, card: ModelCard, tasks: Sequence[str]
    ) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
        """Score per task, its uncertainty (sd in logit units) and how it was obtained
        (`published`, `imputed`, `from abilities`, ...). Tasks the facts say nothing about are
        left out."""
        am = self.abilities
        known = am.has(card.id) and bool(set(_column_values(card)) & set(am.columns_))
        scores: dict[str, float] = {}
        sds: dict[str, float] = {}
        how: dict[str, str] = {}
        for task in tasks:
            bench = FAMILY_OF.get(task.lower(), task)
            column = PROXY.get(bench, bench)
            if task in FAMILIES:
                if not known:
                    continue
                base, spread = self.family_params_of(task)
                z, zsd = am.family(card.id, task)
                theta = base + spread * z
                scores[task] = float(1 / (1 + np.exp(-theta)))
                # the model's own uncertainty: its standing's, and how far models depart from
                # their standing on a family's real prompts (a level common to all models is
                # uncertain too, but cannot reorder them)
                sds[task] = float(np.hypot(spread * zsd, self.error_sd))
                how[task] = "from abilities"
            elif task == "Smalltalk":
                scores[task], sds[task], how[task] = SMALLTALK_SCORE, 0.1, "assumed"
            elif task == "Chat" and card.facts.arena_elo is not None:
                scores[task], sds[task], how[task] = self.chat_score(card.facts.arena_elo), 0.2, "published (Arena)"
            elif bench in card.facts.benchmarks:
                scores[task], sds[task], how[task] = card.facts.benchmarks[bench], 0.2, "published"
            elif bench == "MBPP" and "HumanEval" in card.facts.benchmarks:
                scores[task], sds[task], how[task] = card.facts.benchmarks["HumanEval"], 0.4, "from HumanEval"
            elif bench == "HumanEval" and "MBPP" in card.facts.benchmarks:
                scores[task], sds[task], how[task] = card.facts.benchmarks["MBPP"], 0.4, "from MBPP"
            elif known and task == "Chat":
                z, zsd = am.predict(card.id, ["Arena"]) if "Arena" in am.columns_ else (0.0, 1.0)
                jj = am.columns_.index("Arena") if "Arena" in am.columns_ else None
                elo = (am.mean_[jj] + am.sd_[jj] * z) * _ELO_SCALE if jj is not None else CHAT_REFERENCE_ELO
                scores[task] = self.chat_score(float(elo))
                sds[task], how[task] = float(am.sd_[jj] * zsd) if jj is not None else 1.0, "imputed"
            elif known and column in am.columns_:
                lg, sd = am.predict_logit(card.id, column)
                scores[task] = float(1 / (1 + np.exp(-lg)))
                sds[task], how[task] = float(np.hypot(sd, am.noise_ * am.sd_[am.columns_.index(column)])), "imputed"
        return scores, sds, how


def calibrate_families(
    groups: Iterable[tuple[str, Mapping[str, float]]], cards: Iterable[ModelCard]
) -> tuple[dict[str, tuple[float, float]], float]:
    """Learn from per-prompt outcomes how much the choice of model matters in each family.

    `groups` holds, per dataset task, its family and the mean score of each catalog model that
    answered its prompts (those with LiveBench figures count). Within a group, models' logit scores (centred) are regressed on their
    standings in the family (centred): the slope is the family's spread, pooled over its groups
    and pulled toward the written prior. Returns {family: (base, spread)} for the families with
    data (bases stay the priors: a dataset's level is not everyday traffic's) and the residual
    standard deviation, a family score's error beyond the abilities.
    """
    cards = list(cards)
    am = ability_model(cards)
    # Only models placed from independent figures (one protocol for all: LiveBench): a model
    # known by a few vendor figures is placed so loosely that its outcomes would flatten every
    # spread (regression dilution) and say little about the well-measured models routed to.
    measured = {c.id for c in cards if any(k.startswith("LiveBench-") for k in c.facts.benchmarks)}
    pairs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for family, means in groups:
        ids = [m for m in means if am.has(m) and m in measured]
        if family not in FAMILIES or len(ids) < 3:
            continue
        z = np.array([am.family(m, family)[0] for m in ids])
        y = logit(np.array([means[m] for m in ids]))
        pairs.setdefault(family, []).append((z - z.mean(), y - y.mean()))
    params: dict[str, tuple[float, float]] = {}
    resid: list[np.ndarray] = []
    for family, items in pairs.items():
        zz = np.concatenate([z for z, _ in items])
        yy = np.concatenate([y for _, y in items])
        prior = FAMILIES[family].spread
        slope = float((zz @ yy + _SPREAD_PRIOR_WEIGHT * prior) / (zz @ zz + _SPREAD_PRIOR_WEIGHT))
        params[family] = (FAMILIES[family].base, max(slope, 0.05))
        resid.append(yy - slope * zz)
    error = float(np.sqrt(np.mean(np.concatenate(resid) ** 2))) if resid else PLACEMENT_ERROR_SD
    return params, error
