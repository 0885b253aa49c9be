"""Prompt embedders (temporary stub until the bundled ones land)."""
from .base import CallableEmbedder, Embedder, OpenAIEmbedder
from ..errors import EmbedderError

def get_embedder(spec=None):
    if isinstance(spec, Embedder):
        return spec
    if callable(spec):
        return CallableEmbedder(spec)
    raise EmbedderError(f"embedder {spec!r} not available yet")

def embedder_from_config(cfg):
    if cfg.get("kind") == "openai":
        return OpenAIEmbedder(**{k: v for k, v in cfg.items() if k != "kind"})
    raise EmbedderError(f"cannot rebuild embedder {cfg!r}")
