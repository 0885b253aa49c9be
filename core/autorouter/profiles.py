"""Place a model without per-prompt data: from what it scores per task ("facts").

A `TaskProfile` is learned from routing data that has task labels: a classifier that says how
much a prompt is like each task, and a regressor that says how much harder or easier it is than
that task's typical prompt (an offset in logit units, learned from how every model in the data
fared on it). A model known only by its mean score per task then gets, on a prompt x,

    quality(x) = sum_t P(t | x) * sigmoid(logit(score_t) + offset(x))

which is how a published benchmark score, or a handful of scored prompts, carries over to new
prompts. A profile saves itself (`state()`, `from_state`, see `autorouter.state`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ._linalg import fit_softmax, sigmoid, softmax, spherical_kmeans
from .errors import RouterLoadError
from .state import Dims, State, check_floats, check_members, check_names, check_shapes, shown

_EPS = 0.02


def logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _pick_l2(x: np.ndarray, onehot: np.ndarray, grid: Sequence[float], folds: int, seed: int) -> float:
    """The L2 strength with the best cross-validated log-loss: task probabilities must be
    calibrated, since they weigh a model's task scores."""
    if len(x) < 10 * folds:
        return max(grid)
    fold = np.random.default_rng(seed).permutation(len(x)) % folds
    loss = []
    for l2 in grid:
        total = 0.0
        for f in range(folds):
            tr, te = fold != f, fold == f
            w = fit_softmax(x[tr], onehot[tr], l2=l2, iters=60)
            p = softmax(x[te] @ w[:-1] + w[-1])
            total -= float(np.sum(onehot[te] * np.log(np.clip(p, 1e-9, 1.0))))
        loss.append(total)
    return float(grid[int(np.argmin(loss))])


