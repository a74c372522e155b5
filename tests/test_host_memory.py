"""lean_host_memory: large blocks a CPU process frees go back to the OS instead of staying in glibc's heap."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.config import build_config

# Frees a 24 MB block first (with glibc's defaults that raises the mmap threshold to 24 MB), then allocates and
# frees a 16 MB block while a small tensor allocated after it pins the heap's top: the resident set it leaves behind.
PROBE = """
import sys
import torch
from bench.host_memory import return_freed_memory

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024

applied = return_freed_memory() if sys.argv[1] == "lean" else False
warm = torch.ones(6 * 2**20)
del warm
before = rss_mb()
block = torch.ones(4 * 2**20)
pin = torch.ones(1024)
del block
print(applied, rss_mb() - before)
"""


def _left_behind(mode: str) -> tuple[bool, float]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    applied, megabytes = out.stdout.split()
    return applied == "True", float(megabytes)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator and /proc are Linux's")
def test_a_freed_block_is_returned_only_with_the_lean_setting():
    applied, lean = _left_behind("lean")
    if not applied:
        pytest.skip("the C library is not glibc: mallopt is not there to set")
    _, default = _left_behind("default")
    assert default > 12  # glibc's default kept the 16 MB block in its heap
    assert lean < 4  # unmapped when freed


def test_it_is_a_run_setting():
    assert build_config(["lean_host_memory=true"]).lean_host_memory is True
    assert build_config([]).lean_host_memory is False
