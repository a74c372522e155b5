"""Per-call peak memory: the figure must belong to the call, not to the process's earlier life."""

from __future__ import annotations

import gc
import mmap
import time

import pytest
import torch

from bench.train import memory as memory_module
from bench.train.memory import PeakMemory

MB = 2**20


def touched_block(nbytes: int) -> mmap.mmap:
    """``nbytes`` of fresh resident memory. Not a tensor: in a long-lived process (the whole suite) malloc can
    serve a large tensor from heap memory that is already resident, and the resident set does not grow."""
    block = mmap.mmap(-1, nbytes)
    for offset in range(0, nbytes, mmap.PAGESIZE):
        block[offset] = 1
    return block


def _status_file(tmp_path, hwm_kb: int, rss_kb: int):
    path = tmp_path / "status"
    path.write_text(f"Name:\tpython\nVmHWM:\t{hwm_kb} kB\nVmRSS:\t{rss_kb} kB\n")
    return path


@pytest.fixture(autouse=True)
def steady_heap():
    """No garbage collection during a measurement: earlier tests leave cyclic garbage (models) whose collection
    in the middle of one would shrink the resident set by more than the allocation being measured."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


@pytest.fixture
def kernel_ignoring_the_reset(tmp_path, monkeypatch):
    """A kernel that accepts the clear_refs write and keeps an old, higher peak (seen on CI machines)."""
    monkeypatch.setattr(memory_module, "_CLEAR_REFS", tmp_path / "clear_refs")
    monkeypatch.setattr(memory_module, "_STATUS", _status_file(tmp_path, hwm_kb=2 * 2**20, rss_kb=2**20))


def test_kernel_peak_restarts_at_construction_and_sees_a_large_allocation():
    if not memory_module._STATM.is_file():
        pytest.skip("no /proc/self/statm: not Linux")
    before = touched_block(64 * MB)  # 64 MB held before the measurement starts ...
    before.close()                   # ... and freed: an unreset peak would still include it
    with PeakMemory(torch.device("cpu")) as memory:
        if memory.kind != "process_rss":
            pytest.skip("this kernel ignores /proc/self/clear_refs; the sampled fallback is tested below")
        quiet = memory.peak_bytes()
        block = touched_block(96 * MB)  # 96 MB touched inside the measured call
        loud = memory.peak_bytes()
    assert loud - quiet >= 90 * MB
    block.close()
    with PeakMemory(torch.device("cpu")) as later:
        assert later.peak_bytes() < loud


def test_a_reset_the_kernel_ignores_is_detected_and_the_resident_set_is_sampled(kernel_ignoring_the_reset):
    with PeakMemory(torch.device("cpu")) as memory:
        assert memory.kind == "process_rss_sampled"
        quiet = memory.peak_bytes()
        spike = touched_block(96 * MB)  # held for many sampling intervals, then freed before anyone asks
        time.sleep(40 * memory_module.SAMPLE_INTERVAL_SECONDS)
        spike.close()
        time.sleep(10 * memory_module.SAMPLE_INTERVAL_SECONDS)
        loud = memory.peak_bytes()
    assert loud - quiet >= 90 * MB
    assert not memory._sampler._thread.is_alive()  # closed by the with block
    assert memory.peak_bytes() == loud               # the figure outlives the thread


def test_an_honoured_reset_is_recognised(tmp_path, monkeypatch):
    monkeypatch.setattr(memory_module, "_CLEAR_REFS", tmp_path / "clear_refs")
    monkeypatch.setattr(memory_module, "_STATUS", _status_file(tmp_path, hwm_kb=2**20, rss_kb=2**20))
    assert memory_module._reset_peak_rss()
    assert (tmp_path / "clear_refs").read_text() == "5"


def test_no_proc_files_means_no_figure(tmp_path, monkeypatch):
    monkeypatch.setattr(memory_module, "_CLEAR_REFS", tmp_path / "missing" / "clear_refs")
    monkeypatch.setattr(memory_module, "_STATM", tmp_path / "missing" / "statm")
    with PeakMemory(torch.device("cpu")) as memory:
        assert memory.kind is None
        assert memory.peak_bytes() is None
