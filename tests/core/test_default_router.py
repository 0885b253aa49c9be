"""The bundled default router behaves as a person expects: strong models for hard work at
tradeoff 0, cheap ones for small talk at the default, capabilities and context windows honoured,
and the choice explained."""

from __future__ import annotations

import statistics

import pytest

import autorouter
from autorouter import Catalog, ModelLimits, Router

HARD_MATH = "Prove that there are infinitely many primes p such that p ≡ 3 (mod 4)."
MATH_2 = "Find all real solutions of x^4 - 5x^2 + 4 = 0 and prove there are no others."
CODE = "Write a Python function that returns the longest palindromic substring of a string in O(n^2) time."
CODE_2 = "Implement an LRU cache class in Python with O(1) get and put, with unit tests."
REASONING = ("A bat and a ball cost $1.10 in total. The bat costs $1.00 more than the ball. Three friends "
             "buy two bats and five balls and split the bill equally; how much does each pay? Explain step by step.")
GREETINGS = ["hi", "hello!", "thanks, bye", "good morning", "how are you?"]
TRIVIAL = ["What's the capital of Italy?", "How many days are in a week?", "What is 3 + 5?"]


@pytest.fixture(scope="module")
def router() -> Router:
    return Router.default()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.default()


def _top(catalog: Catalog, router: Router, bench: str, k: int) -> set[str]:
    """The strongest models: the top k by the published benchmark, and the top k by Arena rating
    (some strong models publish no score on a given benchmark)."""
    by_bench = sorted(((catalog.get(m).facts.benchmarks.get(bench, -1), m) for m in router.models_), reverse=True)
    by_arena = sorted(((catalog.get(m).facts.arena_elo or 0, m) for m in router.models_), reverse=True)
    return {m for _, m in by_bench[:k]} | {m for _, m in by_arena[:k]}


def test_routes_among_the_twenty_routed_models(router, catalog):
    assert sorted(router.models_) == sorted(c.id for c in catalog.routed())
    assert len(router.models_) == 20


@pytest.mark.parametrize("prompt,bench", [(HARD_MATH, "MATH"), (MATH_2, "MATH"), (CODE, "HumanEval"),
                                          (CODE_2, "HumanEval")])
def test_hard_work_goes_to_the_strongest_models_at_tradeoff_0(router, catalog, prompt, bench):
    top = _top(catalog, router, bench, 4)
    # the quality end of the knob, latency aside
    d = router.route(prompt, tradeoff=0.0, latency_weight=0.0)
    assert d.model in top, d.explanation
    # with its default latency weight the router may spare minutes of thinking for a small
    # edge; then it says so
    d = router.route(prompt, tradeoff=0.0)
    assert d.model in top or "s to answer" in d.explanation, d.explanation


#: The flagship of each major lab among the routed models, and the reasoning models (a
#: judgement written here, as in benchmarks/everyday.py, not derived from the router).
FRONTIER = {
    "openai/gpt-4o-2024-08-06", "openai/gpt-4o-2024-05-13", "openai/chatgpt-4o-latest",
    "openai/o1-preview-2024-09-12", "openai/o1-mini-2024-09-12", "anthropic/claude-3.5-sonnet",
    "anthropic/claude-3-opus", "google/gemini-pro-1.5", "mistralai/mistral-large-2407",
    "meta-llama/llama-3.1-405b-instruct", "deepseek/deepseek-r1",
}


def test_a_word_problem_goes_to_a_frontier_model_at_tradeoff_0(router):
    """Not necessarily a thinking model: a classic word problem is within any flagship's
    reach, and a two-minute wait is priced in (the latency weight)."""
    d = router.route(REASONING, tradeoff=0.0)
    assert d.model in FRONTIER, d.explanation


