"""The model catalog: price, limits, capabilities and public facts of each known model.

`Catalog.default()` reads the shipped `data/catalog.json` (JSON, loaded once). Names resolve
case-insensitively through ids (OpenRouter-style `provider/model`), aliases and, when only one
model matches, the bare model part of an id or alias. Users extend or correct the catalog at
run time with `add`, `override` and `merged` (from code or from their own JSON file).

What one entry is (`ModelCard` and its parts) lives in `autorouter.cards`, re-exported here.
"""

from __future__ import annotations

import difflib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .cards import BENCHMARKS, Capabilities, FactSource, ModelCard, ModelFacts
from .cards import Price as Price  # the price field type, importable from here as before
from .errors import CatalogError, UnknownModelError

__all__ = [
    "shared_card",
    "shared_match",
    "BENCHMARKS",
    "Capabilities",
    "Catalog",
    "FactSource",
    "ModelCard",
    "ModelFacts",
]

SCHEMA_VERSION = 1


def _fold(name: str) -> str:
    return name.strip().casefold()


def _bare(name: str) -> str | None:
    return name.rsplit("/", 1)[1] if "/" in name else None


def _deep_merge(
    base: dict[str, Any], patch: Mapping[str, Any], *, nested: bool = False
) -> dict[str, Any]:
    """`patch` over `base`: mappings merge key by key; inside them a None value removes the key."""
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(dict(out[key]), value, nested=True)
        elif value is None and nested:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _validation_message(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "entry"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def _card(entry: Any, where: str) -> ModelCard:
    if isinstance(entry, ModelCard):
        return entry
    if not isinstance(entry, Mapping):
        raise CatalogError(
            f"{where}: expected a JSON object with an 'id', got {type(entry).__name__}"
        )
    try:
        return ModelCard.model_validate(dict(entry))
    except ValidationError as error:
        raise CatalogError(f"{where}: {_validation_message(error)}") from None


def _describe(entry: Any, index: int) -> str:
    name = entry.get("id") if isinstance(entry, Mapping) else None
    return f"entry {index}" + (f" ({name!r})" if isinstance(name, str) else "")


def _read_file(path: str | os.PathLike[str]) -> tuple[list[Any], dict[str, Any], Path]:
    """The raw entries and the top-level metadata of a catalog JSON file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise CatalogError(f"cannot read catalog file {file}: {error.strerror or error}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise CatalogError(
            f"catalog file {file} is not valid JSON: {error.msg} (line {error.lineno}, "
            f"column {error.colno})"
        ) from None
    if isinstance(raw, list):
        return raw, {}, file
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), list):
        raise CatalogError(
            f"catalog file {file} must hold a list of models or an object with a 'models' list"
        )
    version = raw.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise CatalogError(
            f"catalog file {file} has schema_version {version!r}; this autorouter reads "
            f"version {SCHEMA_VERSION} or older (upgrade autorouter)"
        )
    meta = {key: value for key, value in raw.items() if key != "models"}
    return raw["models"], meta, file


class Catalog:
    """Model cards by id, with case-insensitive lookup through ids, aliases and bare names."""

    def __init__(
        self,
        cards: Iterable[ModelCard | Mapping[str, Any]] = (),
        *,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self.meta: dict[str, Any] = dict(meta or {})
        self._cards: dict[str, ModelCard] = {}  # folded id -> card, in insertion order
        self._index: dict[str, str] = {}  # folded id or alias -> folded id
        self._bare: dict[str, set[str]] | None = None  # folded bare name -> folded ids
        for i, entry in enumerate(cards):
            where = _describe(entry, i)
            try:
                self.add(_card(entry, where))
            except CatalogError as error:
                message = str(error)
                raise CatalogError(
                    message if message.startswith(where) else f"{where}: {message}"
                ) from None

    # ---- loading and saving ----------------------------------------------------------------

    @classmethod
    def default(cls) -> Catalog:
        """The shipped catalog. The file is read once; each call returns an independent copy."""
        cards, meta = _shipped()
        catalog = cls(meta=meta)
        for card in cards:
            catalog._insert(card)
        return catalog

    @classmethod
    def shared(cls) -> Catalog:
        """The shipped catalog as one instance shared by every reader in the process (built
        once, on first use): for looking cards up. Never change it; `default()` gives a copy
        to change."""
        return _shared_default()

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Catalog:
        """Load a catalog JSON file (an object with a `models` list, or a bare list).

        Raises:
            CatalogError: the file is unreadable, not JSON, or an entry is invalid or clashes
                with an earlier one; the message names the file and the entry.
        """
        entries, meta, file = _read_file(path)
        catalog = cls(meta=meta)
        for i, entry in enumerate(entries):
            where = f"{file}: {_describe(entry, i)}"
            card = _card(entry, where)
            try:
                catalog.add(card)
            except CatalogError as error:
                raise CatalogError(f"{where}: {error}") from None
        return catalog

    def to_file(self, path: str | os.PathLike[str]) -> Path:
        """Write the catalog as JSON (atomically) and return the path."""
        file = Path(path)
        document = {
            **self.meta,
            "schema_version": SCHEMA_VERSION,
            "models": [card.model_dump(mode="json") for card in self],
        }
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(document, out, indent=2, ensure_ascii=False)
                out.write("\n")
            os.replace(tmp, file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return file

    def copy(self) -> Catalog:
        """An independent catalog with the same cards (cards are immutable, so they are shared)."""
        other = Catalog(meta=self.meta)
        for card in self:
            other._insert(card)
        return other

    # ---- lookup -----------------------------------------------------------------------------

    def resolve(self, name: str) -> str:
        """The canonical id of `name` (an id, an alias or an unambiguous bare model name).

        Raises:
            UnknownModelError: no model has that name, or a bare name fits several models; the
                message lists the closest known names.
        """
        if not isinstance(name, str):
            raise UnknownModelError(f"model names are strings, not {type(name).__name__}")
        key = _fold(name)
        if key in self._index:
            return self._cards[self._index[key]].id
        matches = sorted(self._bare_index().get(key, ()))
        if len(matches) == 1:
            return self._cards[matches[0]].id
        if matches:
            ids = ", ".join(repr(self._cards[m].id) for m in matches)
            raise UnknownModelError(
                f"model name {name!r} is ambiguous: it could be {ids}; use the full id"
            )
        raise UnknownModelError(self._unknown_message(name))

    def get(self, name: str) -> ModelCard:
        """The card of `name` (see `resolve`)."""
        return self._cards[_fold(self.resolve(name))]

    def find(self, name: str | None) -> ModelCard | None:
        """The card of `name` (see `resolve`), or None when no model, or several, go by it."""
        if not name:
            return None
        try:
            return self.get(name)
        except UnknownModelError:
            return None

    def match(self, name: str, known: Sequence[str]) -> str | None:
        """Which of `known` (a router's or gateway's model names) `name` means: the same name
        (case aside), or the same model by this catalog's ids and aliases, with or without the
        "provider/" prefix; None when none, or several, match. The one rule every surface
        resolves a model name by (an adapter's candidates, a call's `model=`, the gateway's
        request `model`)."""
        if name in known:
            return name
        folded = [k for k in known if _fold(k) == _fold(name)]
        if len(folded) == 1:
            return folded[0]
        wanted = self._same_model_names(name)
        matches = [k for k in known if self._same_model_names(k) & wanted]
        return matches[0] if len(matches) == 1 else None

    def _same_model_names(self, name: str) -> set[str]:
        """Names that mean the same model, folded: itself, without its provider prefix, and
        the ids and aliases of its card."""
        names = {name}
        card = self.find(name)
        if card is not None:
            names |= {card.id, *card.aliases}
        return {_fold(n) for n in names} | {_fold(n.split("/", 1)[-1]) for n in names}

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.resolve(name)
        except UnknownModelError:
            return False
        return True

    def __iter__(self) -> Iterator[ModelCard]:
        return iter(list(self._cards.values()))

    def __len__(self) -> int:
        return len(self._cards)

    def __repr__(self) -> str:
        return f"Catalog({len(self)} models, {len(self.routed())} routed by default)"

    @property
    def ids(self) -> list[str]:
        """Every canonical id, in catalog order."""
        return [card.id for card in self._cards.values()]

    def routed(self) -> list[ModelCard]:
        """The models the default router routes among (`routed_by_default`)."""
        return [card for card in self._cards.values() if card.routed_by_default]

    def call_cost_usd(self, name: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD cost of one call to `name` at list price, or None when its price is unknown."""
        return self.get(name).cost_usd(prompt_tokens, completion_tokens)

    # ---- changes ----------------------------------------------------------------------------

    def add(self, card: ModelCard | Mapping[str, Any], *, replace: bool = False) -> ModelCard:
        """Add a model (a `ModelCard` or a dict of its fields) and return its card.

        With `replace=True` an entry with the same id is replaced and aliases the new card
        shares with other models move to the new card. Without it, any clash is an error.

        Raises:
            CatalogError: the entry is invalid, or (without `replace`) its id or an alias is
                already used; an alias can never take over another model's id.
        """
        new = _card(card, f"model {card.get('id')!r}" if isinstance(card, Mapping) else "model")
        self._put(new, replace=replace, steal=replace)
        return new

    def override(self, name: str, **fields: Any) -> ModelCard:
        """Change some fields of a model (e.g. `input_usd_per_1m=...`) and return the new card.

        `capabilities` and `facts` may be partial dicts: they are merged into the current
        values (inside them, None removes a key, e.g. a benchmark score).

        Raises:
            UnknownModelError: `name` is not in the catalog.
            CatalogError: no field given, an unknown field, an invalid value, an attempt to
                change the id, or a new alias already used by another model.
        """
        return self._patch(name, fields, steal=False)

    def remove(self, name: str) -> ModelCard:
        """Remove a model (by id, alias or bare name) and return its card."""
        key = _fold(self.resolve(name))
        card = self._cards.pop(key)
        for name_key in [k for k, owner in self._index.items() if owner == key]:
            del self._index[name_key]
        self._bare = None
        return card

    def merged(self, other: Catalog | str | os.PathLike[str]) -> Catalog:
        """A new catalog: this one with `other`'s entries on top (self is not changed).

        From a `Catalog`, entries replace those with the same id. From a JSON file, an entry
        whose id is already here is a patch (only the fields it gives change, as in
        `override`); other entries are new models. Either way the user's entries win alias
        clashes.

        Raises:
            CatalogError: the file is malformed or an entry is invalid (the message names the
                file and the entry).
        """
        result = self.copy()
        if isinstance(other, Catalog):
            for card in other:
                result._put(card, replace=True, steal=True)
            result.meta.update({k: v for k, v in other.meta.items() if k not in result.meta})
            return result
        entries, _, file = _read_file(other)
        for i, entry in enumerate(entries):
            where = f"{file}: {_describe(entry, i)}"
            if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str):
                raise CatalogError(f"{where}: each entry needs a string 'id'")
            key = _fold(entry["id"])
            try:
                if key in result._cards:
                    fields = {k: v for k, v in entry.items() if k != "id"}
                    result._patch(entry["id"], fields, steal=True)
                else:
                    result._put(_card(entry, where), replace=True, steal=True)
            except (CatalogError, UnknownModelError) as error:
                message = str(error)
                raise CatalogError(
                    message if message.startswith(str(file)) else f"{where}: {message}"
                ) from None
        return result

    # ---- internals --------------------------------------------------------------------------

    def _patch(self, name: str, fields: Mapping[str, Any], *, steal: bool) -> ModelCard:
        key = _fold(self.resolve(name))
        card = self._cards[key]
        if not fields:
            raise CatalogError(f"override of {card.id!r} names no field to change")
        unknown = sorted(set(fields) - set(ModelCard.model_fields))
        if unknown:
            valid = ", ".join(ModelCard.model_fields)
            raise CatalogError(
                f"override of {card.id!r}: unknown field(s) {unknown}; fields are {valid}"
            )
        if "id" in fields and (not isinstance(fields["id"], str) or _fold(fields["id"]) != key):
            raise CatalogError(
                f"override cannot change the id of {card.id!r}; add a new model and remove the old one"
            )
        data = _deep_merge(card.model_dump(), fields)
        new = _card(data, f"override of {card.id!r}")
        self._put(new, replace=True, steal=steal)
        return new

    def _put(self, card: ModelCard, *, replace: bool, steal: bool) -> None:
        key = _fold(card.id)
        if key in self._cards and not replace:
            raise CatalogError(
                f"model {card.id!r} is already in the catalog; pass replace=True to replace it, "
                "or use override() to change some of its fields"
            )
        clashes: dict[str, str] = {}
        for name in card.names:
            owner = self._index.get(_fold(name))
            if owner is not None and owner != key:
                clashes[name] = owner
        for name, owner in clashes.items():
            owner_id = self._cards[owner].id
            if _fold(name) == owner:
                raise CatalogError(
                    f"name {name!r} of model {card.id!r} is the id of another model; "
                    f"remove {owner_id!r} first or drop that alias"
                )
            if not steal:
                raise CatalogError(
                    f"name {name!r} of model {card.id!r} is already an alias of {owner_id!r}; "
                    "pass replace=True to move it to the new model, or drop that alias"
                )
        for name, owner in clashes.items():
            old = self._cards[owner]
            kept = tuple(a for a in old.aliases if _fold(a) != _fold(name))
            self._insert(old.model_copy(update={"aliases": kept}))
        self._insert(card)

    def _insert(self, card: ModelCard) -> None:
        """Store `card` (replacing its id's entry) and index its names; clashes are checked before."""
        key = _fold(card.id)
        if key in self._cards:
            for name_key in [k for k, owner in self._index.items() if owner == key]:
                del self._index[name_key]
        self._cards[key] = card
        for name in card.names:
            self._index[_fold(name)] = key
        self._bare = None

    def _bare_index(self) -> dict[str, set[str]]:
        if self._bare is None:
            bare: dict[str, set[str]] = {}
            for key, card in self._cards.items():
                for name in card.names:
                    short = _bare(name)
                    if short:
                        bare.setdefault(_fold(short), set()).add(key)
            self._bare = bare
        return self._bare

    def _unknown_message(self, name: str) -> str:
        display: dict[str, str] = {}
        for card in self._cards.values():
            for known in card.names:
                display.setdefault(_fold(known), known)
                short = _bare(known)
                if short:
                    display.setdefault(_fold(short), short)
        close = difflib.get_close_matches(_fold(name), list(display), n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(display[c]) for c in close)}?" if close else ""
        return (
            f"unknown model {name!r}{hint} ({len(self)} models in the catalog; add one with "
            "Catalog.add)"
        )


