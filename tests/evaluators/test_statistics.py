"""Tests for bench.evaluators.statistics: the paired bootstrap, the t quantile, the seed interval."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.errors import BenchError
from bench.evaluators.statistics import (
    paired_bootstrap_ci,
    paired_bootstrap_cis,
    prompt_mean,
    seed_aggregate,
)

# Two-sided 95% critical values t_{0.975, df}, from published tables (e.g. NIST/SEMATECH e-Handbook,
# section 1.3.6.7.2).
T_TABLE_0975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 10: 2.228, 20: 2.086, 30: 2.042,
                100: 1.984}


def test_bootstrap_interval_contains_the_mean_and_shrinks_with_more_prompts() -> None:
    rng = np.random.default_rng(1)
    small = rng.binomial(1, 0.6, size=50).astype(float)
    large = rng.binomial(1, 0.6, size=2000).astype(float)
    low_s, high_s = paired_bootstrap_ci(small)
    low_l, high_l = paired_bootstrap_ci(large)
    assert low_s < small.mean() < high_s
    assert low_l < large.mean() < high_l
    assert (high_l - low_l) < 0.3 * (high_s - low_s)  # width ~ 1/sqrt(P): sqrt(50/2000) = 0.16


def test_bootstrap_width_matches_the_normal_approximation() -> None:
    rng = np.random.default_rng(2)
    values = rng.normal(size=1000)
    low, high = paired_bootstrap_ci(values, n_boot=4000)
    expected = 2 * 1.959964 * values.std(ddof=1) / math.sqrt(values.size)
    assert high - low == pytest.approx(expected, rel=0.1)
    assert (low + high) / 2 == pytest.approx(values.mean(), abs=0.02)


def test_bootstrap_is_deterministic_per_seed_and_degenerate_for_constants() -> None:
    values = np.linspace(0, 1, 37)
    assert paired_bootstrap_ci(values, seed=3) == paired_bootstrap_ci(values, seed=3)
    assert paired_bootstrap_ci(values, seed=3) != paired_bootstrap_ci(values, seed=4)
    assert paired_bootstrap_ci(np.full(10, 0.5)) == (0.5, 0.5)


def test_bootstrap_rejects_empty_and_propagates_nan() -> None:
    with pytest.raises(BenchError, match="no prompts"):
        paired_bootstrap_ci(np.array([]))
    low, high = paired_bootstrap_ci(np.array([1.0, np.nan, 0.0]))
    assert math.isnan(low) and math.isnan(high)


def test_bootstrap_handles_thousands_of_prompts_in_chunks() -> None:
    values = np.random.default_rng(0).random(5000)
    low, high = paired_bootstrap_ci(values, n_boot=2000)
    assert low < values.mean() < high


@pytest.mark.parametrize(("df", "expected"), sorted(T_TABLE_0975.items()))
def test_seed_interval_uses_the_published_t_critical_value(df: int, expected: float) -> None:
    values = np.arange(df + 1, dtype=float)  # n = df + 1 seeds
    mean, low, high = seed_aggregate(values)
    half = expected * values.std(ddof=1) / math.sqrt(values.size)
    assert (high - mean) == pytest.approx(half, rel=2e-4) and (mean - low) == pytest.approx(half, rel=2e-4)


def test_seed_aggregate_gives_the_t_interval() -> None:
    mean, low, high = seed_aggregate([1.0, 2.0, 3.0])  # sd 1, n 3, df 2
    half = 4.302653 / math.sqrt(3)
    assert mean == pytest.approx(2.0)
    assert (low, high) == pytest.approx((2.0 - half, 2.0 + half), abs=1e-5)


def test_seed_aggregate_skips_nan_and_has_no_interval_for_one_seed() -> None:
    mean, low, high = seed_aggregate([4.0, float("nan")])
    assert mean == 4.0 and math.isnan(low) and math.isnan(high)
    assert all(math.isnan(v) for v in seed_aggregate([float("nan")]))


def test_prompt_mean_weighs_prompts_equally() -> None:
    # prompt 0: [1, 0, 0] -> 1/3; prompt 1: [1] -> 1
    assert prompt_mean(np.array([1.0, 0.0, 0.0, 1.0]), np.array([3, 1])) == pytest.approx([1 / 3, 1.0])
    with pytest.raises(BenchError, match="wrong number"):
        prompt_mean(np.array([1.0, 0.0]), np.array([3]))


def test_many_rows_share_one_set_of_resamples_and_match_the_single_row_interval() -> None:
    rng = np.random.default_rng(5)
    rows = rng.uniform(size=(6, 40))
    rows[2, 7] = np.nan
    low, high = paired_bootstrap_cis(rows, n_boot=500, seed=2)
    for r in (0, 1, 3, 4, 5):
        np.testing.assert_allclose((low[r], high[r]), paired_bootstrap_ci(rows[r], n_boot=500, seed=2), rtol=1e-12)
    assert np.isnan(low[2]) and np.isnan(high[2])  # a non-finite row has no interval; the others are unaffected
    # the same resamples: a row and its mirror 1 - row get mirrored limits
    mirrored_low, mirrored_high = paired_bootstrap_cis(1.0 - rows[[0]], n_boot=500, seed=2)
    np.testing.assert_allclose((mirrored_low[0], mirrored_high[0]), (1 - high[0], 1 - low[0]), atol=1e-12)
