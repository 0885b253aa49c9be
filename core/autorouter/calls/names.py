"""Which router model a name means: the same string, or the same model by the shipped catalog's
ids and aliases (a framework model's own name, a call's `model=`, a provider's dated answer)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from ..catalog import Catalog

__all__ = ["card_in", "catalog_card", "resolve_name"]


@functools.lru_cache(maxsize=1)
def _catalog() -> Any | None:
    """The shipped catalog (`Catalog.shared()`), or None where it cannot be read (looked up
    once per process)."""
    try:
        return Catalog.shared()
    except Exception:  # noqa: BLE001 - a broken catalog must not break routing; it only adds facts
        return None


@functools.lru_cache(maxsize=1024)
def catalog_card(name: str | None) -> Any | None:
    """The shipped catalog's `ModelCard` for a model id or alias, or None if it has none."""
    if not name:
        return None
    cat = _catalog()
    if cat is None:
        return None
    try:
        return cat.get(name)
    except Exception:  # noqa: BLE001 - UnknownModelError, or anything a broken catalog raises
        return None


def _same_model_names(name: str) -> set[str]:
    """Names that mean the same model: itself, without its provider prefix, and the
    catalog's id and aliases for it."""
    out = {name, name.split("/", 1)[-1]}
    card = catalog_card(name)
    if card is not None:
        for n in (card.id, *card.aliases):
            out |= {n, n.split("/", 1)[-1]}
    return out


def resolve_name(name: str, known: Sequence[str]) -> str | None:
    """Which of `known` (router model names) `name` is: the same string, or the same model by
    the catalog's ids and aliases; None when none or several match."""
    if name in known:
        return name
    wanted = _same_model_names(name)
    matches = [k for k in known if _same_model_names(k) & wanted]
    return matches[0] if len(matches) == 1 else None


def card_in(catalog: Any, name: str) -> Any | None:
    """`catalog`'s card for `name`, or None where it has none."""
    try:
        return catalog.get(name)
    except Exception:  # noqa: BLE001 - UnknownModelError, or anything a broken catalog raises
        return None
