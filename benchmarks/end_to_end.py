"""Wall time of `bench run method=all` on the embedded default, cold (empty cache) and warm.

Run by hand:  .venv/bin/python benchmarks/end_to_end.py [extra KEY=VALUE overrides]
Cold builds the gym (reference SFT + datasets), does the reference pass and trains and evaluates
every registered objective; warm repeats the same command and must reuse everything.
"""

from __future__ import annotations

import json
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(command: list[str], cwd: Path) -> dict:
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{completed.stderr[-2000:]}")
    return {"seconds": round(seconds, 1), "log": completed.stderr.strip().splitlines()[-3:]}


def main() -> None:
    bench = str(Path(sys.executable).with_name("bench"))
    work = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    command = [bench, "run", "method=all", "progress=false", f"cache={work / 'cache'}", f"store={work / 'runs'}",
               *sys.argv[1:]]
    try:
        cold = timed(command, work)
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        warm = timed(command, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"cold_seconds": cold["seconds"], "warm_seconds": warm["seconds"],
                      "cold_peak_rss_mb": round(peak_mb), "machine": f"{platform.machine()}, {_cores()} cores",
                      "cold_tail": cold["log"], "warm_tail": warm["log"]}, indent=2))


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
