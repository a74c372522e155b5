"""Atomic writes: a file or directory either exists complete or not at all.

Runs are killed (pre-emption, Ctrl-C, CI time limits); a half-written metrics.json or checkpoint
that looks finished would silently corrupt a leaderboard. Everything is written to a temporary
sibling and renamed into place, which POSIX makes atomic on one file system.
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


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
