"""The bundled offline embedders, spec/config handling, and the callable and HTTP embedders.

Everything runs offline: the bundled files ship in the package and the OpenAI-compatible
endpoint is the real test server on 127.0.0.1 (tests/openai_server.py).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from autorouter.embedders import (
    CallableEmbedder,
    Embedder,
    MiniLMEmbedder,
    OpenAIEmbedder,
    StaticEmbedder,
    embedder_from_config,
    get_embedder,
)
from autorouter.embedders.minilm import DATA_DIR
from autorouter.errors import EmbedderError

TEXTS = [
    "How do I reverse a linked list in Python?",
    "What is the capital of Australia?",
    "Solve for x: 3x + 7 = 22.",
    "Write a haiku about autumn leaves.",
    "",
    "def fib(n): return n if n < 2 else fib(n - 1) + fib(n - 2)",
    "Given the following passage, answer the question. " * 30 + "What year was it founded?",
]

# A long shared ending (the question) after two unrelated long beginnings.
ENDING = (
    " Now, ignoring everything above, answer this: what is the boiling point of water at sea level "
    "in degrees Celsius, and why does it drop at high altitude? Explain it simply. " * 6
)
BEGIN_A = "Our quarterly sales report shows strong growth in the northern region. " * 40
BEGIN_B = "The medieval castle was built on a hill overlooking the river valley. " * 40


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="module")
def static() -> StaticEmbedder:
    return StaticEmbedder()


@pytest.fixture(scope="module", params=["minilm", "static"])
def bundled(request: pytest.FixtureRequest, minilm: MiniLMEmbedder, static: StaticEmbedder) -> Embedder:
    return minilm if request.param == "minilm" else static


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((DATA_DIR / "reference-embeddings.json").read_text(encoding="utf-8"))


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# --- bundled embedders -------------------------------------------------------------------------


def test_shape_dtype_and_unit_norm(bundled: Embedder) -> None:
    out = bundled.embed(TEXTS)
    assert out.shape == (len(TEXTS), bundled.dim)
    assert out.dtype == np.float32
    norms = np.linalg.norm(out, axis=1)
    if isinstance(bundled, StaticEmbedder):  # "" has no token: the zero vector
        assert norms[TEXTS.index("")] == 0
        norms = np.delete(norms, TEXTS.index(""))
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_dims() -> None:
    assert MiniLMEmbedder().dim == 384
    assert StaticEmbedder().dim == 256


def test_deterministic(bundled: Embedder) -> None:
    np.testing.assert_array_equal(bundled.embed(TEXTS), bundled.embed(TEXTS))


def test_batch_equals_one_by_one(bundled: Embedder) -> None:
    batch = bundled.embed(TEXTS)
    single = np.concatenate([bundled.embed([t]) for t in TEXTS])
    np.testing.assert_allclose(batch, single, atol=1e-5)


def test_batch_result_does_not_depend_on_neighbours(minilm: MiniLMEmbedder) -> None:
    # int8 activations are scaled per token, so padding and other prompts cannot move a vector.
    alone = minilm.embed(["hello world"])
    crowded = minilm.embed(["x " * 200, "hello world", "A much louder neighbour!!! " * 20])[1:2]
    np.testing.assert_allclose(alone, crowded, atol=1e-5)


def test_small_batch_size_and_order_restored() -> None:
    small = MiniLMEmbedder(batch_size=2, threads=1)
    np.testing.assert_allclose(small.embed(TEXTS), MiniLMEmbedder().embed(TEXTS), atol=1e-5)


def test_concurrent_callers_get_the_same_vectors() -> None:
    from concurrent.futures import ThreadPoolExecutor

    emb = MiniLMEmbedder()  # fresh: the session and worker pool are created under contention
    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(lambda _: emb.embed(TEXTS), range(4)))
    for r in results[1:]:
        np.testing.assert_allclose(r, results[0], atol=1e-6)
    emb.warmup()  # a no-op once loaded


def test_non_string_texts_raise(bundled: Embedder) -> None:
    with pytest.raises(EmbedderError, match="item 1 is NoneType"):
        bundled.embed(["fine", None])  # type: ignore[list-item]


def test_empty_list(bundled: Embedder) -> None:
    out = bundled.embed([])
    assert out.shape == (0, bundled.dim)
    assert out.dtype == np.float32


async def test_aembed(bundled: Embedder) -> None:
    np.testing.assert_allclose(await bundled.aembed(TEXTS[:3]), bundled.embed(TEXTS[:3]), atol=1e-6)


@pytest.mark.parametrize("cls", [MiniLMEmbedder, StaticEmbedder])
def test_long_prompts_are_truncated_and_tail_keeps_the_end(cls: type) -> None:
    huge = "word " * 200_000 + "final question?"  # a megabyte prompt: no error, and fast
    tail, head = cls(max_tokens=128, truncation="tail"), cls(max_tokens=128, truncation="head")
    assert tail.embed([huge]).shape == (1, tail.dim)

    a, b = tail.embed([BEGIN_A + ENDING, BEGIN_B + ENDING])
    assert cos(a, b) > 0.99  # only the shared ending was kept
    a, b = head.embed([BEGIN_A + ENDING, BEGIN_B + ENDING])
    assert cos(a, b) < 0.9  # only the different beginnings were kept


def test_tail_truncation_keeps_special_tokens() -> None:
    emb = MiniLMEmbedder(max_tokens=8, truncation="tail")
    enc = emb._tokenizer.encode("one two three four five six seven eight nine ten")
    assert enc.tokens == ["[CLS]", "five", "six", "seven", "eight", "nine", "ten", "[SEP]"]


def test_semantic_sanity(bundled: Embedder) -> None:
    a, b, c = bundled.embed(
        [
            "How can I reset my account password?",
            "I forgot my password, how do I change it?",
            "The Roman Empire fell in the fifth century.",
        ]
    )
    assert cos(a, b) > cos(a, c) + 0.2


def test_minilm_matches_the_float_model(reference: dict) -> None:
    # The build wrote the float torch model's vectors; int8 must stay close on this onnxruntime.
    got = MiniLMEmbedder(max_tokens=256, truncation="head").embed(reference["texts"])
    want = np.asarray(reference["minilm_float_head256"], dtype=np.float32)
    cosines = (got * want).sum(1) / np.linalg.norm(want, axis=1)
    assert cosines.mean() >= 0.99 and cosines.min() >= 0.975


def test_three_layer_minilm_matches_its_float_model(reference: dict) -> None:
    # The first 3 layers are their own model: int8 must stay close to those layers in float, and
    # far enough from the 6-layer vectors that the right file is known to be loaded.
    got = MiniLMEmbedder(max_tokens=256, truncation="head", layers=3).embed(reference["texts"])
    want = np.asarray(reference["minilm_l3_float_head256"], dtype=np.float32)
    cosines = (got * want).sum(1) / np.linalg.norm(want, axis=1)
    assert cosines.mean() >= 0.99 and cosines.min() >= 0.975
    six = np.asarray(reference["minilm_float_head256"], dtype=np.float32)
    assert ((got * six).sum(1) / np.linalg.norm(six, axis=1)).mean() < 0.95


def test_minilm_layers_must_be_a_bundled_cut() -> None:
    for bad in (4, 0, "3", True):
        with pytest.raises(EmbedderError, match="layers must be one of"):
            MiniLMEmbedder(layers=bad)  # type: ignore[arg-type]
    with pytest.raises(EmbedderError, match="layers must be one of"):
        embedder_from_config({"kind": "minilm", "layers": 5})


def test_static_matches_model2vec(reference: dict) -> None:
    got = StaticEmbedder(max_tokens=512, truncation="head").embed(reference["texts"])
    np.testing.assert_allclose(got, np.asarray(reference["static_model2vec"]), atol=2e-6)


# --- specs and configs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "emb",
    [
        MiniLMEmbedder(),
        MiniLMEmbedder(max_tokens=128, truncation="head"),
        MiniLMEmbedder(layers=3, char_ngrams=64),
        StaticEmbedder(),
        StaticEmbedder(max_tokens=64, truncation="head"),
    ],
    ids=repr,
)
def test_config_round_trip(emb: Embedder) -> None:
    cfg = emb.config()
    assert cfg is not None
    cfg = json.loads(json.dumps(cfg))  # as saved with a router
    again = embedder_from_config(cfg)
    assert type(again) is type(emb) and again.config() == emb.config()
    np.testing.assert_allclose(again.embed(TEXTS[:3]), emb.embed(TEXTS[:3]), atol=1e-6)


def test_minilm_config_contents() -> None:
    assert MiniLMEmbedder(max_tokens=100).config() == {"kind": "minilm", "max_tokens": 100, "truncation": "tail"}
    # a router saved before `layers` existed has no such key and used all 6
    assert MiniLMEmbedder(layers=3).config()["layers"] == 3
    assert embedder_from_config({"kind": "minilm"}).layers == 6


def test_openai_config_round_trip() -> None:
    emb = OpenAIEmbedder("text-embedding-3-small", base_url="http://127.0.0.1:1/v1", api_key_env="MY_KEY", dim=8)
    again = embedder_from_config(json.loads(json.dumps(emb.config())))
    assert isinstance(again, OpenAIEmbedder) and again.config() == emb.config()


def test_config_errors() -> None:
    with pytest.raises(EmbedderError, match="embedder="):
        embedder_from_config({"kind": "callable"})
    with pytest.raises(EmbedderError, match="unknown embedder kind 'sparkly'"):
        embedder_from_config({"kind": "sparkly"})
    with pytest.raises(EmbedderError, match="'kind'"):
        embedder_from_config({"max_tokens": 3})
    with pytest.raises(EmbedderError, match="model"):
        embedder_from_config({"kind": "openai"})


def test_get_embedder() -> None:
    assert isinstance(get_embedder(None), StaticEmbedder)
    assert isinstance(get_embedder("default"), StaticEmbedder)
    assert isinstance(get_embedder(None), StaticEmbedder)
    assert isinstance(get_embedder("minilm"), MiniLMEmbedder)
    assert isinstance(get_embedder("minilm"), MiniLMEmbedder)
    assert isinstance(get_embedder("static"), StaticEmbedder)
    emb = StaticEmbedder()
    assert get_embedder(emb) is emb
    wrapped = get_embedder(lambda texts: np.ones((len(texts), 4)))
    assert isinstance(wrapped, CallableEmbedder) and wrapped.dim == 4


@pytest.mark.parametrize("bad", ["bert-large", 42, ["minilm"], MiniLMEmbedder])
def test_get_embedder_rejects_bad_specs(bad: object) -> None:
    with pytest.raises(EmbedderError, match="minilm|instance"):
        get_embedder(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{"max_tokens": 0}, {"max_tokens": 513}, {"truncation": "middle"}, {"threads": 0}, {"batch_size": 0}],
)
def test_minilm_rejects_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(EmbedderError):
        MiniLMEmbedder(**kwargs)


def test_importing_embedders_does_not_import_onnxruntime() -> None:
    code = (
        "import sys, autorouter.embedders as e; assert 'onnxruntime' not in sys.modules; "
        "e.StaticEmbedder().embed(['x']); assert 'onnxruntime' not in sys.modules; "
        "e.MiniLMEmbedder().embed(['x']); assert 'onnxruntime' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- callable ----------------------------------------------------------------------------------


def test_callable_embedder_normalises() -> None:
    emb = CallableEmbedder(lambda texts: np.full((len(texts), 3), 2.0))
    out = emb.embed(["a", "b"])
    assert out.shape == (2, 3)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize(
    "fn",
    [
        lambda texts: np.ones((len(texts) + 1, 3)),  # one row too many
        lambda texts: np.ones(3),  # 1-d
        lambda texts: np.ones((len(texts), 5)),  # not the declared dim
        lambda texts: [["x"] * 3 for _ in texts],  # not numbers
        lambda texts: np.full((len(texts), 3), np.nan),  # NaN
    ],
)
def test_callable_embedder_wrong_output_raises(fn) -> None:
    with pytest.raises(EmbedderError):
        CallableEmbedder(fn, dim=3).embed(["a", "b"])


# --- OpenAI-compatible endpoint ------------------------------------------------------------------


def test_openai_embedder_against_a_real_server(openai_server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_EMBED_KEY", "sk-test")
    openai_server.require_api_key = "sk-test"
    emb = OpenAIEmbedder("model-a", base_url=openai_server.base_url, api_key_env="TEST_EMBED_KEY", batch_size=2)
    out = emb.embed(["alpha", "beta", "gamma"])  # two requests of two and one
    assert out.shape == (3, 8) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(emb.embed(["beta"]), out[1:2], atol=1e-6)  # batching changes nothing
    assert emb.dim == 8
    assert openai_server.calls["model-a"] >= 3


async def test_openai_embedder_async(openai_server) -> None:
    emb = OpenAIEmbedder("model-a", base_url=openai_server.base_url, api_key_env="UNSET_TEST_KEY_VAR")
    out = await emb.aembed(["alpha", "beta"])
    np.testing.assert_allclose(out, emb.embed(["alpha", "beta"]), atol=1e-6)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
async def test_openai_embedder_refuses_non_finite_vectors_sync_and_async(openai_server, value: float) -> None:
    """An endpoint that sends NaN or infinite vectors gets the same clear error whichever way
    it is called, never vectors that would route every prompt to nonsense."""
    openai_server.embedding_value = value
    emb = OpenAIEmbedder("model-a", base_url=openai_server.base_url, api_key_env="UNSET_TEST_KEY_VAR")
    with pytest.raises(EmbedderError, match="NaN or infinite"):
        emb.embed(["alpha", "beta"])
    with pytest.raises(EmbedderError, match="NaN or infinite"):
        await emb.aembed(["alpha", "beta"])
    assert (await emb.aembed([])).shape == (0, 8)


def test_openai_embedder_401_is_clear(openai_server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_EMBED_KEY", "sk-wrong")
    openai_server.require_api_key = "sk-right"
    emb = OpenAIEmbedder("model-a", base_url=openai_server.base_url, api_key_env="TEST_EMBED_KEY")
    with pytest.raises(EmbedderError, match=r"(?s)401.*is TEST_EMBED_KEY set\?"):
        emb.embed(["alpha"])


def test_openai_embedder_unreachable() -> None:
    emb = OpenAIEmbedder("m", base_url="http://127.0.0.1:9/v1", timeout=2)  # discard port: refused
    with pytest.raises(EmbedderError, match="cannot reach"):
        emb.embed(["alpha"])


def test_char_ngrams_tell_apart_what_minilm_reads_alike_and_survive_a_config_round_trip() -> None:
    """Character n-grams beside MiniLM: a Chinese unit conversion and a Chinese poem request
    are further apart with them, and the saved config rebuilds the same vectors."""
    texts = ["1公斤等于多少磅？", "写一首关于秋天的诗", "3斤等于多少公斤？"]
    plain, grams = MiniLMEmbedder(), MiniLMEmbedder(char_ngrams=512)
    assert grams.dim == 384 + 512
    a, b = plain.embed(texts), grams.embed(texts)
    assert b.shape == (3, 896) and np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    # the two conversions share characters (公斤, 等于多少) the poem does not
    assert (b[0] @ b[2] - b[0] @ b[1]) > (a[0] @ a[2] - a[0] @ a[1])
    rebuilt = embedder_from_config(json.loads(json.dumps(grams.config())))
    assert rebuilt.config() == {"kind": "minilm", "max_tokens": 256, "truncation": "tail", "char_ngrams": 512,
                                "unit_parts": True}
    assert np.allclose(rebuilt.embed(texts), b)
    assert "char_ngrams" not in plain.config()


def test_char_ngrams_weigh_as_much_as_minilm_and_old_configs_keep_their_weighting() -> None:
    texts = ["1公斤等于多少磅？", "What is the capital of Australia?"]
    now = MiniLMEmbedder(char_ngrams=512).embed(texts)
    # each part unit length before joining: both halves of the unit vector weigh the same
    np.testing.assert_allclose(np.linalg.norm(now[:, :384], axis=1), np.sqrt(0.5), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(now[:, 384:], axis=1), np.sqrt(0.5), atol=1e-5)
    # a router saved before `unit_parts` joined MiniLM's raw vector (length ~6): loading its
    # config must give the vectors it was fitted on, not the new ones
    old = embedder_from_config({"kind": "minilm", "max_tokens": 256, "truncation": "tail", "char_ngrams": 512})
    assert old.unit_parts is False and "unit_parts=False" in repr(old)
    legacy = old.embed(texts)
    assert (np.linalg.norm(legacy[:, :384], axis=1) > 0.95).all()
    raw = MiniLMEmbedder().embed(texts)
    np.testing.assert_allclose(legacy[:, :384] / np.linalg.norm(legacy[:, :384], axis=1, keepdims=True), raw, atol=1e-5)


@pytest.mark.parametrize("bad", [-1, 1.5, True, 1 << 20])
def test_bad_char_ngrams_is_a_clear_error(bad) -> None:
    with pytest.raises(EmbedderError, match="char_ngrams"):
        MiniLMEmbedder(char_ngrams=bad)


async def test_the_static_embedder_routes_a_call_without_a_worker_thread() -> None:
    """A routed call's embedding stays on the event loop's thread (a hop to a worker costs
    more than the lookup); a large batch still goes to a worker, so the loop stays free."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from autorouter.embedders.static import INLINE_TEXTS, StaticEmbedder

    emb = StaticEmbedder()
    loop = asyncio.get_running_loop()
    closed = ThreadPoolExecutor(max_workers=1)
    closed.shutdown()
    loop.set_default_executor(closed)  # any hop to a worker thread now fails
    np.testing.assert_allclose(await emb.aembed(["hello there"]), emb.embed(["hello there"]))
    with pytest.raises(RuntimeError):
        await emb.aembed(["hello"] * (INLINE_TEXTS + 1))
