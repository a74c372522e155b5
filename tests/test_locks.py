"""Tests for bench.locks: a second holder waits for the first, says so once, and runs after it."""

from __future__ import annotations

import threading
from pathlib import Path

from bench.locks import held, lock_path


def test_a_second_holder_waits_for_the_first_and_says_why(tmp_path: Path) -> None:
    events: list[str] = []
    said: list[str] = []
    first_inside = threading.Event()
    release = threading.Event()

    def first() -> None:
        with held(tmp_path / "job", "job A"):
            events.append("first in")
            first_inside.set()
            release.wait(10)
            events.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    first_inside.wait(10)
    second = threading.Thread(target=lambda: _second(tmp_path, events, said))
    second.start()
    while not said:  # the second holder has found the lock taken
        second.join(0.01)
    release.set()
    thread.join(10)
    second.join(10)
    assert events == ["first in", "first out", "second in"]
    assert said == ["job A: another bench process is working on it; waiting for it to finish"]
    assert lock_path(tmp_path / "job") == tmp_path / ".job.lock"


def _second(tmp_path: Path, events: list[str], said: list[str]) -> None:
    with held(tmp_path / "job", "job A", said.append):
        events.append("second in")
