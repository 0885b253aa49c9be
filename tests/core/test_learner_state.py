"""Each learner owns its saved state: `state()` gives its router.json fields and arrays.npz
members, `from_state` rebuilds it (predicting exactly as before) or refuses a state `fit` cannot
have produced with a `RouterLoadError` naming the field or member at fault. And the format the
learners compose into stays the one older versions wrote and read."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import autorouter
from autorouter import ModelLimits, Router, RouterLoadError
from autorouter.feedback import OutcomeCorrection
from autorouter.persistence import ARRAY_MEMBERS, FEEDBACK_MEMBERS, ROUTER_MEMBERS
from autorouter.policy import TradeoffScale
from autorouter.predictors import CostModel, Prototypes, QualityModel
from autorouter.profiles import TaskProfile
from autorouter.state import Dims, State
from synthetic import hash_embed

PROMPTS = ["prove that 3 plus 4 is an integer", "write a python function to sort 5 lists", "hello there friend"]
#: What arrays.npz holds (or may hold) since format 2: older and newer versions read these names.
LEGACY_MEMBERS = {
    "centroids", "counts", "task_clf_w", "task_diff_w", "fact_scores", "fact_sd", "answer_tokens",
    "calib_x", "calib_chars", "cost_base", "cost_per_char", "cost_proto_extra", "cost_floor",
    "scale_t", "scale_lam", "difficulty_cuts", "feedback_weight", "feedback_residual",
    "logit_w", "proto_means", "quality_prior", "level_w", "level_offsets",
}
#: Members added since, each optional: a version that does not know one ignores it and routes as
#: before it existed (level spreads: the levels then move the offset only).
ADDED_MEMBERS = {"level_spread", "level_centre"}
#: router.json's fields, in the order `save` has always written them.
LEGACY_KEYS = [
    "format", "format_version", "autorouter_version", "params", "embedder", "data_models", "fact_models", "tasks",
    "family_params", "placement_error_sd", "limits", "speeds", "n_train", "cost_mode", "quality", "prototypes",
    "proto_groups", "feedback_strength",
]


@pytest.fixture
def router(fitted: Router) -> Router:
    """The fitted synthetic router with a fact model and outcomes, so every learner has content."""
    fitted.add_model("fact", task_scores={"math": 0.8, "code": 0.5, "chat": 0.9}, price=(1.0, 2.0),
                     limits=ModelLimits(tools=True))
    fitted.partial_fit(PROMPTS[:2], "fact", [1.0, 0.0])
    return fitted


def dims_of(r: Router) -> Dims:
    return r.prototypes_.dims(data_models=len(r.data_models_), models=len(r.models_))


def leveled_profile(d: int) -> TaskProfile:
    rng = np.random.default_rng(0)
    return TaskProfile(["chat", "code", "math"], rng.normal(size=(d + 1, 3)).astype(np.float32),
                       rng.normal(size=d + 1).astype(np.float32),
                       level_w=rng.normal(size=(d + 1, 2)).astype(np.float32),
                       level_offsets=np.tile(np.array([[1.5, -1.0]], dtype=np.float32), (3, 1)),
                       level_spread=np.tile(np.array([[0.2, 1.0]], dtype=np.float32), (3, 1)),
                       level_centre=np.array([1.0, 1.5, 2.0], dtype=np.float32))


def learners(r: Router) -> dict[str, tuple[Any, Callable[[State], Any]]]:
    """Each learner of `r`, and how it is rebuilt from a state."""
    dims = dims_of(r)
    assert r.quality_ is not None
    return {
        "prototypes": (r.prototypes_, lambda s: Prototypes.from_state(*s)),
        "profile": (r.profile_, lambda s: TaskProfile.from_state(*s, dims)),
        "leveled profile": (leveled_profile(dims.dim), lambda s: TaskProfile.from_state(*s, dims)),
        "quality": (r.quality_, lambda s: QualityModel.from_state(*s, dims)),
        "cost": (r.cost_, lambda s: CostModel.from_state(*s, dims)),
        "scale": (r.scale_, lambda s: TradeoffScale.from_state(*s)),
    }


def same(a: Any, b: Any) -> bool:
    """Two learners hold the same values (dataclasses of arrays, numbers, names)."""
    va, vb = vars(a), vars(b)
    return va.keys() == vb.keys() and all(
        np.array_equal(va[k], vb[k]) if isinstance(va[k], np.ndarray) else va[k] == vb[k] for k in va
    )


# ------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("name", ["prototypes", "profile", "leveled profile", "quality", "cost", "scale"])
def test_every_learner_rebuilds_from_its_state(router: Router, name: str) -> None:
    learner, rebuild = learners(router)[name]
    fields, arrays = learner.state()
    json.dumps(fields)  # JSON-able as it is
    assert set(arrays) <= set(type(learner).MEMBERS) <= set(ARRAY_MEMBERS)  # nothing saved goes unread
    again = rebuild((fields, arrays))
    assert type(again) is type(learner) and same(again, learner)
    # a state round-tripped through the files' own encodings rebuilds the same learner
    assert same(rebuild((json.loads(json.dumps(fields)), {k: v.copy() for k, v in arrays.items()})), learner)


def test_rebuilt_learners_predict_exactly_as_the_originals(router: Router) -> None:
    x = hash_embed(PROMPTS)
    chars = np.array([len(p) for p in PROMPTS], dtype=np.float64)
    d = dims_of(router)
    protos = Prototypes.from_state(*router.prototypes_.state())
    w = protos.weights(x)
    assert np.array_equal(w, router.prototypes_.weights(x))
    assert router.quality_ is not None
    assert np.array_equal(QualityModel.from_state(*router.quality_.state(), d).predict(x, w),
                          router.quality_.predict(x, w))
    assert np.array_equal(CostModel.from_state(*router.cost_.state(), d).predict(chars, w),
                          router.cost_.predict(chars, w))
    profile = TaskProfile.from_state(*router.profile_.state(), d)
    assert np.array_equal(profile.difficulty(x), router.profile_.difficulty(x))
    scale = TradeoffScale.from_state(*router.scale_.state())
    assert [scale.lam_for(t) for t in (0.0, 0.3, 0.9)] == [router.scale_.lam_for(t) for t in (0.0, 0.3, 0.9)]
    feedback = OutcomeCorrection.from_state(*router.feedback_.state(), d)
    assert np.array_equal(feedback.offset(w), router.feedback_.offset(w)) and feedback.outcomes > 0


def test_a_router_without_outcomes_state_reads_as_no_outcomes(router: Router) -> None:
    empty = OutcomeCorrection.from_state({}, {}, dims_of(router))
    assert empty.outcomes == 0 and empty.weight.shape == (dims_of(router).clusters, len(router.models_))


# ------------------------------------------------------------------------------ refusals


def _broken(state: State, member: str, value: np.ndarray) -> State:
    fields, arrays = state
    return fields, {**arrays, member: value}


@pytest.mark.parametrize(("learner", "member", "edit", "says"), [
    ("cost", "cost_base", lambda a: a[:-1], "has shape"),
    ("cost", "cost_floor", lambda a: a - 1.0, "outside >= 0"),
    ("cost", "cost_per_char", lambda a: a.astype(np.int64), "not floating-point"),
    ("cost", "cost_proto_extra", lambda a: np.full_like(a, np.nan), "NaN or infinite"),
    ("quality", "proto_means", lambda a: a + 2.0, "outside [0, 1]"),
    ("quality", "logit_w", lambda a: a.T.copy(), "has shape"),
    ("scale", "scale_lam", lambda a: a[::-1].copy(), "increasing order"),
    ("prototypes", "centroids", lambda a: a * 3.0, "not unit vectors"),
    ("prototypes", "counts", lambda a: np.full_like(a, 1e31), "beyond 1e30"),
    ("leveled profile", "level_w", lambda a: a[:, :1], "has shape"),
    ("profile", "task_clf_w", lambda a: a[:-1], "has shape"),
])
def test_a_learner_refuses_a_bad_array_naming_it(router: Router, learner: str, member: str,
                                                 edit: Callable[[np.ndarray], np.ndarray], says: str) -> None:
    original, rebuild = learners(router)[learner]
    state = original.state()
    with pytest.raises(RouterLoadError, match=rf"arrays\.npz member '{member}' .*{re.escape(says)}"):
        rebuild(_broken(state, member, edit(state[1][member])))


@pytest.mark.parametrize("learner", ["prototypes", "profile", "quality", "cost", "scale"])
def test_a_learner_refuses_a_state_that_lacks_an_array(router: Router, learner: str) -> None:
    original, rebuild = learners(router)[learner]
    fields, arrays = original.state()
    first = next(iter(arrays))
    with pytest.raises(RouterLoadError, match=rf"arrays\.npz lacks the member\(s\) \['{first}'\]"):
        rebuild((fields, {k: v for k, v in arrays.items() if k != first}))


@pytest.mark.parametrize(("learner", "fields", "says"), [
    ("prototypes", {"prototypes": {"temperature": 0.0, "top": 8}}, "'prototypes.temperature' must be"),
    ("prototypes", {"prototypes": {"temperature": 0.05, "top": 2.5}}, "'prototypes.top' must be an integer"),
    ("quality", {"quality": {"blend": 1.5, "l2": 1.0, "shrink": 10.0, "prior_weight": 0.0}}, "'quality.blend'"),
    ("quality", {"quality": None}, "'quality' must be an object"),
    ("cost", {"cost_mode": "guessed"}, "'cost_mode' must be observed, prices or none"),
    ("profile", {"tasks": ["math", "chat", "code"]}, "'tasks' must be the sorted task names"),
    ("profile", {"tasks": ["chat", "chat", "math"]}, "'tasks' lists \\['chat'\\] twice"),
])
def test_a_learner_refuses_bad_fields_naming_them(router: Router, learner: str, fields: dict[str, Any],
                                                  says: str) -> None:
    original, rebuild = learners(router)[learner]
    with pytest.raises(RouterLoadError, match=rf"router\.json .*{says}"):
        rebuild((fields, original.state()[1]))


def test_the_outcome_correction_refuses_half_a_state(router: Router) -> None:
    fields, arrays = router.feedback_.state()
    d = dims_of(router)
    with pytest.raises(RouterLoadError, match="lacks the field 'feedback_strength'"):
        OutcomeCorrection.from_state({}, arrays, d)
    with pytest.raises(RouterLoadError, match=r"lacks the member\(s\) \['feedback_weight', 'feedback_residual'\]"):
        OutcomeCorrection.from_state(fields, {}, d)
    with pytest.raises(RouterLoadError, match="'feedback_weight' holds values outside >= 0"):
        OutcomeCorrection.from_state(fields, {**arrays, "feedback_weight": arrays["feedback_weight"] - 1.0}, d)


def test_a_learner_checks_its_arrays_against_the_router_it_belongs_to(router: Router) -> None:
    """A cost model of the right shape for another router's models is refused for this one."""
    d = dims_of(router)
    other = Dims(d.clusters, d.dim, d.data_models, d.models + 1)
    with pytest.raises(RouterLoadError, match=rf"'cost_base' has shape \({d.models},\), but the {d.clusters} "
                                              rf"clusters of dim {d.dim} in 'centroids' and router.json's "
                                              rf"{d.models + 1} models make it \({d.models + 1},\)"):
        CostModel.from_state(*router.cost_.state(), other)


