"""Helpers of the LlamaIndex adapter tests (fixtures are in conftest.py)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "core"))  # synthetic.py
import autorouter  # noqa: E402
from autorouter.reliability import RetryPolicy  # noqa: E402
from openai_server import OpenAIServer  # noqa: E402
from synthetic import MODELS, hash_embed, write_jsonl  # noqa: E402

__all__ = [
    "CATALOG_NAMES", "CHAT_PROMPT", "CODE_PROMPT", "FAST_POLICY", "MODELS", "ScriptedRouter",
    "fit_router", "hash_embed", "named", "openai_like",
]

FAST_POLICY = RetryPolicy(base_delay=0.0, jitter=False, total_budget_s=20.0)
"""The default policy (2 tries per model, then the next model) without the waits."""

CATALOG_NAMES = {
    "big": "openai/gpt-4o-2024-08-06",
    "coder": "openai/gpt-4o-mini-2024-07-18",
    "tiny": "meta-llama/llama-3.1-8b-instruct",
}
"""The synthetic models renamed to catalog ids, for the tests of names, aliases and prices."""

CODE_PROMPT = "write a python function to sort 3 lists"
CHAT_PROMPT = "hello there friend number 7"


def fit_router(rows: list[dict[str, Any]]) -> autorouter.Router:
    with tempfile.TemporaryDirectory() as tmp:
        data = write_jsonl(rows, Path(tmp) / "train.jsonl")
        return autorouter.Router(embedder=hash_embed).fit(autorouter.load_dataset(data))


class ScriptedRouter:
    """A fitted router whose tradeoff changes from call to call (0 = `big`, 1 = the cheapest
    model that can serve the call), to show that an agent run stays on its first model."""

    def __init__(self, router: autorouter.Router, tradeoffs: list[float]) -> None:
        self._router = router
        self.tradeoffs = list(tradeoffs)
        self.decisions: list[Any] = []

    @property
    def models_(self) -> list[str]:
        return self._router.models_

    def check_fitted(self) -> ScriptedRouter:
        self._router.check_fitted()
        return self

    def _next(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs = dict(kwargs)
        if self.tradeoffs:
            kwargs["tradeoff"] = self.tradeoffs.pop(0)
        return kwargs

    def route(self, prompt: Any, **kwargs: Any) -> Any:
        decision = self._router.route(prompt, **self._next(kwargs))
        self.decisions.append(decision)
        return decision

    async def aroute(self, prompt: Any, **kwargs: Any) -> Any:
        decision = await self._router.aroute(prompt, **self._next(kwargs))
        self.decisions.append(decision)
        return decision


def openai_like(server: OpenAIServer, name: str, **kwargs: Any) -> Any:
    """A real `OpenAILike` for model `name` on the test server; autorouter's policy retries."""
    from llama_index.llms.openai_like import OpenAILike

    params: dict[str, Any] = {
        "model": name,
        "api_base": server.base_url,
        "api_key": "test",
        "max_retries": 0,
        "timeout": 5.0,
        "is_chat_model": True,
        "is_function_calling_model": True,
        "context_window": 16_000,
    }
    params.update(kwargs)
    return OpenAILike(**params)


def named(events: list[Any], name: str) -> list[Any]:
    return [e for e in events if e.class_name() == name]
