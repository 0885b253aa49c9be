"""`Router.fit_arrays`: fitting from prompts already embedded learns what `fit` learns."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import autorouter
from autorouter import DatasetError, InvalidRequestError, Router, RoutingDataset
from autorouter.embedders import EmbedderSpec
from synthetic import MODELS, hash_embed

PROMPTS = [
    "prove that 12 plus 7 is an integer",
    "write a python function to sort 3 lists",
    "hello there friend number 5",
    "fix this python bug in function f9 returning 2",
    "good morning have a nice day 8",
]


def _arrays(ds: RoutingDataset, embedder: EmbedderSpec = hash_embed) -> tuple[np.ndarray, np.ndarray]:
    """The dataset's prompts as `fit` embeds them (by the router's embedder), and their lengths."""
    x = autorouter.get_embedder(embedder).embed(ds.prompts)
    return x, np.array([len(p) for p in ds.prompts], dtype=np.float64)


def test_fitting_from_arrays_routes_as_fit_does(data_file) -> None:
    ds = autorouter.load_dataset(data_file)
    fitted = Router(embedder=hash_embed).fit(ds)
    x, chars = _arrays(ds)
    from_arrays = Router(embedder=hash_embed).fit_arrays(
        x, chars, ds.scores, models=ds.models, groups=ds.groups, output_chars=ds.output_chars, cost_usd=ds.cost_usd
    )
    assert from_arrays.models_ == fitted.models_ == MODELS
    for tradeoff in (0.0, 0.3, 0.7, 1.0):
        assert from_arrays.route_batch(PROMPTS, tradeoff=tradeoff) == fitted.route_batch(PROMPTS, tradeoff=tradeoff)
    for got, want in zip(from_arrays.predict(PROMPTS), fitted.predict(PROMPTS), strict=True):
        np.testing.assert_array_equal(got, want)


def test_fitting_from_arrays_saves_as_fit_does(data_file, tmp_path) -> None:
    ds = autorouter.load_dataset(data_file)
    x, chars = _arrays(ds, "static")
    Router(embedder="static").fit(ds).save(tmp_path / "fit")
    Router(embedder="static").fit_arrays(
        x, chars, ds.scores, models=ds.models, groups=ds.groups, cost_usd=ds.cost_usd
    ).save(tmp_path / "arrays")
    assert (tmp_path / "fit" / "router.json").read_text() == (tmp_path / "arrays" / "router.json").read_text()
    fit_arrays, arrays = np.load(tmp_path / "fit" / "arrays.npz"), np.load(tmp_path / "arrays" / "arrays.npz")
    assert sorted(fit_arrays.files) == sorted(arrays.files)
    for name in arrays.files:
        np.testing.assert_array_equal(arrays[name], fit_arrays[name], err_msg=name)


def test_without_models_it_learns_the_prompts_and_takes_candidates_from_facts(data_file) -> None:
    ds = autorouter.load_dataset(data_file)
    x, chars = _arrays(ds)
    scores = ds.scores.copy()
    scores[::2, 0] = np.nan  # a model not scored on every prompt
    router = Router(embedder=hash_embed).fit_arrays(x, chars, scores, groups=ds.groups)
    assert router.models_ == []
    assert router.tasks_ == sorted(set(ds.groups or []))
    fitted = Router(embedder=hash_embed).fit(ds)
    np.testing.assert_array_equal(router.prototypes_.centroids, fitted.prototypes_.centroids)
    router.add_model("math-whiz", task_scores={"math": 0.95, "code": 0.2, "chat": 0.2}, price=(1.0, 1.0))
    router.add_model("chatty", task_scores={"math": 0.1, "code": 0.2, "chat": 0.9}, price=(0.1, 0.1))
    assert router.route("prove that 3 plus 4 is an integer", tradeoff=0).model == "math-whiz"
    assert router.route("hi how are you doing today 3", tradeoff=1).model == "chatty"


def test_fitting_warnings_name_the_caller(data_file) -> None:
    ds = autorouter.load_dataset(data_file)
    x, chars = _arrays(ds)
    for fit, says in (
        (lambda: Router(embedder=hash_embed).fit(RoutingDataset(ds.prompts, ds.models, ds.scores)), "no costs"),
        (lambda: Router(embedder=hash_embed).fit_arrays(x, chars, ds.scores, models=ds.models), "no costs"),
        (lambda: Router(embedder=hash_embed).fit(RoutingDataset(ds.prompts, ds.models, ds.scores * 10)), "rescaled"),
    ):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit()
        said = [w for w in caught if says in str(w.message)]
        assert said and all(w.filename == __file__ for w in said)


def _bad(what: str, x: np.ndarray, chars: np.ndarray, ds: RoutingDataset) -> dict:
    """Arguments of `fit_arrays` with one thing wrong."""
    args = {"x": x, "chars": chars, "scores": ds.scores, "groups": ds.groups}
    unscored = ds.scores.copy()
    unscored[0, 0] = np.nan
    args.update({
        "scores on 1-10": {"scores": ds.scores * 10},
        "a length short": {"chars": chars[:-1]},
        "one prompt": {"x": x[:1], "chars": chars[:1], "scores": ds.scores[:1], "groups": None},
        "a group short": {"groups": ds.groups[:-1]},
        "costs without models": {"cost_usd": ds.cost_usd},
        "candidates not scored": {"models": ds.models, "scores": unscored},
    }[what])
    return args


@pytest.mark.parametrize(
    ("what", "error", "match"),
    [
        ("scores on 1-10", InvalidRequestError, r"in \[0, 1\]"),
        ("a length short", InvalidRequestError, "chars is"),
        ("one prompt", InvalidRequestError, "at least 2 prompts"),
        ("a group short", InvalidRequestError, "groups has"),
        ("costs without models", InvalidRequestError, "give models too"),
        ("candidates not scored", DatasetError, "NaN"),
    ],
)
def test_arrays_that_do_not_fit_together_are_refused(data_file, what, error, match) -> None:
    ds = autorouter.load_dataset(data_file)
    args = _bad(what, *_arrays(ds), ds)
    router = Router(embedder=hash_embed)
    with pytest.raises(error, match=match):
        router.fit_arrays(args.pop("x"), args.pop("chars"), args.pop("scores"), **args)
    assert not hasattr(router, "profile_")  # nothing learned from a call that raises


def test_model_facts_keep_their_old_homes() -> None:
    from autorouter import dataset, decision, types

    assert dataset.ModelPrice is types.ModelPrice is autorouter.ModelPrice
    for name in ("ModelLimits", "ModelSpeed", "NEEDS", "exclusion_reason"):
        assert getattr(decision, name) is getattr(types, name)
        assert name in decision.__all__
    assert "ModelPrice" in dataset.__all__


def test_the_knob_is_calibrated_on_the_prompts_given(data_file) -> None:
    """`calibrate_on` picks the traffic the tradeoff scale means something on: the router keeps
    exactly those prompts as its calibration sample (by default, a random one of up to 1,024)."""
    ds = autorouter.load_dataset(data_file)
    x, chars = _arrays(ds)
    chat = [i for i, g in enumerate(ds.groups) if g == ds.groups[0]]
    common = {"models": ds.models, "groups": ds.groups, "cost_usd": ds.cost_usd}
    on_chat = Router(embedder=hash_embed).fit_arrays(x, chars, ds.scores, calibrate_on=chat, **common)
    np.testing.assert_array_equal(on_chat.calib_x_, x[chat].astype(np.float32))
    np.testing.assert_array_equal(on_chat.calib_chars_, chars[chat])
    sampled = Router(embedder=hash_embed).fit_arrays(x, chars, ds.scores, **common)
    assert len(sampled.calib_x_) == min(len(x), 1024)


@pytest.mark.parametrize("bad", [[], [0, 0], [-1], [10**9], [0.5], [[0, 1]]])
def test_calibration_indices_are_checked(data_file, bad) -> None:
    ds = autorouter.load_dataset(data_file)
    x, chars = _arrays(ds)
    with pytest.raises(InvalidRequestError, match="calibrate_on"):
        Router(embedder=hash_embed).fit_arrays(x, chars, ds.scores, models=ds.models, calibrate_on=bad)
