"""The project's published gym leaderboard (leaderboards/gym) still matches what the current code produces.

Nothing is retrained: the test reads the published results file and recomputes, from the current code and
the default configuration of its command (`make leaderboards`), the parts of its comparability key: the
source of the training code, the training, data and sampling settings, and the evaluators. Where the
default gym built here has the published weights (it is built once per test session, and its bytes can
differ on a CPU with other floating-point kernels), the whole key is recomputed and compared too. A
mismatch means the published table is stale: regenerate it with `make leaderboards`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from bench.config import build_config
from bench.leaderboards.results_file import SCHEMA_VERSION, read_results
from bench.source_fingerprint import source_fingerprint

PUBLISHED = Path(__file__).resolve().parents[2] / "leaderboards" / "gym" / "results.json"
COMMAND = ["seed=0,1,2", "store=runs/leaderboard"]
STALE = "the published leaderboard is stale: regenerate it with `make leaderboards`"


def as_json(value: dict) -> dict:
    """``value`` as the results file holds it (tuples become lists)."""
    return json.loads(json.dumps(value))


@pytest.fixture(scope="module")
def published() -> dict:
    if not PUBLISHED.is_file():
        pytest.skip(f"{PUBLISHED} is not published yet: `make leaderboards` writes it")
    results = read_results(PUBLISHED)
    assert results["schema_version"] == SCHEMA_VERSION, STALE
    (table,) = results["tables"]
    return table


def test_the_published_table_was_trained_by_the_current_code_and_settings(published: dict) -> None:
    from bench.runner.run import TRAINING_CODE

    config = build_config(COMMAND)
    provenance = published["provenance"]
    assert provenance["training_source"] == source_fingerprint(*TRAINING_CODE), STALE
    assert provenance["train"] == as_json(asdict(config.train)), STALE
    assert provenance["data_settings"] == as_json(asdict(config.data)), STALE
    assert len({row["method"] for row in published["rows"]}) >= 30
    assert {row["n_seeds"] for row in published["rows"] if row["method"] != "reference"} == {3.0}


def test_the_published_comparability_key_is_the_current_one(published: dict, default_gym_cache: Path,
                                                             tmp_path: Path) -> None:
    from bench.runner.run import Runner

    runner = Runner(build_config([*COMMAND, f"cache={default_gym_cache}", f"store={tmp_path}", "progress=false"]),
                    say=lambda line: None)
    if runner.world.base_fingerprint != published["provenance"]["model"]:
        pytest.skip("the default gym built on this machine has other weight bytes than the published run's "
                    "(CPU floating-point kernels); the code and settings parts of the key were checked")
    assert runner.evaluation.key == published["provenance"]["evaluation"], STALE
    assert runner.comparability_key() == published["comparability_key"], STALE
