"""Locks that let several bench processes share one store and one cache without duplicating work.

Two ``bench run`` started together on one store (two terminals, a job array on a cluster) would
otherwise both train every job and append every step to the same log. Each job, and each cached
artefact while it is built, is guarded by an advisory file lock (``filelock``): the second process waits
for the first and then finds the work done. The lock sits beside what it guards, as a hidden
``.<name>.lock`` file; the operating system releases it when its holder dies, even by ``kill -9``, so a
killed run never leaves a stale lock behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

WAIT_NOTICE_SECONDS = 0.0
"""A process that does not get a lock at once says so (once) before it waits."""


def lock_path(guarded: Path) -> Path:
    """The lock file of ``guarded`` (a file or directory, which need not exist yet)."""
    guarded = Path(guarded)
    return guarded.with_name(f".{guarded.name}.lock")


@contextmanager
def held(guarded: Path, what: str, say: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold ``guarded``'s lock for the block, waiting for another process that holds it (said once via ``say``)."""
    path = lock_path(guarded)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=WAIT_NOTICE_SECONDS)
    except Timeout:
        if say is not None:
            say(f"{what}: another bench process is working on it; waiting for it to finish")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
