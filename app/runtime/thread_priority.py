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

Threads with a deadline go the other way (:func:`raise_current_thread_priority`), as audio
servers do for theirs (JACK and PipeWire through rtkit): a low real-time priority
(``SCHED_RR``) puts them ahead of every ordinary thread, so a busy process elsewhere no longer
takes their core for a time slice; where that is not permitted, a negative nice value; where
neither is, nothing changes, and the caller can say so. A real-time thread that computes
without pause would starve its core, so it must sleep between its blocks and give the priority
back (:func:`restore_normal_priority`) when it stops keeping up; ``SCHED_RR`` rather than
``SCHED_FIFO`` shares the core with other real-time threads of the same priority, and the
kernel's real-time throttling keeps a share of every second for the rest.
"""
from __future__ import annotations

import os
import sys
import threading

BACKGROUND_NICENESS = 10
GIL_SWITCH_INTERVAL_S = 0.001
REAL_TIME_PRIORITY = 5  # of 1-99: above every ordinary thread, below audio servers' own (rtkit allows up to 20)
RAISED_NICENESS = -10  # the fallback when real-time scheduling is refused


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


def raise_current_thread_priority(real_time: int = REAL_TIME_PRIORITY, niceness: int = RAISED_NICENESS) -> str:
    """Give the calling thread ``SCHED_RR`` at ``real_time``, else the nice value ``niceness``, else
    nothing; never fails. Returns what it got, for a status line: "real-time priority",
    "raised priority (nice -10): <why not real-time>" or "normal priority: <why>"."""
    if not hasattr(threading, "get_native_id"):
        return "normal priority: thread priorities are not supported here"
    tid = threading.get_native_id()
    try:
        os.sched_setscheduler(tid, os.SCHED_RR, os.sched_param(real_time))
        return "real-time priority"
    except AttributeError:
        refused = "real-time scheduling is not supported here"
    except OSError as exc:
        refused = f"real-time scheduling refused ({exc.strerror or exc})"
    try:
        os.setpriority(os.PRIO_PROCESS, tid, niceness)
        return f"raised priority (nice {niceness}): {refused}"
    except AttributeError:
        return f"normal priority: {refused}"
    except OSError as exc:
        return f"normal priority: {refused}, a negative nice value too ({exc.strerror or exc})"


def raise_unless_real_time() -> str:
    """:func:`raise_current_thread_priority`, unless the calling thread already runs real-time
    (a sound server or PortAudio may have given a device thread a higher priority than ours,
    which must not be lowered)."""
    if hasattr(os, "sched_getscheduler") and hasattr(threading, "get_native_id"):
        try:
            if os.sched_getscheduler(threading.get_native_id()) in (os.SCHED_FIFO, os.SCHED_RR):
                return "real-time priority (already)"
        except OSError:
            pass
    return raise_current_thread_priority()


def restore_normal_priority(reason: str) -> str:
    """Put the calling thread back to ordinary scheduling at nice 0 (as far as permitted); returns
    "normal priority: <reason>"."""
    tid = threading.get_native_id()
    for restore in (lambda: os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0)),
                    lambda: os.setpriority(os.PRIO_PROCESS, tid, 0)):
        try:
            restore()
        except (AttributeError, OSError):
            pass  # not supported, or not raised in the first place
    return f"normal priority: {reason}"
