"""Routed calls: pick a model for a request, call it over the OpenAI-compatible client, and fall
back down the ranking under the one reliability policy (being built; see issue 6)."""

from __future__ import annotations


class CallingMixin:
    """The calling half of `Router`: `complete`, `acomplete`, `stream`, `astream`."""
