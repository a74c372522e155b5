"""Peak memory of one training call, the cost figure that memory claims are checked against.

The FPO paper's claim is about memory (FPO needs no reference model in memory, TDPO does), so a job's
cost must include a peak that belongs to that job, not to the process's whole life:

- on CUDA, the peak of ``torch.cuda.max_memory_allocated`` after resetting it when the call starts
  (tensors only; the CUDA context and allocator slack are not counted);
- on Linux without CUDA, the process's resident-set high-water mark (``VmHWM``) after resetting it
  through ``/proc/self/clear_refs`` (the kernel's documented way to restart the peak). It includes
  everything the process already holds (Python, torch, the run's shared caches), so compare jobs run
  in fresh processes of the same kind, as ``bench report seeds`` does for its cost figures;
- elsewhere nothing is reported (``None``) rather than a number that is not what it claims.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_RESET_PEAK_RSS = "5"
"""Writing 5 to clear_refs resets the peak RSS (Linux >= 4.0, proc(5))."""


class PeakMemory:
    """Resets the device's peak at construction; :meth:`peak_bytes` reads it since then."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(device)
            self.device = device
            self.kind: str | None = "cuda_allocated"
        else:
            self.kind = "process_rss" if _reset_peak_rss() else None

    def peak_bytes(self) -> int | None:
        if self.cuda:
            return int(torch.cuda.max_memory_allocated(self.device))
        if self.kind is None:
            return None
        match = re.search(r"^VmHWM:\s+(\d+)\s+kB", _STATUS.read_text(), flags=re.MULTILINE)
        return int(match.group(1)) * 1024 if match else None


def _reset_peak_rss() -> bool:
    try:
        _CLEAR_REFS.write_text(_RESET_PEAK_RSS)
    except OSError:  # not Linux, or a kernel/sandbox that refuses it
        return False
    return _STATUS.is_file()
