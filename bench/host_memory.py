"""Giving the memory a CPU training step frees back to the operating system (glibc), at a price in time.

glibc's ``malloc`` serves a request below its mmap threshold from its heap and a larger one with its own mapping,
and it raises the threshold (up to 32 MiB) each time a mapped block is freed. After the first step a decoder's
activations and their transients (5-16 MB each for SmolLM2 at 16 x 160 tokens) all come from the heap, where the
transients freed between the tensors autograd keeps leave holes that the kernel never gets back: the process's
resident set grows far past what is alive. LoRA makes three outputs of every adapted linear layer instead of one,
so it fragments more, which is why its peak sat above the full fine-tune's in both bench and TRL although it
keeps 1.6 GB less state (README, "A real model against TRL"). Measured on SmolLM2-135M (8 pairs a step, fp32, 2
threads; ``benchmarks/host_memory_probe.py``): autograd saves 4.07 GB in a full fine-tune's step and 3.77 GB in
LoRA's, yet LoRA's forward adds 6.4 GB of resident set (3.8 with the setting); peak RSS 8.8 and 8.3 GB with glibc's
defaults, 5.8 and 4.4 GB with the threshold fixed at 128 KiB, for 19% (full) and 52% (LoRA) more time per step
(every large tensor is a fresh mapping whose pages fault in again).

So it is an option, ``lean_host_memory=true``, for runs that must fit in a machine's memory rather than finish
soonest; it changes no number a run computes, so it is not part of any key.
"""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3
"""mallopt's parameter for the mmap threshold (glibc's malloc.h); setting it also stops the dynamic raising."""
LEAN_MMAP_THRESHOLD = 128 * 1024
"""glibc's own starting threshold: every block of 128 KiB or more is mapped, and unmapped when freed."""


def return_freed_memory() -> bool:
    """Fix this process's mmap threshold at :data:`LEAN_MMAP_THRESHOLD`, so large blocks are unmapped when freed.

    Takes effect for later allocations. Returns False, changing nothing, where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, LEAN_MMAP_THRESHOLD))
