"""The results store heals and keeps its tables whole: a deleted checkpoint is retrained, a later run with fewer
evaluators leaves the earlier table as it was, and a read-only store is one line with nothing touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.integrity import read_sealed_json
from bench.leaderboards.render import MARKDOWN_FILE, key_directory

pytestmark = pytest.mark.slow


def test_a_deleted_checkpoint_is_retrained_not_reported_as_reused(tmp_path: Path, smoke_run) -> None:
    first = smoke_run(tmp_path, "method=dpo")
    (checkpoint,) = tmp_path.glob("jobs/dpo-*/checkpoint")
    metrics = read_sealed_json(checkpoint.parent / "metrics.json")["metrics"]
    shutil.rmtree(checkpoint)
    again = smoke_run(tmp_path, "method=dpo")
    assert again.result.trained == 1 and first.result.trained == 1
    assert (checkpoint / "model.safetensors").is_file()
    assert read_sealed_json(checkpoint.parent / "metrics.json")["metrics"] == metrics


def test_a_later_run_with_fewer_evaluators_leaves_the_earlier_table_whole(tmp_path: Path, smoke_run) -> None:
    full = smoke_run(tmp_path, "method=dpo")
    table = tmp_path / key_directory(full.result.comparability_key) / MARKDOWN_FILE
    before = table.read_text()
    header = next(line for line in before.splitlines() if line.startswith("|"))
    assert "regret" in [cell.strip() for cell in header.split("|")]
    fewer = smoke_run(tmp_path, "method=dpo", "eval.evaluators=[win_rate,length]")
    assert fewer.result.comparability_key != full.result.comparability_key
    assert table.read_text() == before  # rebuilt from every record of its table, with its own frontier


def test_a_read_only_store_is_one_line_and_left_untouched(tmp_path: Path, smoke_run) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root and a tmpfs mount to make a read-only file system (CI runs as root)")
    try:
        smoke_run(disk / "store", "method=dpo")
        files = {p: p.read_bytes() for p in (disk / "store").rglob("*") if p.is_file()}
        assert subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True).returncode == 0
        result = subprocess.run([sys.executable, "-m", "bench.cli", "run", "preset=smoke", "method=dpo,simpo",
                                 f"store={disk / 'store'}", f"cache={tmp_path / 'cache'}", "progress=false"],
                                capture_output=True, text=True, timeout=300)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
        assert len(errors) == 1 and "Read-only file system" in errors[0] and "store=" in errors[0]
        assert {p: p.read_bytes() for p in (disk / "store").rglob("*") if p.is_file()} == files
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
