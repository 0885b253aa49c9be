"""The default router's build: what it reads a benchmark prompt's level from."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from build_default_router import OUTCOME_LEVEL_MIN_MODELS, outcome_levels  # noqa: E402 (after the sys.path line)

OFFSETS = {"trivial": {"code": 1.5}, "typical": {"code": 0.0}, "hard": {"code": -2.0}}


def test_benchmark_prompts_take_the_level_their_outcomes_show():
    n = OUTCOME_LEVEL_MIN_MODELS + 1
    rng = np.random.default_rng(0)
    mixed = (rng.random((40, n)) < 0.6).astype(float)
    scores = np.vstack([
        np.full((1, n), np.nan),  # a written prompt: its level is a person's
        np.ones((1, n)),  # every model got it: trivial
        np.zeros((1, n)),  # none did: hard
        mixed,
    ])
    fams = ["code"] * len(scores)
    levels = outcome_levels(fams, ["trivial"] + ["typical"] * (len(scores) - 1), scores, OFFSETS, n_written=1)
    assert levels[:3] == ["trivial", "trivial", "hard"]
    assert levels[3:].count("typical") > 30


def test_a_prompt_few_models_answered_stays_typical():
    few = OUTCOME_LEVEL_MIN_MODELS - 1
    scores = np.vstack([np.ones((1, few)), np.zeros((1, few)), (np.arange(20 * few).reshape(20, few) % 3 == 0)])
    levels = outcome_levels(["code"] * len(scores), ["typical"] * len(scores), scores.astype(float), OFFSETS, 0)
    assert levels == ["typical"] * len(scores)
