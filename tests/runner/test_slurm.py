"""``executor=slurm``: the plan as one job array through submitit, followed to the end, failures resubmitted.

The path runs on submitit's local executor (each element a process of its own, as a Slurm element would be)
everywhere; the last test runs the same plan on a real Slurm and skips where there is none
(scripts/slurm_single_node.sh starts one on a Debian machine).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.config import build_config
from bench.errors import BenchError, ConfigError, PlanError
from bench.failpoints import ENVIRONMENT
from bench.integrity import read_sealed_json
from bench.runner import slurm
from bench.runner.run import Runner, run
from bench.runner.slurm import run_on_slurm
from bench.runner.workers import run_planned

pytestmark = pytest.mark.slow

SLURM = ("executor=slurm", "slurm.time_minutes=10")
TRAIN_ONLY = "eval.evaluators=[]"


@pytest.fixture
def local_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """Elements run by submitit's local executor, followed twice a second."""
    monkeypatch.setattr(slurm, "CLUSTER", "local")
    monkeypatch.setattr(slurm, "POLL_SECONDS", 0.5)
    monkeypatch.delenv(ENVIRONMENT, raising=False)


def _records(store: Path) -> dict[str, dict]:
    return {path.parent.name.split("-")[0]: read_sealed_json(path) for path in store.glob("jobs/*/metrics.json")}


def _steps(directory: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (directory / "train_log.jsonl").read_text().splitlines()]


def test_a_plan_runs_as_an_array_and_a_rerun_reuses_it(tmp_path, smoke_run, smoke_gym, local_cluster):
    config, store, result, lines = smoke_run(tmp_path, "method=dpo,simpo", *SLURM)
    assert "submitted to Slurm as one job array" in next(line for line in lines if line.startswith("plan:"))
    assert any(line.startswith("slurm: submitted 2 jobs as array") for line in lines)
    records = _records(store)
    assert set(records) == {"dpo", "simpo", "reference"} and result.trained == 2
    assert all("gold_win_rate" in records[method]["metrics"] for method in ("dpo", "simpo"))
    assert sorted(line.split("]")[0] for line in lines if line.startswith("[")) == ["[1/2", "[2/2"]
    assert result.leaderboards and all(path.exists() for path in result.leaderboards)
    assert len(list((store / ".slurm").glob("*/*_log.err"))) == 2  # each element's own log, in the store

    again: list[str] = []
    rerun = run(config, say=again.append)
    assert rerun.trained == 0 and rerun.reused == 2
    assert not any(line.startswith("slurm: submitted") for line in again)  # nothing left to submit
    assert _records(store) == records


def test_a_killed_element_is_resubmitted_and_resumes_from_its_snapshot(tmp_path, smoke_run, smoke_gym,
                                                                       local_cluster, monkeypatch):
    monkeypatch.setenv(ENVIRONMENT, "training-step:3")  # every element's 3rd step, after the snapshot at step 2
    _, store, result, lines = smoke_run(tmp_path, "method=dpo", TRAIN_ONLY, *SLURM)
    assert result.trained == 1
    (retried,) = [line for line in lines if "resubmitted" in line]
    assert retried.startswith("dpo seed=0: element") and "without a result" in retried
    assert "(retry 1 of 2)" in retried
    record = _records(store)["dpo"]
    assert record["job"]["resumed_from"] == 2  # the resubmitted element went on from the snapshot
    (directory,) = store.glob("jobs/dpo-*")
    assert _steps(directory) == [1, 2, 3, 4]  # step 3 logged by the killed element, redone once


def test_a_job_failing_beyond_max_retries_stops_the_run_once_the_others_finished(tmp_path, smoke_run_config,
                                                                                 smoke_gym, local_cluster):
    config = smoke_run_config(tmp_path, "method=dpo,simpo", TRAIN_ONLY, *SLURM, "slurm.max_retries=1")
    blocked = dict((job.method, path) for job, path in Runner(config, say=lambda line: None).job_directories)
    blocked["simpo"].parent.mkdir(parents=True)
    blocked["simpo"].write_text("not a directory")  # simpo's element raises, every time
    lines: list[str] = []
    with pytest.raises(BenchError) as error:
        run(config, say=lines.append)
    message = str(error.value)
    assert "1 of 2 jobs did not finish on Slurm: simpo seed=0: element" in message
    assert "(after 1 retry)" in message and "slurm.max_retries" in message and "\n" not in message
    assert Path(re.search(r"log (\S+_log\.err)", message).group(1)).exists()
    assert any(line.startswith("simpo seed=0: element") and "(retry 1 of 1)" in line for line in lines)
    assert list(_records(tmp_path)) == ["dpo"]  # the job that could finish did, and is kept


