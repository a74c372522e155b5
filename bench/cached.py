"""Derived artefacts on disk: built once (under a lock), verified on every read, rebuilt when damaged.

Everything under the cache directory (the gym, reference passes, generations, evaluator results, the
frontier) can be recomputed from the configuration, so a damaged entry is never an error: it is
reported in one line naming the file (:func:`bench.notices.notice`) and built again. Directories carry
a manifest and records a checksum (:mod:`bench.integrity`); a build runs under the entry's lock
(:mod:`bench.locks`), so two processes that miss the same entry build it once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import atomic
from bench.integrity import Damaged, read_sealed_json, seal, verify_manifest, write_manifest
from bench.locks import held
from bench.notices import notice


def _verified_directory(path: Path, what: str, quiet: bool) -> bool:
    if not path.exists():
        return False
    try:
        verify_manifest(path)
    except Damaged as damage:
        if not quiet:
            notice(f"{damage}; rebuilding {what}")
        return False
    return True


def cached_directory(path: Path, build: Callable[[Path], None], what: str) -> bool:
    """Make sure ``path`` holds an intact build of ``what``; True when it was built by this call.

    ``build`` fills a temporary directory that replaces ``path`` atomically once its manifest is written.
    """
    path = Path(path)
    if _verified_directory(path, what, quiet=True):
        return False
    with held(path, what, notice):
        if _verified_directory(path, what, quiet=False):
            return False  # another process built it while this one waited
        with atomic.directory(path) as tmp:
            build(tmp)
            write_manifest(tmp)
    return True


def read_record(path: Path, what: str, quiet: bool = False) -> dict[str, Any] | None:
    """The sealed JSON record at ``path``; None when it is absent or damaged (said unless ``quiet``)."""
    try:
        return read_sealed_json(path)
    except FileNotFoundError:
        return None
    except Damaged as damage:
        if not quiet:
            notice(f"{damage}; recomputing {what}")
        return None


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` sealed (with its checksum), atomically."""
    atomic.write_json(path, seal(record))


def cached_record(path: Path, compute: Callable[[], dict[str, Any]], what: str) -> tuple[dict[str, Any], bool]:
    """The record at ``path``, computed (under its lock) when absent or damaged; (record, computed now)."""
    path = Path(path)
    if (record := read_record(path, what, quiet=True)) is not None:
        return record, False
    with held(path, what, notice):
        if (record := read_record(path, what)) is not None:
            return record, False
        record = compute()
        write_record(path, record)
    return record, True
