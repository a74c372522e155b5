"""Rankings with statistics: rank intervals, tied groups and Holm-corrected method-vs-method tests.

A leaderboard's rank column says 1, 2, 3 even when the top three are indistinguishable. Here every
configuration's primary metric is redrawn many times from the two sources of noise behind it:

- the training seeds: the seeds are resampled with replacement (jointly for all configurations when
  they ran the same seeds, which pairs the comparison by seed: seed s shares its data order and
  initial noise across objectives);
- the evaluation prompts: each run's value is perturbed by a normal draw with the standard error its
  own paired bootstrap over prompts gave (its 95% interval's half-width / 1.96). The records keep each
  run's interval, not its per-prompt values, so the prompt noise of two methods is drawn
  independently: the tests are conservative where two methods' per-prompt outcomes are correlated.

From the draws: a 95% rank interval per configuration, a two-sided p-value for every pair of
configurations (a normal test on the redrawn differences' mean and standard deviation), Holm's correction
over all pairs (statsmodels), and groups of configurations no test
separates (a group starts at the best configuration not yet grouped and takes every later one not
significantly different from it).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from bench.leaderboards.table import CI_HIGH, CI_LOW, GROUP_COLUMNS, REFERENCE_METHOD, select_sweep_points

DRAWS = 4000
LEVEL = 0.95
RANK_LOW, RANK_HIGH, TIED_GROUP = "rank_low", "rank_high", "tied_group"
"""Columns :func:`add_rank_statistics` adds to a table."""


@dataclass(frozen=True)
class Comparison:
    """One pair of configurations: the mean difference of the metric (first minus second) and its test."""

    first: str
    second: str
    difference: float
    p_value: float
    p_holm: float

    @property
    def significant(self) -> bool:
        return self.p_holm < 1.0 - LEVEL


def configuration_label(row: pd.Series) -> str:
    """A configuration's name in comparisons: the method, with the selector, reduction or chosen sweep point
    that tell its rows apart, and its hyper-parameters when a method appears with several."""
    parts = [str(row["method"])]
    for column in ("selector", "chosen"):
        value = row.get(column)
        if isinstance(value, str) and value and value not in ("all", "-"):
            parts.append(value)
    return " / ".join(parts)


def configuration_labels(frame: pd.DataFrame) -> dict[tuple, str]:
    """A unique label per configuration (its GROUP_COLUMNS values) of ``frame``."""
    groups = {tuple(row[c] for c in GROUP_COLUMNS): configuration_label(row) for _, row in frame.iterrows()}
    counts = pd.Series(list(groups.values())).value_counts()
    return {group: label if counts[label] == 1 else f"{label} ({group[4]}, {group[2]}, {group[3]} steps)"
            for group, label in groups.items()}


def _standard_error(low: float, high: float) -> float:
    z = float(stats.norm.ppf(0.5 + LEVEL / 2.0))
    return (high - low) / (2.0 * z) if np.isfinite(low) and np.isfinite(high) else 0.0


def draws(runs: pd.DataFrame, metric: str, n_draws: int = DRAWS, seed: int = 0) -> dict[str, np.ndarray]:
    """Per configuration label, ``n_draws`` redraws of its seed-mean ``metric`` (module docstring)."""
    rng = np.random.default_rng(seed)
    configurations = list(_configurations(runs, metric))
    if not configurations:
        return {}
    seed_sets = {tuple(sorted(group["seed"])) for _, group in configurations}
    shared = len(seed_sets) == 1
    n_seeds = len(next(iter(seed_sets))) if shared else 0
    joint = rng.integers(0, n_seeds, size=(n_draws, n_seeds)) if shared else None
    result: dict[str, np.ndarray] = {}
    for label, group in configurations:
        group = group.sort_values("seed")
        values = group[metric].to_numpy(dtype=float)
        lows = group[metric + CI_LOW] if metric + CI_LOW in group else pd.Series(np.nan, index=group.index)
        highs = group[metric + CI_HIGH] if metric + CI_HIGH in group else pd.Series(np.nan, index=group.index)
        errors = np.array([_standard_error(float(low), float(high)) for low, high in zip(lows, highs, strict=True)])
        picks = joint if joint is not None else rng.integers(0, len(values), size=(n_draws, len(values)))
        noise = rng.normal(size=picks.shape) * errors[picks]
        result[label] = (values[picks] + noise).mean(axis=1)
    return result


def _configurations(runs: pd.DataFrame, metric: str):
    values = pd.to_numeric(runs[metric], errors="coerce")
    ranked = select_sweep_points(runs[(runs["method"] != REFERENCE_METHOD) & np.isfinite(values)])
    labels = configuration_labels(ranked)
    for group, runs_of_one in ranked.groupby(list(GROUP_COLUMNS), sort=False, dropna=False):
        yield labels[tuple(group)], runs_of_one


def rank_intervals(redraws: dict[str, np.ndarray], higher_is_better: bool = True) -> dict[str, tuple[int, int]]:
    """The central 95% interval of each configuration's rank (1 = best) over the draws."""
    labels = list(redraws)
    matrix = np.stack([redraws[label] for label in labels])  # [configurations, draws]
    ordered = -matrix if higher_is_better else matrix
    ranks = stats.rankdata(ordered, axis=0, method="min")
    tail = (1.0 - LEVEL) / 2.0
    return {label: (math.floor(np.quantile(ranks[i], tail)), math.ceil(np.quantile(ranks[i], 1.0 - tail)))
            for i, label in enumerate(labels)}


