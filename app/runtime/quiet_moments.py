"""Moments when the studio is quiet: nothing is heard and the user already waits.

Some process-wide housekeeping stalls every thread while it runs (a full garbage collection
holds the GIL for 100-150 ms): done at a random moment it interrupts playback and the window.
The studio announces the moments when it costs nothing -- a clip has just been opened and
playback stopped for it -- and the application's start-up decides what runs then
(:func:`app.runtime.process_setup.configure_process`), so the studio itself does nothing
process-wide.
"""
from __future__ import annotations

from collections.abc import Callable

_tasks: list[Callable[[], None]] = []


def run_at_quiet_moments(task: Callable[[], None]) -> None:
    """Run ``task`` at every quiet moment from now on (once, however often it is registered)."""
    if task not in _tasks:
        _tasks.append(task)


def announce() -> None:
    """The studio is quiet now: run the registered tasks, in the order they were registered."""
    for task in _tasks:
        task()
