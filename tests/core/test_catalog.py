"""Tests for the model catalog: shipped contents, name resolution, run-time changes, files."""

from __future__ import annotations

import gzip
import json
import statistics
from pathlib import Path

import pytest
from pydantic import ValidationError

from autorouter.catalog import BENCHMARKS, Capabilities, Catalog, ModelCard
from autorouter.dataset import ModelPrice
from autorouter.errors import CatalogError, InvalidRequestError, UnknownModelError

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
        needed.extend(facts.benchmarks)
        for key in needed:
            source = facts.source_for(key)
            assert source is not None, f"{card.id}: no source for {key}"
            assert source.source and source.as_of[:2] in ("19", "20"), f"{card.id}: {key}"


def test_shipped_scores_are_fractions_of_known_families(shipped):
    for card in shipped:
        for name, score in card.facts.benchmarks.items():
            assert name in BENCHMARKS, f"{card.id}: unexpected benchmark {name}"
            assert 0.0 <= score <= 1.0
        if card.facts.arena_elo is not None:
            assert 800 < card.facts.arena_elo < 1600


def test_models_without_a_public_price_say_so(shipped):
    for card in shipped:
        if card.price is None:
            assert card.notes and "price" in card.notes, card.id


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
