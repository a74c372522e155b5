"""Tests for bench.leaderboards.table: loading the results store, seed aggregation, CIs and ranks."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bench.cached import write_record
from bench.errors import BenchError
from bench.gym.frontier import Frontier
from bench.leaderboards.table import (
    add_regret,
    aggregate,
    aggregate_key,
    load_results,
    primary_metric,
    selector_grid,
)

T_0975_DF2 = 4.302653  # two-sided 95% Student-t critical value, 2 degrees of freedom (3 seeds)
T_0975_DF1 = 12.706205  # the same for 1 degree of freedom (2 seeds)


def write_job(store: Path, job_id: str, method: str, seed: int, metrics: dict[str, Any],
              key: str = "key-a", model: str = "model-a", hyperparameters: dict[str, Any] | None = None,
              selector: str = "all") -> Path:
    """Write one metrics.json the way the runner lays it out (job directory per job)."""
    path = store / key / job_id / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "job": {"id": job_id, "method": method, "selector": selector, "seed": seed,
                "hyperparameters": hyperparameters if hyperparameters is not None else {"beta": 0.1},
                "reduction": "sum", "steps": 100},
        "metrics": metrics,
        "provenance": {"comparability_key": key, "model": model, "dataset": "data-a",
                       "evaluation": "eval-a", "packages": {"torch": "2.5"}, "bench_version": "0.1.0"},
        "cost": {"train_seconds": 10.0 + seed, "eval_seconds": 2.0, "device": "cpu"},
    }
    path.write_text(json.dumps(payload))  # json writes float('nan') as NaN, as the runner's json does
    return path


def win_metrics(judge: str, value: float, half_width: float = 5.0) -> dict[str, float]:
    return {f"{judge}_win_rate": value, f"{judge}_win_rate_ci_low": value - half_width,
            f"{judge}_win_rate_ci_high": value + half_width}


DPO_GOLD = [60.0, 62.0, 67.0]
SIMPO_GOLD = [70.0, 71.0, 75.0]
DPO_KL = [1.0, 2.0, float("nan")]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """2 methods x 3 seeds, one single-seed method, and the reference row, all under one key."""
    root = tmp_path / "results"
    for seed in range(3):
        write_job(root, f"dpo-s{seed}", "dpo", seed,
                  {**win_metrics("gold", DPO_GOLD[seed]), **win_metrics("proxy", 80.0 + seed),
                   "gold_reward": 0.1 * seed, "kl": DPO_KL[seed], "length": 20.0})
        write_job(root, f"simpo-s{seed}", "simpo", seed,
                  {**win_metrics("gold", SIMPO_GOLD[seed]), **win_metrics("proxy", 70.0),
                   "gold_reward": 0.5, "kl": 3.0, "length": 30.0 + seed},
                  hyperparameters={"beta": 2.0, "gamma_beta_ratio": 0.5})
    write_job(root, "ipo-s0", "ipo", 0, {**win_metrics("gold", 55.0, 6.0), "gold_reward": 0.2, "kl": None})
    write_job(root, "reference", "reference", 0, {**win_metrics("gold", 50.0, 4.0), "gold_reward": 0.0,
                                                   "kl": 0.0})
    return root


def hand_frontier(reference: str = "model-a") -> Frontier:
    """A frontier through (KL, reward) = (0, 0), (1, 0.4), (2, 0.6), with a dropped point at (4, 0.9)."""
    table = pd.DataFrame({"beta": [math.inf, 2.0, 1.0, 0.5], "reward": [0.0, 0.4, 0.6, 0.9],
                          "kl": [0.0, 1.0, 2.0, 4.0], "ess_min": [256.0, 80.0, 20.0, 3.0],
                          "valid": [True, True, True, False]})
    return Frontier(table=table, best_of_n=pd.DataFrame({"n": [1], "reward": [0.0], "kl": [0.0]}),
                    rewards=np.zeros((1, 256)), prompts=["p"], reference=reference, key="hand", seconds=0.0,
                    cached=True)


def t_interval(values: list[float], t: float = T_0975_DF2) -> tuple[float, float]:
    array = np.array(values)
    half = t * array.std(ddof=1) / math.sqrt(array.size)
    return array.mean() - half, array.mean() + half


def test_load_results_reads_one_row_per_file_and_keeps_nan(store: Path) -> None:
    df = load_results(store)
    assert len(df) == 8
    assert set(df["method"]) == {"dpo", "simpo", "ipo", "reference"}
    row = df[df["job_id"] == "dpo-s2"].iloc[0]
    assert math.isnan(row["kl"])  # NaN in the file
    assert math.isnan(df[df["job_id"] == "ipo-s0"].iloc[0]["kl"])  # null in the file
    assert math.isnan(df[df["job_id"] == "ipo-s0"].iloc[0]["proxy_win_rate"])  # never emitted
    assert row["cost_train_seconds"] == 12.0 and "cost_device" not in df.columns


def test_aggregate_gives_seed_means_cis_and_ranks(store: Path) -> None:
    tables = aggregate(load_results(store))
    assert list(tables) == ["key-a"]
    table = tables["key-a"]
    assert list(table["method"]) == ["simpo", "dpo", "ipo", "reference"]  # by gold WR, reference last
    assert table["rank"].tolist()[:3] == [1, 2, 3] and pd.isna(table["rank"].iloc[3])
    assert table["n_seeds"].tolist() == [3, 3, 1, 1]
    dpo = table.set_index("method").loc["dpo"]
    assert dpo["gold_win_rate"] == pytest.approx(np.mean(DPO_GOLD))
    assert (dpo["gold_win_rate_ci_low"], dpo["gold_win_rate_ci_high"]) == pytest.approx(t_interval(DPO_GOLD))
    assert dpo["proxy_win_rate"] == pytest.approx(81.0)
    assert dpo["kl"] == pytest.approx(1.5)  # the NaN seed is left out of the mean
    assert dpo["gold_reward"] == pytest.approx(0.1)
    simpo = table.set_index("method").loc["simpo"]
    assert (simpo["gold_win_rate_ci_low"], simpo["gold_win_rate_ci_high"]) == pytest.approx(
        t_interval(SIMPO_GOLD))
    ipo = table.set_index("method").loc["ipo"]  # one seed: the run's own bootstrap CI
    assert ipo["gold_win_rate"] == 55.0
    assert (ipo["gold_win_rate_ci_low"], ipo["gold_win_rate_ci_high"]) == (49.0, 61.0)
    assert math.isnan(ipo["kl"])
    assert primary_metric(table) == "gold_win_rate"


def test_rank_falls_back_to_the_first_win_rate_without_gold(tmp_path: Path) -> None:
    for seed, (a, b) in enumerate([(40.0, 60.0), (42.0, 58.0)]):
        write_job(tmp_path, f"a{seed}", "a", seed, {"proxy_win_rate": a})
        write_job(tmp_path, f"b{seed}", "b", seed, {"proxy_win_rate": b})
    table = aggregate(load_results(tmp_path))["key-a"]
    assert primary_metric(table) == "proxy_win_rate"
    assert list(table["method"]) == ["b", "a"] and table["rank"].tolist() == [1, 2]


def test_a_metric_nan_in_every_run_stays_as_nan(tmp_path: Path) -> None:
    for seed in range(2):
        write_job(tmp_path, f"d{seed}", "dpo", seed, {"gold_win_rate": 50.0 + seed, "kl": float("nan")})
    table = aggregate(load_results(tmp_path))["key-a"]
    assert "kl" in table.columns and math.isnan(table["kl"].iloc[0])
    assert table["gold_win_rate"].iloc[0] == 50.5


def test_hyperparameter_points_are_separate_rows(tmp_path: Path) -> None:
    write_job(tmp_path, "d1", "dpo", 0, {"gold_win_rate": 50.0}, hyperparameters={"beta": 0.1})
    write_job(tmp_path, "d2", "dpo", 0, {"gold_win_rate": 60.0}, hyperparameters={"beta": 0.5})
    table = aggregate(load_results(tmp_path))["key-a"]
    assert table["hyperparameters"].tolist() == ['{"beta":0.5}', '{"beta":0.1}']


def test_two_comparability_keys_give_two_tables(store: Path) -> None:
    write_job(store, "dpo-other", "dpo", 0, win_metrics("gold", 90.0), key="key-b", model="model-b")
    tables = aggregate(load_results(store))
    assert sorted(tables) == ["key-a", "key-b"]
    assert len(tables["key-b"]) == 1 and tables["key-b"]["gold_win_rate"].iloc[0] == 90.0
    assert tables["key-a"].set_index("method").loc["dpo", "n_seeds"] == 3  # key-b's run is not a seed
    assert "kl" not in tables["key-b"].columns  # key-a's metrics do not leak into key-b's table
    with pytest.raises(BenchError, match="different comparability keys"):
        aggregate_key(load_results(store))


def test_a_damaged_metrics_json_is_named_and_left_out(store: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A truncated record, or one edited after it was sealed, is said in one line and its row left out: the table
    is rebuilt from the intact records, and the job's next `bench run` evaluates it again."""
    complete = load_results(store)
    bad = store / "key-a" / "broken" / "metrics.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    edited = next(store.rglob("metrics.json"))
    write_record(edited, json.loads(edited.read_text()))  # sealed, as the runner writes it
    record = json.loads(edited.read_text())
    record["job"]["seed"] += 7  # an edit that keeps the stale checksum
    edited.write_text(json.dumps(record))
    loaded = load_results(store)
    assert len(loaded) == len(complete) - 1
    assert re.search(r"broken/metrics\.json: invalid JSON.*left out of the leaderboard until `bench run`", caplog.text)
    assert f"{edited}: its content changed since it was written" in caplog.text


