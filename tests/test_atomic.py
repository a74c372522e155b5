"""Tests for bench.atomic: files and directories appear whole, with the permissions the user's umask gives."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bench import atomic


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_written_files_and_directories_are_readable_by_others_under_umask_022(tmp_path: Path, umask_022) -> None:
    atomic.write_text(tmp_path / "a.txt", "hello")
    with atomic.directory(tmp_path / "d") as tmp:
        (tmp / "w.bin").write_bytes(b"x")
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def test_a_stricter_umask_is_honoured(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        atomic.write_text(tmp_path / "a.txt", "hello")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o600


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    atomic.write_text(tmp_path / "a.txt", "old")

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("disk full")

    with pytest.raises(TypeError):
        atomic.write_text(tmp_path / "a.txt", Unprintable())  # type: ignore[arg-type]
    assert (tmp_path / "a.txt").read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
