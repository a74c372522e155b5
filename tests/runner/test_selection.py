"""Data selectors inside `bench run` on the smoke gym: one table for the grid, the kept rows on record,
the margins from the gym's gold reward and the reference cache, and k for k-wise data."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest

from bench.config import build_config
from bench.data.selectors import explicit_scores_from_meta, length_normalised_logps, parse_selector
from bench.errors import DataError
from bench.leaderboards.table import aggregate, load_results
from bench.models.loading import load_causal_lm, load_tokenizer
from bench.models.scoring import sequence_logps
from bench.runner.run import SELECTION_FILE, Runner, run

pytestmark = pytest.mark.slow

AP = "alignment_potential:ratio=0.4,w=1"


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory, smoke_run, smoke_gym):
    config, store, result, lines = smoke_run(tmp_path_factory.mktemp("store"), "method=dpo,rloo",
                                             "selector=all,random,alignment_potential")
    records = {(r["job"]["method"], r["job"]["selector"]): r
               for r in (json.loads(p.read_text()) for p in store.glob("jobs/*/metrics.json"))}
    return config, store, result, lines, records


def test_every_selector_trains_its_own_rows_and_the_grid_shares_one_table(grid_run):
    _, store, result, lines, records = grid_run
    assert result.trained == 4  # dpo x 3 selectors, rloo under all only
    assert sorted(records) == [("dpo", AP), ("dpo", "all"), ("dpo", "random:ratio=0.4"), ("reference", "-"),
                               ("rloo", "all")]
    kept = {selector: r["job"]["selection"]["kept"] for (method, selector), r in records.items() if method == "dpo"}
    assert kept == {"all": 64, "random:ratio=0.4": 26, AP: 26}
    datasets = {json.loads(p.read_text())["dataset"] for p in store.glob("jobs/dpo-*/" + SELECTION_FILE)}
    assert len(datasets) == 3 and "pairs" in datasets
    assert not list(store.glob("jobs/rloo-*/" + SELECTION_FILE))  # on-policy: no pool rows to record
    assert [line for line in lines if "run under selector=all only" in line] == [
        "selector=random,alignment_potential: rloo train on on-policy samples or native data, not on the pool a "
        "selector chooses from; they run under selector=all only"]
    (table,) = aggregate(load_results(store)).values()
    assert sorted(zip(table["method"], table["selector"], strict=True)) == sorted(records)
    (board,) = [p for p in result.leaderboards if p.name == "leaderboard.md"]
    assert "## Objective x selector: gold WR [95% CI]" in board.read_text()


def test_selected_datasets_read_the_full_pools_reference_pass(grid_run):
    _, _, _, lines, _ = grid_run
    passes = [line for line in lines if line.startswith("reference pass")]
    assert not any("@" in line for line in passes)  # dpo's selected rows are the pool pass's rows, sliced
    assert any(line.startswith("selection alignment_potential:ratio=0.4,w=1: kept 26 of 64 rows") for line in lines)


def test_the_selection_record_is_the_selector_run_on_gold_scores_and_direct_ln_logps(grid_run, smoke_gym):
    config, store, _, _, _ = grid_run
    pool = smoke_gym.dataset("pairs")
    tokenizer = load_tokenizer(smoke_gym.reference_dir)
    model = load_causal_lm(smoke_gym.reference_dir, dtype="float32")
    implicit = length_normalised_logps(pool, tokenizer, partial(sequence_logps, model, tokenizer),
                                       config.data.max_prompt_tokens, config.data.max_response_tokens)
    gold = np.array([ex.meta["gold"] for ex in pool])
    np.testing.assert_array_equal(explicit_scores_from_meta(pool), gold)
    expected = parse_selector("alignment_potential").select(pool, explicit=gold, implicit=implicit)
    (path,) = store.glob(f"jobs/dpo-alignment_potential-*/{SELECTION_FILE}")
    record = json.loads(path.read_text())
    assert record["ids"] == list(expected.kept_ids)
    np.testing.assert_allclose(record["scores"], expected.kept_scores, rtol=1e-6, atol=1e-6)
    assert (record["selector"], record["pool_size"], record["kept"], record["rows"]) == (AP, 64, 26, 26)
    (path,) = store.glob(f"jobs/dpo-random-*/{SELECTION_FILE}")
    assert json.loads(path.read_text())["ids"] == list(parse_selector("random").select(pool, seed=0).kept_ids)


def test_a_second_run_reuses_every_job_without_selecting_again(grid_run):
    config, _, _, _, _ = grid_run
    lines: list[str] = []
    result = run(config, say=lines.append)
    assert result.trained == 0 and result.reused == 4
    assert not any(line.startswith("selection") for line in lines)


def test_kwise_k_keeps_the_first_k_responses_and_is_validated(smoke_config, smoke_gym):
    def runner(k: str) -> Runner:
        config = build_config(["preset=smoke", f"cache={smoke_config.cache}", "progress=false", "method=rpo_sq",
                               f"data.kwise_k={k}", "eval.evaluators=[]"])
        return Runner(config, say=lambda line: None)

    (job,) = runner("2").jobs
    two, full = runner("2").dataset(job.dataset), runner("null").dataset(job.dataset)
    assert (two.n, full.n) == (2, 4) and len(two) == len(full)
    assert two.response_ids == [ids[:2] for ids in full.response_ids]
    assert two.scores.tolist() == full.scores[:, :2].tolist() and two.fingerprint != full.fingerprint
    with pytest.raises(DataError, match=r"^data\.kwise_k=5: row train-0 has only 4 responses"):
        runner("5").dataset(job.dataset)
