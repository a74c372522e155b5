"""Tests for bench.cached: derived artefacts are built once, verified on read, and rebuilt when damaged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.cached import cached_directory, cached_record, read_record


def test_a_directory_is_built_once_and_rebuilt_when_damaged(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    builds = []

    def build(tmp: Path) -> None:
        builds.append(tmp)
        (tmp / "data.bin").write_bytes(b"x" * 1000)

    entry = tmp_path / "entry"
    assert cached_directory(entry, build, "the test entry") is True
    assert cached_directory(entry, build, "the test entry") is False and len(builds) == 1
    os.truncate(entry / "data.bin", 10)
    assert cached_directory(entry, build, "the test entry") is True and len(builds) == 2
    assert "entry/data.bin: is 10 bytes but was 1000 when written" in caplog.text
    assert "rebuilding the test entry" in caplog.text
    assert (entry / "data.bin").stat().st_size == 1000


def test_a_failed_build_leaves_nothing_behind(tmp_path: Path) -> None:
    def build(tmp: Path) -> None:
        (tmp / "part").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cached_directory(tmp_path / "entry", build, "x")
    assert [p.name for p in tmp_path.iterdir()] == [".entry.lock"]  # no entry, no temporary directory


def test_a_record_is_computed_once_and_recomputed_when_edited(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    calls = []

    def compute() -> dict:
        calls.append(1)
        return {"value": 41 + len(calls)}

    path = tmp_path / "r.json"
    assert cached_record(path, compute, "the answer") == ({"value": 42}, True)
    assert cached_record(path, compute, "the answer") == ({"value": 42}, False)
    path.write_text(path.read_text().replace("42", "7"))
    assert read_record(path, "the answer", quiet=True) is None
    assert cached_record(path, compute, "the answer") == ({"value": 43}, True)
    assert "r.json: its content changed since it was written (checksum mismatch); recomputing the answer" in caplog.text
