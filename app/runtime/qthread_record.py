"""Python's record of a QThread, dropped when the thread's work ends.

Python keeps a record of every thread it knows in :func:`threading.enumerate`. A thread Qt
started gets one -- a ``_DummyThread`` -- the first time code on it asks for the current
thread, which creating or joining a :class:`threading.Thread` does (the codec's parallel
chunk pool, :mod:`model.chunked`, does both on the inference worker). Python never removes
such a record: it says "alive" forever, so every finished worker stays listed, a check of
the threads before and after a session sees a leak, and a later thread that reuses the id
would be taken for the dead one. Python drops its own threads' records when they end;
:func:`forgets_its_record` makes a QThread's ``run`` do the same as its last step.
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable


def forget_this_qthread() -> None:
    """Remove the calling (Qt-started) thread's placeholder record, if Python made one."""
    ident = threading.get_ident()
    with threading._active_limbo_lock:  # noqa: SLF001 -- the lock Python itself takes for this table
        if isinstance(threading._active.get(ident), threading._DummyThread):  # noqa: SLF001
            del threading._active[ident]  # noqa: SLF001


def forgets_its_record(run: Callable[[object], None]) -> Callable[[object], None]:
    """Decorate a QThread's ``run``: however it ends, the thread's placeholder record goes with it."""
    @functools.wraps(run)
    def wrapped(self) -> None:
        try:
            run(self)
        finally:
            forget_this_qthread()
    return wrapped
