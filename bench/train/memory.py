"""Peak memory of one training call, the cost figure that memory claims are checked against.

The FPO paper's claim is about memory (FPO needs no reference model in memory, TDPO does), so a job's
cost must include a peak that belongs to that job, not to the process's whole life:

- on CUDA, the peak of ``torch.cuda.max_memory_allocated`` after resetting it when the call starts
  (tensors only; the CUDA context and allocator slack are not counted): kind ``cuda_allocated``;
- on Linux without CUDA, the process's resident-set high-water mark (``VmHWM``) after resetting it
  through ``/proc/self/clear_refs`` (the kernel's documented way to restart the peak): kind
  ``process_rss``. Some kernels and sandboxes accept the write and ignore it, so the reset is checked:
  right after it the high-water mark must equal the current resident set. Where it does not, a
  background thread samples the resident set every few milliseconds instead (kind
  ``process_rss_sampled``; a spike shorter than the interval can be missed, never invented);
- elsewhere nothing is reported (``None``) rather than a number that is not what it claims.

Both RSS kinds include everything the process already holds (Python, torch, the run's shared caches;
garbage is collected first), so compare jobs run in fresh processes of the same kind, as
``bench report seeds`` does for its cost figures.
"""

from __future__ import annotations

import gc
import os
import re
import threading
from pathlib import Path
from types import TracebackType

import torch

_STATUS = Path("/proc/self/status")
_STATM = Path("/proc/self/statm")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_RESET_PEAK_RSS = "5"
"""Writing 5 to clear_refs resets the peak RSS (Linux >= 4.0, proc(5))."""
_RESET_SLACK_BYTES = 2**20
"""How far the high-water mark may sit above the resident set right after an honoured reset (pages
touched between the write and the read)."""
SAMPLE_INTERVAL_SECONDS = 0.005


class PeakMemory:
    """Peak memory from construction until :meth:`close`; a context manager.

    :meth:`peak_bytes` reads the peak so far; ``kind`` says what it counts (``None``: not measured).
    """

    def __init__(self, device: torch.device) -> None:
        # Earlier work can leave cyclic garbage (a model's modules refer to each other) that is still resident
        # or allocated: collected now, it is not counted in this call's baseline and peak.
        gc.collect()
        self.cuda = device.type == "cuda"
        self._sampler: _RssSampler | None = None
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(device)
            self.device = device
            self.kind: str | None = "cuda_allocated"
        elif _reset_peak_rss():
            self.kind = "process_rss"
        elif _STATM.is_file():
            self._sampler = _RssSampler(SAMPLE_INTERVAL_SECONDS)
            self.kind = "process_rss_sampled"
        else:
            self.kind = None

    def peak_bytes(self) -> int | None:
        if self.cuda:
            return int(torch.cuda.max_memory_allocated(self.device))
        if self._sampler is not None:
            return self._sampler.peak()
        if self.kind is None:
            return None
        return _status_kb("VmHWM") * 1024

    def close(self) -> None:
        """Stop the sampling thread, if there is one; :meth:`peak_bytes` keeps the last peak."""
        if self._sampler is not None:
            self._sampler.stop()

    def __enter__(self) -> PeakMemory:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


class _RssSampler:
    """Reads the resident set on a daemon thread; the peak includes a reading taken when asked."""

    def __init__(self, interval: float) -> None:
        self._peak = _resident_bytes()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(interval,), name="bench-rss-sampler",
                                        daemon=True)
        self._thread.start()

    def _sample(self, interval: float) -> None:
        while not self._stopped.wait(interval):
            self._record()

    def _record(self) -> None:
        resident = _resident_bytes()
        with self._lock:
            self._peak = max(self._peak, resident)

    def peak(self) -> int:
        if not self._stopped.is_set():
            self._record()
        with self._lock:
            return self._peak

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak; True only when the reset took effect (checked, not assumed)."""
    try:
        _CLEAR_REFS.write_text(_RESET_PEAK_RSS)
        status = _STATUS.read_text()  # one read: both figures from the same moment
        return _status_kb("VmHWM", status) * 1024 <= _status_kb("VmRSS", status) * 1024 + _RESET_SLACK_BYTES
    except (OSError, LookupError):  # not Linux, a kernel/sandbox that refuses it, or no such status lines
        return False


def _status_kb(field: str, status: str | None = None) -> int:
    text = _STATUS.read_text() if status is None else status
    match = re.search(rf"^{field}:\s+(\d+)\s+kB", text, flags=re.MULTILINE)
    if match is None:
        raise LookupError(f"{_STATUS} has no {field} line")
    return int(match.group(1))


def _resident_bytes() -> int:
    return int(_STATM.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