@pytest.mark.parametrize(("override", "named"), [
    ("executor=slrum", "executor='slrum' (did you mean: slurm?)"),
    ("slurm.cpus_per_job=0", "slurm.cpus_per_job=0 must be >= 1"),
    ("slurm.max_retries=-1", "slurm.max_retries=-1 must be >= 0"),
    ("slurm.mem_gb=0", "slurm.mem_gb=0 must be >= 1 (or null"),
    ("slurm.array_parallelism=0", "slurm.array_parallelism=0 must be >= 1"),
])
def test_executor_and_slurm_settings_are_checked_before_anything_runs(override, named):
    with pytest.raises(ConfigError) as error:
        build_config([override])
    assert str(error.value).startswith(named)


def test_settings_reach_the_plan_line_and_a_machine_without_sbatch_is_told_what_to_do(tmp_path, monkeypatch):
    config = build_config([*SLURM, "slurm.partition=gpu", "slurm.gpus_per_job=1", "slurm.array_parallelism=4"])
    assert slurm.slurm_plan(config) == ("submitted to Slurm as one job array (partition gpu, at most 4 at a time, "
                                        "1 CPU, 1 GPU and 10 min each)")
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch
    with pytest.raises(ConfigError, match=r"sbatch is not on PATH.*scripts/slurm_single_node\.sh"):
        next(run_on_slurm(Runner, config, [(0, None, tmp_path)], say=print))


def test_an_element_refuses_a_job_its_code_keys_differently(tmp_path, smoke_run_config, smoke_gym):
    config = smoke_run_config(tmp_path, "method=dpo", TRAIN_ONLY)
    runner = Runner(config, say=lambda line: None)
    ((job, directory),) = runner.job_directories
    planned = directory.with_name(directory.name.rsplit("-", 1)[0] + "-0123456789abcdef")  # keyed by other code
    with pytest.raises(PlanError, match=r"dpo seed=0: the code changed after the run planned it"):
        run_planned(runner, 0, job.label, planned)
    assert not planned.exists() and not directory.exists()  # refused before anything was written


def _slurm_answers() -> str | None:
    """Why the real-Slurm test cannot run here, or None when a node is up."""
    if shutil.which("sbatch") is None:
        return "no Slurm here (sbatch not found): apt-get install slurm-wlm munge, then scripts/slurm_single_node.sh"
    try:
        nodes = subprocess.run(["sinfo", "--noheader", "--format=%t"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"sinfo did not answer ({exc}); start Slurm with scripts/slurm_single_node.sh"
    if nodes.returncode != 0 or not {"idle", "mix", "alloc"} & set(nodes.stdout.split()):
        answer = (nodes.stdout + nodes.stderr).strip()
        return f"Slurm has no node up (sinfo: {answer!r}); start one with scripts/slurm_single_node.sh"
    return None


def test_the_four_job_plan_on_a_real_slurm(tmp_path, smoke_cache, smoke_gym):
    if (why := _slurm_answers()) is not None:
        pytest.skip(why)
    env = {key: value for key, value in os.environ.items() if key != ENVIRONMENT}
    done = subprocess.run([sys.executable, "-m", "bench.cli", "run", "preset=smoke", "method=dpo,simpo", "seed=0,1",
                           *SLURM, f"store={tmp_path}", f"cache={smoke_cache}", "progress=false"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "submitted 4 jobs as array" in done.stdout + done.stderr
    records = _records(tmp_path)
    assert len(list(tmp_path.glob("jobs/*/metrics.json"))) == 5  # four jobs and the reference row
    assert all("gold_win_rate" in record["metrics"] for record in records.values())
