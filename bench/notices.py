"""One-line notices from deep inside a run, for things the user must see but that stop nothing.

A damaged cache entry being rebuilt, or another process holding a job, is reported where it is found,
which is often far below the runner and its ``say`` callback (the reference cache, the generation
cache). Those places call :func:`notice`; the command line shows notices on standard error, one line
each (:func:`show_notices`), and a library user sees them through the ``bench`` logger.
"""

from __future__ import annotations

import logging
import sys

LOGGER = logging.getLogger("bench")


def notice(message: str) -> None:
    """Report ``message`` (one line) to whoever shows bench's notices."""
    LOGGER.warning(" ".join(message.split()))


class _StandardError(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a notice comes (a test runner may have replaced it)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"note: {record.getMessage()}", file=sys.stderr, flush=True)


def show_notices() -> None:
    """Print notices on standard error as ``note: ...`` lines (once per process, however often called)."""
    if not any(isinstance(handler, _StandardError) for handler in LOGGER.handlers):
        LOGGER.addHandler(_StandardError())
        LOGGER.propagate = False
