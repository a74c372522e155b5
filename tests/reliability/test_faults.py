"""Faults a long run meets: killed at any stage, two runs on one store, a full disk, damaged caches.

Each test starts from a copy of one prepared smoke cache (the gym built, nothing else), so the stage it
kills is really computed, and compares what the interrupted-then-resumed run publishes with what one
uninterrupted run published: the same metrics, to the last bit, and every training step logged once.
Runs that are killed go through a real ``bench run`` process (kill -9 leaves no clean-up behind).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.config import build_config
from bench.failpoints import ENVIRONMENT
from bench.integrity import read_sealed_json
from bench.runner.run import run

pytestmark = pytest.mark.slow

RUN = ("preset=smoke", "method=dpo,simpo", "progress=false")
DERIVED = ("refcache", "generations", "evaluations")
"""Cache entries each test recomputes; the gym build and the frontier are shared."""


def bench_run(store: Path, cache: Path, *extra: str, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != ENVIRONMENT}
    if kill_at:
        env[ENVIRONMENT] = kill_at
    return subprocess.run([sys.executable, "-m", "bench.cli", "run", *RUN, f"store={store}", f"cache={cache}",
                           *extra], env=env, capture_output=True, text=True, timeout=300)


def metrics_by_job(store: Path) -> dict[str, dict]:
    """Each job directory's metrics (NaN as a string, so records compare with ==)."""
    records = {path.parent.name: read_sealed_json(path)["metrics"] for path in store.glob("jobs/*/metrics.json")}
    return {job: {k: "nan" if isinstance(v, float) and math.isnan(v) else v for k, v in m.items()}
            for job, m in records.items()}


def logged_steps(store: Path) -> dict[str, list[int]]:
    return {path.parent.name.split("-")[0]: [json.loads(line)["step"] for line in path.read_text().splitlines()]
            for path in store.glob("jobs/*/train_log.jsonl")}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    """A cache holding the smoke gym only, and the metrics of one uninterrupted run from it."""
    cache = tmp_path_factory.mktemp("prepared-cache")
    store = tmp_path_factory.mktemp("uninterrupted")
    run(build_config([*RUN, f"store={store}", f"cache={cache}"]), say=lambda line: None)
    for name in DERIVED:
        shutil.rmtree(cache / name, ignore_errors=True)
    baseline = metrics_by_job(store)
    assert len(baseline) == 3 and all(baseline.values())  # dpo, simpo and the reference row
    return cache, baseline


def fresh_cache(prepared_cache: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(prepared_cache, tmp_path / "cache"))


@pytest.mark.parametrize("point", ["reference-pass", "generation:2", "evaluation:3", "training-step:3", "record"])
def test_a_run_killed_at_any_stage_resumes_to_the_same_numbers(prepared, tmp_path: Path, point: str) -> None:
    prepared_cache, baseline = prepared
    cache, store = fresh_cache(prepared_cache, tmp_path), tmp_path / "store"
    killed = bench_run(store, cache, kill_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    resumed = bench_run(store, cache)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert metrics_by_job(store) == baseline
    assert logged_steps(store) == {"dpo": [1, 2, 3, 4], "simpo": [1, 2, 3, 4]}
    if point.startswith("training-step"):
        assert "dpo seed=0: resumed from the snapshot at step 2" in resumed.stderr


def test_two_runs_started_together_train_each_job_once(prepared, tmp_path: Path) -> None:
    prepared_cache, baseline = prepared
    cache, store = fresh_cache(prepared_cache, tmp_path), tmp_path / "store"
    env = {key: value for key, value in os.environ.items() if key != ENVIRONMENT}
    command = [sys.executable, "-m", "bench.cli", "run", *RUN, f"store={store}", f"cache={cache}"]
    processes = [subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                 for _ in range(2)]
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [err[-2000:] for _, err in outputs]
    assert logged_steps(store) == {"dpo": [1, 2, 3, 4], "simpo": [1, 2, 3, 4]}
    assert metrics_by_job(store) == baseline
    trained = [int(err.rsplit(" jobs (", 1)[1].split(" run")[0]) for _, err in outputs]
    assert sum(trained) == 2, [err[-1500:] for _, err in outputs]  # each of the two jobs trained by one process


def _mount_small_tmpfs(directory: Path, size: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    directory.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
                          capture_output=True).returncode == 0


def test_a_full_disk_is_one_line_and_keeps_finished_work(prepared, tmp_path: Path) -> None:
    prepared_cache, baseline = prepared
    disk = tmp_path / "disk"
    if not _mount_small_tmpfs(disk, "4m"):
        pytest.skip("needs root and a tmpfs mount to make a small disk (CI runs as root)")
    try:
        cache, store = fresh_cache(prepared_cache, tmp_path), disk / "store"
        first = bench_run(store, cache, "method=dpo")
        assert first.returncode == 0, first.stderr[-2000:]
        finished = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}
        filler = disk / "filler"
        with open(filler, "wb") as handle:  # fill the disk to the last block
            try:
                while True:
                    handle.write(b"\0" * 65536)
                    handle.flush()
            except OSError:
                pass
        full = bench_run(store, cache)
        errors = [line for line in full.stderr.splitlines() if line.startswith("error:")]
        assert full.returncode == 2 and "Traceback" not in full.stderr, full.stderr[-2000:]
        assert len(errors) == 1 and "No space left on device" in errors[0] and "run the same command again" in errors[0]
        assert all(path.read_bytes() == data for path, data in finished.items())  # the dpo job is intact
        filler.unlink()
        again = bench_run(store, cache)
        assert again.returncode == 0, again.stderr[-2000:]
        assert metrics_by_job(store) == baseline
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def test_damaged_caches_and_records_are_named_and_recomputed_to_the_same_numbers(
        prepared, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    prepared_cache, baseline = prepared
    cache, store = fresh_cache(prepared_cache, tmp_path), tmp_path / "store"
    config = build_config([*RUN, f"store={store}", f"cache={cache}"])
    run(config, say=lambda line: None)
    damaged = [
        next(cache.glob("refcache/*/tensors.safetensors")),
        next(cache.glob("gym-reference/*/checkpoint/model.safetensors")),
        next(store.glob("jobs/dpo-*/checkpoint/model.safetensors")),
        next(store.glob("jobs/dpo-*/snapshot/model.safetensors")),  # dpo retrains from scratch ...
        next(store.glob("jobs/simpo-*/checkpoint/model.safetensors")),  # ... simpo from its intact snapshot
        next(store.glob("jobs/dpo-*/metrics.json")),
    ]
    samples, results = sorted(cache.glob("generations/*.json")), sorted(cache.glob("evaluations/*.json"))
    for path in [*damaged, *samples, *results]:
        _truncate(path)
    run(config, say=lambda line: None)
    for path in damaged:
        assert str(path) in caplog.text, f"{path} was not named"
    assert any(str(path) in caplog.text for path in samples)  # the retrained jobs' samples were read back
    assert any(str(path) in caplog.text for path in results)
    assert metrics_by_job(store) == baseline
    assert logged_steps(store) == {"dpo": [1, 2, 3, 4], "simpo": [1, 2, 3, 4]}