def test_small_talk_goes_to_cheap_models_at_the_default_tradeoff(router, catalog):
    def price(m: str) -> float:
        p = catalog.get(m).price
        return p.input_per_1m + p.output_per_1m

    median = statistics.median(price(m) for m in router.models_)
    for p in GREETINGS + TRIVIAL:
        d = router.route(p)
        assert d.tradeoff == autorouter.DEFAULT_TRADEOFF
        assert price(d.model) < median, (p, d.explanation)


def test_hard_work_gets_a_dearer_model_than_small_talk(router):
    hard = router.route(HARD_MATH).chosen.cost_usd
    easy = max(router.route(p).chosen.cost_usd for p in GREETINGS)
    assert hard > 3 * easy


@pytest.mark.parametrize("prompt", [
    "Implement a B-tree in Rust with insert and delete",
    # a known miss, kept in sight: the level reader gives this German prompt 0.70 trivial, and a
    # trivial level draws the models together, so gemini-flash answers it (README, weak spots)
    pytest.param("Implementiere einen B-Baum in Rust mit Einfügen und Löschen", marks=pytest.mark.xfail(
        strict=True, reason="read as 0.70 trivial by the level classifier")),
    "Design a microservice architecture for an online bank with high availability",
])
def test_a_short_hard_request_is_not_read_as_trivial(router, catalog, prompt):
    # users type hard requests tersely, and in their own language: neither a short prompt nor a
    # language means trivial, so the default does not hand these to a cheap model
    d = router.route(prompt)
    assert not _cheap_and_quick(catalog, d.model), d.explanation


@pytest.fixture(scope="module")
def router_2023() -> Router:
    r = Router.default()
    for model in ("openai/gpt-4-1106-preview", "mistralai/mixtral-8x7b-instruct", "anthropic/claude-instant-1"):
        r.add_catalog_model(model)
    return r


@pytest.mark.parametrize("prompt", [
    "Python one-liner to sum a list", "How do I make a list in Python?", "what is 10% of 50",
    "Give me a funny name for a goldfish", "What is photosynthesis, in one sentence?",
])
def test_a_weak_cheap_candidate_answers_trivial_prompts(router_2023, prompt):
    # mixtral-8x7b stands far below gpt-4-turbo on typical work, but on a prompt every model
    # answers well they stand as close as on small talk: the default does not pay 30x for it
    d = router_2023.route(prompt, candidates=["openai/gpt-4-1106-preview", "mistralai/mixtral-8x7b-instruct"])
    assert d.model == "mistralai/mixtral-8x7b-instruct", d.explanation


def test_tradeoff_0_answers_even_trivial_prompts_with_the_strong_candidate(router_2023):
    # at 0 the user asked for the best answer: a tie in predicted quality is no reason to leave
    # the strongest model for one ten times cheaper
    for prompt in ["hi there!", "chemical symbol for gold?", "convert 5 miles to km", "富士山の高さは何メートルですか？"]:
        d = router_2023.route(prompt, tradeoff=0.0,
                              candidates=["openai/gpt-4-1106-preview", "anthropic/claude-instant-1"])
        assert d.model == "openai/gpt-4-1106-preview", d.explanation


def test_hard_work_stays_on_the_strong_candidate_of_a_weak_and_a_strong_pair(router_2023):
    d = router_2023.route(HARD_MATH, candidates=["openai/gpt-4-1106-preview", "mistralai/mixtral-8x7b-instruct"])
    assert d.model == "openai/gpt-4-1106-preview", d.explanation


def test_tools_never_go_to_a_model_without_tool_calling(router, catalog):
    for p in GREETINGS + [CODE, HARD_MATH]:
        for t in (0.0, 0.3, 1.0):
            d = router.route(p, tradeoff=t, tools=True)
            assert catalog.get(d.model).capabilities.tools, d.model
            for r in d.ranking:
                if not catalog.get(r.model).capabilities.tools:
                    assert not r.eligible and "tool" in r.excluded_because


