"""Tests for bench.leaderboards.ranking: rank intervals, Holm-corrected comparisons, tied groups."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from bench.leaderboards.ranking import (
    RANK_HIGH,
    RANK_LOW,
    TIED_GROUP,
    Comparison,
    add_rank_statistics,
    draws,
    pairwise,
    rank_intervals,
    tied_groups,
)
from bench.leaderboards.table import aggregate, load_results

from .test_table import write_job


def _store(tmp_path: Path, golds: dict[str, list[float]], half_width: float = 2.0) -> Path:
    for method, values in golds.items():
        for seed, value in enumerate(values):
            write_job(tmp_path, f"{method}-{seed}", method, seed,
                      {"gold_win_rate": value, "gold_win_rate_ci_low": value - half_width,
                       "gold_win_rate_ci_high": value + half_width})
    return tmp_path


def test_clearly_separated_methods_get_exact_ranks_and_their_own_groups(tmp_path: Path) -> None:
    runs = load_results(_store(tmp_path, {"a": [80.0, 81.0, 79.0], "b": [60.0, 61.0, 59.0], "c": [40.0, 41.0, 39.0]}))
    table, comparisons = add_rank_statistics(aggregate(runs)["key-a"], runs, "gold_win_rate")
    by_method = table.set_index("method")
    assert [by_method.loc[m, RANK_LOW] for m in "abc"] == [1, 2, 3]
    assert [by_method.loc[m, RANK_HIGH] for m in "abc"] == [1, 2, 3]
    assert [by_method.loc[m, TIED_GROUP] for m in "abc"] == [1, 2, 3]
    assert len(comparisons) == 3 and all(c.significant for c in comparisons)


def test_indistinguishable_methods_share_a_group_and_a_rank_interval(tmp_path: Path) -> None:
    runs = load_results(_store(tmp_path, {"a": [70.0, 60.0, 65.0], "b": [64.0, 66.0, 62.0], "c": [20.0, 21.0, 19.0]},
                               half_width=8.0))
    table, comparisons = add_rank_statistics(aggregate(runs)["key-a"], runs, "gold_win_rate")
    by_method = table.set_index("method")
    assert by_method.loc["a", TIED_GROUP] == by_method.loc["b", TIED_GROUP] == 1
    assert by_method.loc["c", TIED_GROUP] == 2
    assert (by_method.loc["a", RANK_LOW], by_method.loc["a", RANK_HIGH]) == (1, 2)
    assert (by_method.loc["b", RANK_LOW], by_method.loc["b", RANK_HIGH]) == (1, 2)
    pair = next(c for c in comparisons if {c.first, c.second} == {"a", "b"})
    assert not pair.significant and pair.p_holm >= pair.p_value


def test_holm_adjusts_the_smallest_p_by_the_number_of_pairs() -> None:
    rng = np.random.default_rng(0)
    redraws = {"a": rng.normal(10.0, 1.0, 4000), "b": rng.normal(0.0, 1.0, 4000), "c": rng.normal(0.1, 1.0, 4000)}
    comparisons = {frozenset((c.first, c.second)): c for c in pairwise(redraws)}
    ab, bc = comparisons[frozenset("ab")], comparisons[frozenset("bc")]
    difference = redraws["a"] - redraws["b"]  # about N(10, 2): z = 10 / sqrt(2), computed here by hand
    z = abs(difference.mean()) / difference.std(ddof=1)
    assert ab.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)
    assert ab.p_value < 2 / 4001  # below what counting draws on the wrong side of zero could ever give
    smallest = min(c.p_value for c in comparisons.values())
    assert min(c.p_holm for c in comparisons.values()) == pytest.approx(3 * smallest)
    assert bc.p_value > 0.5 and not bc.significant


def test_rank_intervals_follow_the_draws() -> None:
    redraws = {"x": np.array([3.0, 3.0, 1.0, 3.0]), "y": np.array([2.0, 2.0, 2.0, 2.0]), "z": np.zeros(4)}
    intervals = rank_intervals(redraws)
    assert intervals["z"] == (3, 3)
    assert intervals["x"][0] == 1 and intervals["x"][1] == 2  # once below y
    assert rank_intervals(redraws, higher_is_better=False)["z"] == (1, 1)


def test_groups_start_at_the_best_not_yet_grouped() -> None:
    separated = [Comparison("a", "c", 5.0, 0.001, 0.003), Comparison("b", "d", 5.0, 0.001, 0.003),
                 Comparison("a", "d", 9.0, 0.001, 0.003), Comparison("a", "b", 1.0, 0.5, 0.5),
                 Comparison("b", "c", 1.0, 0.5, 0.5), Comparison("c", "d", 1.0, 0.5, 0.5)]
    assert tied_groups(["a", "b", "c", "d"], separated) == {"a": 1, "b": 1, "c": 2, "d": 2}


def test_seeds_are_resampled_jointly_when_every_method_ran_the_same_seeds(tmp_path: Path) -> None:
    """Paired by seed: a method that is always exactly 1 point above another on every seed is separated from it
    although the seeds' spread is large."""
    runs = load_results(_store(tmp_path, {"a": [81.0, 51.0, 66.0], "b": [80.0, 50.0, 65.0]}, half_width=0.0))
    redraws = draws(runs, "gold_win_rate")
    assert np.allclose(redraws["a"] - redraws["b"], 1.0)


def test_forty_configurations_can_still_be_told_apart_after_holm() -> None:
    rng = np.random.default_rng(1)  # 40 configurations 1 point apart, each redrawn with a spread of 0.2
    redraws = {f"m{i:02d}": rng.normal(float(i), 0.2, 4000) for i in range(40)}
    comparisons = pairwise(redraws)
    assert len(comparisons) == 780
    assert all(c.significant for c in comparisons)
    groups = tied_groups(sorted(redraws, reverse=True), comparisons)
    assert sorted(groups.values()) == list(range(1, 41))
