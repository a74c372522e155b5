"""Sweeps: the leaderboard keeps the grid point that wins on VALIDATION prompts and reports its TEST numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.leaderboards.render import to_markdown
from bench.leaderboards.table import aggregate, load_results


def write_swept_job(store: Path, method: str, beta: float, seed: int, test_wr: float, val_wr: float) -> None:
    job_id = f"{method}-b{beta}-s{seed}"
    path = store / job_id / "metrics.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({
        "job": {"id": job_id, "method": method, "selector": "all", "seed": seed, "reduction": "sum", "steps": 10,
                "hyperparameters": {"beta": beta, "reduction": "sum"},
                "sweep": {"point": {"beta": beta}, "size": 3, "select_on": "gold_win_rate"}},
        "metrics": {"gold_win_rate": test_wr, "gold_win_rate_ci_low": test_wr - 3,
                    "gold_win_rate_ci_high": test_wr + 3},
        "validation": {"gold_win_rate": val_wr, "proxy_win_rate": 99.0},
        "provenance": {"comparability_key": "k", "model": "m", "dataset": "d", "evaluation": "e"},
    }))


def test_the_point_best_on_validation_is_reported_with_its_test_numbers(tmp_path: Path) -> None:
    # beta=0.05 has the best TEST win rate but not the best VALIDATION one: it must not be picked
    for seed, (val_small, val_mid, val_big) in enumerate([(50.0, 60.0, 55.0), (52.0, 58.0, 57.0)]):
        write_swept_job(tmp_path, "dpo", 0.05, seed, test_wr=70.0, val_wr=val_small)
        write_swept_job(tmp_path, "dpo", 0.1, seed, test_wr=61.0 + seed, val_wr=val_mid)
        write_swept_job(tmp_path, "dpo", 0.5, seed, test_wr=55.0, val_wr=val_big)
    (table,) = aggregate(load_results(tmp_path)).values()
    assert len(table) == 1
    row = table.iloc[0]
    assert row["chosen"] == "beta=0.1" and row["grid"] == 3 and row["n_seeds"] == 2
    assert row["gold_win_rate"] == pytest.approx(61.5)
    assert "beta=0.1 (3)" in to_markdown(table)


def test_points_are_compared_on_the_seeds_they_share_and_ties_go_to_the_first_label(tmp_path: Path) -> None:
    """With tuning.select_seeds the chosen point alone trains on the other seeds: their validation scores must not
    make another point, seen on fewer seeds, the winner."""
    write_swept_job(tmp_path, "dpo", 0.1, 0, test_wr=60.0, val_wr=58.0)  # chosen on seed 0 ...
    write_swept_job(tmp_path, "dpo", 0.5, 0, test_wr=55.0, val_wr=57.0)
    write_swept_job(tmp_path, "dpo", 0.1, 1, test_wr=62.0, val_wr=40.0)  # ... then a poor second seed
    (table,) = aggregate(load_results(tmp_path)).values()
    assert table.iloc[0]["chosen"] == "beta=0.1" and table.iloc[0]["n_seeds"] == 2
    write_swept_job(tmp_path, "dpo", 0.05, 0, test_wr=50.0, val_wr=58.0)  # a tie on seed 0: sorts first
    (table,) = aggregate(load_results(tmp_path)).values()
    assert table.iloc[0]["chosen"] == "beta=0.05"


def test_a_sweep_record_without_its_validation_score_is_rejected(tmp_path: Path) -> None:
    write_swept_job(tmp_path, "dpo", 0.1, 0, test_wr=60.0, val_wr=50.0)
    path = tmp_path / "dpo-b0.1-s0" / "metrics.json"
    record = json.loads(path.read_text())
    del record["validation"]
    path.write_text(json.dumps(record))
    with pytest.raises(BenchError, match="validation"):
        load_results(tmp_path)


def test_a_seed_interval_stays_within_the_win_rate_range(tmp_path: Path) -> None:
    for seed, wr in enumerate([99.0, 60.0, 98.0]):  # t interval of these would pass 100
        path = tmp_path / f"j{seed}" / "metrics.json"
        path.parent.mkdir()
        path.write_text(json.dumps({
            "job": {"id": f"j{seed}", "method": "dpo", "selector": "all", "seed": seed, "reduction": "sum",
                    "steps": 10, "hyperparameters": {"beta": 0.1}},
            "metrics": {"gold_win_rate": wr, "gold_win_rate_ci_low": wr - 1, "gold_win_rate_ci_high": wr + 1},
            "provenance": {"comparability_key": "k", "model": "m", "dataset": "d", "evaluation": "e"}}))
    (table,) = aggregate(load_results(tmp_path)).values()
    assert table.iloc[0]["gold_win_rate_ci_high"] == 100.0 and table.iloc[0]["gold_win_rate_ci_low"] >= 0.0
