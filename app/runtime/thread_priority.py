"""Background threads yield the CPU to the GUI and audio threads.

On a 2-core machine the inference and analysis threads can keep both cores busy; with
equal priority the GUI thread then waits its turn and the window stutters. On Linux the
nice value is per thread (``setpriority`` with a thread id), so a worker lowers only its
own priority; elsewhere this is a no-op and the OS scheduler decides.

The GIL is the other queue. A thread that wants it while a busy worker runs Python waits
for the interpreter's switch interval, 5 ms by default; the GUI thread re-enters Python for
every pyqtgraph item it paints and the audio callback for every block, so a frame or a block
could wait several such turns. :func:`shorten_gil_waits` sets the interval to 1 ms. Torch's
operators, soxr, numpy's FFT, libsndfile and our Snake kernel release the GIL while they
compute, so the workers lose little: only their Python glue is interrupted more often.
"""
from __future__ import annotations

import os
import sys
import threading

BACKGROUND_NICENESS = 10
GIL_SWITCH_INTERVAL_S = 0.001


def lower_current_thread_priority(increment: int = BACKGROUND_NICENESS) -> bool:
    """Raise the calling thread's nice value by ``increment``; False where unsupported."""
    if not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return False
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment))
    except OSError:
        return False
    return True


def shorten_gil_waits(interval_s: float = GIL_SWITCH_INTERVAL_S) -> None:
    """Let a thread waiting for the GIL have it after ``interval_s`` instead of 5 ms (process-wide)."""
    sys.setswitchinterval(interval_s)