@lru_cache(maxsize=1)
def _shipped() -> tuple[tuple[ModelCard, ...], dict[str, Any]]:
    """Read and validate the shipped catalog once per process."""
    with resources.as_file(resources.files("autorouter").joinpath("data", "catalog.json")) as path:
        catalog = Catalog.from_file(path)
    return tuple(catalog), catalog.meta


@lru_cache(maxsize=1)
def _shared_default() -> Catalog:
    return Catalog.default()


@lru_cache(maxsize=1024)
def shared_card(name: str | None) -> ModelCard | None:
    """The shipped catalog's card for a model id or alias (`Catalog.shared().find`), or None if it
    has none or the shipped catalog cannot be read: catalog facts only ever add to what a
    caller knows, so a broken catalog must not break routing."""
    try:
        return Catalog.shared().find(name)
    except Exception:  # noqa: BLE001 - a broken shipped catalog: no facts, not a failure
        return None


def shared_match(name: str, known: Sequence[str]) -> str | None:
    """`Catalog.shared().match(name, known)`; only the same name when the shipped catalog cannot
    be read."""
    try:
        catalog = Catalog.shared()
    except Exception:  # noqa: BLE001 - a broken shipped catalog: names only match themselves
        return name if name in known else None
    return catalog.match(name, known)
