"""AutoRouterEmbedding: autorouter's offline embedders as a LlamaIndex `BaseEmbedding`."""

from __future__ import annotations

import math
from typing import Any

import pytest

import autorouter

pytest.importorskip("llama_index.core", reason="needs the llamaindex extra")
pytest.importorskip("llama_index.llms.openai_like", reason="needs the llamaindex extra")
from llama_index.core.base.embeddings.base import BaseEmbedding

from li_support import hash_embed
from llamaindex_autorouter import AutoRouterEmbedding


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(v * v for v in vector))


def test_class() -> None:
    assert BaseEmbedding.__name__ in [b.__name__ for b in AutoRouterEmbedding.__mro__]


def test_over_a_callable_embedder() -> None:
    model = AutoRouterEmbedding(hash_embed)
    assert model.model_name == "autorouter/callable"
    assert isinstance(model.embedder, autorouter.CallableEmbedder)
    query = model.get_query_embedding("write python code")
    texts = model.get_text_embedding_batch(["write python code", "hello friend", ""])
    assert len(query) == model.dim == 64
    assert query == pytest.approx(texts[0])
    assert all(norm(v) == pytest.approx(1.0, abs=1e-5) for v in texts)


async def test_async() -> None:
    model = AutoRouterEmbedding(hash_embed)
    sync = model.get_text_embedding("hello friend")
    assert await model.aget_text_embedding("hello friend") == pytest.approx(sync)
    assert await model.aget_query_embedding("hello friend") == pytest.approx(sync)
    batch = await model.aget_text_embedding_batch(["a b", "c d"])
    assert len(batch) == 2


def test_from_router_shares_the_routers_embedder(router: autorouter.Router) -> None:
    model = AutoRouterEmbedding.from_router(router)
    assert model.embedder is router.embedder_
    with pytest.raises(ValueError, match="not fitted"):
        AutoRouterEmbedding.from_router(autorouter.Router())


def test_bad_spec_is_an_error() -> None:
    with pytest.raises(autorouter.EmbedderError):
        AutoRouterEmbedding("no-such-embedder")


@pytest.mark.parametrize("spec", ["default", "static"])
def test_bundled_embedders_build_an_index_offline(spec: str, openai_server: Any) -> None:
    from llama_index.core import Document, VectorStoreIndex

    try:
        model = AutoRouterEmbedding(spec)
        model.get_text_embedding("probe")
    except autorouter.EmbedderError as e:  # the bundled model files are missing
        pytest.skip(f"bundled embedder {spec!r} unavailable: {e}")
    docs = [
        Document(text="Python functions sort lists."),
        Document(text="The weather is sunny today."),
        Document(text="Integrals of polynomials."),
    ]
    index = VectorStoreIndex.from_documents(docs, embed_model=model)
    hits = index.as_retriever(similarity_top_k=1).retrieve("sort a list in python")
    assert hits[0].node.get_content() == "Python functions sort lists."
    assert openai_server.total_calls == 0
