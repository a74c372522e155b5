"""One job over two processes (accelerate launch, gloo on CPU) equals one process with twice the accumulation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bench.store_layout import METRICS_FILE

ACCELERATE = Path(sys.executable).with_name("accelerate")
COMMON = ["preset=smoke", "method=dpo,kto", "train.micro_batch_size=4", "eval.evaluators=[]", "progress=false"]
"""dpo, and kto: a batch-level objective whose z0 comes from its micro-batch's mismatched pairs."""


def _bench(arguments: list[str], launch: list[str] | None = None) -> subprocess.CompletedProcess:
    command = [*launch, "-m", "bench", "run", *arguments] if launch else [sys.executable, "-m", "bench", "run",
                                                                          *arguments]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _logs(store: Path) -> dict[str, list[dict]]:
    return {path.parent.name: [json.loads(line) for line in path.read_text().splitlines()]
            for path in sorted(store.glob("jobs/*/train_log.jsonl"))}


@pytest.mark.skipif(not ACCELERATE.exists(), reason="the accelerate command is not installed beside this Python")
def test_two_processes_train_exactly_like_one_with_twice_the_accumulation(tmp_path, smoke_gym, smoke_cache):
    launched_store, single_store = tmp_path / "launched", tmp_path / "single"
    # The launch runs first, so it makes the run's reference passes itself (one process computes, one reads).
    launch = [str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no"]
    launched = _bench([*COMMON, "train.grad_accum=1", f"store={launched_store}", f"cache={smoke_cache}"], launch)
    _bench([*COMMON, "train.grad_accum=2", f"store={single_store}", f"cache={smoke_cache}"])

    assert "each trained by 2 processes" in launched.stderr
    assert launched.stderr.count("jobs (2 run, 0 reused)") == 1  # one report, from the main process
    launched_logs, single_logs = _logs(launched_store), _logs(single_store)
    # The same job keys (2 processes x 1 = 1 process x 2 micro-batches per step), one set of files per job.
    assert sorted(launched_logs) == sorted(single_logs) and len(launched_logs) == 2
    for job, single in single_logs.items():
        launched_log = launched_logs[job]
        assert [r["step"] for r in launched_log] == [1, 2, 3, 4]
        for ours, theirs in zip(launched_log, single, strict=True):
            assert ours["loss"] == pytest.approx(theirs["loss"], abs=1e-5)
            assert ours["grad_norm"] == pytest.approx(theirs["grad_norm"], abs=1e-5)
        launched_weights = load_file(launched_store / "jobs" / job / "checkpoint" / "model.safetensors")
        single_weights = load_file(single_store / "jobs" / job / "checkpoint" / "model.safetensors")
        for name, weight in single_weights.items():
            torch.testing.assert_close(launched_weights[name], weight, rtol=0, atol=1e-5)
        assert (launched_store / "jobs" / job / METRICS_FILE).is_file()
    files = {store: sorted(str(p.relative_to(store)) for p in store.rglob("*") if ".lock" not in p.name)
             for store in (launched_store, single_store)}
    assert files[launched_store] == files[single_store]  # the same files, written once (by the main process)
