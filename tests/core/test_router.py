"""Router behaviour a user relies on: it learns who is good at what, the knob's ends, batch ==
one-by-one, constraints, explanations, save/load round trips and typed errors."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

import autorouter
from autorouter import (
    InvalidRequestError,
    NoCandidateError,
    NotFittedError,
    Router,
    RouterLoadError,
    RoutingDecision,
    UnknownModelError,
)
from synthetic import hash_embed, make_rows, write_jsonl

MATH = "prove that 17 plus 4 is an integer"
CODE = "write a python function to sort 12 lists"
CHAT = "hello there friend number 7"


def test_fit_returns_fitted_router_with_learned_attributes(fitted):
    assert isinstance(fitted, Router)
    assert fitted.models_ == ["big", "coder", "tiny"]
    assert fitted.n_train_ == 300
    assert fitted.cost_.mode == "observed"


def test_fit_on_the_class_uses_defaults(data_file):
    r = Router.fit(data_file, embedder=hash_embed)
    assert r.tradeoff == autorouter.DEFAULT_TRADEOFF
    assert isinstance(r.route(CODE), RoutingDecision)


def test_learns_who_is_good_at_what(fitted):
    q, c = fitted.predict([MATH, CODE, CHAT])
    big, coder, tiny = 0, 1, 2
    assert q[0, big] > q[0, coder] > q[0, tiny] - 0.05
    assert q[1, coder] > q[1, tiny] + 0.3
    assert q[2, tiny] > 0.6
    assert np.all(c[:, big] > c[:, coder]) and np.all(c[:, coder] > c[:, tiny])


def test_knob_ends(fitted):
    for p in (MATH, CODE, CHAT):
        best = fitted.route(p, tradeoff=0.0)
        assert best.model == max(best.ranking, key=lambda r: r.quality).model
        cheap = fitted.route(p, tradeoff=1.0)
        assert cheap.model == min(cheap.ranking, key=lambda r: r.cost_usd).model == "tiny"
    # in between, the router buys what is worth it
    assert fitted.route(MATH, tradeoff=0.0).model == "big"
    assert fitted.route(CODE, tradeoff=0.5).model == "coder"
    assert fitted.route(CHAT, tradeoff=0.7).model == "tiny"


def test_spend_falls_as_tradeoff_rises(fitted, rows):
    prompts = [r["prompt"] for r in make_rows(60, seed=1)]
    spend = [np.mean([d.chosen.cost_usd for d in fitted.route_batch(prompts, tradeoff=t)])
             for t in np.linspace(0, 1, 6)]
    assert all(a >= b for a, b in zip(spend, spend[1:], strict=False))
    assert spend[0] > 5 * spend[-1]


def test_ranking_lists_every_candidate_best_first(fitted):
    d = fitted.route(CODE, tradeoff=0.4)
    assert sorted(r.model for r in d.ranking) == fitted.models_
    scores = [r.score for r in d.ranking]
    assert scores == sorted(scores, reverse=True)
    assert d.model == d.ranking[0].model and d.tradeoff == 0.4
    assert d.fallbacks == [r.model for r in d.ranking[1:]]
    assert d.model in d.explanation and "tradeoff 0.40" in d.explanation
    assert "looks like code" in d.explanation


def test_batch_equals_one_by_one(fitted):
    prompts = [MATH, CODE, CHAT, "write python code that parses 3 json files"]
    batch = fitted.route_batch(prompts, tradeoff=0.35)
    single = [fitted.route(p, tradeoff=0.35) for p in prompts]
    for b, s in zip(batch, single, strict=True):
        assert b.model == s.model
        assert [r.model for r in b.ranking] == [r.model for r in s.ranking]
        assert np.allclose([r.score for r in b.ranking], [r.score for r in s.ranking], atol=1e-9)


def test_aroute_matches_route(fitted):
    d = asyncio.run(fitted.aroute(CODE, tradeoff=0.5))
    assert d == fitted.route(CODE, tradeoff=0.5)


def test_chat_messages_route_on_last_user_message(fitted):
    msgs = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": MATH},
        {"role": "assistant", "content": "Sure."},
        {"role": "user", "content": [{"type": "text", "text": CHAT}]},
    ]
    assert fitted.route(msgs, tradeoff=0.7).model == fitted.route(CHAT, tradeoff=0.7).model


def test_max_cost_excludes_dear_models(fitted):
    d = fitted.route(MATH, tradeoff=0.0, max_cost=0.005)
    assert d.model != "big"
    big = next(r for r in d.ranking if r.model == "big")
    assert not big.eligible and "max_cost" in big.excluded_because
    assert d.ranking[-1].model == "big"
    with pytest.raises(NoCandidateError, match="relax the constraints"):
        fitted.route(MATH, max_cost=1e-9)


def test_candidates_restrict_the_choice(fitted):
    d = fitted.route(MATH, tradeoff=0.0, candidates=["coder", "tiny"])
    assert d.model in ("coder", "tiny")
    with pytest.raises(UnknownModelError, match="this router knows"):
        fitted.route(MATH, candidates=["gpt-9"])


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "high"])
def test_bad_tradeoff_is_a_clear_error(fitted, bad):
    with pytest.raises(InvalidRequestError, match="tradeoff"):
        fitted.route(CODE, tradeoff=bad)


@pytest.mark.parametrize(
    "bad, match",
    [("", "empty"), ("   ", "empty"), ([], "message list is empty"),
     ([{"role": "wizard", "content": "hi"}], "unknown role"),
     ([{"role": "user", "content": ""}], "no text"), (42, "expected a prompt string")],
)
def test_bad_prompts_are_clear_errors(fitted, bad, match):
    with pytest.raises(InvalidRequestError, match=match):
        fitted.route(bad)


def test_unfitted_router_says_so():
    with pytest.raises(NotFittedError, match="not fitted"):
        Router().route("hi")
    with pytest.raises(NotFittedError, match="not fitted"):
        Router().check_fitted()  # the public check, for code handed a router (the gateway)


def test_a_fitted_router_passes_its_check(fitted):
    assert fitted.check_fitted() is fitted


def test_save_load_round_trip(fitted, tmp_path):
    fitted.save(tmp_path / "r")
    files = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert files == ["arrays.npz", "router.json"]
    # a callable embedder cannot be saved: loading says how to pass it again
    with pytest.raises(RouterLoadError, match="embedder="):
        Router.load(tmp_path / "r")
    loaded = Router.load(tmp_path / "r", embedder=hash_embed)
    prompts = [MATH, CODE, CHAT]
    for t in (0.0, 0.3, 1.0):
        assert loaded.route_batch(prompts, tradeoff=t) == fitted.route_batch(prompts, tradeoff=t)


def test_loading_a_corrupt_or_foreign_folder_is_a_typed_error(fitted, tmp_path):
    with pytest.raises(RouterLoadError, match="not a saved router"):
        Router.load(tmp_path / "missing")
    d = fitted.save(tmp_path / "r")
    (d / "router.json").write_text("{not json")
    with pytest.raises(RouterLoadError, match="not valid JSON"):
        Router.load(d, embedder=hash_embed)
    (d / "router.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(RouterLoadError, match="not written by autorouter"):
        Router.load(d, embedder=hash_embed)
    fitted.save(d)
    meta = json.loads((d / "router.json").read_text())
    meta["format_version"] = 999
    (d / "router.json").write_text(json.dumps(meta))
    with pytest.raises(RouterLoadError, match="format 999"):
        Router.load(d, embedder=hash_embed)
    fitted.save(d)
    (d / "arrays.npz").write_bytes(b"garbage")
    with pytest.raises(RouterLoadError, match="corrupt"):
        Router.load(d, embedder=hash_embed)


def test_wrong_embedder_dimension_is_caught(fitted, tmp_path):
    fitted.save(tmp_path / "r")
    r = Router.load(tmp_path / "r", embedder=lambda texts: np.ones((len(texts), 5)))
    with pytest.raises(autorouter.EmbedderError, match="trained on dim 64"):
        r.route(CODE)


def test_prices_instead_of_costs(tmp_path):
    rows = make_rows(150)
    for r in rows:
        del r["cost_usd"]
    ds = autorouter.load_dataset(write_jsonl(rows, tmp_path / "p.jsonl"))
    prices = {"big": (10.0, 30.0), "coder": (1.0, 2.0), "tiny": (0.1, 0.1)}
    r = Router(embedder=hash_embed, prices=prices).fit(ds)
    assert r.cost_.mode == "prices"
    d = r.route(CHAT, tradeoff=1.0)
    assert d.model == "tiny"
    big = next(x for x in d.ranking if x.model == "big")
    assert big.cost_usd > 50 * next(x for x in d.ranking if x.model == "tiny").cost_usd
    with pytest.raises(InvalidRequestError, match="not for"):
        Router(embedder=hash_embed, prices={"big": (1, 1)}).fit(ds)


def test_scores_on_another_scale_route_like_unit_scores(rows, tmp_path):
    """1-10 ratings must not be clipped to 1.0 (every model alike): the router rescales them."""
    rated = [{**r, "scores": {m: 1 + 9 * v for m, v in r["scores"].items()}} for r in rows]
    unit = Router(embedder=hash_embed).fit(autorouter.load_dataset(write_jsonl(rows, tmp_path / "u.jsonl")))
    with pytest.warns(UserWarning, match=r"scores span \[1, 10\].*rescaled"):
        ten = Router(embedder=hash_embed).fit(autorouter.load_dataset(write_jsonl(rated, tmp_path / "r.jsonl")))
    prompts = [r["prompt"] for r in make_rows(60, seed=3)]
    for t in (0.0, 0.3, 0.6, 1.0):
        assert [d.model for d in ten.route_batch(prompts, tradeoff=t)] == [
            d.model for d in unit.route_batch(prompts, tradeoff=t)]
    assert ten.route(CODE, tradeoff=0.5).model == "coder"
    assert all(0.0 <= r.quality <= 1.0 for r in ten.route(MATH).ranking)


def test_a_saved_router_never_chooses_where_prompts_or_keys_go(fitted, tmp_path):
    """A router folder naming a network embedder (base_url, api_key_env) is refused at load: the
    caller configures network embedders; nothing is sent anywhere."""
    from autorouter import OpenAIEmbedder, RouterLoadError

    fitted.save(tmp_path / "r")
    meta = json.loads((tmp_path / "r" / "router.json").read_text())
    meta["embedder"] = {"kind": "openai", "model": "m", "base_url": "http://evil.example/v1",
                        "api_key_env": "HOME"}
    (tmp_path / "r" / "router.json").write_text(json.dumps(meta))
    with pytest.raises(RouterLoadError, match="does not choose where"):
        Router.load(tmp_path / "r")
    # the caller's own embedder is used as given
    mine = OpenAIEmbedder(model="m", base_url="http://127.0.0.1:9/v1", api_key_env="NO_SUCH_KEY_VAR")
    assert Router.load(tmp_path / "r", embedder=mine).embedder_ is not None
    assert Router.load(tmp_path / "r", embedder=hash_embed).route("hello").model in fitted.models_


def _mutations():
    """Corruptions of a saved router an independent fuzz run found slipping through."""
    def meta(f):
        return ("meta", f)

    def arr(name, f):
        return ("arrays", name, f)

    return {
        "limits is a list": meta(lambda m: m.update(limits=[])),
        "n_train overflows": meta(lambda m: m.update(n_train=float("inf"))),
        "models is a string": meta(lambda m: m.update(data_models="abc")),
        "a model twice": meta(lambda m: m.update(data_models=m["data_models"] + m["data_models"][:1])),
        "tasks hold a number": meta(lambda m: m.update(tasks=m["tasks"][:-1] + [3])),
        "temperature is a string": meta(lambda m: m["prototypes"].update(temperature="hot")),
        "negative blend": meta(lambda m: m["quality"].update(blend=-1)),
        "NaN in the centroids": arr("centroids", lambda x: np.where(np.arange(x.size).reshape(x.shape) == 0, np.nan, x)),
        "NaN in the scale": arr("scale_lam", lambda x: x * np.nan),
        "logit weights of the wrong shape": arr("logit_w", lambda x: x[:, :1]),
        "text instead of numbers": arr("cost_base", lambda x: np.array(["a"] * len(x))),
    }


@pytest.mark.parametrize("name", list(_mutations()))
def test_a_corrupt_router_folder_is_a_load_error_never_a_broken_router(fitted, tmp_path, name):
    fitted.save(tmp_path / "r")
    mutation = _mutations()[name]
    if mutation[0] == "meta":
        meta = json.loads((tmp_path / "r" / "router.json").read_text())
        mutation[1](meta)
        (tmp_path / "r" / "router.json").write_text(json.dumps(meta))
    else:
        with np.load(tmp_path / "r" / "arrays.npz") as z:
            arrays = {k: z[k] for k in z.files}
        arrays[mutation[1]] = mutation[2](arrays[mutation[1]])
        np.savez_compressed(tmp_path / "r" / "arrays.npz", **arrays)
    with pytest.raises(RouterLoadError):
        Router.load(tmp_path / "r", embedder=hash_embed)


def test_a_deeply_nested_router_json_is_a_load_error(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "router.json").write_text("[" * 100_000 + "]" * 100_000)
    np.savez_compressed(tmp_path / "r" / "arrays.npz", x=np.zeros(1))
    with pytest.raises(RouterLoadError):
        Router.load(tmp_path / "r")


def test_routing_embedded_prompts_gives_the_decisions_route_batch_gives(fitted):
    """An evaluation embeds once and routes at many tradeoffs: the same decisions as route_batch."""
    prompts = ["prove that 3 plus 4 is an integer", "hello there friend", [{"role": "user", "content": "hi"}]]
    embedded = fitted.embed_prompts(prompts)
    assert isinstance(embedded, autorouter.EmbeddedPrompts) and len(embedded) == 3
    for t in (0.0, 0.5, 1.0):
        again = fitted.route_embedded(embedded, tradeoff=t)
        assert [d.model_dump() for d in again] == [d.model_dump() for d in fitted.route_batch(prompts, tradeoff=t)]
    d = fitted.route_embedded(embedded)[0]
    assert d.difficulty in {"easy", "medium", "hard"} and d.family and d.family in d.explanation
    with pytest.raises(autorouter.InvalidRequestError, match="embed_prompts"):
        fitted.route_embedded(prompts)  # type: ignore[arg-type]
