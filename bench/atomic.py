"""Atomic writes: a file or directory either exists complete or not at all.

Runs are killed (pre-emption, Ctrl-C, CI time limits); a half-written metrics.json or checkpoint
that looks finished would silently corrupt a leaderboard. Everything is written to a temporary
sibling and renamed into place, which POSIX makes atomic on one file system.

The temporary file or directory is created private (mode 0600/0700) and opened up to what the user's
umask allows before it is renamed, so results on a shared cluster file system are as readable by
colleagues as any other file the user writes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _umask() -> int:
    """The process's file-creation mask (changed for the length of one call only, to read it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _as_user_would_create(path: Path, directory: bool) -> None:
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a reader sees the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        _as_user_would_create(Path(tmp), directory=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    write_bytes(path, str.encode(text, "utf-8"))  # a non-str is a TypeError before anything is written


def write_json(path: Path, value: Any) -> None:
    """Write ``value`` as indented JSON atomically."""
    write_text(path, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


@contextmanager
def directory(path: Path) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` when the block finishes without error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        _as_user_would_create(tmp, directory=True)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
