"""The task profile's difficulty: prompts a person judged trivial teach the router that the
choice of model hardly matters on prompts like them, and that knowledge survives save/load."""

from __future__ import annotations

import numpy as np
import pytest

from autorouter import Router, RouterLoadError
from autorouter.profiles import TaskProfile, outcome_offsets
from synthetic import hash_embed

EASY = "how do i get the length of a list in python {i}"
HARD = "implement a lock free concurrent scheduler with work stealing and prove it correct {i}"
LEVEL_OFFSETS = {"trivial": {"code": 2.5}, "typical": {}, "hard": {"code": -1.5}}


def _written(n: int = 40) -> tuple[list[str], list[str]]:
    prompts = [EASY.format(i=i) for i in range(n)] + [HARD.format(i=i) for i in range(n)]
    return prompts, ["trivial"] * n + ["hard"] * n


def _profile(levels: bool) -> TaskProfile:
    prompts, lv = _written()
    x = hash_embed(prompts)
    scores = np.full((len(prompts), 2), np.nan)  # nobody was scored on written prompts
    return TaskProfile.fit(x, ["code"] * len(prompts), scores, levels=lv if levels else None,
                           level_offsets=LEVEL_OFFSETS if levels else None)


def test_prompts_judged_trivial_narrow_the_gap_between_a_strong_and_a_weak_model():
    new_easy = hash_embed([EASY.format(i=i) for i in range(100, 110)])
    new_hard = hash_embed([HARD.format(i=i) for i in range(100, 110)])
    scores = np.array([[0.9, 0.6]])  # a strong and a weak model on the one task
    judged, plain = _profile(levels=True), _profile(levels=False)
    gap_easy = np.diff(judged.quality(new_easy, scores), axis=1).mean()
    gap_hard = np.diff(judged.quality(new_hard, scores), axis=1).mean()
    assert judged.difficulty(new_easy).mean() > judged.difficulty(new_hard).mean() + 2.0
    assert abs(gap_easy) < 0.5 * abs(gap_hard)
    # without the levels, nothing tells the two apart
    assert np.allclose(plain.difficulty(new_easy), plain.difficulty(new_hard), atol=1e-6)


def test_a_level_without_an_offset_is_refused():
    prompts, lv = _written(5)
    with pytest.raises(ValueError, match="no offsets"):
        TaskProfile.fit(hash_embed(prompts), ["code"] * len(prompts), np.full((len(prompts), 1), np.nan),
                        levels=["easy-ish"] * len(prompts), level_offsets=LEVEL_OFFSETS)


def test_levels_survive_save_and_load(fitted: Router, tmp_path):
    prompts, lv = _written()
    x = hash_embed(prompts)
    tasks = ["code"] * len(prompts)
    fitted.profile_ = TaskProfile.fit(
        np.vstack([x, hash_embed(["hello there friend", "prove that 1 plus 2 is an integer"])]),
        tasks + ["chat", "math"], np.full((len(x) + 2, 1), np.nan),
        levels=lv + ["typical", "typical"], level_offsets=LEVEL_OFFSETS,
    )
    fitted.fact_scores_ = np.zeros((len(fitted.profile_.tasks), 0))
    fitted.fact_sd_ = np.zeros((len(fitted.profile_.tasks), 0))
    loaded = Router.load(fitted.save(tmp_path / "r"), embedder=hash_embed)
    probe = hash_embed([EASY.format(i=7), HARD.format(i=7), "hello there"])
    assert np.allclose(loaded.profile_.difficulty(probe), fitted.profile_.difficulty(probe))
    # one of the two level arrays without the other is a corrupt folder, not a silent change
    arrays = dict(np.load(tmp_path / "r" / "arrays.npz"))
    del arrays["level_w"]
    np.savez_compressed(tmp_path / "r" / "arrays.npz", **arrays)
    with pytest.raises(RouterLoadError, match="level_w"):
        Router.load(tmp_path / "r", embedder=hash_embed)