@pytest.mark.parametrize(("edit", "message"), [
    (lambda p: p["provenance"].pop("comparability_key"), "provenance.comparability_key is missing"),
    (lambda p: p.pop("metrics"), "section 'metrics'"),
    (lambda p: p["metrics"].update(kl="high"), "metrics.kl must be a number"),
    (lambda p: p["job"].update(seed="zero"), "job.seed must be an integer"),
    (lambda p: p["provenance"].update(also_comparable_under="key-b"), "also_comparable_under must be a list"),
])
def test_structurally_malformed_files_name_the_file_and_field(tmp_path: Path, edit: Any,
                                                              message: str) -> None:
    path = write_job(tmp_path, "job", "dpo", 0, {"kl": 1.0})
    payload = json.loads(path.read_text())
    edit(payload)
    path.write_text(json.dumps(payload))
    with pytest.raises(BenchError, match=message) as caught:
        load_results(tmp_path)
    assert str(path.relative_to(tmp_path)) in str(caught.value)


def test_a_job_reused_under_a_second_key_is_a_row_of_both_tables(tmp_path: Path) -> None:
    path = write_job(tmp_path, "dpo-0", "dpo", 0, {**win_metrics("gold", 60.0), "kl": 1.0})
    write_job(tmp_path, "simpo-0", "simpo", 0, {**win_metrics("gold", 70.0), "kl": 2.0}, key="key-b")
    payload = json.loads(path.read_text())
    payload["provenance"]["also_comparable_under"] = ["key-b"]
    path.write_text(json.dumps(payload))
    tables = aggregate(load_results(tmp_path))
    assert sorted(tables) == ["key-a", "key-b"]
    assert sorted(tables["key-b"]["method"]) == ["dpo", "simpo"] and list(tables["key-a"]["method"]) == ["dpo"]
    assert tables["key-b"].set_index("method").loc["dpo", "gold_win_rate"] == 60.0


