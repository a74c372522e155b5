"""Tests for bench.gym.frontier: the pi* frontier, best-of-n, regret, and the gym's cached frontier."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.cached import write_record
from bench.errors import BenchError, ConfigError
from bench.gym.frontier import (
    MIN_ESS,
    Frontier,
    best_of_n_curve,
    best_of_n_kl,
    best_of_n_weights,
    beyond_frontier,
    frontier_from_rewards,
    frontier_reward,
    gym_frontier,
    read_frontier,
    regret,
    save_frontier,
    stored_frontiers,
)


def two_point(n: int, winners: int) -> list[float]:
    """``winners`` samples with reward 1, the rest 0."""
    return [1.0] * winners + [0.0] * (n - winners)


def two_point_tilt(p: float, beta: float) -> tuple[float, float]:
    """pi* of a reward that is 1 with reference probability p and 0 otherwise: its reward and KL."""
    q = p * math.exp(1.0 / beta) / (p * math.exp(1.0 / beta) + 1.0 - p)
    return q, q * math.log(q / p) + (1.0 - q) * math.log((1.0 - q) / (1.0 - p))


def test_two_point_rewards_match_the_closed_form_tilt() -> None:
    n, winners, betas = 40, (4, 10), [0.25, 0.5, 1.0, 3.0]
    table = frontier_from_rewards([two_point(n, w) for w in winners], betas)
    assert table["beta"].tolist() == [math.inf, 3.0, 1.0, 0.5, 0.25]
    assert table.iloc[0][["reward", "kl", "ess_min"]].tolist() == pytest.approx([7 / 40, 0.0, 40.0])
    for _, row in table.iloc[1:].iterrows():
        tilts = [two_point_tilt(w / n, row["beta"]) for w in winners]
        assert row["reward"] == pytest.approx(np.mean([q for q, _ in tilts]), rel=1e-12)
        assert row["kl"] == pytest.approx(np.mean([kl for _, kl in tilts]), rel=1e-10)
        ess = [1.0 / (q**2 / w + (1 - q) ** 2 / (n - w)) for (q, _), w in zip(tilts, winners, strict=True)]
        assert row["ess_min"] == pytest.approx(min(ess), rel=1e-12)
        assert row["valid"] == (min(ess) >= MIN_ESS)


def test_kl_equals_reward_over_beta_minus_log_z() -> None:
    rewards = np.random.default_rng(0).normal(size=(3, 300))
    beta = 0.7
    table = frontier_from_rewards(rewards, [beta])
    log_z = np.log(np.exp(rewards / beta).sum(axis=1)) - math.log(300)
    weights = np.exp(rewards / beta) / np.exp(rewards / beta).sum(axis=1, keepdims=True)
    per_prompt_reward = (weights * rewards).sum(axis=1)
    assert table.iloc[1]["kl"] == pytest.approx(np.mean(per_prompt_reward / beta - log_z), rel=1e-10)


def test_frontier_reward_and_kl_grow_as_beta_falls() -> None:
    rewards = np.random.default_rng(1).gamma(2.0, size=(5, 256)) - 1.0
    table = frontier_from_rewards(rewards)
    assert (np.diff(table["kl"]) >= 0).all() and (np.diff(table["reward"]) >= 0).all()
    assert table["kl"].iloc[-1] <= math.log(256)  # the estimate cannot exceed log N


def test_low_ess_points_are_marked_invalid_and_ignored_by_interpolation() -> None:
    rewards = np.zeros((1, 256))
    rewards[0, 0] = 5.0  # one outlier: a small beta puts all weight on it
    table = frontier_from_rewards(rewards, [0.1, 2.0, 10.0])
    weights = [np.exp(rewards[0] / b) / np.exp(rewards[0] / b).sum() for b in (10.0, 2.0, 0.1)]
    ess = [1.0 / (w**2).sum() for w in weights]
    assert table["ess_min"].iloc[1:].tolist() == pytest.approx(ess)
    assert table["valid"].tolist() == [True, *[e >= MIN_ESS for e in ess]] == [True, True, True, False]
    last_valid_kl = table["kl"].iloc[2]
    assert beyond_frontier(table, last_valid_kl + 1e-6) and not beyond_frontier(table, last_valid_kl)
    assert math.isnan(frontier_reward(table, table["kl"].iloc[3]))


def test_best_of_n_equals_brute_force_over_all_subsets() -> None:
    rewards = np.random.default_rng(2).normal(size=(2, 7))
    curve = best_of_n_curve(rewards, ns=range(1, 8))
    for n, reward in zip(curve["n"], curve["reward"], strict=True):
        brute = np.mean([np.mean([max(s) for s in itertools.combinations(row, n)]) for row in rewards])
        assert reward == pytest.approx(brute, rel=1e-12)
    assert curve["kl"].tolist() == pytest.approx([math.log(n) - (n - 1) / n for n in range(1, 8)])


def test_best_of_n_weights_sum_to_one_and_need_n_within_the_samples() -> None:
    assert best_of_n_weights(1000, 300).sum() == pytest.approx(1.0)
    assert best_of_n_curve(np.arange(8.0)[None, :])["n"].tolist() == [1, 2, 4, 8]
    assert best_of_n_kl(1) == 0.0
    with pytest.raises(BenchError, match="n=9"):
        best_of_n_weights(8, 9)


def test_regret_is_zero_on_the_frontier_and_interpolates_linearly_between_points() -> None:
    table = frontier_from_rewards(np.random.default_rng(3).normal(size=(4, 512)), [1.0, 2.0, 4.0])
    kls, rewards = table["kl"].to_numpy(), table["reward"].to_numpy()  # KL ascending: inf, 4, 2, 1
    assert table["valid"].all()
    assert regret(table, kls[2], rewards[2]) == pytest.approx(0.0, abs=1e-15)
    midpoint = (kls[1] + kls[2]) / 2
    assert regret(table, midpoint, 0.0) == pytest.approx((rewards[1] + rewards[2]) / 2)
    assert regret(table, kls[3], rewards[3] - 0.1) == pytest.approx(0.1)
    assert regret(table, -0.02, 0.0) == pytest.approx(rewards[0])  # KL noise below 0 reads as 0
    many = regret(table, np.array([kls[2], midpoint]), np.array([rewards[2], 0.0]))
    assert many.shape == (2,) and many[0] == pytest.approx(0.0, abs=1e-15)


def test_regret_beyond_the_frontier_is_nan_or_a_lower_bound() -> None:
    table = frontier_from_rewards(np.random.default_rng(4).normal(size=(2, 256)), [1.0, 2.0])
    top_kl, top_reward = table["kl"].iloc[-1], table["reward"].iloc[-1]
    assert math.isnan(regret(table, top_kl + 5.0, 0.0))
    assert regret(table, top_kl + 5.0, 0.25, beyond="last") == pytest.approx(top_reward - 0.25)
    assert math.isnan(regret(table, math.nan, 0.0, beyond="last"))
    with pytest.raises(BenchError, match="beyond='far'"):
        regret(table, 1.0, 0.0, beyond="far")


def test_bad_inputs_name_the_problem() -> None:
    with pytest.raises(BenchError, match="row 1"):
        frontier_from_rewards([[0.0, 1.0], [math.nan, 1.0]])
    with pytest.raises(BenchError, match="shaped"):
        frontier_from_rewards([1.0, 2.0])
    with pytest.raises(BenchError, match="betas"):
        frontier_from_rewards([[0.0, 1.0]], [0.0])
    no_valid = pd.DataFrame({"beta": [1.0], "reward": [1.0], "kl": [1.0], "ess_min": [1.0], "valid": [False]})
    with pytest.raises(BenchError, match="no valid point"):
        regret(no_valid, 0.5, 0.0)


def test_frontier_object_reports_n_dropped_points_and_range() -> None:
    rewards = np.random.default_rng(5).normal(size=(3, 256))
    frontier = Frontier.from_rewards(rewards, ["a", "b", "c"], reference="ref")
    assert frontier.samples == 256 and frontier.dropped == int((~frontier.table["valid"]).sum()) > 0
    assert frontier.kl_max == frontier.table.loc[frontier.table["valid"], "kl"].max()
    assert "N=256" in frontier.note() and f"{frontier.dropped} of 65" in frontier.note()


def test_gym_frontier_samples_the_reference_scores_gold_and_caches(smoke_gym, tmp_path: Path) -> None:
    from bench.gym.judges import GoldJudge

    first = gym_frontier(smoke_gym, max_new_tokens=8, max_prompt_tokens=64, cache=tmp_path, prompts=2,
                         backend="transformers")
    assert not first.cached and first.rewards.shape == (2, 256) and first.prompts == smoke_gym.test_prompts[:2]
    rows = json.loads(next((tmp_path / "generations").glob("*.json")).read_text())["rows"]
    texts = [row["output"] for row in rows]
    expected = GoldJudge().score([row["instruction"] for row in rows], texts).reshape(2, 256)
    assert np.array_equal(first.rewards, expected)
    again = gym_frontier(smoke_gym, max_new_tokens=8, max_prompt_tokens=64, cache=tmp_path, prompts=2,
                         backend="transformers")
    assert again.cached and again.seconds == 0.0 and again.key == first.key
    pd.testing.assert_frame_equal(again.table, first.table)
    (stored,) = (tmp_path / "frontier").glob("*.json")
    from_file = read_frontier(stored)
    assert from_file.reference == first.reference and np.array_equal(from_file.rewards, first.rewards)
    with pytest.raises(ConfigError, match="N >= 256"):
        gym_frontier(smoke_gym, 8, 64, cache=tmp_path, samples=64)


def test_an_unreadable_frontier_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "frontier.json"
    path.write_text("{}")
    with pytest.raises(BenchError, match=r"frontier\.json: has no checksum"):
        read_frontier(path)
    write_record(path, {"rewards": [[1.0]]})
    with pytest.raises(BenchError, match=r"frontier\.json: unreadable"):
        read_frontier(path)


def test_a_frontier_kept_in_a_store_is_found_by_its_table_key_and_a_damaged_one_is_said(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    frontier = Frontier.from_rewards(np.random.default_rng(0).normal(size=(2, 256)), ["a", "b"], "ref", key="k")
    save_frontier(frontier, tmp_path / "table-a" / "frontier.json", "key-a")
    save_frontier(frontier, tmp_path / "table-b" / "frontier.json", "key-b")
    found = stored_frontiers(tmp_path, "frontier.json")
    assert sorted(found) == ["key-a", "key-b"] and np.array_equal(found["key-a"].rewards, frontier.rewards)
    damaged = tmp_path / "table-b" / "frontier.json"
    damaged.write_text(damaged.read_text().replace("ref", "fer"))
    assert sorted(stored_frontiers(tmp_path, "frontier.json")) == ["key-a"]
    assert "table-b/frontier.json: its content changed since it was written" in caplog.text


def test_regret_past_the_valid_range_is_bounded_by_best_of_n_too() -> None:
    rewards = np.random.default_rng(0).normal(size=(4, 256))
    frontier = Frontier.from_rewards(rewards, [f"p{i}" for i in range(4)], "ref")
    far = frontier.kl_max + 50.0
    best = float(frontier.best_of_n["reward"].max())
    last_valid = float(frontier.table[frontier.table["valid"].astype(bool)]["reward"].max())
    assert best > last_valid  # best-of-256 reaches further than the importance weights can
    assert frontier.regret(far, 0.1, beyond="last") == pytest.approx(best - 0.1)
    inside = frontier.kl_max / 2
    assert frontier.regret(inside, 0.1, beyond="last") == pytest.approx(frontier.regret(inside, 0.1))