def _two_sided_p(difference: np.ndarray) -> float:
    """The p-value of "no difference" from the redrawn differences: a normal test on their mean and spread.

    Counting the draws on the far side of zero cannot give a p-value below 2 / (draws + 1), and Holm
    multiplies the smallest of k(k-1)/2 p-values by that many: with 41 configurations (820 pairs) and
    4,000 draws, no pair could ever be separated. The bootstrap's standard error has no such floor.
    """
    spread = float(np.std(difference, ddof=1))
    centre = float(np.mean(difference))
    if spread == 0.0:
        return 1.0 if centre == 0.0 else 0.0
    return float(2.0 * stats.norm.sf(abs(centre) / spread))


def pairwise(redraws: dict[str, np.ndarray]) -> list[Comparison]:
    """Every pair, with the two-sided p-value of "no difference" (:func:`_two_sided_p`) and Holm's adjustment."""
    pairs = list(itertools.combinations(redraws, 2))
    if not pairs:
        return []
    raw = [_two_sided_p(redraws[first] - redraws[second]) for first, second in pairs]
    adjusted = multipletests(raw, method="holm")[1]
    return [Comparison(first, second, float(np.mean(redraws[first] - redraws[second])), p, float(p_holm))
            for (first, second), p, p_holm in zip(pairs, raw, adjusted, strict=True)]


def tied_groups(order: list[str], comparisons: list[Comparison]) -> dict[str, int]:
    """Group number per configuration (1 holds the best): each group starts at the best configuration not
    yet grouped and takes every later one that no Holm-corrected test separates from it."""
    separated = {frozenset((c.first, c.second)) for c in comparisons if c.significant}
    groups: dict[str, int] = {}
    for leader in order:
        if leader in groups:
            continue
        number = max(groups.values(), default=0) + 1
        groups[leader] = number
        for other in order[order.index(leader) + 1:]:
            if other not in groups and frozenset((leader, other)) not in separated:
                groups[other] = number
    return groups


def add_rank_statistics(table: pd.DataFrame, runs: pd.DataFrame, metric: str,
                        higher_is_better: bool = True) -> tuple[pd.DataFrame, list[Comparison]]:
    """``table`` (one key, aggregated) with rank intervals and tied groups for ``metric``, and the comparisons."""
    redraws = draws(runs, metric)
    table = table.copy()
    names = configuration_labels(select_sweep_points(runs))
    labels = [names.get(tuple(row[c] for c in GROUP_COLUMNS), "") for _, row in table.iterrows()]
    if len(redraws) < 2:
        for column in (RANK_LOW, RANK_HIGH, TIED_GROUP):
            table[column] = [1 if label in redraws else math.nan for label in labels]
        return table, []
    intervals = rank_intervals(redraws, higher_is_better)
    comparisons = pairwise(redraws)
    means = {label: float(np.mean(values)) for label, values in redraws.items()}
    order = sorted(means, key=lambda label: -means[label] if higher_is_better else means[label])
    groups = tied_groups(order, comparisons)
    table[RANK_LOW] = [intervals[label][0] if label in intervals else math.nan for label in labels]
    table[RANK_HIGH] = [intervals[label][1] if label in intervals else math.nan for label in labels]
    table[TIED_GROUP] = [groups.get(label, math.nan) for label in labels]
    return table, comparisons


def comparisons_frame(comparisons: list[Comparison]) -> pd.DataFrame:
    """The comparisons as a table (first, second, difference, p, Holm p, significant)."""
    return pd.DataFrame([{"first": c.first, "second": c.second, "difference": c.difference, "p_value": c.p_value,
                          "p_holm": c.p_holm, "significant": c.significant} for c in comparisons],
                        columns=["first", "second", "difference", "p_value", "p_holm", "significant"])


__all__ = ["RANK_HIGH", "RANK_LOW", "TIED_GROUP", "Comparison", "add_rank_statistics", "comparisons_frame",
           "configuration_label", "configuration_labels", "draws", "pairwise", "rank_intervals", "tied_groups"]
