"""Background threads yield the CPU to the GUI and audio threads.

On a 2-core machine the inference and analysis threads can keep both cores busy; with
equal priority the GUI thread then waits its turn and the window stutters. On Linux the
nice value is per thread (``setpriority`` with a thread id), so a worker lowers only its
own priority; elsewhere this is a no-op and the OS scheduler decides.
"""
from __future__ import annotations

import os
import threading

BACKGROUND_NICENESS = 10


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
