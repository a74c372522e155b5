"""Tests for bench.integrity: a manifest catches a missing, truncated or altered file; a seal an edited record."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from bench.integrity import Damaged, intact, read_sealed_json, seal, verify_manifest, write_manifest


@pytest.fixture
def built(tmp_path: Path) -> Path:
    directory = tmp_path / "entry"
    (directory / "sub").mkdir(parents=True)
    (directory / "weights.bin").write_bytes(bytes(range(256)) * 64)
    (directory / "sub" / "config.json").write_text('{"a": 1}')
    write_manifest(directory)
    return directory


def test_an_untouched_directory_verifies(built: Path) -> None:
    verify_manifest(built)
    assert intact(built)


def test_a_missing_file_is_named(built: Path) -> None:
    (built / "sub" / "config.json").unlink()
    with pytest.raises(Damaged, match=r"sub/config\.json: is missing"):
        verify_manifest(built)


def test_a_truncated_file_is_named_with_both_sizes(built: Path) -> None:
    os.truncate(built / "weights.bin", 100)
    with pytest.raises(Damaged, match=r"weights\.bin: is 100 bytes but was 16384 when written"):
        verify_manifest(built)


def test_an_altered_file_of_the_same_size_is_caught_by_its_hash(built: Path) -> None:
    data = bytearray((built / "weights.bin").read_bytes())
    data[5000] ^= 1  # one flipped bit; the write moves its mtime, so the quick check falls back to the hash
    (built / "weights.bin").write_bytes(bytes(data))
    with pytest.raises(Damaged, match="checksum mismatch"):
        verify_manifest(built)


def test_a_copy_with_new_mtimes_but_the_same_bytes_still_verifies(built: Path) -> None:
    os.utime(built / "weights.bin", ns=(1, 1))
    verify_manifest(built)


def test_a_directory_without_a_manifest_was_not_finished(tmp_path: Path) -> None:
    (tmp_path / "half").mkdir()
    with pytest.raises(Damaged, match=r"has no bench_manifest\.json"):
        verify_manifest(tmp_path / "half")
    assert not intact(tmp_path / "absent")


def test_a_sealed_record_reads_back_equal_nan_included(tmp_path: Path) -> None:
    record = {"metrics": {"kl": math.nan, "win_rate": 57.125}, "job": {"seed": 0, "path": Path("x")}}
    (tmp_path / "r.json").write_text(json.dumps(seal(record), default=str))
    back = read_sealed_json(tmp_path / "r.json")
    assert math.isnan(back["metrics"]["kl"]) and back["metrics"]["win_rate"] == 57.125 and "checksum" not in back


@pytest.mark.parametrize(("text", "message"), [
    ('{"a": 1', "cannot be parsed"),
    ('[1, 2]', "is not a JSON object"),
    ('{"a": 1}', "has no checksum"),
    (json.dumps({**seal({"a": 1}), "a": 2}), "checksum mismatch"),
    (b"\xff\xfe", "cannot be parsed"),
])
def test_a_damaged_record_is_named(tmp_path: Path, text, message) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(Damaged, match=message):
        read_sealed_json(path)
    with pytest.raises(FileNotFoundError):
        read_sealed_json(tmp_path / "absent.json")