# ------------------------------------------------------------------------------ the format they compose


def test_the_saved_format_keeps_its_fields_and_members(router: Router, tmp_path: Path) -> None:
    folder = router.save(tmp_path / "r")
    meta = json.loads((folder / "router.json").read_text())
    assert list(meta) == LEGACY_KEYS
    with np.load(folder / "arrays.npz") as z:
        assert set(z.files) == LEGACY_MEMBERS - {"level_w", "level_offsets"}  # levels: only when given
    assert set(ARRAY_MEMBERS) == LEGACY_MEMBERS | ADDED_MEMBERS
    assert len(ARRAY_MEMBERS) == len(LEGACY_MEMBERS | ADDED_MEMBERS)
    assert set(ROUTER_MEMBERS) | set(FEEDBACK_MEMBERS) <= LEGACY_MEMBERS


def test_the_bundled_default_router_saves_again_byte_for_byte(tmp_path: Path) -> None:
    bundled = Path(autorouter.__file__).parent / "data" / "default_router"
    again = Router.default().save(tmp_path / "again")
    assert (again / "router.json").read_bytes() == (bundled / "router.json").read_bytes()
    with np.load(again / "arrays.npz") as a, np.load(bundled / "arrays.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        assert all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a.files)


def test_a_corrupt_array_the_router_has_no_use_for_is_still_refused(tmp_path: Path) -> None:
    """The default router has no quality model; a NaN quality array beside it is a corrupt folder."""
    folder = Router.default().save(tmp_path / "r")
    with np.load(folder / "arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    np.savez_compressed(folder / "arrays.npz", **arrays, logit_w=np.full((3, 3), np.nan))  # type: ignore[arg-type]
    with pytest.raises(RouterLoadError, match="arrays.npz member 'logit_w' holds NaN"):
        Router.load(folder)
