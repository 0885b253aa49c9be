"""One routing report: the gateway, `ChatAutoRouter` and `AutoRouterLLM` answer the same prompt,
with the same router and the same upstream (the loopback OpenAI-compatible server), and report
it under the same schema (`autorouter.decision.routing_report`): the same top-level keys, the
same keys in each ranking entry (the adapters' deprecated aliases `predicted_quality` and
`predicted_cost_usd` aside, which must equal the fields they alias) and the same values."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("starlette", reason="needs the serve extra")
pytest.importorskip("langchain_openai", reason="needs the langchain extra")
pytest.importorskip("llama_index.llms.openai_like", reason="needs the llamaindex extra")

sys.path.insert(0, str(Path(__file__).parent / "core"))  # synthetic.py
import autorouter
from autorouter.client import Endpoint
from autorouter.reliability import RetryPolicy
from autorouter.server import create_app
from gateway_server import BackgroundServer
from openai_server import OpenAIServer
from synthetic import MODELS, hash_embed, make_rows, write_jsonl

PROMPT = "write a python function to sort 3 lists"
PRICES = {"big": (10.0, 30.0), "coder": (1.0, 2.0), "tiny": (0.1, 0.2)}
POLICY = RetryPolicy(base_delay=0.0, jitter=False, total_budget_s=20.0)
ALIASES = {"predicted_quality": "quality", "predicted_cost_usd": "cost_usd"}  # deprecated, adapters only
# Values every surface must report alike for this call (attempts carry timings, so only
# their models are compared).
SAME_VALUES = (
    "model", "chosen", "routed", "forced", "sticky", "fell_back", "fallback_from", "tradeoff",
    "max_cost", "max_latency_s", "explanation", "family", "difficulty", "cost_usd", "cost_source",
)


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory, openai_server_session: OpenAIServer) -> autorouter.Router:
    data = write_jsonl(make_rows(150), tmp_path_factory.mktemp("report") / "train.jsonl")
    r = autorouter.Router(embedder=hash_embed, prices=PRICES).fit(autorouter.load_dataset(data))
    r.set_endpoints(default=Endpoint(base_url=openai_server_session.base_url, api_key="test", timeout=5.0))
    r.retry_policy = POLICY
    return r


def gateway_report(router: autorouter.Router) -> dict[str, Any]:
    with BackgroundServer(create_app(copy.deepcopy(router))) as server:
        resp = httpx.post(f"{server.base_url}/chat/completions", timeout=20, json={
            "model": "auto", "messages": [{"role": "user", "content": PROMPT}], "tradeoff": 0.5,
        })
    resp.raise_for_status()
    report: dict[str, Any] = resp.json()["autorouter"]
    return report


def langchain_report(router: autorouter.Router, server: OpenAIServer) -> dict[str, Any]:
    import openai
    from langchain_openai import ChatOpenAI

    from langchain_autorouter import ChatAutoRouter

    candidates = {
        m: ChatOpenAI(model=m, base_url=server.base_url, api_key="test", max_retries=0,
                      timeout=openai.Timeout(5.0))
        for m in MODELS
    }
    llm = ChatAutoRouter(router=router, candidates=candidates, retry_policy=POLICY, tradeoff=0.5)
    report: dict[str, Any] = llm.invoke(PROMPT).response_metadata["autorouter"]
    return report


def llamaindex_report(router: autorouter.Router, server: OpenAIServer) -> dict[str, Any]:
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    from llamaindex_autorouter import AutoRouterLLM

    candidates = {
        m: OpenAILike(model=m, api_base=server.base_url, api_key="test", max_retries=0, timeout=5.0,
                      is_chat_model=True, is_function_calling_model=True, context_window=16_000)
        for m in MODELS
    }
    llm = AutoRouterLLM(router=router, candidates=candidates, retry_policy=POLICY, tradeoff=0.5)
    response = llm.chat([ChatMessage(role="user", content=PROMPT)])
    report: dict[str, Any] = response.additional_kwargs["autorouter"]
    return report


def test_gateway_and_adapters_report_one_schema(router: autorouter.Router, openai_server: OpenAIServer) -> None:
    reports = {
        "gateway": gateway_report(router),
        "langchain": langchain_report(router, openai_server),
        "llamaindex": llamaindex_report(router, openai_server),
    }
    gateway = reports["gateway"]
    for surface, report in reports.items():
        json.dumps(report)  # plain values
        assert set(report) == set(gateway), (
            f"{surface} vs gateway: {sorted(set(report) ^ set(gateway))}"
        )
    assert set(SAME_VALUES) < set(gateway)
    for surface, report in reports.items():
        for key in SAME_VALUES:
            assert report[key] == gateway[key], (surface, key)
        assert [a["model"] for a in report["attempts"]] == [a["model"] for a in gateway["attempts"]]
        assert [r["model"] for r in report["ranking"]] == [r["model"] for r in gateway["ranking"]]
        for entry, expected in zip(report["ranking"], gateway["ranking"], strict=True):
            fields = {k: v for k, v in entry.items() if k not in ALIASES}
            assert set(fields) == set(expected), (
                f"{surface} ranking entry vs gateway: {sorted(set(fields) ^ set(expected))}"
            )
            assert fields["quality"] == pytest.approx(expected["quality"])
            assert fields["cost_usd"] == pytest.approx(expected["cost_usd"])
            assert fields == pytest.approx(expected)
            if surface != "gateway":  # the deprecated aliases, for one release
                assert {alias: entry[alias] for alias in ALIASES} == {
                    alias: entry[field] for alias, field in ALIASES.items()
                }
    assert gateway["routed"] is True and gateway["forced"] is False and gateway["cost_source"] == "list_price"
    assert gateway["cost_usd"] is not None and gateway["fallback_from"] == [] and gateway["fell_back"] is False