def test_a_seed_counted_twice_is_an_error(tmp_path: Path) -> None:
    write_job(tmp_path, "run-1", "dpo", 0, {"gold_win_rate": 50.0})
    write_job(tmp_path, "run-2", "dpo", 0, {"gold_win_rate": 60.0})
    with pytest.raises(BenchError, match="seed 0"):
        aggregate(load_results(tmp_path))


def test_empty_and_missing_stores(tmp_path: Path) -> None:
    assert aggregate(load_results(tmp_path)) == {}
    with pytest.raises(BenchError, match="does not exist"):
        load_results(tmp_path / "nowhere")


def test_regret_is_computed_per_seed_then_averaged_and_marked_when_a_bound(store: Path) -> None:
    write_job(store, "dpo-other", "dpo", 0, {**win_metrics("gold", 90.0), "kl": 1.0, "gold_reward": 0.0},
              key="key-b", model="model-b")
    tables = aggregate(add_regret(load_results(store), hand_frontier()))
    table = tables["key-a"].set_index("method")
    # dpo: seed 0 at KL 1 (frontier 0.4, reward 0.0), seed 1 at KL 2 (0.6 - 0.1), seed 2 has no KL
    assert table.loc["dpo", "regret"] == pytest.approx(np.mean([0.4 - 0.0, 0.6 - 0.1]))
    assert table.loc["dpo", "regret_is_bound"] == 0.0
    # simpo: KL 3 is past the last valid point (KL 2): the regret is the bound 0.6 - 0.5
    assert table.loc["simpo", "regret"] == pytest.approx(0.1) and table.loc["simpo", "regret_is_bound"] == 1.0
    assert math.isnan(table.loc["ipo", "regret"])  # no KL
    assert table.loc["reference", "regret"] == pytest.approx(0.0)
    assert "regret" not in tables["key-b"].columns  # the frontier is model-a's reference, not model-b's


