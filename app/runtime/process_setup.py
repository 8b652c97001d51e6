"""The process-wide settings the studio's threads are tuned for, made once at start-up.

The GIL's switch interval and the garbage collector belong to the whole process, not to a
session or a window: :func:`configure_process` sets them where the application starts
(:func:`app.main.ensure_qt_application`), and tests call the same function, so they run in
the configuration users get.
"""
from __future__ import annotations

from app.runtime import freed_memory, long_lived_objects, quiet_moments, thread_priority


def configure_process() -> None:
    """Shorten GIL waits; settle long-lived objects and return freed memory at the studio's quiet moments
    (idempotent)."""
    thread_priority.shorten_gil_waits()  # the GUI and the audio callback wait less for Python
    quiet_moments.run_at_quiet_moments(long_lived_objects.settle)
    quiet_moments.run_at_quiet_moments(freed_memory.return_freed_memory)  # after settle: its garbage goes too
