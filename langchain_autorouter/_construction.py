"""Building a `ChatAutoRouter` from what it is given: the keyword arguments it takes, its
candidates keyed by router model name (or built through OpenRouter) and stripped of their
own retries, and a stable id of its router for LangChain's cache keys."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, SecretStr

from autorouter.calls import adapter_support
from autorouter.calls.adapter_support import (
    check_candidate_keys,
    no_candidates_message,
    openrouter_api_key,
    router_models,
)
from autorouter.catalog import shared_card
from langchain_autorouter._candidates import model_name_of, without_own_retries

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"

SYNONYMS = {"api_base": "base_url", "openai_api_base": "base_url", "openai_api_key": "api_key"}
"""Other frameworks' names for settings `ChatAutoRouter` takes under LangChain's names, for
the message of the TypeError they raise (LlamaIndex's OpenAI LLMs say `api_base`)."""

NO_CANDIDATES = no_candidates_message("chat model")


@functools.lru_cache(maxsize=8)
def accepted_names(cls: type[BaseModel]) -> frozenset[str]:
    """The keyword arguments `cls(...)` takes: its fields, by name and by alias."""
    names = set(cls.model_fields)
    names |= {f.alias for f in cls.model_fields.values() if f.alias}
    return frozenset(names)


def candidates_for(router: Any, data: Mapping[str, Any]) -> Any:
    """The `candidates` of the constructor's arguments `data` (a mapping by router model
    name, or a list of chat models), keyed by router model name and without retries of
    their own (`without_own_retries`); none given: one ChatOpenAI per router model through
    OpenRouter, from the settings in `data`."""
    known = router_models(router)
    candidates = data.get("candidates")
    if candidates is None:
        return openrouter_candidates(router, data)
    if isinstance(candidates, Mapping):
        check_candidate_keys(candidates, known, "chat model")
        if not candidates:
            raise ValueError(NO_CANDIDATES)
        # Non-models are left for pydantic to refuse with its own message.
        return {
            k: without_own_retries(m, k) if isinstance(m, BaseChatModel) else m
            for k, m in candidates.items()
        }
    if isinstance(candidates, Sequence) and not isinstance(candidates, str):
        by_name = candidates_by_name(list(candidates), known)
        return {k: without_own_retries(m, k) for k, m in by_name.items()}
    return candidates


def candidates_by_name(models: list[Any], known: list[str]) -> dict[str, Any]:
    """Key each chat model by the router model it is, from its own model name."""
    if not models:
        raise ValueError(NO_CANDIDATES)
    return adapter_support.candidates_by_name(models, known, model_name_of, "chat model")


def openrouter_candidates(router: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """One ChatOpenAI per router model through an OpenAI-compatible endpoint (OpenRouter)."""
    key = openrouter_api_key(data.get("api_key", data.get("openrouter_api_key")), "chat model")
    try:  # optional: only candidates built through OpenRouter need langchain-openai
        from langchain_openai import ChatOpenAI
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "building candidates through OpenRouter needs langchain-openai: "
            "pip install 'autorouter[langchain]'"
        ) from e
    base_url = data.get("base_url", data.get("openrouter_base_url")) or OPENROUTER_BASE_URL
    settings: dict[str, Any] = {}
    for name, alias in (("temperature", None), ("max_tokens", None), ("timeout", "request_timeout")):
        value = data.get(name, data.get(alias) if alias else None)
        if value is not None:
            settings[name] = value
    out = {}
    for name in router_models(router):
        card = shared_card(name)
        model_id = getattr(card, "id", None) or name
        out[name] = ChatOpenAI(
            model=model_id,
            base_url=base_url,
            api_key=key if isinstance(key, SecretStr) else SecretStr(str(key)),
            max_retries=0,  # autorouter's policy retries, then falls back to the next model
            stream_usage=True,
            default_headers={"X-Title": "autorouter"},
            **settings,
        )
    return out


def router_fingerprint(router: Any) -> str:
    """A short stable id of a fitted router (its models and prototypes), for cache keys."""
    digest = hashlib.sha1(json.dumps(list(getattr(router, "models_", []))).encode())
    centroids = getattr(getattr(router, "prototypes_", None), "centroids", None)
    if centroids is not None and hasattr(centroids, "tobytes"):
        digest.update(centroids.tobytes())
    return f"{type(router).__name__}:{digest.hexdigest()[:16]}"
