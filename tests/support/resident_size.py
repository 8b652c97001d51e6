"""This process's resident memory, read from ``/proc/self/status`` (Linux), for memory tests and benchmarks."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

STATUS = Path("/proc/self/status")
# The environment of a child process whose peak is measured: glibc's malloc maps every block of
# 128 KiB or more on its own and unmaps it when freed. By default it raises that threshold to the
# largest block freed so far and serves later ones from its heap, which it keeps: a peak then
# depends on the order of earlier allocations (the same decode's moved 50-80 MiB from run to run).
# Fixed, the peak is the buffers alive at once, the same in every run.
FIXED_MMAP_THRESHOLD = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(128 << 10)}


def status_bytes(field: str = "VmRSS") -> int:
    """``field`` of ``/proc/self/status`` in bytes: ``VmRSS`` (resident now), ``VmHWM`` (its peak)."""
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{STATUS} has no {field}")


def reset_peak() -> None:
    """Start ``VmHWM`` again from the current resident size."""
    Path("/proc/self/clear_refs").write_text("5")


class PeakSampler(threading.Thread):
    """The peaks of ``/proc/self/status`` fields (``VmRSS``, ``RssAnon``, ``RssFile``: resident, its
    anonymous part, its file-backed part), in bytes, sampled every 5 ms from :meth:`start` to :meth:`stop`."""

    FIELDS = ("VmRSS", "RssAnon", "RssFile")

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peaks = {field: status_bytes(field) for field in self.FIELDS}
        self.running = True

    def run(self) -> None:
        while self.running:
            for field in self.FIELDS:
                self.peaks[field] = max(self.peaks[field], status_bytes(field))
            time.sleep(0.005)

    def stop(self) -> dict[str, int]:
        self.running = False
        self.join()
        return dict(self.peaks)
