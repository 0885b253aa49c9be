"""The prompts written to build the default router, and the everyday test prompts kept apart."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from build_default_router import LEVELS, normalised, written_prompts  # noqa: E402 (after the sys.path line)

from autorouter.families import FAMILIES  # noqa: E402

EVERYDAY = ROOT / "benchmarks" / "data" / "everyday_prompts.jsonl"


def test_every_written_prompt_has_a_family_and_a_level():
    written = written_prompts()
    assert len(written) > 1000
    assert {f for _, f, _ in written} == set(FAMILIES)
    assert {lv for _, _, lv in written} <= set(LEVELS)


def test_no_everyday_test_prompt_is_in_the_training_prompts():
    # benchmarks/everyday.py judges the built router on prompts it never saw, up to case,
    # spacing and punctuation
    trained = {normalised(p) for p, _, _ in written_prompts()}
    test = [json.loads(line)["prompt"] for line in EVERYDAY.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(test) >= 60
    assert [p for p in test if normalised(p) in trained] == []


def test_small_talk_asks_for_nothing_to_be_known():
    # factual one-liners ("what's the capital of France?") are quick facts, not small talk: a
    # family a person would not agree with teaches the explanation to misname them
    small_talk = [p for p, f, _ in written_prompts() if f == "smalltalk"]
    factual = re.compile(r"\b(capital|how many|times|plus|boiling|freezing|wrote|largest)\b", re.I)
    assert [p for p in small_talk if factual.search(p)] == []
