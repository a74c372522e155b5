"""A job evaluated again, or trained again by a train-only run, keeps what was computed before."""

from __future__ import annotations

import pytest

from bench.integrity import read_sealed_json
from bench.leaderboards.table import aggregate, load_results
from bench.runner.run import run
from bench.runner.store import finished, write_metrics
from bench.store_layout import earlier_evaluation_path

pytestmark = pytest.mark.slow

FEWER_EVALUATORS = "eval.evaluators=[win_rate,kl,length]"


def _record(evaluation: str, metrics: dict, key: str = "k") -> dict:
    return {"job": {"id": "dpo-seed0-x", "method": "dpo", "seed": 0}, "metrics": metrics,
            "provenance": {"evaluation": evaluation, "comparability_key": f"{key}-{evaluation}"}, "cost": {}}


def test_a_replaced_evaluation_is_kept_and_still_counts_as_finished(tmp_path):
    first, second = _record("e1", {"kl": 1.0}), _record("e2", {"kl": 2.0})
    write_metrics(tmp_path, first)
    write_metrics(tmp_path, second)
    assert read_sealed_json(tmp_path / "metrics.json") == second
    assert read_sealed_json(earlier_evaluation_path(tmp_path, "e1")) == first
    assert finished(tmp_path, "e1") == first and finished(tmp_path, "e2") == second
    write_metrics(tmp_path, first)  # back to the first evaluation: each record is kept once
    assert not earlier_evaluation_path(tmp_path, "e1").exists()
    assert read_sealed_json(earlier_evaluation_path(tmp_path, "e2")) == second


def test_a_record_without_metrics_is_replaced_not_kept(tmp_path):
    write_metrics(tmp_path, _record("train-only", {}))
    write_metrics(tmp_path, _record("e1", {"kl": 1.0}))
    assert not (tmp_path / "earlier_evaluations").exists()


def test_an_unreadable_record_counts_as_unfinished(tmp_path):
    (tmp_path / "metrics.json").write_text("{ cut off")
    assert finished(tmp_path, "e1") is None
    write_metrics(tmp_path, _record("e1", {"kl": 1.0}))
    assert finished(tmp_path, "e1")["metrics"] == {"kl": 1.0}


def test_train_only_and_re_evaluating_runs_keep_earlier_results(tmp_path, smoke_run_config, smoke_gym):
    def config(*overrides: str):
        return smoke_run_config(tmp_path, "method=dpo", *overrides)

    run(config(), say=lambda line: None)
    (job,) = tmp_path.glob("jobs/dpo-*")
    evaluated = read_sealed_json(job / "metrics.json")
    assert evaluated["cost"]["train_seconds"] > 0

    train_only = run(config("eval.evaluators=[]"), say=lambda line: None)
    assert (train_only.trained, train_only.reused) == (0, 1)
    assert read_sealed_json(job / "metrics.json") == evaluated  # its evaluation is not overwritten

    fewer = run(config(FEWER_EVALUATORS), say=lambda line: None)
    assert fewer.reused == 0  # evaluated again under the new evaluation ...
    latest = read_sealed_json(job / "metrics.json")
    assert set(latest["metrics"]) < set(evaluated["metrics"])
    assert {k: latest["cost"][k] for k in ("train_seconds", "train_tokens", "train_seconds_per_step")} == \
        {k: evaluated["cost"][k] for k in ("train_seconds", "train_tokens", "train_seconds_per_step")}
    kept = earlier_evaluation_path(job, evaluated["provenance"]["evaluation"])
    assert read_sealed_json(kept) == evaluated  # ... and the first evaluation is kept

    tables = aggregate(load_results(tmp_path))
    assert set(tables) == {evaluated["provenance"]["comparability_key"], latest["provenance"]["comparability_key"]}
    for table in tables.values():  # the job is a row of both tables, once
        assert list(table["method"]).count("dpo") == 1

    again = run(config(), say=lambda line: None)
    assert (again.trained, again.reused) == (0, 1)  # the kept evaluation serves the first setting again
