"""Progress of the long stages (the reference pass, generation, judging): a bar on a terminal, lines in a log.

With a real model on a CPU each of these stages takes minutes, and a run that prints nothing for ten minutes
looks hung. On a terminal a tqdm bar shows the stage; when standard error is not a terminal (a log file, a
cluster job, CI) the stage says how far it is in one notice line every :data:`LINE_EVERY_SECONDS`, starting
only once it has run that long, so short stages (every test, the whole gym) stay quiet.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

from bench.notices import notice

T = TypeVar("T")
LINE_EVERY_SECONDS = 30.0


def progress(items: Iterable[T], total: int, what: str, unit: str = "batches") -> Iterator[T]:
    """Yield ``items`` (``total`` of them) while showing how far the stage ``what`` has come."""
    if sys.stderr.isatty():
        yield from tqdm(items, total=total, desc=what, unit=unit[:-1] if unit.endswith("s") else unit, leave=False,
                        dynamic_ncols=True)
        return
    started = last = time.perf_counter()
    for done, item in enumerate(items, start=1):
        yield item
        now = time.perf_counter()
        if now - last >= LINE_EVERY_SECONDS:
            notice(f"{what}: {done} of {total} {unit} ({100 * done / max(total, 1):.0f}%) in {now - started:.0f}s")
            last = now