def test_images_never_go_to_a_text_only_model(router, catalog):
    msgs = [{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]
    for t in (0.0, 0.3, 1.0):
        d = router.route(msgs, tradeoff=t)
        assert catalog.get(d.model).capabilities.images, d.model


def test_a_prompt_longer_than_a_context_window_never_goes_there(router, catalog):
    windows = {m: catalog.get(m).context_window for m in router.models_}
    assert router.limits_[router.models_[0]].context_window == windows[router.models_[0]]
    long_prompt = "Summarise the following log. " + "word " * 150_000  # ~150k tokens
    for t in (0.0, 0.3, 1.0):
        d = router.route(long_prompt, tradeoff=t)
        assert windows[d.model] and windows[d.model] * 4 >= len(long_prompt), d.model
        short = [r for r in d.ranking if windows[r.model] and windows[r.model] * 4 < len(long_prompt)]
        assert short and all(not r.eligible and "context window" in r.excluded_because for r in short)


def test_the_explanation_names_domain_difficulty_and_price(router):
    d = router.route(HARD_MATH, tradeoff=0.3)
    assert "looks like" in d.explanation and "difficulty" in d.explanation and "$" in d.explanation
    d = router.route("hi", tradeoff=0.3)
    assert "small talk" in d.explanation and "less cost" in d.explanation


def test_a_user_adds_a_model_from_facts_and_it_is_routed_to(router):
    r = Router.default()
    r.add_model("acme/mathstral-pro", task_scores={"MATH": 0.99, "GSM8K": 0.99, "GPQA": 0.9}, price=(0.1, 0.1),
                limits=ModelLimits(context_window=32_000, tools=True))
    assert r.route(HARD_MATH, tradeoff=0.0).model == "acme/mathstral-pro"
    assert r.route(HARD_MATH, tradeoff=0.3).model == "acme/mathstral-pro"


def test_a_user_adds_a_catalog_model(router):
    r = Router.default()
    r.add_catalog_model("gpt-4o-mini", replace=True)  # already routed: replaced, not duplicated
    assert r.models_.count("openai/gpt-4o-mini-2024-07-18") == 1
    r.add_catalog_model("gpt-4-1106-preview")
    assert "openai/gpt-4-1106-preview" in r.models_ or any("gpt-4-1106" in m for m in r.models_)


FAMILY_PROMPTS = {
    "small talk": ["hi there!", "thanks, that's all", "Merci beaucoup, bonne journée !"],
    "a unit conversion": ["5 feet in cm", "how many ounces in 2 cups?"],
    "a quick fact": ["Capital of Australia?", "Who wrote Don Quixote?"],
    "a translation": ["Translate 'where is the train station' into Japanese"],
    "a proof": [HARD_MATH, "Prove that sqrt(3) is irrational."],
    "competition maths": ["How many positive integers n < 1000 make n^2 + 3n + 5 divisible by 121?"],
    "hard coding": [CODE_2.replace("Python", "C++ with lock-free concurrency")],
    "SQL and data": ["Write a SQL query that returns each customer's three most recent orders"],
}


@pytest.mark.parametrize("family,prompts", FAMILY_PROMPTS.items())
def test_the_explanation_names_a_family_a_person_would(router, family, prompts):
    for p in prompts:
        d = router.route(p)
        assert f"looks like {family}," in d.explanation, (p, d.explanation)


def _cheap_and_quick(catalog: Catalog, model: str) -> bool:
    card = catalog.get(model)
    return card.price.output_per_1m <= 1.0 and not card.capabilities.reasoning


@pytest.mark.parametrize("prompt", GREETINGS + TRIVIAL + [
    "What is 2+2?", "5 feet in cm", "¿Cuál es la capital de Francia?", "把“谢谢”翻译成英语",
    "Fix the grammar: 'me and him goes to school yesterday'",
    # a benchmark's phrasing (MBPP's "Write a function to ...") does not make a prompt typical
    "Write a Python function that reverses a string"])
def test_trivial_prompts_go_to_a_cheap_model_that_does_not_think_at_the_default(router, catalog, prompt):
    d = router.route(prompt)
    assert _cheap_and_quick(catalog, d.model), d.explanation


def test_the_ends_of_the_knob(router):
    for p in [HARD_MATH, "hi", CODE]:
        cheapest = router.route(p, tradeoff=1.0)
        assert cheapest.chosen.cost_usd == min(r.cost_usd for r in cheapest.ranking if r.eligible)
        best = router.route(p, tradeoff=0.0)
        top = max(r.quality for r in best.ranking if r.eligible)
        # tradeoff 0 leaves the strongest model only for one confidently better
        assert best.chosen.quality >= top - 2 * best.chosen.uncertainty - 1e-9


def test_spend_falls_steadily_along_the_knob_on_everyday_prompts(router):
    prompts = GREETINGS + TRIVIAL + [HARD_MATH, MATH_2, CODE, CODE_2, REASONING]
    spend = [sum(d.chosen.cost_usd for d in router.route_batch(prompts, tradeoff=t)) for t in (0.0, 0.2, 0.4, 0.6)]
    assert spend[0] > spend[1] > spend[2] > spend[3]


def test_reasoning_models_report_their_thinking_time_and_a_latency_cap_excludes_them(router, catalog):
    d = router.route(HARD_MATH, tradeoff=0.0)
    lat = {r.model: r.latency_s for r in d.ranking}
    assert all(v is not None and v > 0 for v in lat.values())
    thinkers = [m for m in lat if catalog.get(m).capabilities.reasoning]
    assert thinkers and min(lat[m] for m in thinkers) > max(lat[m] for m in lat if m not in thinkers) / 2
    capped = router.route(HARD_MATH, tradeoff=0.0, max_latency_s=20)
    assert not catalog.get(capped.model).capabilities.reasoning
    assert all(not r.eligible and "latency" in r.excluded_because for r in capped.ranking if r.model in thinkers)


def test_one_inflated_figure_does_not_flip_a_ranking(catalog):
    """gpt-4o-mini claiming 0.99 on MATH does not put it above o1-mini on proofs."""
    from autorouter.placement import FactPlacer

    tasks = ["competition_math"]
    base = FactPlacer(catalog)
    mini, o1 = catalog.get("openai/gpt-4o-mini-2024-07-18"), catalog.get("openai/o1-mini-2024-09-12")
    inflated = catalog.copy()
    inflated.override(mini.id, facts={"benchmarks": {"MATH": 0.99}})
    after = FactPlacer(inflated)
    s_o1 = base.task_scores(o1, tasks)[0]["competition_math"]
    s_mini = base.task_scores(mini, tasks)[0]["competition_math"]
    s_mini_inflated = after.task_scores(inflated.get(mini.id), tasks)[0]["competition_math"]
    assert s_mini < s_mini_inflated < s_o1


def test_a_missing_figure_does_not_rank_a_model_above_one_that_beats_it_on_every_shared_figure(catalog):
    """o1-mini beats o1-preview on every contest-maths figure both have; o1-preview lacks the
    later LiveBench releases. Those gaps are filled from its (strong) general abilities, and
    must not outweigh what the figures both have say."""
    from autorouter.families import SKILL_COLUMNS
    from autorouter.placement import FactPlacer, _skill_of

    mini, preview = catalog.get("openai/o1-mini-2024-09-12"), catalog.get("openai/o1-preview-2024-09-12")
    shared = [k for k in mini.facts.benchmarks.keys() & preview.facts.benchmarks.keys() if _skill_of(k, "contest_math")]
    assert len(shared) >= 3 and SKILL_COLUMNS["contest_math"]
    assert all(mini.facts.benchmarks[k] > preview.facts.benchmarks[k] for k in shared)
    assert set(mini.facts.benchmarks) - set(preview.facts.benchmarks)  # o1-preview lacks some
    placer = FactPlacer(catalog)
    s_mini = placer.task_scores(mini, ["competition_math"])[0]["competition_math"]
    s_preview = placer.task_scores(preview, ["competition_math"])[0]["competition_math"]
    assert s_mini > s_preview