def task_labels(x: np.ndarray, groups: Sequence[str] | None, seed: int = 0) -> list[str]:
    """Each prompt's task: its group ("other" where it has none), or, when the data has no
    task labels, its coarse cluster of the prompts `x` ("cluster-3"), which stands in for one."""
    if groups and any(groups):
        return [g or "other" for g in groups]
    _, coarse = spherical_kmeans(x, int(np.clip(len(x) // 25, 1, 16)), seed=seed)
    return [f"cluster-{c}" for c in coarse]


def outcome_offsets(task_index: np.ndarray | Sequence[int], scores: np.ndarray) -> np.ndarray:
    """(n,) how much easier each prompt was than its task's typical prompt, from how the models
    that answered it fared: the logit of its mean score (smoothed toward what those models score
    on the task on average, since a 0/1 mean over few models is a noisy difficulty) minus the
    logit of that average. Positive: easier. NaN where no model answered the prompt.

    `task_index` (n,) numbers each prompt's task; `scores` (n, m) holds NaN where a model did
    not answer a prompt (data pooled from several sources)."""
    t_idx = np.asarray(task_index, dtype=np.int64)
    ok = np.isfinite(scores)
    s = np.where(ok, scores, 0.0)
    n_tasks = int(t_idx.max()) + 1 if len(t_idx) else 0
    task_mean = np.zeros((n_tasks, scores.shape[1]))
    for t in range(n_tasks):
        rows = t_idx == t
        cnt = ok[rows].sum(axis=0)
        task_mean[t] = np.where(cnt > 0, s[rows].sum(axis=0) / np.maximum(cnt, 1), np.nan)
    n_ok = np.maximum(ok.sum(axis=1), 1)
    prompt_mean = s.sum(axis=1) / n_ok
    expected = np.nansum(np.where(ok, task_mean[t_idx], 0.0), axis=1) / n_ok
    k = 2.0
    prompt_mean = (prompt_mean * n_ok + k * expected) / (n_ok + k)
    return np.where(ok.any(axis=1), logit(prompt_mean) - logit(expected), np.nan)


@dataclass
class TaskProfile:
    """Which task a prompt resembles and how hard it is, learned from labelled routing data.

    A prompt's difficulty offset is a ridge regression on its embedding (learned from how the
    data's models fared on each prompt) plus, when prompts were given levels by a person
    (`fit`'s `levels`), the expected offset of its level in its task: a classifier of the
    level, weighted by the task mix, over a table of each level's offset in each task.

    A level may also say how far apart the models stand on its prompts (`level_spread`): on a
    trivial prompt every model answers well, a weak one too, so their logits are drawn toward the
    task's centre (`level_centre`) by the level's factor (expected over the prompt's level
    probabilities) before the offset is added. Without `level_spread` (profiles saved before
    it existed) the level moves the offset only.
    """

    MEMBERS: ClassVar[tuple[str, ...]] = (
        "task_clf_w", "task_diff_w", "level_w", "level_offsets", "level_spread", "level_centre",
    )

    tasks: list[str]
    clf_w: np.ndarray  # (d + 1, T) softmax regression weights
    diff_w: np.ndarray  # (d + 1,) ridge weights of the difficulty offset
    temperature: float = 1.0
    level_w: np.ndarray | None = None  # (d + 1, L) softmax weights of a prompt's level
    level_offsets: np.ndarray | None = None  # (T, L) each level's offset in each task
    level_spread: np.ndarray | None = None  # (T, L) factor on the models' distance from the centre
    level_centre: np.ndarray | None = None  # (T,) the logit the factor draws toward

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        tasks: Sequence[str],
        scores: np.ndarray,
        *,
        l2_grid: Sequence[float] = (0.01, 0.1, 1.0, 10.0),
        ridge: float = 10.0,
        folds: int = 3,
        seed: int = 0,
        levels: Sequence[str | None] | None = None,
        level_offsets: Mapping[str, Mapping[str, float]] | None = None,
        level_spreads: Mapping[str, Mapping[str, float]] | None = None,
        level_centres: Mapping[str, float] | None = None,
    ) -> TaskProfile:
        """Learn from embeddings `x` (n, d), each row's task and its scores (n, m).

        `scores` may hold NaN where a model was not run on a row (data pooled from several
        sources): the difficulty target uses the models that were. `levels` (n,) gives rows a
        level (None: none), a person's judgement of their difficulty or, for benchmark prompts,
        the level whose offset is 0 (their outcomes are centred on their task's typical prompt);
        `level_offsets` {level: {task: offset in logit units}} says what each level means in
        each task (0 where a task is not listed). A row no model was scored on takes its
        level's offset as its target. `level_spreads` {level: {task: factor}} (1 where not
        listed) and `level_centres` {task: logit} (0 where not listed), given together with
        `level_offsets`, say how far apart the models stand on each level's prompts (see the
        class docstring).
        """
        if (level_spreads is None) != (level_centres is None) or (level_spreads is not None and level_offsets is None):
            raise ValueError("level_spreads and level_centres go together, and with level_offsets")
        names = sorted(set(tasks))
        t_idx = np.array([names.index(t) for t in tasks])
        onehot = np.zeros((len(x), len(names)))
        onehot[np.arange(len(x)), t_idx] = 1.0
        clf_w = (
            fit_softmax(x, onehot, l2=_pick_l2(x, onehot, l2_grid, folds, seed))
            if len(names) > 1
            else np.zeros((x.shape[1] + 1, 1))
        )
        ok = np.isfinite(scores)
        target = np.nan_to_num(outcome_offsets(t_idx, scores))
        profile = cls(names, clf_w.astype(np.float32), np.zeros(x.shape[1] + 1, dtype=np.float32))
        if levels is not None and level_offsets is not None and any(lv is not None for lv in levels):
            table = profile._fit_levels(x, levels, level_offsets, l2_grid, folds, seed)
            if level_spreads is not None and level_centres is not None:
                unknown = sorted(set(level_spreads) - set(level_offsets))
                if unknown:
                    raise ValueError(f"level_spreads has levels {unknown} that level_offsets has not")
                spread = [[float(level_spreads.get(lv, {}).get(t, 1.0)) for lv in level_offsets] for t in names]
                if not np.all(np.isfinite(spread)) or np.min(spread) < 0:
                    raise ValueError("level_spreads must be finite factors >= 0")
                profile.level_spread = np.array(spread, dtype=np.float32)
                profile.level_centre = np.array([float(level_centres.get(t, 0.0)) for t in names], dtype=np.float32)
            judged = np.array([lv is not None for lv in levels]) & ~ok.any(axis=1)
            level_of = [list(level_offsets).index(lv) if lv is not None else 0 for lv in levels]
            target = np.where(judged, table[t_idx, level_of], target)
            # the regression learns what the level part leaves: benchmark prompts' own spread
            target = target - profile._level_part(x)
        xa = np.hstack([x, np.ones((len(x), 1))])
        reg = np.full(x.shape[1] + 1, ridge)
        reg[-1] = 1e-6
        profile.diff_w = np.linalg.solve(xa.T @ xa + np.diag(reg), xa.T @ target).astype(np.float32)
        return profile

    def state(self) -> State:
        """router.json's `tasks` and the arrays `task_clf_w`, `task_diff_w`, with `level_w` and
        `level_offsets` when prompts were given levels, and `level_spread` with `level_centre`
        when the levels also set the models' spread. (`temperature` is not saved: it stays 1.)"""
        arrays = {"task_clf_w": self.clf_w, "task_diff_w": self.diff_w}
        if self.level_w is not None and self.level_offsets is not None:
            arrays |= {"level_w": self.level_w, "level_offsets": self.level_offsets}
        if self.level_spread is not None and self.level_centre is not None:
            arrays |= {"level_spread": self.level_spread, "level_centre": self.level_centre}
        return {"tasks": self.tasks}, arrays

    @classmethod
    def from_state(cls, fields: Mapping[str, Any], arrays: Mapping[str, np.ndarray], dims: Dims) -> TaskProfile:
        """The profile `state()` gave, for prompts embedded in `dims.dim` dimensions;
        `RouterLoadError` naming the field or member at fault."""
        tasks = check_names(fields, "tasks")
        if not tasks or tasks != sorted(tasks):
            raise RouterLoadError(
                f"router.json field 'tasks' must be the sorted task names `fit` learns, got {shown(tasks)}"
            )
        check_members(arrays, ("task_clf_w", "task_diff_w"))
        if ("level_w" in arrays) != ("level_offsets" in arrays):  # a profile with levels has both; older ones neither
            raise RouterLoadError("arrays.npz holds one of 'level_w' and 'level_offsets' without the other")
        if ("level_spread" in arrays) != ("level_centre" in arrays) or (
            "level_spread" in arrays and "level_offsets" not in arrays
        ):
            raise RouterLoadError(
                "arrays.npz must hold 'level_spread' and 'level_centre' together, and only beside 'level_offsets'"
            )
        check_floats(arrays, ("level_w", "level_offsets", "level_spread", "level_centre"))
        d, n_tasks = dims.dim, len(tasks)
        expected = {
            "task_clf_w": ((d + 1, n_tasks), f"{dims.of_clusters} and router.json's tasks"),
            "task_diff_w": ((d + 1,), dims.of_clusters),
        }
        if "level_offsets" in arrays:
            n_levels = arrays["level_offsets"].shape[-1] if arrays["level_offsets"].ndim == 2 else 0
            expected["level_offsets"] = ((n_tasks, max(n_levels, 1)), "router.json's tasks and a level per column")
            expected["level_w"] = ((d + 1, max(n_levels, 1)), f"{dims.of_clusters} and the levels of 'level_offsets'")
            if "level_spread" in arrays:
                expected["level_spread"] = ((n_tasks, max(n_levels, 1)), "the shape of 'level_offsets'")
                expected["level_centre"] = ((n_tasks,), "router.json's tasks")
        check_shapes(arrays, expected)
        if "level_spread" in arrays and float(np.min(arrays["level_spread"], initial=0.0)) < 0:
            raise RouterLoadError("arrays.npz member 'level_spread' holds a negative factor; a factor is >= 0")
        return cls(list(tasks), arrays["task_clf_w"], arrays["task_diff_w"], level_w=arrays.get("level_w"),
                   level_offsets=arrays.get("level_offsets"), level_spread=arrays.get("level_spread"),
                   level_centre=arrays.get("level_centre"))

    def _fit_levels(
        self, x: np.ndarray, levels: Sequence[str | None], level_offsets: Mapping[str, Mapping[str, float]],
        l2_grid: Sequence[float], folds: int, seed: int,
    ) -> np.ndarray:
        """Learn the level classifier from the rows that have a level; returns the (T, L) table."""
        names = list(level_offsets)
        given = [(i, names.index(lv)) for i, lv in enumerate(levels) if lv is not None and lv in level_offsets]
        unknown = sorted({lv for lv in levels if lv is not None and lv not in level_offsets})
        if unknown:
            raise ValueError(f"levels {unknown} have no offsets; level_offsets has {names}")
        rows = np.array([i for i, _ in given])
        onehot = np.zeros((len(rows), len(names)))
        onehot[np.arange(len(rows)), [j for _, j in given]] = 1.0
        l2 = _pick_l2(x[rows], onehot, l2_grid, folds, seed)
        self.level_w = fit_softmax(x[rows], onehot, l2=l2).astype(np.float32)
        table = np.array([[float(level_offsets[lv].get(t, 0.0)) for lv in names] for t in self.tasks])
        self.level_offsets = table.astype(np.float32)
        return table

    def _level_probs(self, x: np.ndarray) -> np.ndarray | None:
        """(n, L) how likely each prompt is of each level; None without levels."""
        if self.level_w is None or self.level_offsets is None:
            return None
        return softmax(x @ self.level_w[:-1] + self.level_w[-1])

    def _level_part(
        self, x: np.ndarray, task_probs: np.ndarray | None = None, level_probs: np.ndarray | None = None
    ) -> np.ndarray:
        """(n,) the expected offset of each prompt's level in its task mix (0 without levels)."""
        level_probs = self._level_probs(x) if level_probs is None else level_probs
        if level_probs is None or self.level_offsets is None:
            return np.zeros(len(x))
        probs = self.task_probs(x) if task_probs is None else task_probs
        return np.einsum("nt,tl,nl->n", probs, self.level_offsets, level_probs)

    def task_probs(self, x: np.ndarray) -> np.ndarray:
        """(n, T) how much each prompt is like each task (rows sum to 1)."""
        if len(self.tasks) == 1:
            return np.ones((len(x), 1))
        return softmax((x @ self.clf_w[:-1] + self.clf_w[-1]) / self.temperature)

    def difficulty(
        self, x: np.ndarray, task_probs: np.ndarray | None = None, level_probs: np.ndarray | None = None
    ) -> np.ndarray:
        """(n,) offset in logit units: negative = harder than the task's typical prompt.
        `task_probs` and `level_probs`, when the caller has them, save computing them again."""
        return x @ self.diff_w[:-1] + self.diff_w[-1] + self._level_part(x, task_probs, level_probs)

    def quality(self, x: np.ndarray, task_scores: np.ndarray) -> np.ndarray:
        """Quality (n, k) of k models known by their mean score per task, `task_scores` (T, k)."""
        return self.fact_quality(x, task_scores, np.zeros_like(task_scores))[0]

    def fact_quality(
        self, x: np.ndarray, task_scores: np.ndarray, task_sd: np.ndarray, task_probs: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Quality (n, k) of k models known by their mean score per task, `task_scores` (T, k),

            quality = sum_t P(t | x) * sigmoid(centre_t + f_t(x) * (logit(score_t) - centre_t) + offset(x)),

        and its standard deviation when each task score is uncertain by `task_sd` (T, k) in
        logit units (to first order: sigmoid'(z) * f * sd). `f_t(x)` is the prompt's expected
        `level_spread` factor over its level probabilities (1 without level spreads), as its
        offset is the expected offset of its level."""
        probs = self.task_probs(x) if task_probs is None else task_probs
        level_probs = self._level_probs(x)
        offset = self.difficulty(x, probs, level_probs)
        z = logit(task_scores)[None]  # (1, T, k)
        factor = np.ones_like(probs)
        if self.level_spread is not None and self.level_centre is not None and level_probs is not None:
            factor = level_probs @ self.level_spread.T  # (n, T)
            centre = self.level_centre[None, :, None]
            z = centre + factor[:, :, None] * (z - centre)
        p = sigmoid(z + offset[:, None, None])  # (n, T, k): each model were the prompt of each task
        q = np.einsum("nt,ntk->nk", probs, p)
        sd = np.einsum("nt,ntk->nk", probs * factor, p * (1 - p) * task_sd[None])
        return q, sd

    def scores_from_facts(self, facts: Mapping[str, float], fallback: float | None = None) -> np.ndarray:
        """A (T,) task-score column from {task: score}; missing tasks take the mean of the given
        ones (or `fallback`)."""
        known = {t: float(v) for t, v in facts.items() if t in self.tasks}
        if not known and fallback is None:
            raise ValueError(f"no score for any known task {self.tasks}")
        fill = float(np.mean(list(known.values()))) if known or fallback is None else float(fallback)
        return np.array([known.get(t, fill) for t in self.tasks])
