"""Where each candidate model is called: `Endpoints` maps a model (by its name, its catalog id or
its provider) to an OpenAI-compatible `Endpoint` and the name the upstream knows it by.

By default every model is called at OpenRouter, with the request's `model` set to the catalog
id (OpenRouter's ids). Any candidate can be sent elsewhere by its name, and any provider (the
catalog's `provider`, else the part of the name before "/") by its provider name; a model's own
entry wins over its provider's, which wins over the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..catalog import Catalog, ModelCard
from ..client import Endpoint
from ..errors import InvalidRequestError

__all__ = ["EndpointTarget", "Endpoints", "shared_endpoints"]


@dataclass(frozen=True)
class EndpointTarget:
    """Where one candidate is called: the endpoint, the name sent as the request's `model`, and
    which rule chose them (`via`: "model", "provider" or "default")."""

    endpoint: Endpoint
    upstream_model: str
    via: Literal["model", "provider", "default"]
    provider: str | None = None
    card: ModelCard | None = None


class Endpoints:
    """Which OpenAI-compatible endpoint each candidate model is called at, and under what name.

    Args:
        endpoints: `{key: Endpoint}`, where a key is a candidate's name (or its catalog id) or a
            provider ("openai", "anthropic", ...: the catalog's provider, else the part of the
            name before "/"). A model's own entry wins over its provider's, which wins over
            `default`.
        default: where every other model is called; OpenRouter (`OPENROUTER_API_KEY`) if None.
        model_names: `{candidate name: name the upstream knows it by}`, for endpoints that name
            models their own way (vLLM, Ollama, a company gateway). Without an entry the
            request names the catalog id (OpenRouter's id, e.g. "openai/gpt-4o-mini-2024-07-18"),
            or the candidate's own name when the catalog does not know it; at an endpoint chosen
            by provider the "provider/" prefix is dropped ("gpt-4o-mini-2024-07-18" for OpenAI's
            own API).
        catalog: the catalog that maps names to ids, providers and list prices
            (`Catalog.default()` if None).
    """

    def __init__(
        self,
        endpoints: Mapping[str, Endpoint | Mapping[str, Any]] | None = None,
        *,
        default: Endpoint | Mapping[str, Any] | None = None,
        model_names: Mapping[str, str] | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        if endpoints is not None and not isinstance(endpoints, Mapping):
            raise InvalidRequestError(
                "endpoints must be a mapping {model or provider name: Endpoint(...)}, "
                f"not {type(endpoints).__name__}"
            )
        if default is None:
            default = Endpoint()
        self.default = _endpoint(default, "default")
        self.by_key: dict[str, Endpoint] = {
            _key(k): _endpoint(v, k) for k, v in (endpoints or {}).items()
        }
        names = dict(model_names or {})
        bad = [k for k, v in names.items() if not (isinstance(v, str) and v.strip())]
        if bad:
            raise InvalidRequestError(f"model_names must map to non-empty names; check {bad}")
        self.model_names: dict[str, str] = {_key(k): v.strip() for k, v in names.items()}
        self.catalog = catalog
        self._targets: dict[str, EndpointTarget] = {}

    def __repr__(self) -> str:
        # Base URLs only: an Endpoint's key is a SecretStr, and its headers may hold credentials.
        entries = ", ".join(f"{k!r}: {e.base_url!r}" for k, e in self.by_key.items())
        return f"Endpoints(default={self.default.base_url!r}, {{{entries}}})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_endpoints, (self.by_key, self.default, self.model_names, self.catalog))

    def merged(
        self, other: Endpoints | Mapping[str, Endpoint | Mapping[str, Any]] | None
    ) -> Endpoints:
        """These endpoints with `other`'s entries (and, if `other` is an `Endpoints`, its default,
        names and catalog) laid over them."""
        if other is None:
            return self
        if isinstance(other, Endpoints):
            return Endpoints(
                {**self.by_key, **other.by_key}, default=other.default,
                model_names={**self.model_names, **other.model_names},
                catalog=other.catalog if other.catalog is not None else self.catalog,
            )
        return Endpoints(
            {**self.by_key, **other}, default=self.default, model_names=self.model_names,
            catalog=self.catalog,
        )

    def card(self, model: str) -> ModelCard | None:
        """The catalog card of `model`, or None when the catalog does not know the name."""
        catalog = self.catalog if self.catalog is not None else Catalog.shared()
        return catalog.find(model)  # None also for an ambiguous bare name: better unknown than wrong

    def target(self, model: str) -> EndpointTarget:
        """Where `model` is called and under which name."""
        found = self._targets.get(model)
        if found is None:
            found = self._targets[model] = self._resolve(model)
        return found

    def _resolve(self, model: str) -> EndpointTarget:
        card = self.card(model)
        full = card.id if card is not None else model
        if card is not None:
            provider: str | None = card.provider
        else:
            provider = model.split("/", 1)[0] if "/" in model else None
        endpoint: Endpoint | None = None
        via: Literal["model", "provider", "default"] = "default"
        for name in (model, full):
            if _key(name) in self.by_key:
                endpoint, via = self.by_key[_key(name)], "model"
                break
        if endpoint is None and provider is not None and _key(provider) in self.by_key:
            endpoint, via = self.by_key[_key(provider)], "provider"
        if endpoint is None:
            endpoint = self.default
        upstream = self.model_names.get(_key(model)) or self.model_names.get(_key(full))
        if upstream is None:
            upstream = full
            if via == "provider" and provider and upstream.lower().startswith(provider.lower() + "/"):
                upstream = upstream[len(provider) + 1:]
        return EndpointTarget(endpoint, upstream, via, provider, card)


def _key(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequestError(f"endpoint keys are model or provider names, not {name!r}")
    return name.strip().lower()


def _endpoint(value: Any, key: str) -> Endpoint:
    if isinstance(value, Endpoint):
        return value
    if isinstance(value, Mapping):
        return Endpoint(**value)
    raise InvalidRequestError(
        f"the endpoint for {key!r} must be an Endpoint(base_url=..., api_key_env=...), "
        f"not {type(value).__name__}"
    )


def _rebuild_endpoints(
    by_key: dict[str, Endpoint], default: Endpoint, names: dict[str, str], catalog: Any
) -> Endpoints:
    return Endpoints(by_key, default=default, model_names=names, catalog=catalog)



# --- what a routed call returns --------------------------------------------------------------


_shared: Endpoints | None = None


def shared_endpoints() -> Endpoints:
    """The endpoints of routers given none: OpenRouter for every model."""
    global _shared
    if _shared is None:
        _shared = Endpoints()
    return _shared
