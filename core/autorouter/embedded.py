"""Prompts as a router reads them: the text it embeds (the last user message), the length a call
is charged for (every message) and whether images come along; and, once embedded,
`EmbeddedPrompts`, which routing can take again without embedding anew."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .embedders import Embedder
from .errors import EmbedderError, InvalidRequestError
from .prompts import prompt_info


@dataclass(frozen=True)
class EmbeddedPrompts:
    """Prompts as a router reads them, from `Router.embed_prompts`, for `Router.route_embedded`.

    Attributes:
        x: (n, d) the embeddings.
        chars: (n,) each request's length in characters (every message counts, for cost).
        images: (n,) whether each request holds images.
    """

    x: np.ndarray
    chars: np.ndarray
    images: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


def read_requests(prompts: Sequence[Any]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Texts to embed, request lengths and which requests hold images."""
    if isinstance(prompts, str):
        raise InvalidRequestError("route_batch takes a list of prompts; use route() for one")
    info = [prompt_info(p) for p in prompts]
    return (
        [t for t, _, _ in info],
        np.array([c for _, c, _ in info], dtype=np.float64),
        np.array([im for _, _, im in info], dtype=bool),
    )


def checked_embeddings(x: np.ndarray, dim: int) -> np.ndarray:
    """`x`, if the embedder gave (n, `dim`) vectors, the dimension the router was trained on."""
    if x.ndim != 2 or x.shape[1] != dim:
        raise EmbedderError(
            f"the embedder returned vectors of dim {x.shape[-1]}, but this router was "
            f"trained on dim {dim}: load it with the embedder it was trained with"
        )
    return x


def embed_in_batches(embedder: Embedder, texts: list[str], report: Callable[[str, int, int], None]) -> np.ndarray:
    """`texts` embedded 256 at a time, saying how far it got to `report(stage, done, total)`."""
    out, step = [], 256
    for i in range(0, len(texts), step):
        report("embed", i, len(texts))
        out.append(embedder.embed(texts[i : i + step]))
    report("embed", len(texts), len(texts))
    return np.concatenate(out)
