"""`AutoRouterEmbedding`: autorouter's offline embedder as a LlamaIndex embedding model."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import PrivateAttr

__all__ = ["AutoRouterEmbedding"]


class AutoRouterEmbedding(BaseEmbedding):
    """autorouter's embedder as a LlamaIndex `BaseEmbedding`: build and query an index with
    no network and no API key.

    By default it is the bundled int8 MiniLM (384 dimensions, ONNX on the CPU), the model the
    default router routes with, so one model in memory serves both::

        from llama_index.core import Settings, VectorStoreIndex
        from llamaindex_autorouter import AutoRouterEmbedding

        Settings.embed_model = AutoRouterEmbedding()          # or AutoRouterEmbedding("static")
        index = VectorStoreIndex.from_documents(documents)

    Args:
        embedder: what `autorouter.get_embedder` takes: None or "default" (MiniLM),
            "static" (bundled static embeddings, fastest), any `autorouter.Embedder`, or a
            callable `list[str] -> array (n, dim)`.
        **kwargs: fields of `BaseEmbedding` (`embed_batch_size`, `callback_manager`, ...).

    Vectors are L2-normalised float32 rows, so cosine similarity and dot product agree.
    Async calls run the local model in a worker thread, keeping the event loop free.
    """

    _embedder: Any = PrivateAttr()

    def __init__(self, embedder: Any = None, **kwargs: Any) -> None:
        # here, not at the top: importing the class stays free of autorouter (~0.17 s over LlamaIndex)
        from autorouter.embedders import get_embedder

        emb = get_embedder(embedder)
        kwargs.setdefault("model_name", _name_of(emb))
        super().__init__(**kwargs)
        self._embedder = emb

    @classmethod
    def from_router(cls, router: Any, **kwargs: Any) -> AutoRouterEmbedding:
        """The embedder a fitted `autorouter.Router` routes with (e.g. `Router.default()`'s
        MiniLM), shared rather than loaded twice."""
        embedder = getattr(router, "embedder_", None)
        if embedder is None:
            raise ValueError("the router is not fitted: it has no embedder yet (Router.fit or Router.load first)")
        return cls(embedder, **kwargs)

    @classmethod
    def class_name(cls) -> str:
        return "AutoRouterEmbedding"

    @property
    def embedder(self) -> Any:
        """The `autorouter.Embedder` behind this model."""
        return self._embedder

    @property
    def dim(self) -> int:
        """Length of each vector."""
        return int(self._embedder.dim)

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._get_text_embeddings([query])[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._aget_text_embeddings([query]))[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aget_text_embeddings([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embedder.embed(_non_empty(texts)).tolist()

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return (await self._embedder.aembed(_non_empty(texts))).tolist()


def _non_empty(texts: list[str]) -> list[str]:
    # A tokenizer-based embedder may choke on "", and an index may hold empty nodes.
    return [t if isinstance(t, str) and t else " " for t in texts]


def _name_of(embedder: Any) -> str:
    config = embedder.config() if hasattr(embedder, "config") else None
    kind = (config or {}).get("kind") or getattr(embedder, "kind", "") or type(embedder).__name__
    model = (config or {}).get("model")
    return f"autorouter/{kind}" + (f"/{model}" if model else "")
