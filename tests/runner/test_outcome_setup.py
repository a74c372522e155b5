"""Causal objectives on the smoke gym: outcome rows, reference samples and g are made once and reused."""

from __future__ import annotations

import json

import pytest

from bench.leaderboards.table import load_results
from bench.runner.run import run

pytestmark = pytest.mark.slow

METHODS = "causal_po,dr_causal_po,outcome_po"


@pytest.fixture(scope="module")
def causal_run(tmp_path_factory, smoke_run, smoke_gym):
    return smoke_run(tmp_path_factory.mktemp("causal-store"), f"method={METHODS}")


def records(store) -> dict[str, dict]:
    return {r["job"]["method"]: r for r in (json.loads(p.read_text()) for p in store.glob("jobs/*/metrics.json"))}


def test_every_causal_objective_trains_on_the_gym_outcome_rows_and_is_evaluated(causal_run):
    _, store, result, _ = causal_run
    assert result.trained == 3
    found = records(store)
    assert set(found) == {"causal_po", "dr_causal_po", "outcome_po", "reference"}
    for method in METHODS.split(","):
        assert found[method]["job"]["data_kind"] == "outcomes"
        assert {"gold_reward", "gold_win_rate", "kl", "length"} <= set(found[method]["metrics"])
        (log,) = store.glob(f"jobs/{method}-*/train_log.jsonl")
        assert all("value" in json.loads(line) for line in log.read_text().splitlines())


def test_samples_and_outcome_model_are_made_once_and_recorded(causal_run):
    _, store, _, lines = causal_run
    assert sum(line.startswith("reference samples:") for line in lines) == 1  # shared by dr and outcome_po
    (fitted,) = [line for line in lines if line.startswith("outcome model")]
    assert "held-out R^2" in fitted
    inputs = records(store)["dr_causal_po"]["job"]["outcome_inputs"]
    assert inputs["reference_samples"]["per_prompt"] == 4
    assert {"heldout_r2", "alpha", "key"} <= set(inputs["outcome_model"])
    assert "outcome_inputs" not in records(store)["causal_po"]["job"]


def test_a_second_run_reuses_everything(causal_run):
    config, _, _, _ = causal_run
    result = run(config, say=lambda line: None)
    assert result.trained == 0 and result.reused == 3


def test_switching_the_confounder_on_retrains_the_outcome_objectives_only(causal_run, smoke_run_config):
    _, store, _, _ = causal_run
    confounded = smoke_run_config(store, "method=causal_po,dpo", "gym.annotator.confounder_strength=1.0",
                                  "eval.evaluators=[]")
    assert run(confounded, say=lambda line: None).trained == 2
    again = smoke_run_config(store, "method=dpo", "eval.evaluators=[]")
    run(again, say=lambda line: None)
    # causal_po has a new job (new outcome rows, new key); dpo trains on the same pairs either way: one job
    assert len(list(store.glob("jobs/causal_po-*"))) == 2
    assert len(list(store.glob("jobs/dpo-*"))) == 1
    # ... but the two outcome datasets are two benchmarks: their rows never share a leaderboard table
    keys = {json.loads(p.read_text())["provenance"]["comparability_key"]
            for p in store.glob("jobs/causal_po-*/metrics.json")}
    assert len(keys) == 2
    # the one dpo job belongs to both benchmarks: reused by the unconfounded run (the proxy judge, hence the
    # evaluation, ignores the confounder), it is listed in the confounded run's table and in that one's
    (dpo,) = store.glob("jobs/dpo-*/metrics.json")
    provenance = json.loads(dpo.read_text())["provenance"]
    assert provenance["comparability_key"] in keys and len(provenance["also_comparable_under"]) == 1
    rows = load_results(store)
    assert set(rows.loc[rows["method"] == "dpo", "comparability_key"]) == {provenance["comparability_key"],
                                                                           *provenance["also_comparable_under"]}
    run(again, say=lambda line: None)
    assert len(json.loads(dpo.read_text())["provenance"]["also_comparable_under"]) == 1  # not once per reuse
