"""Suite-wide settings and guards: deterministic threads, offscreen Qt, no leaked Python threads.

A test that leaves a thread running makes later tests fail in ways that point nowhere near
the cause (a thread still decoding takes the CPU, holds a file or calls back into a closed
object). So every test must end the Python threads it started: the guard compares
:func:`threading.enumerate` before and after each test, lets the new ones finish for a short
grace period (a thread told to stop may need a moment to see it), and fails the test naming
what is left -- thread name and the function it runs, so the owner is found at once. Threads
Qt created (``_DummyThread``, the Python face of a QThread) are left to the Qt guard in
``tests/ui/conftest.py``, which knows when a QThread has finished. Helper processes
(:mod:`app.runtime.child_process`) are held to the same rule: a test ends every one it started.
"""
import os
import sys
import threading
import time
from pathlib import Path

import pytest

# Test helpers (tests/support: synthetic audio) and the release tooling (release/, not part of
# the installed application) are imported by name from here on.
_REPO = Path(__file__).resolve().parent.parent
for _folder in (_REPO / "tests" / "support", _REPO):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402

# Two cores, often shared with a background training run: one intra-op thread keeps test
# timings stable and avoids oversubscription (OpenMP spinning) that slows small ops 10x.
torch.set_num_threads(1)

# The process as the application configures it at start-up (GIL switch interval, garbage
# collection at the studio's quiet moments): the studio's tests run in the users' configuration.
from app.runtime.process_setup import configure_process  # noqa: E402

configure_process()

# A deadline, not a pause (see QT_GRACE_S in tests/support/qt_guard.py): a thread told to stop
# may be in the middle of a piece of work that a busy machine stretches past the old 2 s.
THREAD_GRACE_S = 10.0


def _python_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate()
            if t is not threading.main_thread() and not isinstance(t, threading._DummyThread)}


class ThreadWatch:
    """The Python threads that exist now, and later the ones started since that still run."""

    def __init__(self) -> None:
        self.before = _python_threads()

    def still_running(self, grace_s: float) -> list[threading.Thread]:
        """New threads still alive after waiting up to ``grace_s`` in all for them to end."""
        deadline = time.monotonic() + grace_s
        for thread in _python_threads() - self.before:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [t for t in _python_threads() - self.before if t.is_alive()]

    @staticmethod
    def describe(thread: threading.Thread) -> str:
        """``name (module.function, daemon)``: enough to tell which code started it."""
        target = getattr(thread, "_target", None)
        where = f"{target.__module__}.{target.__qualname__}" if callable(target) else type(thread).__name__
        return f"{thread.name} ({where}{', daemon' if thread.daemon else ''})"


@pytest.fixture(autouse=True)
def no_dangling_threads():
    watch = ThreadWatch()
    yield watch
    left = watch.still_running(THREAD_GRACE_S)
    assert not left, ("test left Python threads running (still alive after a "
                      f"{THREAD_GRACE_S:g} s grace period): {', '.join(map(watch.describe, left))}")


@pytest.fixture(autouse=True)
def no_dangling_processes():
    from app.runtime.child_process import live_children

    yield
    left = live_children()
    assert not left, f"test left helper processes running (app.runtime.child_process): pids {left}"
