"""Every setting that can change a number is in the key of what it changes: changing one is never a silent reuse.

Each case changes one thing against a finished smoke run and checks what the next run recomputes: the job
(retrained), only its evaluation (re-evaluated, same checkpoint), or the table it lands in (comparability key).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import bench.source_fingerprint as source_fingerprint_module
from bench.fingerprint import file_fingerprint
from bench.integrity import read_sealed_json
from bench.leaderboards.table import aggregate, load_results

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, smoke_run):
    store = tmp_path_factory.mktemp("keys")
    first = smoke_run(store, "method=dpo")
    assert first.result.trained == 1
    return smoke_run, store, first.result.comparability_key


def dpo_records(store: Path) -> list[dict]:
    return [read_sealed_json(path) for path in sorted(store.glob("jobs/dpo-*/metrics.json"))]


def test_the_same_settings_reuse_the_job(finished) -> None:
    smoke_run, store, key = finished
    again = smoke_run(store, "method=dpo")
    assert again.result.trained == 0 and again.result.comparability_key == key


def test_another_dtype_is_another_job_and_another_table(finished) -> None:
    smoke_run, store, key = finished
    bf16 = smoke_run(store, "method=dpo", "model.dtype=bfloat16")
    assert bf16.result.trained == 1 and bf16.result.comparability_key != key
    records = {r["provenance"]["model_dtype"] for r in dpo_records(store)}
    assert records == {"float32", "bfloat16"}


def test_editing_a_helper_module_the_loss_runs_retrains(finished, monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/methods/pairwise.py holds DPO's margin; dpo.py itself is unchanged."""
    smoke_run, store, _ = finished

    def edited(path: Path) -> str:
        return "edited" if Path(path).name == "pairwise.py" else file_fingerprint(path)

    monkeypatch.setattr(source_fingerprint_module, "file_fingerprint", edited)
    retrained = smoke_run(store, "method=dpo")
    assert retrained.result.trained == 1
    # The earlier result stays on disk, marked as replaced, and no longer counts as a seed of the row.
    marked = [r for r in dpo_records(store) if r["provenance"].get("superseded_by")]
    assert len(marked) == 1 and any("replaces the earlier result" in line for line in retrained.lines)
    table = aggregate(load_results(store))[retrained.result.comparability_key].set_index("method")
    assert table.loc["dpo", "n_seeds"] == 1


def test_an_evaluator_option_re_evaluates_without_retraining(finished) -> None:
    smoke_run, store, _key = finished
    before = {r["provenance"]["evaluation"] for r in dpo_records(store)}
    checkpoints = {p: p.stat().st_mtime_ns for p in store.glob("jobs/dpo-*/checkpoint/*")}
    smoke_run(store, "method=dpo", "eval.bootstrap_samples=300")
    after = {r["provenance"]["evaluation"] for r in dpo_records(store)}
    assert after - before  # a new evaluation key: the job was evaluated again ...
    assert {p: p.stat().st_mtime_ns for p in store.glob("jobs/dpo-*/checkpoint/*")} == checkpoints  # not retrained
    win_rate = next(r for r in dpo_records(store) if r["provenance"]["evaluation"] in after - before)
    assert win_rate["provenance"]["evaluators"][0] == {"name": "win_rate", "version": "1", "n_boot": 300}