def test_regret_is_left_out_when_the_frontier_belongs_to_another_model(store: Path) -> None:
    table = aggregate(add_regret(load_results(store), hand_frontier("someone-else")))["key-a"]
    assert "regret" not in table.columns


# ---- the objective x selector grid -----------------------------------------------------------------

AP = "alignment_potential:ratio=0.4,w=1"
RANDOM = "random:ratio=0.4"


@pytest.fixture
def grid_store(tmp_path: Path) -> Path:
    """dpo under three selectors (two seeds each), simpo under two, rloo under all only, the reference."""
    root = tmp_path / "grid"
    values = {("dpo", "all"): [60.0, 62.0], ("dpo", RANDOM): [55.0, 57.0], ("dpo", AP): [64.0, 70.0],
              ("simpo", "all"): [52.0, 54.0], ("simpo", AP): [58.0, 58.0], ("rloo", "all"): [71.0, 73.0]}
    for (method, selector), golds in values.items():
        for seed, gold in enumerate(golds):
            write_job(root, f"{method}-{selector}-{seed}", method, seed, win_metrics("gold", gold),
                      selector=selector)
    write_job(root, "reference", "reference", 1, win_metrics("gold", 50.0), selector="-")
    return root


def test_the_grid_has_a_row_per_objective_and_a_column_per_selector_in_registry_order(grid_store: Path) -> None:
    table = aggregate(load_results(grid_store))["key-a"]
    assert len(table) == 7 and set(table["comparability_key"]) == {"key-a"}  # one table for the whole grid
    grid = selector_grid(table, "gold_win_rate")
    assert list(grid["method"]) == ["rloo", "dpo", "simpo"]  # the table's ranked order, reference left out
    assert [c for c in grid.columns[4:] if "_ci_" not in c] == ["all", RANDOM, AP]
    cells = grid.set_index("method")
    assert cells.loc["dpo", AP] == pytest.approx(67.0)
    low, _ = t_interval([64.0, 70.0], T_0975_DF1)  # two seeds; the upper end is clipped at 100
    assert (cells.loc["dpo", AP + "_ci_low"], cells.loc["dpo", AP + "_ci_high"]) == pytest.approx((low, 100.0))
    assert cells.loc["simpo", "all"] == pytest.approx(53.0) and math.isnan(cells.loc["simpo", RANDOM])
    assert math.isnan(cells.loc["rloo", AP])
    row = table[(table["method"] == "dpo") & (table["selector"] == RANDOM)].iloc[0]
    assert cells.loc["dpo", RANDOM] == row["gold_win_rate"]  # the grid rearranges the table's cells


def test_one_selector_gives_no_grid(store: Path) -> None:
    assert selector_grid(aggregate(load_results(store))["key-a"], "gold_win_rate") is None


def test_a_swept_method_is_one_grid_row_even_when_its_chosen_point_differs_per_selector(tmp_path: Path) -> None:
    for selector, chosen in (("all", 0.1), (RANDOM, 0.5)):
        for beta in (0.1, 0.5):
            path = write_job(tmp_path, f"dpo-{selector}-{beta}", "dpo", 0, win_metrics("gold", 60.0 + beta),
                             hyperparameters={"beta": beta}, selector=selector)
            payload = json.loads(path.read_text())
            payload["job"]["sweep"] = {"point": {"beta": beta}, "size": 2, "select_on": "gold_win_rate"}
            payload["validation"] = {"gold_win_rate": 90.0 if beta == chosen else 10.0}
            path.write_text(json.dumps(payload))
    grid = selector_grid(aggregate(load_results(tmp_path))["key-a"], "gold_win_rate")
    assert len(grid) == 1
    assert (grid.iloc[0]["all"], grid.iloc[0][RANDOM]) == pytest.approx((60.1, 60.5))


def test_a_judges_raw_win_rate_ranks_before_its_length_controlled_one() -> None:
    table = pd.DataFrame({"rm_lc_win_rate": [50.0], "rm_win_rate": [60.0]})
    assert primary_metric(table) == "rm_win_rate"
    assert primary_metric(pd.DataFrame({"rm_lc_win_rate": [50.0]})) == "rm_lc_win_rate"
