"""Tests for bench.leaderboards.plot: method points from the store, and the frontier PNG."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from bench.errors import BenchError
from bench.gym.frontier import Frontier
from bench.leaderboards.plot import METHODS_GID, MethodPoint, method_points, plot_frontier
from bench.leaderboards.table import load_results

from .test_table import T_0975_DF2, store, win_metrics, write_job

__all__ = ["store"]  # the results-store fixture of test_table

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def frontier() -> Frontier:
    rewards = np.random.default_rng(0).normal(size=(4, 256))
    return Frontier.from_rewards(rewards, ["a", "b", "c", "d"], reference="model-a")


def by_gid(axes, gid: str) -> list:
    return [artist for artist in axes.get_children() if artist.get_gid() == gid]


def test_method_points_are_seed_means_with_t_half_widths(store: Path) -> None:
    points, reference = method_points(load_results(store))
    by_label = {p.label: p for p in points}
    assert sorted(by_label) == ["dpo", "ipo", "simpo"] and reference == 0.0
    dpo = by_label["dpo"]  # gold rewards 0.0, 0.1, 0.2 over three seeds; KL 1, 2 and a NaN seed
    assert dpo.reward == pytest.approx(0.1)
    assert dpo.reward_error == pytest.approx(T_0975_DF2 * 0.1 / math.sqrt(3), rel=1e-5)
    t_0975_df1 = 12.706205  # two finite KL seeds
    assert dpo.kl == pytest.approx(1.5)
    assert dpo.kl_error == pytest.approx(t_0975_df1 * np.std([1.0, 2.0], ddof=1) / math.sqrt(2), rel=1e-5)
    assert by_label["simpo"].reward_error == pytest.approx(0.0)
    assert math.isnan(by_label["ipo"].kl) and math.isnan(by_label["ipo"].reward_error)  # one seed, no KL


def test_a_method_with_two_configurations_is_labelled_by_them(tmp_path: Path) -> None:
    for beta in (0.1, 0.5):
        write_job(tmp_path, f"dpo-{beta}", "dpo", 0, {"kl": 1.0, "gold_reward": beta}, hyperparameters={"beta": beta})
    labels = sorted(p.label for p in method_points(load_results(tmp_path))[0])
    assert labels == ['dpo {"beta":0.1}', 'dpo {"beta":0.5}']


def test_a_method_under_several_selectors_is_labelled_by_the_selector(tmp_path: Path) -> None:
    for selector in ("all", "random:ratio=0.4", "alignment_potential:ratio=0.4,w=1"):
        write_job(tmp_path, f"dpo-{selector}", "dpo", 0, {"kl": 1.0, "gold_reward": 0.5}, selector=selector)
    write_job(tmp_path, "dpo-random-b", "dpo", 0, {"kl": 1.0, "gold_reward": 0.5}, selector="random:ratio=0.4",
              hyperparameters={"beta": 0.5})
    labels = sorted(p.label for p in method_points(load_results(tmp_path))[0])
    assert labels == ["dpo", "dpo [alignment_potential]", 'dpo [random] {"beta":0.1}', 'dpo [random] {"beta":0.5}']


def test_method_points_refuse_mixed_keys_and_missing_metrics(store: Path, tmp_path: Path) -> None:
    write_job(store, "other", "dpo", 0, {**win_metrics("gold", 50.0), "kl": 1.0, "gold_reward": 0.0},
              key="key-b", model="model-b")
    with pytest.raises(BenchError, match="different comparability keys"):
        method_points(load_results(store))
    write_job(tmp_path / "alone", "d", "dpo", 0, {"gold_win_rate": 50.0})
    with pytest.raises(BenchError, match="no kl or gold_reward"):
        method_points(load_results(tmp_path / "alone"))


def test_plot_writes_a_png_with_one_point_and_label_per_placed_method(store: Path, frontier: Frontier,
                                                                     tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    points, reference = method_points(load_results(store))
    path = tmp_path / "plots" / "frontier.png"
    figure = plot_frontier(frontier, points, path, reference_reward=reference)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    axes = figure.axes[0]
    (methods,) = by_gid(axes, METHODS_GID)
    assert len(methods.get_offsets()) == 2  # dpo and simpo; ipo has no KL and cannot be placed
    assert sorted(artist.get_gid() for artist in axes.texts if str(artist.get_gid()).startswith("label:")) == [
        "label:dpo", "label:simpo"]
    (reference_marker,) = by_gid(axes, "reference")
    assert reference_marker.get_offsets().tolist() == [[0.0, 0.0]]
    (line,) = by_gid(axes, "frontier")
    valid = frontier.table[frontier.table["valid"]]
    assert len(line.get_xdata()) == len(valid) < len(frontier.table)  # dropped points are not drawn
    (note,) = by_gid(axes, "note")
    assert "N=256" in note.get_text() and f"{frontier.dropped} of 65" in note.get_text()
    assert axes.get_xscale() == "linear" and axes.get_xlabel().startswith("KL")
    assert axes.get_ylabel() == "gold reward r*"


def test_large_kl_switches_to_a_symlog_axis_and_errors_draw_when_given(frontier: Frontier) -> None:
    pytest.importorskip("matplotlib")
    points = [MethodPoint("far", 150.0, 0.2, 10.0, 0.05, family="dpo"), MethodPoint("near", 1.0, 0.3, family="kto")]
    axes = plot_frontier(frontier, points).axes[0]
    family = axes.get_legend()  # the colour key: one entry per family, beside the legend of what is drawn
    assert family.get_title().get_text() == "family" and [t.get_text() for t in family.get_texts()] == ["dpo", "kto"]
    assert axes.get_xscale() == "symlog"
    assert len(by_gid(axes, METHODS_GID)[0].get_offsets()) == 2
    assert any(container.get_label() == "95% t interval over seeds" for container in axes.containers)
