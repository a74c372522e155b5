"""The outcome model: recovers a word-frequency signal, reports held-out R^2, is deterministic and cached."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.errors import DataError
from bench.models.outcome_model import cached_outcome_model, fit_outcome_model, heldout_split

WORDS = ["good", "bad", "great", "awful", "fine", "the", "a", "is", "food", "room"]
VALUE = {"good": 1.0, "great": 2.0, "bad": -1.0, "awful": -2.0}


def corpus(rows: int = 240, seed: int = 0) -> tuple[list[tuple[str, str]], list[float]]:
    """Texts whose outcome is the mean value of their sentiment words plus small noise (prompts of 4 rows)."""
    rng = np.random.default_rng(seed)
    texts, outcomes = [], []
    for i in range(rows):
        words = list(rng.choice(WORDS, size=int(rng.integers(3, 12))))
        units = [VALUE[w] for w in words if w in VALUE]
        texts.append((f"prompt {i // 4}", " ".join(words)))
        outcomes.append((sum(units) / len(units) if units else 0.0) + float(rng.normal(0, 0.05)))
    return texts, outcomes


def test_a_word_frequency_signal_is_recovered_on_held_out_prompts():
    texts, outcomes = corpus()
    fit = fit_outcome_model(texts, outcomes, texts[:5])
    assert fit.summary["heldout_r2"] > 0.6
    assert fit.summary["rows"] == 240 and fit.summary["heldout_rows"] == 48  # 12 of 60 prompts, 4 rows each
    assert fit.summary["alpha"] in (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)
    np.testing.assert_allclose(fit.predictions, fit.train_predictions[:5])  # the same texts, the same g


def test_heldout_split_keeps_every_prompt_on_one_side_and_is_seeded():
    prompts = [f"p{i // 3}" for i in range(30)]
    held = heldout_split(prompts, 0.2, seed=1)
    assert held.sum() == 6  # 2 of 10 prompts x 3 rows
    for p in set(prompts):
        assert len({bool(h) for h, q in zip(held, prompts, strict=True) if q == p}) == 1
    np.testing.assert_array_equal(held, heldout_split(prompts, 0.2, seed=1))


def test_fitting_is_deterministic_and_the_cache_round_trips(tmp_path):
    texts, outcomes = corpus(80)
    first = cached_outcome_model(tmp_path, texts, outcomes, texts[:3])
    again = cached_outcome_model(tmp_path, texts, outcomes, texts[:3])
    assert not first.cached and again.cached
    np.testing.assert_array_equal(first.train_predictions, again.train_predictions)
    np.testing.assert_array_equal(first.predictions, again.predictions)
    (manifest,) = tmp_path.glob("outcome-model/*/manifest.json")
    summary = json.loads(manifest.read_text())["summary"]
    assert summary["heldout_r2"] == first.summary["heldout_r2"] and summary["key"] == manifest.parent.name
    assert not list(tmp_path.rglob("*.pkl")) and not list(tmp_path.rglob("*.pickle"))
    changed = cached_outcome_model(tmp_path, texts, [y + 1.0 for y in outcomes], texts[:3])
    assert not changed.cached  # new outcomes, new key


def test_bad_inputs_are_named():
    texts, outcomes = corpus(8)
    with pytest.raises(DataError, match="outcomes"):
        fit_outcome_model(texts, outcomes[:-1], [])
    with pytest.raises(DataError, match="non-finite"):
        fit_outcome_model(texts, [float("nan"), *outcomes[1:]], [])
    with pytest.raises(DataError, match="distinct prompt"):
        fit_outcome_model([("one prompt", t) for _, t in texts], outcomes, [])
