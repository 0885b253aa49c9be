"""Tests for the model catalog: shipped contents, name resolution, run-time changes, files."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import re
import statistics
from pathlib import Path

import pytest
from pydantic import ValidationError

from autorouter import cards
from autorouter import catalog as catalog_module
from autorouter.catalog import BENCHMARKS, Capabilities, Catalog, ModelCard
from autorouter.errors import CatalogError, InvalidRequestError, UnknownModelError
from autorouter.types import ModelPrice

ROUTED = {
    "openai/gpt-4o-2024-08-06",
    "openai/gpt-4o-2024-05-13",
    "openai/gpt-4o-mini-2024-07-18",
    "openai/chatgpt-4o-latest",
    "openai/o1-preview-2024-09-12",
    "openai/o1-mini-2024-09-12",
    "anthropic/claude-3.5-sonnet",
    "anthropic/claude-3.5-haiku",
    "anthropic/claude-3-opus",
    "anthropic/claude-2.1",
    "google/gemini-pro-1.5",
    "google/gemini-flash-1.5",
    "mistralai/mistral-large-2407",
    "mistralai/mistral-nemo",
    "deepseek/deepseek-r1",
    "meta-llama/llama-3.1-70b-instruct",
    "meta-llama/llama-3.1-405b-instruct",
    "mistralai/mixtral-8x22b-instruct",
    "cohere/command-r-plus",
    "cohere/command-r",
}

# The exact model names used by the datasets in ../shared/data (scores keys and models.json).
DATASET_MODELS = {
    "routerbench_subset": [
        "gpt-4-1106-preview",
        "gpt-3.5-turbo-1106",
        "claude-v1",
        "claude-v2",
        "claude-instant-v1",
        "meta/llama-2-70b-chat",
        "mistralai/mixtral-8x7b-chat",
        "mistralai/mistral-7b-chat",
        "zero-one-ai/Yi-34B-Chat",
        "WizardLM/WizardLM-13B-V1.2",
        "meta/code-llama-instruct-34b-chat",
    ],
    "llmrouter_9models": [
        "codegemma-7b",
        "gemma-2-9b-it",
        "llama-3.1-8b-instruct",
        "llama-3.1-nemotron-51b-instruct",
        "llama-3.3-nemotron-super-49b-v1",
        "llama3-chatqa-1.5-70b",
        "llama3-chatqa-1.5-8b",
        "mistral-7b-instruct-v0.3",
        "qwen2.5-7b-instruct",
    ],
    "routerdc_7models": [
        "HuggingFaceH4/zephyr-7b-beta",
        "cognitivecomputations/dolphin-2.6-mistral-7b",
        "cognitivecomputations/dolphin-2.9-llama3-8b",
        "itpossible/Chinese-Mistral-7B-v0.1",
        "meta-llama/Meta-Llama-3-8B",
        "meta-math/MetaMath-Mistral-7B",
        "mistralai/Mistral-7B-v0.1",
    ],
    "routellm_gpt4_vs_mixtral": ["gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"],
}
ALL_DATASET_NAMES = sorted({name for names in DATASET_MODELS.values() for name in names})
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
IMPORT_LIVEBENCH = Path(__file__).resolve().parents[2] / "scripts" / "import_livebench.py"
LIVEBENCH_KEY = re.compile(
    r"^(LiveBench-\d{4}-\d{2}-\d{2})/"
    r"(Reasoning|Coding|Agentic Coding|Mathematics|Data Analysis|Language|IF)(/[A-Za-z0-9_]+)?$"
)
# Routed models LiveBench has, with the LiveBench row each one is (claude-2.1 is not in it).
LIVEBENCH_ROUTED = {
    "openai/gpt-4o-2024-08-06": "gpt-4o-2024-08-06",
    "openai/gpt-4o-2024-05-13": "gpt-4o-2024-05-13",
    "openai/gpt-4o-mini-2024-07-18": "gpt-4o-mini-2024-07-18",
    "openai/chatgpt-4o-latest": "chatgpt-4o-latest",
    "openai/o1-preview-2024-09-12": "o1-preview-2024-09-12",
    "openai/o1-mini-2024-09-12": "o1-mini-2024-09-12",
    "anthropic/claude-3.5-sonnet": "claude-3-5-sonnet-20241022",
    "anthropic/claude-3.5-haiku": "claude-3-5-haiku-20241022",
    "anthropic/claude-3-opus": "claude-3-opus-20240229",
    "google/gemini-pro-1.5": "gemini-1.5-pro-002",
    "google/gemini-flash-1.5": "gemini-1.5-flash-002",
    "mistralai/mistral-large-2407": "mistral-large-2407",
    "mistralai/mistral-nemo": "open-mistral-nemo",
    "deepseek/deepseek-r1": "deepseek-r1",
    "meta-llama/llama-3.1-70b-instruct": "meta-llama-3.1-70b-instruct-turbo",
    "meta-llama/llama-3.1-405b-instruct": "meta-llama-3.1-405b-instruct-turbo",
    "mistralai/mixtral-8x22b-instruct": "mixtral-8x22b-instruct-v0.1",
    "cohere/command-r-plus": "command-r-plus",
    "cohere/command-r": "command-r",
}


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return Catalog.default()


def _entry(**fields) -> dict:
    base = {
        "id": "acme/widget-1",
        "input_usd_per_1m": 1.0,
        "output_usd_per_1m": 2.0,
        "context_window": 8000,
    }
    return {**base, **fields}


def _write(path: Path, document) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


# ---- shipped contents ---------------------------------------------------------------------------


def test_routed_set_is_exactly_the_openrouter_auto_list(shipped):
    assert {card.id for card in shipped.routed()} == ROUTED


@pytest.mark.parametrize("model_id", sorted(ROUTED))
def test_routed_models_have_prices_context_and_capabilities(shipped, model_id):
    card = shipped.get(model_id)
    assert card.id == model_id and card.routed_by_default
    assert card.input_usd_per_1m is not None and card.input_usd_per_1m > 0
    assert card.output_usd_per_1m is not None and card.output_usd_per_1m > 0
    assert card.context_window is not None and card.context_window >= 4096
    assert isinstance(card.capabilities, Capabilities)
    assert isinstance(card.price, ModelPrice)
    assert card.facts.benchmarks or card.facts.arena_elo, "a routed model needs some public fact"


def test_known_capabilities_of_routed_models(shipped):
    assert shipped.get("gpt-4o").capabilities.images
    assert shipped.get("o1-mini").capabilities.reasoning
    assert not shipped.get("o1-mini").capabilities.tools
    assert not shipped.get("deepseek/deepseek-r1").capabilities.images
    assert shipped.get("anthropic/claude-3.5-sonnet").capabilities.tools
    assert not shipped.get("anthropic/claude-2.1").capabilities.images


def test_every_figure_has_a_source_with_a_date(shipped):
    for card in shipped:
        facts = card.facts
        needed = []
        if card.input_usd_per_1m is not None or card.output_usd_per_1m is not None:
            needed.append("price")
        if card.context_window is not None:
            needed.append("context_window")
        if card.max_output_tokens is not None:
            needed.append("max_output_tokens")
        if facts.arena_elo is not None:
            needed.append("arena_elo")
        needed.extend(
            field
            for field in ("ttft_s", "output_tokens_per_s", "reasoning_tokens")
            if getattr(card, field) is not None
        )
        needed.extend(facts.benchmarks)
        for key in needed:
            source = facts.source_for(key)
            assert source is not None, f"{card.id}: no source for {key}"
            assert source.source and source.as_of[:2] in ("19", "20"), f"{card.id}: {key}"


def test_shipped_scores_are_fractions_of_known_families(shipped):
    for card in shipped:
        for name, score in card.facts.benchmarks.items():
            assert name in BENCHMARKS or LIVEBENCH_KEY.match(name), (
                f"{card.id}: unexpected benchmark {name}"
            )
            assert 0.0 <= score <= 1.0
        if card.facts.arena_elo is not None:
            assert 800 < card.facts.arena_elo < 1600


def test_models_without_a_public_price_say_so(shipped):
    for card in shipped:
        if card.price is None:
            assert card.notes and "price" in card.notes, card.id


@pytest.mark.parametrize("model_id", sorted(LIVEBENCH_ROUTED))
def test_routed_models_livebench_covers_have_livebench_figures_with_their_source(
    shipped, model_id
):
    facts = shipped.get(model_id).facts
    keys = [key for key in facts.benchmarks if key.startswith("LiveBench-")]
    assert len(keys) >= 6, f"{model_id}: no LiveBench release"
    for key in keys:
        release = LIVEBENCH_KEY.match(key).group(1)
        source = facts.source_for(key)
        assert source is facts.sources[release], key
        assert source.as_of == release.removeprefix("LiveBench-")
        assert source.url == "https://github.com/LiveBench/livebench.github.io"
        assert "4bf96c8d9dc9b06c17d82dc76a54429975c2b2c2" in source.note
        assert "not on one scale" in source.note
        assert f"table {release.removeprefix('LiveBench-').replace('-', '_')} " in source.source
        assert f"LiveBench model '{LIVEBENCH_ROUTED[model_id]}" in source.source, key
    assert {LIVEBENCH_KEY.match(key).group(1) for key in keys} == {
        key for key in facts.sources if key.startswith("LiveBench-")
    }  # one source per release, no orphan


def test_livebench_figures_of_known_rows(shipped):
    gpt4o = shipped.get("openai/gpt-4o-2024-08-06").facts.benchmarks
    # table_2024_08_31.csv: AMPS_Hard 53.0, math_comp 50.0, olympiad 41.632.
    assert gpt4o["LiveBench-2024-08-31/Mathematics"] == pytest.approx(0.4821)
    # web_of_lies_v2 66.0, zebra_puzzle 42.0, spatial 56.0.
    assert gpt4o["LiveBench-2024-08-31/Reasoning"] == pytest.approx(0.5467)
    assert "LiveBench-2024-08-31/Reasoning" in shipped.get("o1-mini").facts.benchmarks
    sonnet = shipped.get("anthropic/claude-3.5-sonnet").facts
    assert "LiveBench-2024-06-24/Coding" not in sonnet.benchmarks  # that table has only 20240620
    assert "LiveBench-2024-08-31/Coding" in sonnet.benchmarks
    assert "'claude-3-5-sonnet-20241022'" in sonnet.source_for("LiveBench-2024-08-31/Coding").source
    assert not any(k.startswith("LiveBench-") for k in shipped.get("claude-2.1").facts.benchmarks)


def test_shipped_livebench_figures_are_what_the_import_script_computes(shipped):
    folder = SHARED_DATA / "livebench_tables"
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    spec = importlib.util.spec_from_file_location("import_livebench", IMPORT_LIVEBENCH)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    expected: dict[str, dict[str, float]] = {}
    for release, table, categories_file in script.releases(folder):
        date = script.release_date(release)
        categories = json.loads(categories_file.read_text(encoding="utf-8"))
        with table.open(encoding="utf-8", newline="") as rows:
            by_name = {row["model"]: row for row in csv.DictReader(rows)}
        order = list(script.LIVEBENCH_TO_CATALOG)
        done: set[str] = set()
        for name in sorted(set(by_name) & set(order), key=order.index):
            model_id = script.LIVEBENCH_TO_CATALOG[name]
            if model_id in done:
                continue
            done.add(model_id)
            for key, score in script.livebench_scores(by_name[name], categories).items():
                expected.setdefault(model_id, {})[f"LiveBench-{date}/{key}"] = score
    shipped_scores = {
        card.id: {k: v for k, v in card.facts.benchmarks.items() if k.startswith("LiveBench-")}
        for card in shipped
    }
    assert {k: v for k, v in shipped_scores.items() if v} == expected
    assert set(LIVEBENCH_ROUTED) <= set(expected)
    for model_id in ROUTED - set(LIVEBENCH_ROUTED):
        assert model_id not in expected


def test_source_for_resolves_exact_key_release_then_shared_source():
    sources = {
        "benchmarks": {"source": "vendor table", "as_of": "2024"},
        "MMLU": {"source": "own MMLU source", "as_of": "2024-05"},
        "LiveBench-2024-08-31": {"source": "LiveBench table 2024_08_31", "as_of": "2024-08-31"},
        "LiveBench-2024-08-31/Coding": {"source": "a corrected coding figure", "as_of": "2025"},
        "speed": {"source": "tracker", "as_of": "2025"},
    }
    benchmarks = {
        "MMLU": 0.8,
        "GSM8K": 0.9,
        "LiveBench-2024-08-31/Mathematics": 0.5,
        "LiveBench-2024-08-31/Coding": 0.4,
        "LiveBench-2024-11-25/Mathematics": 0.45,
    }
    card = Catalog().add(
        _entry(ttft_s=0.5, facts={"benchmarks": benchmarks, "sources": sources})
    )
    facts = card.facts
    release = facts.source_for("LiveBench-2024-08-31/Mathematics")
    assert release.source == "LiveBench table 2024_08_31"
    assert facts.source_for("LiveBench-2024-08-31/Coding").source == "a corrected coding figure"
    # No source of its own release: the shared benchmarks source is the last resort.
    assert facts.source_for("LiveBench-2024-11-25/Mathematics").source == "vendor table"
    assert facts.source_for("MMLU").source == "own MMLU source"
    assert facts.source_for("GSM8K").source == "vendor table"
    assert facts.source_for("ttft_s").source == "tracker"
    assert facts.source_for("reasoning_tokens").source == "tracker"
    assert facts.source_for("HumanEval") is None and facts.source_for("price") is None
    shipped_facts = Catalog.default().get("gpt-4o-2024-08-06").facts
    assert (
        shipped_facts.source_for("LiveBench-2024-08-31/Mathematics")
        is shipped_facts.sources["LiveBench-2024-08-31"]
    )


@pytest.mark.parametrize("model_id", sorted(ROUTED))
def test_routed_models_have_speed_facts(shipped, model_id):
    card = shipped.get(model_id)
    assert card.ttft_s is not None and 0.05 < card.ttft_s < 10, card.ttft_s
    assert card.output_tokens_per_s is not None and 5 < card.output_tokens_per_s < 1000
    source = card.facts.source_for("ttft_s")
    assert source is card.facts.sources["speed"]
    assert "not re-checked against a stored copy; order of magnitude only" in source.note
    if card.capabilities.reasoning:
        assert card.reasoning_tokens is not None and card.reasoning_tokens > 0
    else:
        assert not card.reasoning_tokens


def test_speed_facts_of_known_models(shipped):
    assert shipped.get("gpt-4o-mini").ttft_s < shipped.get("claude-3-opus").ttft_s
    assert shipped.get("gemini-1.5-flash").output_tokens_per_s > shipped.get(
        "claude-3-opus"
    ).output_tokens_per_s
    for name in ("o1-preview", "o1-mini", "deepseek-r1"):
        assert shipped.get(name).reasoning_tokens >= 1000, name
    assert shipped.get("gpt-4o").reasoning_tokens == 0


def test_shipped_file_is_plain_json_inside_the_package():
    from importlib import resources

    text = (
        resources.files("autorouter").joinpath("data", "catalog.json").read_text(encoding="utf-8")
    )
    document = json.loads(text)
    assert document["schema_version"] == 1 and len(document["models"]) >= 20


# ---- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_DATASET_NAMES)
def test_every_dataset_model_name_is_listed_and_resolves(shipped, name):
    card = shipped.get(name)
    assert name == card.id or name in card.aliases
    assert name in shipped


def test_dataset_names_match_the_shared_data_files(shipped):
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    for folder, expected in DATASET_MODELS.items():
        names: set[str] = set()
        for path in (SHARED_DATA / folder).glob("*.jsonl.gz"):
            with gzip.open(path, "rt", encoding="utf-8") as rows:
                for line in rows:
                    row = json.loads(line)
                    for key in ("scores", "scores_turn1"):
                        if isinstance(row.get(key), dict):
                            names.update(row[key])
        models_json = SHARED_DATA / folder / "models.json"
        if models_json.is_file():
            prices = json.loads(models_json.read_text(encoding="utf-8"))
            names.update(prices)
            for name, info in prices.items():
                card = shipped.get(name)
                assert card.input_usd_per_1m == info["input_price_usd_per_1m_tokens"]
                assert card.output_usd_per_1m == info["output_price_usd_per_1m_tokens"]
        assert names == set(expected), folder


def test_routerbench_prices_reproduce_the_datasets_real_costs(shipped):
    path = SHARED_DATA / "routerbench_subset" / "prompts_scores.jsonl.gz"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    ratios: dict[str, list[float]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as rows:
        for line in rows:
            row = json.loads(line)
            for name, real in row["cost_usd"].items():
                # ~4 characters per token; the ratio's median washes out tokenizer differences.
                estimate = shipped.call_cost_usd(
                    name, len(row["prompt"]) // 4, row["output_chars"][name] // 4
                )
                if real and estimate:
                    ratios.setdefault(name, []).append(real / estimate)
    assert set(ratios) == set(DATASET_MODELS["routerbench_subset"])
    for name, values in ratios.items():
        assert 0.9 < statistics.median(values) < 1.1, name


def test_the_llmrouter_models_json_prices_are_carried_over(shipped):
    assert shipped.get("gemma-2-9b-it").price == ModelPrice(0.1, 0.1)
    assert shipped.get("llama-3.1-nemotron-51b-instruct").price == ModelPrice(0.9, 0.9)


def test_routerdc_models_have_null_prices(shipped):
    for name in DATASET_MODELS["routerdc_7models"]:
        card = shipped.get(name)
        assert (
            card.input_usd_per_1m is None and card.output_usd_per_1m is None and card.price is None
        )


@pytest.mark.parametrize(
    ("name", "model_id"),
    [
        ("gpt-4o", "openai/gpt-4o-2024-08-06"),  # canonical choice, documented in its notes
        ("GPT-4o", "openai/gpt-4o-2024-08-06"),
        ("openai/gpt-4o", "openai/gpt-4o-2024-08-06"),
        ("gpt-4o-2024-08-06", "openai/gpt-4o-2024-08-06"),
        ("gpt-4o-2024-05-13", "openai/gpt-4o-2024-05-13"),
        ("gpt-4o-mini", "openai/gpt-4o-mini-2024-07-18"),
        ("o1-preview", "openai/o1-preview-2024-09-12"),
        ("claude-3-5-sonnet-20241022", "anthropic/claude-3.5-sonnet"),
        ("claude-3-opus", "anthropic/claude-3-opus"),  # bare model part of the id
        ("  Claude-2.1 ", "anthropic/claude-2.1"),
        ("gemini-1.5-pro", "google/gemini-pro-1.5"),
        ("deepseek-reasoner", "deepseek/deepseek-r1"),
        ("meta-llama/Meta-Llama-3.1-405B-Instruct", "meta-llama/llama-3.1-405b-instruct"),
        ("Meta-Llama-3.1-70B-Instruct", "meta-llama/llama-3.1-70b-instruct"),
        ("command-r-plus", "cohere/command-r-plus"),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", "mistralai/mixtral-8x7b-instruct"),
        ("mistralai/mixtral-8x7b-chat", "mistralai/mixtral-8x7b-instruct"),
    ],
)
def test_ids_aliases_and_bare_names_resolve(shipped, name, model_id):
    assert shipped.resolve(name) == model_id
    assert shipped.get(name).id == model_id


def test_unknown_name_raises_with_close_matches(shipped):
    with pytest.raises(UnknownModelError, match="did you mean 'gpt-4o'") as caught:
        shipped.get("gpt4o")
    assert isinstance(caught.value, KeyError)
    with pytest.raises(UnknownModelError, match="claude-3.5-sonnet"):
        shipped.resolve("claude-3.5-sonet")
    with pytest.raises(UnknownModelError, match="unknown model 'no-such-model'"):
        shipped.resolve("no-such-model")
    assert "gpt4o" not in shipped and 42 not in shipped


def test_ambiguous_bare_name_lists_the_candidates():
    catalog = Catalog([_entry(id="acme/chat"), _entry(id="other/chat")])
    with pytest.raises(UnknownModelError, match="ambiguous.*'acme/chat', 'other/chat'"):
        catalog.resolve("chat")
    assert catalog.resolve("acme/chat") == "acme/chat"


def test_iteration_length_and_ids(shipped):
    dataset_ids = {shipped.resolve(name) for name in ALL_DATASET_NAMES}
    assert len(dataset_ids) == 11 + 9 + 7  # routellm's two models are routerbench's too
    assert len(shipped) == len(shipped.ids) == len(list(shipped)) == len(ROUTED | dataset_ids)
    assert len(set(shipped.ids)) == len(shipped)
    assert all(isinstance(card, ModelCard) for card in shipped)


# ---- changes from code --------------------------------------------------------------------------


def test_add_a_model_from_a_dict():
    catalog = Catalog.default()
    card = catalog.add(
        _entry(
            aliases=["widget"], capabilities={"tools": True}, facts={"benchmarks": {"MMLU": 0.7}}
        )
    )
    assert card.provider == "acme"  # taken from the id when not given
    assert catalog.get("WIDGET") is card and catalog.resolve("widget-1") == "acme/widget-1"
    assert card.capabilities.tools and not card.capabilities.images
    assert not card.routed_by_default and card not in catalog.routed()
    assert "acme/widget-1" not in Catalog.default()  # the shipped catalog is untouched


def test_add_a_model_card():
    catalog = Catalog()
    catalog.add(ModelCard(id="acme/x", provider="acme", context_window=100))
    assert catalog.get("x").price is None and catalog.call_cost_usd("x", 10, 10) is None


def test_add_clashes_are_clear_errors():
    catalog = Catalog.default()
    with pytest.raises(
        CatalogError, match="'gpt-4o'.*already an alias of 'openai/gpt-4o-2024-08-06'"
    ):
        catalog.add(_entry(id="openai/gpt-4o-2024-11-20", aliases=["gpt-4o"]))
    with pytest.raises(CatalogError, match="already in the catalog.*replace=True"):
        catalog.add(_entry(id="anthropic/claude-2.1"))
    with pytest.raises(CatalogError, match="is the id of another model"):
        catalog.add(_entry(aliases=["anthropic/claude-2.1"]), replace=True)
    assert "openai/gpt-4o-2024-11-20" not in catalog  # a failed add leaves no trace


def test_add_with_replace_moves_the_alias_and_replaces_the_entry():
    catalog = Catalog.default()
    catalog.add(_entry(id="openai/gpt-4o-2024-11-20", aliases=["gpt-4o"]), replace=True)
    assert catalog.resolve("gpt-4o") == "openai/gpt-4o-2024-11-20"
    assert "gpt-4o" not in catalog.get("openai/gpt-4o-2024-08-06").aliases
    assert catalog.resolve("gpt-4o-2024-08-06") == "openai/gpt-4o-2024-08-06"
    catalog.add(_entry(id="anthropic/claude-2.1", input_usd_per_1m=1.0), replace=True)
    assert catalog.get("claude-2.1").input_usd_per_1m == 1.0
    assert catalog.get("claude-2.1").facts.arena_elo is None  # replaced wholesale


def test_override_a_price_and_partial_capabilities():
    catalog = Catalog.default()
    before = catalog.get("gpt-4o")
    after = catalog.override("gpt-4o", input_usd_per_1m=2.0, capabilities={"images": False})
    assert after.input_usd_per_1m == 2.0 and after.output_usd_per_1m == before.output_usd_per_1m
    assert not after.capabilities.images and after.capabilities.tools
    assert after.facts == before.facts and after.aliases == before.aliases
    assert catalog.call_cost_usd("gpt-4o", 1_000_000, 0) == pytest.approx(2.0)
    assert Catalog.default().get("gpt-4o").input_usd_per_1m == 2.5


def test_override_facts_merges_and_none_removes_a_score():
    catalog = Catalog.default()
    card = catalog.override(
        "claude-3-opus",
        facts={
            "benchmarks": {"MMLU": 0.9, "HellaSwag": None},
            "sources": {"MMLU": {"source": "me", "as_of": "2025"}},
        },
    )
    assert card.facts.benchmarks["MMLU"] == 0.9 and "HellaSwag" not in card.facts.benchmarks
    assert card.facts.benchmarks["GSM8K"] == 0.95 and card.facts.arena_elo == 1247
    assert card.facts.source_for("MMLU").source == "me"
    assert "Anthropic" in card.facts.source_for("GSM8K").source


def test_override_errors():
    catalog = Catalog.default()
    with pytest.raises(UnknownModelError):
        catalog.override("no-such-model", input_usd_per_1m=1.0)
    with pytest.raises(CatalogError, match="unknown field"):
        catalog.override("gpt-4o", price_per_token=1.0)
    with pytest.raises(CatalogError, match="names no field"):
        catalog.override("gpt-4o")
    with pytest.raises(CatalogError, match="cannot change the id"):
        catalog.override("gpt-4o", id="openai/gpt-5")
    with pytest.raises(CatalogError, match="input_usd_per_1m"):
        catalog.override("gpt-4o", input_usd_per_1m=-1)
    with pytest.raises(CatalogError, match="already an alias of"):
        catalog.override("claude-2.1", aliases=["gpt-4o"])
    assert catalog.get("gpt-4o").input_usd_per_1m == 2.5  # failed overrides change nothing


def test_speed_fields_flow_through_add_override_and_round_trip(tmp_path):
    catalog = Catalog.default()
    card = catalog.add(_entry(ttft_s=0.25, output_tokens_per_s=150, reasoning_tokens=0))
    assert (card.ttft_s, card.output_tokens_per_s, card.reasoning_tokens) == (0.25, 150.0, 0)
    speed = {"source": "me", "as_of": "2025"}
    after = catalog.override("o1-mini", reasoning_tokens=4000, facts={"sources": {"speed": speed}})
    assert after.reasoning_tokens == 4000
    assert after.ttft_s == Catalog.default().get("o1-mini").ttft_s
    assert after.facts.source_for("reasoning_tokens").source == "me"
    assert catalog.override("o1-mini", ttft_s=None).ttft_s is None  # None unsets a field
    with pytest.raises(CatalogError, match="ttft_s"):
        catalog.override("gpt-4o", ttft_s=-1)
    with pytest.raises(CatalogError, match="output_tokens_per_s"):
        catalog.override("gpt-4o", output_tokens_per_s=float("nan"))
    assert catalog.get("gpt-4o").ttft_s == Catalog.default().get("gpt-4o").ttft_s
    loaded = Catalog.from_file(catalog.to_file(tmp_path / "c.json"))
    assert loaded.get("acme/widget-1").output_tokens_per_s == 150.0
    assert loaded.get("o1-mini").reasoning_tokens == 4000


def test_remove():
    catalog = Catalog.default()
    card = catalog.remove("gpt-4o")
    assert card.id == "openai/gpt-4o-2024-08-06"
    assert "gpt-4o" not in catalog and "openai/gpt-4o-2024-08-06" not in catalog
    assert len(catalog) == len(Catalog.default()) - 1


def test_validation_rules():
    catalog = Catalog()
    cases = [
        (_entry(input_usd_per_1m=-0.1), "input_usd_per_1m"),
        (_entry(output_usd_per_1m=float("nan")), "output_usd_per_1m"),
        (_entry(context_window=0), "context_window"),
        (_entry(max_output_tokens=-5), "max_output_tokens"),
        (_entry(ttft_s=-0.5), "ttft_s"),
        (_entry(ttft_s=0), "ttft_s"),
        (_entry(ttft_s=float("nan")), "ttft_s"),
        (_entry(output_tokens_per_s=float("inf")), "output_tokens_per_s"),
        (_entry(output_tokens_per_s=0), "output_tokens_per_s"),
        (_entry(reasoning_tokens=-1), "reasoning_tokens"),
        (_entry(reasoning_tokens=2.5), "reasoning_tokens"),
        (_entry(facts={"benchmarks": {"MMLU": 86.4}}), "scores are fractions"),
        (_entry(facts={"arena_elo": -3}), "arena_elo"),
        (_entry(facts={"sources": {"price": {"source": "x", "as_of": "last year"}}}), "as_of"),
        (_entry(id="no-provider"), "provider/model"),
        (_entry(aliases=[" "]), "alias is empty"),
        (_entry(capabilities={"telepathy": True}), "telepathy"),
        (_entry(colour="red"), "colour"),
    ]
    for entry, message in cases:
        with pytest.raises(CatalogError, match=message):
            catalog.add(entry)
    assert len(catalog) == 0


# ---- cost -------------------------------------------------------------------------------------


def test_call_cost_arithmetic(shipped):
    # gpt-4o-2024-08-06: $2.50 in, $10 out per 1M tokens.
    assert shipped.call_cost_usd("gpt-4o", 1000, 500) == pytest.approx(0.0025 + 0.005)
    # claude-3-opus: $15 in, $75 out.
    assert shipped.call_cost_usd("claude-3-opus", 2_000_000, 100_000) == pytest.approx(30.0 + 7.5)
    assert shipped.call_cost_usd("gemini-1.5-flash", 0, 0) == 0.0
    assert shipped.call_cost_usd("mistralai/Mistral-7B-v0.1", 1000, 1000) is None  # no public price
    card = shipped.get("gpt-4o")
    assert card.cost_usd(1000, 500) == shipped.call_cost_usd("gpt-4o", 1000, 500)
    for bad in (-1, True, "10", float("inf")):
        with pytest.raises(InvalidRequestError):
            shipped.call_cost_usd("gpt-4o", bad, 0)


# ---- files --------------------------------------------------------------------------------------


def test_round_trip_to_file_and_back(tmp_path, shipped):
    catalog = shipped.copy()
    catalog.add(_entry(aliases=["widget"]))
    path = catalog.to_file(tmp_path / "sub" / "catalog.json")
    loaded = Catalog.from_file(path)
    assert [card.model_dump() for card in loaded] == [card.model_dump() for card in catalog]
    assert loaded.meta["as_of"] == shipped.meta["as_of"] and loaded.meta["schema_version"] == 1
    assert loaded.resolve("widget") == "acme/widget-1"
    assert not list(path.parent.glob(".*.tmp"))


def test_a_bare_list_file_loads(tmp_path):
    catalog = Catalog.from_file(_write(tmp_path / "c.json", [_entry()]))
    assert catalog.ids == ["acme/widget-1"] and catalog.meta == {}


def test_merge_with_a_catalog_from_code():
    base = Catalog.default()
    mine = Catalog(
        [_entry(id="anthropic/claude-2.1", input_usd_per_1m=1.0), _entry(aliases=["widget"])]
    )
    merged = base.merged(mine)
    assert merged.get("claude-2.1").input_usd_per_1m == 1.0
    assert merged.resolve("widget") == "acme/widget-1"
    assert len(merged) == len(base) + 1
    assert base.get("claude-2.1").input_usd_per_1m == 8.0 and "widget" not in base


def test_merge_with_a_user_file_patches_by_id(tmp_path):
    user = _write(
        tmp_path / "mine.json",
        {
            "models": [
                {
                    "id": "openai/gpt-4o-2024-08-06",
                    "input_usd_per_1m": 2.0,
                    "capabilities": {"images": False},
                },
                {
                    "id": "openai/gpt-4o-2024-11-20",
                    "aliases": ["gpt-4o"],
                    "input_usd_per_1m": 2.5,
                    "output_usd_per_1m": 10,
                    "context_window": 128000,
                },
            ]
        },
    )
    merged = Catalog.default().merged(user)
    patched = merged.get("openai/gpt-4o-2024-08-06")
    assert patched.input_usd_per_1m == 2.0 and patched.output_usd_per_1m == 10.0
    assert not patched.capabilities.images and patched.routed_by_default
    assert merged.resolve("gpt-4o") == "openai/gpt-4o-2024-11-20"  # the user's file wins the alias
    assert Catalog.default().resolve("gpt-4o") == "openai/gpt-4o-2024-08-06"


def test_merge_with_a_bad_user_file_names_the_entry(tmp_path):
    user = _write(tmp_path / "mine.json", [{"id": "cohere/command-r", "context_window": -1}])
    with pytest.raises(
        CatalogError, match=r"mine\.json: entry 0 \('cohere/command-r'\).*context_window"
    ):
        Catalog.default().merged(user)
    with pytest.raises(CatalogError, match="needs a string 'id'"):
        Catalog.default().merged(_write(tmp_path / "noid.json", [{"input_usd_per_1m": 1}]))


def test_merge_with_a_user_file_sets_speed_facts(tmp_path):
    user = _write(
        tmp_path / "mine.json",
        [
            {"id": "cohere/command-r", "ttft_s": 0.2, "output_tokens_per_s": 140},
            _entry(reasoning_tokens=800),
        ],
    )
    merged = Catalog.default().merged(user)
    patched = merged.get("cohere/command-r")
    assert patched.ttft_s == 0.2 and patched.output_tokens_per_s == 140.0
    assert patched.reasoning_tokens == 0  # kept from the shipped card
    assert merged.get("acme/widget-1").reasoning_tokens == 800


@pytest.mark.parametrize("bad", [-0.4, float("nan"), float("inf"), 0])
def test_a_user_catalog_entry_with_a_bad_ttft_is_rejected(tmp_path, bad):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps([_entry(ttft_s=bad)]), encoding="utf-8")  # NaN is written as NaN
    with pytest.raises(CatalogError, match=r"mine\.json: entry 0 \('acme/widget-1'\).*ttft_s"):
        Catalog.from_file(path)
    patch = _write(tmp_path / "patch.json", [{"id": "openai/gpt-4o-2024-08-06", "ttft_s": bad}])
    with pytest.raises(CatalogError, match=r"patch\.json: entry 0 .*ttft_s"):
        Catalog.default().merged(patch)
    with pytest.raises(CatalogError, match=r"mine\.json: entry 0 .*ttft_s"):
        Catalog.default().merged(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        (json.dumps({"models": {"id": "a/b"}}), "must hold a list of models"),
        (json.dumps({"schema_version": 99, "models": []}), "schema_version 99"),
        (json.dumps([_entry(), "a/b"]), r"entry 1: expected a JSON object"),
        (
            json.dumps([_entry(), _entry(id="acme/two", input_usd_per_1m=-2)]),
            r"entry 1 \('acme/two'\): input_usd_per_1m",
        ),
        (json.dumps([_entry(), {"provider": "x"}]), r"entry 1: id: Field required"),
        (
            json.dumps([_entry(facts={"benchmarks": {"GSM8K": 1.5}})]),
            r"entry 0 \('acme/widget-1'\).*GSM8K",
        ),
        (
            json.dumps([_entry(aliases=["w"]), _entry(id="acme/other", aliases=["W"])]),
            r"entry 1 \('acme/other'\): name 'W'.*already an alias of 'acme/widget-1'",
        ),
        (json.dumps([_entry(), _entry(id="ACME/Widget-1")]), r"entry 1 .*already in the catalog"),
    ],
)
def test_malformed_files_raise_a_typed_error_naming_file_and_entry(tmp_path, content, message):
    path = tmp_path / "broken.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CatalogError, match=message) as caught:
        Catalog.from_file(path)
    assert "broken.json" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_missing_file(tmp_path):
    with pytest.raises(CatalogError, match="cannot read catalog file"):
        Catalog.from_file(tmp_path / "absent.json")


def test_default_is_read_once_and_each_copy_is_independent():
    first, second = Catalog.default(), Catalog.default()
    assert first is not second
    assert first.get("gpt-4o") is second.get("gpt-4o")  # same immutable card, parsed once
    first.override("gpt-4o", input_usd_per_1m=9.0)
    assert second.get("gpt-4o").input_usd_per_1m == 2.5
    card = second.get("gpt-4o")
    with pytest.raises(ValidationError, match="frozen"):
        card.input_usd_per_1m = 1.0  # cards are immutable, nested facts too
    with pytest.raises(TypeError, match="Catalog.override"):
        card.facts.benchmarks["MMLU"] = 0.1
    with pytest.raises(TypeError, match="Catalog.override"):
        card.facts.sources.pop("price")
    assert card.model_copy(deep=True) == card


def test_clash_in_the_constructor_names_the_entry():
    with pytest.raises(CatalogError, match=r"entry 1 \('acme/two'\): name 'w'"):
        Catalog([_entry(aliases=["w"]), _entry(id="acme/two", aliases=["w"])])


def test_the_card_types_are_the_catalogs_own():
    # `autorouter.cards` holds what one entry is; every name stays importable from here.
    for name in cards.__all__:
        assert getattr(catalog_module, name) is getattr(cards, name)
    assert set(cards.__all__) <= set(catalog_module.__all__)


def test_one_name_rule_for_every_surface() -> None:
    """`Catalog.match` is how a candidate's own name, a call's `model=` and the gateway's request
    `model` find a router model: the same name (case aside), or the same model by id, alias or
    bare name; never a guess between two."""
    catalog = Catalog.default()
    known = ["openai/gpt-4o-2024-08-06", "openai/gpt-4o-2024-05-13", "my-llama"]
    assert catalog.match("openai/gpt-4o-2024-08-06", known) == "openai/gpt-4o-2024-08-06"
    assert catalog.match("gpt-4o-2024-05-13", known) == "openai/gpt-4o-2024-05-13"
    assert catalog.match("My-Llama", known) == "my-llama"
    assert catalog.match("claude-9", known) is None
    assert catalog.match("foo", ["a/foo", "b/foo"]) is None  # two models go by it: no guess
    assert catalog.find("claude-9") is None and catalog.find("gpt-4o-2024-08-06").id == "openai/gpt-4o-2024-08-06"
