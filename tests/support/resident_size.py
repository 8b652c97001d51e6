"""This process's resident memory, read from ``/proc/self/status`` (Linux), for memory tests and benchmarks."""
from __future__ import annotations

from pathlib import Path

STATUS = Path("/proc/self/status")


def status_bytes(field: str = "VmRSS") -> int:
    """``field`` of ``/proc/self/status`` in bytes: ``VmRSS`` (resident now), ``VmHWM`` (its peak)."""
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{STATUS} has no {field}")


def reset_peak() -> None:
    """Start ``VmHWM`` again from the current resident size."""
    Path("/proc/self/clear_refs").write_text("5")
