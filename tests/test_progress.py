"""Tests for bench.progress: a long stage says how far it is in a log; a short one stays quiet."""

from __future__ import annotations

import pytest

import bench.progress as progress_module
from bench.progress import progress


def test_a_long_stage_writes_progress_lines_when_not_on_a_terminal(monkeypatch, caplog: pytest.LogCaptureFixture):
    clock = iter([0.0, 10.0, 40.0, 50.0, 75.0])
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: next(clock))
    assert list(progress(range(4), 4, "reference pass (responses)")) == [0, 1, 2, 3]
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["reference pass (responses): 2 of 4 batches (50%) in 40s",
                     "reference pass (responses): 4 of 4 batches (100%) in 75s"]


def test_a_short_stage_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    assert list(progress(["a", "b"], 2, "generation")) == ["a", "b"]
    assert caplog.records == []