def test_outcome_offsets_say_which_prompts_were_easier_than_their_task():
    nan = np.nan
    scores = np.array([
        [1.0, 1.0, 1.0, 1.0],  # every model answered it
        [1.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],  # none did
        [nan, nan, nan, nan],  # nobody was asked
        [1.0, nan, 0.0, nan],  # two models were asked, from another source
    ])
    off = outcome_offsets([0, 0, 0, 0, 0], scores)
    assert off[0] > 0.5 > -0.5 > off[2]
    assert abs(off[1]) < 0.5
    assert np.isnan(off[3])
    assert np.isfinite(off[4])
    # a prompt answered by more models says more: all of four right is easier than one of one
    one = outcome_offsets([0, 0, 0], np.array([[1.0, nan], [1.0, 0.0], [0.0, 1.0]]))
    assert 0 < one[0] < off[0]


def _spread_profile(factor: float) -> TaskProfile:
    prompts, lv = _written()
    return TaskProfile.fit(hash_embed(prompts), ["code"] * len(prompts), np.full((len(prompts), 2), np.nan),
                           levels=lv, level_offsets=LEVEL_OFFSETS, level_spreads={"trivial": {"code": factor}},
                           level_centres={"code": 0.0})


def test_a_trivial_level_draws_a_weak_and_a_strong_model_together_as_its_spread_says():
    new_easy = hash_embed([EASY.format(i=i) for i in range(100, 110)])
    new_hard = hash_embed([HARD.format(i=i) for i in range(100, 110)])
    scores = np.array([[0.9, 0.4]])  # a strong and a weak model on the one task
    sd = np.full_like(scores, 0.5)
    narrow, plain = _spread_profile(0.1), _profile(levels=True)
    gap = {name: np.diff(prof.fact_quality(x, scores, sd)[0], axis=1).mean()
           for name, prof, x in [("narrow easy", narrow, new_easy), ("plain easy", plain, new_easy),
                                 ("narrow hard", narrow, new_hard), ("plain hard", plain, new_hard)]}
    assert abs(gap["narrow easy"]) < 0.5 * abs(gap["plain easy"])
    # a level that keeps the family's spread (hard: factor 1) changes nothing
    assert np.isclose(gap["narrow hard"], gap["plain hard"], atol=0.02)
    # and the uncertainty narrows with the gap it is about
    assert narrow.fact_quality(new_easy, scores, sd)[1].mean() < plain.fact_quality(new_easy, scores, sd)[1].mean()


def test_level_spreads_are_checked_and_survive_save_and_load(fitted: Router, tmp_path):
    prompts, lv = _written()
    with pytest.raises(ValueError, match="together"):
        TaskProfile.fit(hash_embed(prompts), ["code"] * len(prompts), np.full((len(prompts), 1), np.nan),
                        levels=lv, level_offsets=LEVEL_OFFSETS, level_spreads={"trivial": {"code": 0.1}})
    with pytest.raises(ValueError, match=">= 0"):
        TaskProfile.fit(hash_embed(prompts), ["code"] * len(prompts), np.full((len(prompts), 1), np.nan),
                        levels=lv, level_offsets=LEVEL_OFFSETS, level_spreads={"trivial": {"code": -1.0}},
                        level_centres={"code": 0.0})
    fitted.profile_ = _spread_profile(0.1)
    fitted.fact_scores_ = np.zeros((1, 0))
    fitted.fact_sd_ = np.zeros((1, 0))
    loaded = Router.load(fitted.save(tmp_path / "r"), embedder=hash_embed)
    probe = hash_embed([EASY.format(i=7), HARD.format(i=7)])
    scores = np.array([[0.9, 0.4]])
    assert np.allclose(loaded.profile_.fact_quality(probe, scores, scores)[0],
                       fitted.profile_.fact_quality(probe, scores, scores)[0])
    arrays = dict(np.load(tmp_path / "r" / "arrays.npz"))
    arrays["level_spread"] = -arrays["level_spread"]
    np.savez_compressed(tmp_path / "r" / "arrays.npz", **arrays)
    with pytest.raises(RouterLoadError, match="level_spread"):
        Router.load(tmp_path / "r", embedder=hash_embed)
    del arrays["level_centre"]
    np.savez_compressed(tmp_path / "r" / "arrays.npz", **arrays)
    with pytest.raises(RouterLoadError, match="level_centre"):
        Router.load(tmp_path / "r", embedder=hash_embed)
