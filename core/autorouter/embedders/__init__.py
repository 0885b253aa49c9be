"""Prompt embedders, and the two ways to get one: from a user's spec or from a saved config.

Importing this package is cheap: onnxruntime and tokenizers are imported only when a bundled
embedder is created.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import EmbedderError
from .base import CallableEmbedder, Embedder, OpenAIEmbedder
from .minilm import MiniLMEmbedder
from .static import StaticEmbedder

__all__ = [
    "CallableEmbedder",
    "Embedder",
    "MiniLMEmbedder",
    "OpenAIEmbedder",
    "StaticEmbedder",
    "embedder_from_config",
    "get_embedder",
]

EmbedderSpec = Embedder | str | Callable[[list[str]], Any] | None

_ACCEPTED = (
    'None or "default" (static), "static", "minilm", an Embedder instance, '
    "or a callable list[str] -> array of shape (n, dim)"
)


def get_embedder(spec: EmbedderSpec = None) -> Embedder:
    """Turn what a user passed as `embedder=` into an Embedder.

    Accepts None or "default" (the bundled static embeddings), "static", "minilm" (the bundled
    MiniLM transformer in int8 ONNX), an `Embedder` (returned as is) or any callable
    `list[str] -> array` (wrapped in a CallableEmbedder).

    The default was chosen by routing figures (benchmarks/quality.py): on the shared routing
    data the static embeddings route as well as MiniLM (better on routerbench's halves) at
    about 1/50 of the cost per prompt. The bundled default router uses MiniLM, which tells task
    families apart better (see scripts/build_default_router.py).
    """
    if spec is None:
        return StaticEmbedder()
    if isinstance(spec, Embedder):
        return spec
    if isinstance(spec, str):
        name = spec.strip().lower()
        if name == "minilm":
            return MiniLMEmbedder()
        if name in ("default", "static"):
            return StaticEmbedder()
        raise EmbedderError(f"unknown embedder {spec!r}; expected {_ACCEPTED}")
    if isinstance(spec, type):
        # A class is callable, but wrapping it would "embed" by constructing it.
        raise EmbedderError(f"got the class {spec.__name__}; pass an instance, e.g. {spec.__name__}()")
    if callable(spec):
        return CallableEmbedder(spec)
    raise EmbedderError(f"cannot use {type(spec).__name__} as an embedder; expected {_ACCEPTED}")


def embedder_from_config(cfg: dict[str, Any]) -> Embedder:
    """Rebuild an embedder from its `config()` output (as saved with a router)."""
    if not isinstance(cfg, dict) or "kind" not in cfg:
        raise EmbedderError(f"an embedder config must be a dict with a 'kind', got {cfg!r}")
    kind = cfg["kind"]
    if kind == MiniLMEmbedder.kind:
        return MiniLMEmbedder(
            max_tokens=cfg.get("max_tokens", 256), truncation=cfg.get("truncation", "tail"),
            char_ngrams=cfg.get("char_ngrams", 0), layers=cfg.get("layers", 6),
            unit_parts=cfg.get("unit_parts", False),
        )
    if kind == StaticEmbedder.kind:
        return StaticEmbedder(max_tokens=cfg.get("max_tokens", 512), truncation=cfg.get("truncation", "tail"))
    if kind == OpenAIEmbedder.kind:
        if not cfg.get("model"):
            raise EmbedderError("an 'openai' embedder config needs a 'model'")
        return OpenAIEmbedder(
            model=cfg["model"],
            base_url=cfg.get("base_url", "https://api.openai.com/v1"),
            api_key_env=cfg.get("api_key_env", "OPENAI_API_KEY"),
            dim=cfg.get("dim"),
        )
    if kind == CallableEmbedder.kind:
        raise EmbedderError(
            "this router was fitted with a custom embedding function, which is not saved; "
            "pass the same function again: Router.load(path, embedder=your_function)"
        )
    raise EmbedderError(
        f"unknown embedder kind {kind!r} in the saved config (known: minilm, static, openai); "
        "it may come from a newer autorouter: upgrade, or pass embedder= to Router.load"
    )
