"""Named points where a test kills the process, to prove that a run killed there resumes to the same numbers.

Crash safety cannot be shown by killing a run at a random moment: the moment that matters (half-way
through the reference pass, between a training step and its snapshot, while samples are written) is
rarely hit. Each such place calls :func:`reached` with its name; when the environment variable
``BENCH_KILL_AT`` is ``NAME`` or ``NAME:N``, the process kills itself with SIGKILL (no clean-up, no
``finally``, as a pre-emption or the out-of-memory killer would) the N-th time (default the first) it
reaches ``NAME``. Nothing else ever sets it: without it, :func:`reached` only counts.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENVIRONMENT = "BENCH_KILL_AT"
POINTS = ("reference-pass", "training-step", "generation", "evaluation", "record")
"""Where runs can be killed: inside the reference pass (after its first batch), after a training step is
logged, after samples are drawn (before they are cached), after one evaluator ran (before the rest), and
before a job's record is written."""
_passed: Counter[str] = Counter()


def reached(name: str) -> None:
    """Count one pass through point ``name``; SIGKILL this process when ``BENCH_KILL_AT`` names this pass."""
    _passed[name] += 1
    wanted = os.environ.get(ENVIRONMENT)
    if not wanted:
        return
    point, _, count = wanted.partition(":")
    if point == name and _passed[name] == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
