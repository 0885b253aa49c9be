"""The embedder interface, and embedders that wrap a user's callable or an HTTP endpoint.

An embedder turns prompt texts into L2-normalised float32 vectors. Embedders that can be
rebuilt from a small JSON config (the bundled ones, an endpoint) are saved with a router;
a user's callable is not, and must be passed again to `Router.load(..., embedder=...)`.
"""

from __future__ import annotations

import asyncio
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from pydantic import SecretStr

from ..errors import EmbedderError

__all__ = ["Embedder", "CallableEmbedder", "OpenAIEmbedder", "normalize_rows"]


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Scale each row to unit L2 norm (rows of zeros stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


class Embedder(ABC):
    """Maps a list of texts to an `(n, dim)` float32 array of unit-norm rows."""

    #: registry key used in saved configs; subclasses that can be saved set it.
    kind: str = ""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of each vector."""

    @abstractmethod
    def _embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts (subclasses implement this; `embed` checks and normalises)."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts`; returns an `(len(texts), dim)` float32 array with unit-norm rows."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._checked(self._embed(texts), len(texts))

    def _checked(self, raw: Any, n: int) -> np.ndarray:
        """`raw` vectors for `n` texts as unit-norm float32 rows, or EmbedderError saying what
        is wrong with them: the one check every way of embedding goes through."""
        out = np.asarray(raw, dtype=np.float32)
        if out.ndim != 2 or out.shape[0] != n:
            raise EmbedderError(
                f"{type(self).__name__} returned shape {out.shape} for {n} texts; "
                "an embedder must return one row per text"
            )
        if not np.all(np.isfinite(out)):
            raise EmbedderError(f"{type(self).__name__} returned NaN or infinite values")
        return normalize_rows(out)

    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        """Async `embed`; local embedders run in a worker thread so the event loop stays free."""
        return await asyncio.to_thread(self.embed, texts)

    def config(self) -> dict[str, Any] | None:
        """A JSON-able description to rebuild this embedder, or None if it cannot be saved."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim})"


class CallableEmbedder(Embedder):
    """Wraps any function `list[str] -> array-like of shape (n, dim)`.

    Not saved with a router: pass the same callable to `Router.load(dir, embedder=...)`.
    """

    kind = "callable"

    def __init__(self, fn: Callable[[list[str]], Any], dim: int | None = None) -> None:
        if not callable(fn):
            raise EmbedderError(f"expected a callable list[str] -> array, got {type(fn).__name__}")
        self.fn = fn
        self._dim = dim

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(np.asarray(self.fn(["dimension probe"])).shape[-1])
        return self._dim

    def _embed(self, texts: list[str]) -> np.ndarray:
        try:
            out = np.asarray(self.fn(texts), dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise EmbedderError(f"the embedding callable did not return numbers: {e}") from e
        if out.ndim == 2 and self._dim is not None and out.shape[1] != self._dim:
            raise EmbedderError(f"the embedding callable returned dim {out.shape[1]}, expected {self._dim}")
        return out


class OpenAIEmbedder(Embedder):
    """Any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, vLLM, Ollama, TEI, ...).

    Args:
        model: the embedding model name the endpoint expects.
        base_url: the API root, e.g. `https://api.openai.com/v1`.
        api_key_env: the environment variable holding the key (read at call time; the key is
            never stored in the saved config).
        dim: the vector length, if known (else probed with one request).
        timeout: seconds per request.
        batch_size: texts per request.
    """

    kind = "openai"

    def __init__(
        self,
        model: str,
        base_url: str = "https://api.openai.com/v1",
        api_key_env: str = "OPENAI_API_KEY",
        dim: int | None = None,
        timeout: float = 30.0,
        batch_size: int = 256,
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self._dim = dim
        self.timeout = timeout
        self.batch_size = batch_size

    def _api_key(self) -> SecretStr | None:
        key = os.environ.get(self.api_key_env)
        return SecretStr(key) if key else None

    def _headers(self) -> dict[str, str]:
        key = self._api_key()
        return {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self._embed(["dimension probe"]).shape[1])
        return self._dim

    def _parse(self, payload: Any, n: int) -> np.ndarray:
        try:
            data = sorted(payload["data"], key=lambda d: d["index"])
            out = np.asarray([d["embedding"] for d in data], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as e:
            raise EmbedderError(
                f"{self.base_url}/embeddings did not answer in the OpenAI format: {e!r}"
            ) from e
        if out.shape[0] != n:
            raise EmbedderError(f"{self.base_url}/embeddings returned {out.shape[0]} vectors for {n} texts")
        return out

    def _check(self, resp: Any) -> None:
        if resp.status_code >= 400:
            raise EmbedderError(
                f"{self.base_url}/embeddings answered HTTP {resp.status_code}: {resp.text[:300]}"
                + (f" (is {self.api_key_env} set?)" if resp.status_code in (401, 403) else "")
            )

    def _requests(self, texts: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
        """(texts in it, keyword arguments of `post`) of each request `texts` take: the one
        request builder the sync and async senders share."""
        for i in range(0, len(texts), self.batch_size):
            chunk = texts[i : i + self.batch_size]
            yield len(chunk), {
                "url": f"{self.base_url}/embeddings",
                "json": {"model": self.model, "input": chunk},
                "headers": self._headers(),
            }

    @contextmanager
    def _reaching(self) -> Iterator[None]:
        """Turn httpx's transport errors into an EmbedderError that names the endpoint."""
        import httpx

        try:
            yield
        except httpx.HTTPError as e:
            raise EmbedderError(f"cannot reach {self.base_url}/embeddings: {e}") from e

    def _vectors(self, resp: Any, n: int) -> np.ndarray:
        self._check(resp)
        return self._parse(resp.json(), n)

    def _embed(self, texts: list[str]) -> np.ndarray:
        import httpx

        parts = []
        with httpx.Client(timeout=self.timeout) as client:
            for n, request in self._requests(texts):
                with self._reaching():
                    resp = client.post(**request)
                parts.append(self._vectors(resp, n))
        return np.concatenate(parts)

    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        import httpx

        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = []
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            for n, request in self._requests(texts):
                with self._reaching():
                    resp = await client.post(**request)
                parts.append(self._vectors(resp, n))
        return self._checked(np.concatenate(parts), len(texts))

    def config(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model,
            "base_url": self.base_url,
            "api_key_env": self.api_key_env,
            "dim": self._dim,
        }

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self.model!r}, base_url={self.base_url!r})"
