"""Uncertainty for evaluation metrics: the paired bootstrap over prompts and the t-interval over seeds.

Two sources of noise sit under every leaderboard number. Within one run, the prompts are a sample
of the prompts one cares about, so a win rate gets a bootstrap interval that resamples prompts (the
"paired" bootstrap: a prompt's policy and reference samples stay together). Across runs, training
seeds differ, so seed means get a Student-t interval (scipy's t quantile).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from bench.errors import BenchError

DEFAULT_N_BOOT = 2000
"""Bootstrap resamples: percentile 95% limits move by about 0.1 point of win rate between repeats at
2000 (Efron & Tibshirani 1993, ch. 19, recommend >= 1000 for percentile intervals)."""
DEFAULT_LEVEL = 0.95
_BOOT_CELLS = 1 << 22
"""Resample indices drawn per chunk (4M int64 = 32 MiB), so memory stays flat for large P."""


def _check_level(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise BenchError(f"confidence level {level!r} must lie strictly between 0 and 1 (e.g. 0.95)")
    return float(level)


def paired_bootstrap_ci(per_prompt_values: np.ndarray, n_boot: int = DEFAULT_N_BOOT, seed: int = 0,
                        level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-prompt values, resampling prompts.

    Prompts are the unit of resampling because they are what the evaluation set samples; samples of
    one prompt are correlated and must move together. Non-finite values give (nan, nan) rather than
    an interval that silently ignores them. Deterministic for a given ``seed``.
    """
    values = np.asarray(per_prompt_values, dtype=np.float64)
    if values.ndim != 1:
        raise BenchError(f"paired_bootstrap_ci takes one value per prompt (1-D), got shape {values.shape}; "
                         f"average over samples first")
    low, high = paired_bootstrap_cis(values[None, :], n_boot=n_boot, seed=seed, level=level)
    return float(low[0]), float(high[0])


def paired_bootstrap_cis(per_prompt_values: np.ndarray, n_boot: int = DEFAULT_N_BOOT, seed: int = 0,
                         level: float = DEFAULT_LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """:func:`paired_bootstrap_ci` of every row of [rows, prompts], all rows on the SAME resamples of prompts.

    The resamples are drawn once, as counts of each prompt per resample, and every row's resampled means
    are one matrix product with them: a head-to-head matrix of m methods (m (m - 1) cells) costs one
    set of draws instead of one per cell, and its cells stay comparable because they resample the same
    prompts. A row of ``seed``'s intervals equals :func:`paired_bootstrap_ci` with that seed.
    """
    values = np.asarray(per_prompt_values, dtype=np.float64)
    if values.ndim != 2:
        raise BenchError(f"paired_bootstrap_cis takes [rows, prompts], got shape {values.shape}")
    if values.shape[1] == 0:
        raise BenchError("paired_bootstrap_ci got no prompts; the evaluation set is empty")
    if n_boot < 1:
        raise BenchError(f"n_boot={n_boot} must be at least 1 (default {DEFAULT_N_BOOT})")
    alpha = 1.0 - _check_level(level)
    finite = np.isfinite(values).all(axis=1)
    n_rows, n_prompts = values.shape
    clean = np.where(finite[:, None], values, 0.0)
    rng = np.random.default_rng(seed)
    means = np.empty((n_rows, n_boot), dtype=np.float64)
    chunk = max(1, _BOOT_CELLS // n_prompts)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        index = rng.integers(0, n_prompts, size=(stop - start, n_prompts))
        flat = (np.arange(stop - start)[:, None] * n_prompts + index).ravel()
        counts = np.bincount(flat, minlength=(stop - start) * n_prompts).reshape(stop - start, n_prompts)
        means[:, start:stop] = clean @ counts.T.astype(np.float64) / n_prompts
    low, high = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0], axis=1)
    return np.where(finite, low, math.nan), np.where(finite, high, math.nan)


def prompt_mean(flat_values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-prompt means of values laid out flat, prompt after prompt, ``counts[p]`` values each.

    Metrics weight prompts equally, so a prompt that happens to have more samples does not count
    more; this folds a flat batch of judge or scorer outputs back into one value per prompt.
    """
    values = np.asarray(flat_values, dtype=np.float64).ravel()
    counts = np.asarray(counts, dtype=np.int64)
    if values.size != int(counts.sum()):
        raise BenchError(f"got {values.size} values for {int(counts.sum())} samples; a judge or scorer "
                         f"returned the wrong number of outputs")
    if counts.size and counts.min() < 1:
        raise BenchError("every prompt needs at least one sample to average over")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return np.add.reduceat(values, starts) / counts if counts.size else np.empty(0)


def seed_aggregate(values: Sequence[float] | np.ndarray, level: float = DEFAULT_LEVEL
                   ) -> tuple[float, float, float]:
    """Mean across seeds with its Student-t interval: (mean, low, high).

    Seeds are few (3 to 5), so the normal interval would be far too narrow; the t interval with
    n - 1 degrees of freedom is the honest one. Non-finite values (a metric a run could not compute)
    are left out, as pandas' ``mean`` does; with fewer than two finite values the interval is NaN.
    """
    array = np.asarray(values, dtype=np.float64).ravel()
    finite = array[np.isfinite(array)]
    alpha = 1.0 - _check_level(level)
    if finite.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(finite.mean())
    if finite.size == 1:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(1.0 - alpha / 2.0, finite.size - 1)) * float(finite.std(ddof=1)) / math.sqrt(finite.size)
    return mean, mean - half, mean + half
