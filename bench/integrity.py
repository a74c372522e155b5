"""Checking that what bench reads back is what it wrote: manifests for directories, checksums for records.

A benchmark's numbers are only as good as the files they are read from. A copy that stopped half-way,
a full disk, a hand edit or a flipped bit must not turn into a reused checkpoint or a cached score, so
every directory bench builds carries a manifest (:data:`MANIFEST`: each file's size, modification time
and SHA-256), and every JSON record it reuses carries a checksum of its own content (:func:`seal`).

Verifying a manifest compares sizes always and hashes a file's bytes only when its modification time
differs from the one recorded (the quick check of rsync and git's index): an untouched multi-gigabyte
checkpoint is not re-read on every run, while a truncated, rewritten or copied file is hashed and caught.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from bench.errors import BenchError

MANIFEST = "bench_manifest.json"
CHECKSUM = "checksum"
"""The key of a sealed record that holds the SHA-256 of the rest of it."""
CHECKSUM_CHARS = 16


class Damaged(BenchError):
    """A file bench wrote is missing, truncated or altered; the message names it and what is wrong."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = Path(path), reason


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    """The SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(directory: Path) -> None:
    """Record every file under ``directory`` (size, mtime, SHA-256) in its manifest; the last write into it."""
    directory = Path(directory)
    entries = {}
    for path in _files(directory):
        status = path.stat()
        entries[path.relative_to(directory).as_posix()] = {"size": status.st_size, "mtime_ns": status.st_mtime_ns,
                                                           "sha256": sha256(path)}
    (directory / MANIFEST).write_text(json.dumps({"files": entries}, indent=1, sort_keys=True) + "\n")


def verify_manifest(directory: Path) -> None:
    """Raise :class:`Damaged` naming the first file of ``directory`` that is missing, resized or altered.

    A directory without a manifest is damaged too: bench writes the manifest last, so its absence means
    the directory was not finished by bench (or came from an older version that wrote none).
    """
    directory = Path(directory)
    try:
        entries = json.loads((directory / MANIFEST).read_text())["files"]
    except FileNotFoundError:
        raise Damaged(directory, f"has no {MANIFEST} (not finished by bench)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Damaged(directory / MANIFEST, f"unreadable ({type(exc).__name__})") from exc
    for name, expected in sorted(entries.items()):
        path = directory / name
        try:
            status = path.stat()
        except FileNotFoundError:
            raise Damaged(path, "is missing") from None
        if status.st_size != expected["size"]:
            raise Damaged(path, f"is {status.st_size} bytes but was {expected['size']} when written "
                                f"(truncated or replaced)")
        if status.st_mtime_ns != expected["mtime_ns"] and sha256(path) != expected["sha256"]:
            raise Damaged(path, "its content changed since it was written (checksum mismatch)")


def intact(directory: Path) -> bool:
    """Whether ``directory`` exists and its manifest verifies."""
    try:
        verify_manifest(directory)
    except Damaged:
        return False
    return True


def _checksum(record: dict[str, Any]) -> str:
    """SHA-256 of the record's canonical JSON (sorted keys, no whitespace), the same before writing and after
    reading back, since JSON keeps ints and floats apart."""
    # NaN is not equal to itself, and JSON writes it as a bare token; hash its spelling instead.
    plain = json.loads(json.dumps({k: v for k, v in record.items() if k != CHECKSUM}, default=str),
                       parse_constant=lambda token: f"<{token}>")
    canonical = json.dumps(plain, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:CHECKSUM_CHARS]


def seal(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with a :data:`CHECKSUM` of its other keys, checked by :func:`unseal` when it is read back."""
    return {**{k: v for k, v in record.items() if k != CHECKSUM}, CHECKSUM: _checksum(record)}


def unseal(record: Any, path: Path) -> dict[str, Any]:
    """``record`` as read from ``path`` without its checksum, or :class:`Damaged` when it is not a dict with a
    matching checksum (so a record reads back equal to what was sealed)."""
    if not isinstance(record, dict):
        raise Damaged(path, "is not a JSON object")
    if CHECKSUM not in record:
        raise Damaged(path, f"has no {CHECKSUM} (not written by this version of bench, or edited)")
    if record[CHECKSUM] != _checksum(record):
        raise Damaged(path, "its content changed since it was written (checksum mismatch)")
    return {key: value for key, value in record.items() if key != CHECKSUM}


def read_sealed_json(path: Path) -> dict[str, Any]:
    """Read and verify a sealed JSON record; :class:`Damaged` for any defect, FileNotFoundError when absent."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
        record = json.loads(text, parse_constant=lambda token: {"NaN": math.nan, "Infinity": math.inf,
                                                                "-Infinity": -math.inf}[token])
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Damaged(path, f"cannot be parsed ({type(exc).__name__}: {str(exc).splitlines()[0]})") from exc
    return unseal(record, path)
