"""Helpers of the LangChain adapter tests: a router fitted on synthetic data, and real
`ChatOpenAI` clients talking to the shared OpenAI-compatible test server
(tests/openai_server.py).

The router's models are the synthetic data's: `big` (right on everything, dear), `coder`
(right on code, cheap) and `tiny` (right on chit-chat, cheapest), embedded with the core
tests' deterministic bag-of-hashed-words embedder, so routing is offline and repeatable.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "core"))  # synthetic.py
import autorouter
from autorouter.reliability import RetryPolicy
from openai_server import OpenAIServer
from synthetic import MODELS, hash_embed, make_rows, write_jsonl

__all__ = [
    "CATALOG_NAMES",
    "FAST_POLICY",
    "MODELS",
    "chat_openai",
    "fit_catalog_router",
    "openai_candidates",
    "shared_router",
]

FAST_POLICY = RetryPolicy(base_delay=0.0, jitter=False, total_budget_s=20.0)
"""The default policy (2 tries per model, then the next model) without the waits."""


def fit_router() -> autorouter.Router:
    with tempfile.TemporaryDirectory() as tmp:
        data = write_jsonl(make_rows(150), Path(tmp) / "train.jsonl")
        return autorouter.Router(embedder=hash_embed).fit(autorouter.load_dataset(data))


CATALOG_NAMES = {
    "big": "openai/gpt-4o-2024-08-06",
    "coder": "openai/gpt-4o-mini-2024-07-18",
    "tiny": "meta-llama/llama-3.1-8b-instruct",
}
"""The synthetic models renamed to catalog ids, for the tests of names, aliases and prices."""


def fit_catalog_router() -> autorouter.Router:
    """The synthetic router with its models named by catalog ids (CATALOG_NAMES)."""
    rows = make_rows(150)
    for row in rows:
        for key in ("scores", "cost_usd"):
            row[key] = {CATALOG_NAMES[m]: v for m, v in row[key].items()}
    with tempfile.TemporaryDirectory() as tmp:
        data = write_jsonl(rows, Path(tmp) / "train.jsonl")
        return autorouter.Router(embedder=hash_embed).fit(autorouter.load_dataset(data))


_ROUTER: autorouter.Router | None = None


def shared_router() -> autorouter.Router:
    """One fitted router per test session (fitting takes a moment; routing never mutates it)."""
    global _ROUTER
    if _ROUTER is None:
        _ROUTER = fit_router()
    return _ROUTER


def chat_openai(server: OpenAIServer, name: str, **kwargs: Any) -> Any:
    """A real ChatOpenAI for router model `name` on the test server; the core policy retries.

    Its timeout is an `openai.Timeout` object on purpose: with a plain number, langchain-openai
    shares one cached async HTTP client per base URL between instances, and a client that
    served one test's event loop fails on the next test's ("Event loop is closed") when a
    test calls the model directly. (The router calls a copy per event loop, with a pool of
    its own: test_candidates_and_arguments.py builds candidates without this precaution.)
    With a Timeout object each instance builds its own clients.
    """
    import openai
    from langchain_openai import ChatOpenAI

    params: dict[str, Any] = {
        "model": name,
        "base_url": server.base_url,
        "api_key": "test",
        "max_retries": 0,
        "stream_usage": True,
        "timeout": openai.Timeout(5.0),
    }
    params.update(kwargs)
    return ChatOpenAI(**params)


def openai_candidates(server: OpenAIServer, names: list[str] | None = None) -> dict[str, Any]:
    return {name: chat_openai(server, name) for name in (names or MODELS)}
