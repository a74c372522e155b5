"""One job over two processes (accelerate launch, gloo on CPU) equals one process with twice the accumulation:
data parallel, and fully sharded (FSDP2, through the repository's accelerate config), whose snapshots are the ones an
unsharded run writes and reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bench.failpoints import ENVIRONMENT
from bench.store_layout import METRICS_FILE

ACCELERATE = Path(sys.executable).with_name("accelerate")
FSDP_CONFIG = Path(__file__).parents[2] / "configs" / "accelerate" / "fsdp2.yaml"
COMMON = ["preset=smoke", "method=dpo,kto,rloo", "train.micro_batch_size=4", "eval.evaluators=[]", "progress=false"]
"""dpo; kto, a batch-level objective whose z0 comes from its micro-batch's mismatched pairs; and rloo, which samples
its micro-batches from the policy (each process its own) and scores them with the gym's noisy reward."""
FULLY_SHARDED = [str(ACCELERATE), "launch", "--config_file", str(FSDP_CONFIG), "--num_processes", "2"]
needs_accelerate = pytest.mark.skipif(not ACCELERATE.exists(),
                                      reason="the accelerate command is not installed beside this Python")


def _bench(arguments: list[str], launch: list[str] | None = None, kill_at: str | None = None,
           ) -> subprocess.CompletedProcess:
    """``bench run ARGUMENTS`` in one process or under ``launch``; with ``kill_at``, killed there (failpoints)."""
    command = [*launch, "-m", "bench", "run", *arguments] if launch else [sys.executable, "-m", "bench", "run",
                                                                          *arguments]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop(ENVIRONMENT, None)
    if kill_at:
        env[ENVIRONMENT] = kill_at
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, check=False)
    assert (done.returncode != 0) == bool(kill_at), done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def one_process_store(tmp_path_factory, smoke_gym, smoke_cache) -> Path:
    """The jobs trained by one process with two micro-batches a step: what every launch of two must equal."""
    store = tmp_path_factory.mktemp("one-process")
    _bench([*COMMON, "train.grad_accum=2", f"store={store}", f"cache={smoke_cache}"])
    return store


def _logs(store: Path) -> dict[str, list[dict]]:
    return {path.parent.name: [json.loads(line) for line in path.read_text().splitlines()]
            for path in sorted(store.glob("jobs/*/train_log.jsonl"))}


@needs_accelerate
@pytest.mark.parametrize(("launch", "option"), [(None, ["launch.processes=2"]), (FULLY_SHARDED, [])],
                         ids=["data-parallel-by-option", "fsdp2-by-accelerate-launch"])
def test_two_processes_train_exactly_like_one_with_twice_the_accumulation(launch, option, tmp_path, smoke_cache,
                                                                          one_process_store):
    launched_store, single_store = tmp_path / "launched", one_process_store
    launched = _bench([*COMMON, *option, "train.grad_accum=1", f"store={launched_store}", f"cache={smoke_cache}"],
                      launch)

    assert ("launching: " in launched.stderr) == bool(option)  # bench run restarted itself under accelerate
    assert "each trained by 2 processes" in launched.stderr
    assert ("with sharded weights (FSDP2)" in launched.stderr) == (launch is FULLY_SHARDED)
    assert launched.stderr.count("jobs (3 run, 0 reused)") == 1  # one report, from the main process
    launched_logs, single_logs = _logs(launched_store), _logs(single_store)
    # The same job keys (2 processes x 1 = 1 process x 2 micro-batches per step), one set of files per job.
    assert sorted(launched_logs) == sorted(single_logs) and len(launched_logs) == 3
    for job, single in single_logs.items():
        launched_log = launched_logs[job]
        assert [r["step"] for r in launched_log] == [1, 2, 3, 4]
        for ours, theirs in zip(launched_log, single, strict=True):
            assert ours["loss"] == pytest.approx(theirs["loss"], abs=1e-5)
            assert ours["grad_norm"] == pytest.approx(theirs["grad_norm"], abs=1e-5)
        _assert_same_weights(launched_store / "jobs" / job / "checkpoint", single_store / "jobs" / job / "checkpoint")
        assert (launched_store / "jobs" / job / METRICS_FILE).is_file()
    files = {store: sorted(str(p.relative_to(store)) for p in store.rglob("*") if ".lock" not in p.name)
             for store in (launched_store, single_store)}
    assert files[launched_store] == files[single_store]  # the same files, written once (by the main process)


@needs_accelerate
def test_sharded_and_unsharded_runs_resume_each_others_snapshots(tmp_path, smoke_gym, smoke_cache):
    """Killed after its snapshot at step 2, an FSDP launch is resumed by one process, which is killed after its
    snapshot at step 4 and resumed by an FSDP launch: the weights and log are those of one uninterrupted process.
    rloo: its samples and their noisy rewards depend on the micro-batch only, not on what ran before in a process."""
    arguments = ["preset=smoke", "method=rloo", "train.micro_batch_size=4", "eval.evaluators=[]", "progress=false",
                 "train.steps=6", "train.snapshot_every=2", f"cache={smoke_cache}"]
    store, uninterrupted = tmp_path / "relayed", tmp_path / "uninterrupted"
    _bench([*arguments, "train.grad_accum=1", f"store={store}"], FULLY_SHARDED, kill_at="training-step:3")
    # Resuming at step 2, the single process is killed at step 5, after its snapshot at step 4 (had it not read
    # the sharded run's snapshot, it would be killed at step 3 and leave the one at step 2).
    _bench([*arguments, "train.grad_accum=2", f"store={store}"], kill_at="training-step:3")
    finished = _bench([*arguments, "train.grad_accum=1", f"store={store}"], FULLY_SHARDED)
    assert "resumed from the snapshot at step 4" in finished.stderr
    _bench([*arguments, "train.grad_accum=2", f"store={uninterrupted}"])

    (job, log), = _logs(store).items()
    expected = _logs(uninterrupted)[job]
    assert [r["step"] for r in log] == list(range(1, 7))
    for ours, theirs in zip(log, expected, strict=True):
        assert ours["loss"] == pytest.approx(theirs["loss"], abs=1e-5)
    _assert_same_weights(store / "jobs" / job / "checkpoint", uninterrupted / "jobs" / job / "checkpoint")


def _assert_same_weights(ours: Path, theirs: Path) -> None:
    our_weights, their_weights = load_file(ours / "model.safetensors"), load_file(theirs / "model.safetensors")
    assert sorted(our_weights) == sorted(their_weights)  # tied embeddings saved once, under the same name
    for name, weight in their_weights.items():
        torch.testing.assert_close(our_weights[name], weight, rtol=0, atol=1e-5)
