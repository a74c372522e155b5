"""Jobs in worker processes: the same records as one after the other, and a failure keeps finished jobs."""

from __future__ import annotations

import json

import pytest

from bench.config import build_config
from bench.errors import ConfigError
from bench.runner.run import Runner, run
from bench.runner.workers import MAX_AUTOMATIC_WORKERS, MIN_JOBS_FOR_WORKERS, usable_cores, worker_count

pytestmark = pytest.mark.slow

METHODS = "method=dpo,simpo,kto,cdpo"


def _metrics(store) -> dict[str, dict]:
    return {json.loads(p.read_text())["job"]["method"]: json.loads(p.read_text())["metrics"]
            for p in store.glob("jobs/*/metrics.json")}


def test_two_workers_write_exactly_the_records_of_one(tmp_path, smoke_run_config, smoke_gym):
    alone, together = tmp_path / "alone", tmp_path / "together"
    run(smoke_run_config(alone, METHODS, "workers=1"), say=lambda line: None)
    lines: list[str] = []
    result = run(smoke_run_config(together, METHODS, "workers=2"), say=lines.append)
    plan = next(line for line in lines if line.startswith("plan:"))
    assert result.trained == 4 and "2 at a time" in plan
    assert sorted(line.split("]")[0] for line in lines if line.startswith("[")) == [f"[{n}/4" for n in range(1, 5)]
    assert _metrics(together) == _metrics(alone)  # every metric, bit for bit
    assert len(_metrics(together)) == 5  # four jobs and the reference row


def test_a_failing_job_stops_the_run_and_keeps_what_finished(tmp_path, smoke_run_config, smoke_gym):
    config = smoke_run_config(tmp_path, METHODS, "workers=2")
    jobs = Runner(config, say=lambda line: None).job_directories
    blocked = jobs[-1][1]
    blocked.parent.mkdir(parents=True)
    blocked.write_text("not a directory")  # the last job cannot create its directory
    with pytest.raises(OSError):
        run(config, say=lambda line: None)
    trained = {path.parent for path in tmp_path.glob("jobs/*/metrics.json") if not path.parent.name.startswith(
        "reference")}
    # the last job starts only once an earlier one has finished, and a running job is let finish
    assert blocked not in trained and trained
    assert all(json.loads((d / "metrics.json").read_text())["metrics"] for d in trained)  # recorded whole


def test_automatic_workers_one_per_core_only_for_enough_jobs_on_a_cpu():
    cores = usable_cores()
    assert worker_count(0, MIN_JOBS_FOR_WORKERS - 1) == 1
    assert worker_count(0, 100) == min(cores, MAX_AUTOMATIC_WORKERS)
    assert worker_count(3, 2) == 2 and worker_count(2, 100) == 2  # never more than the jobs to run
    with pytest.raises(ConfigError, match="workers=-1"):
        build_config(["workers=-1"])
