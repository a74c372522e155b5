"""Per-call peak memory: the figure must belong to the call, not to the process's earlier life."""

from __future__ import annotations

import pytest
import torch

from bench.train.memory import PeakMemory


def test_peak_restarts_at_construction_and_sees_a_large_allocation():
    before = torch.ones(64 * 2**20 // 4)  # 64 MB held before the measurement starts ...
    del before                            # ... and freed: an unreset peak would still include it
    memory = PeakMemory(torch.device("cpu"))
    if memory.kind is None:
        pytest.skip("this kernel does not let a process reset its peak RSS (/proc/self/clear_refs)")
    quiet = memory.peak_bytes()
    block = torch.ones(96 * 2**20 // 4)   # 96 MB touched inside the measured call
    loud = memory.peak_bytes()
    assert memory.kind == "process_rss"
    assert loud - quiet >= 90 * 2**20
    del block
    assert PeakMemory(torch.device("cpu")).peak_bytes() < loud
