"""The guard that fails a test leaving Qt work going: a QThread running, a QTimer active
(``QTimer.singleShot`` included) or a QProcess running.

Like napari's conftest: leaked threads and timers crash later tests in ways that are hard to
trace. After the test the guard runs the event loop for up to :data:`QT_GRACE_S` so that what
was told to stop can finish. Every conftest whose tests use Qt (tests/app, tests/ui) imports
:func:`no_dangling_qt`; plain Python threads are checked by ``tests/conftest.py``.
"""
import sys
import time
import weakref
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QProcess, QThread, QTimer

# A deadline, not a pause: the guard returns as soon as nothing is left. What was told to stop
# may be finishing a decode chunk or a measurement step, which a busy two-core machine can
# stretch past a second; a leak is still caught, only later.
QT_GRACE_S = 10.0
_UNOWNED_SHOTS: set[QTimer] = set()  # single-shot timers without a parent, alive until they fire


class QtWatch:
    """Every QThread, QTimer and QProcess started during a test, to find those still going."""

    def __init__(self, monkeypatch) -> None:
        self.threads, self.timers, self.processes = weakref.WeakSet(), weakref.WeakSet(), weakref.WeakSet()
        for cls, watched in ((QThread, self.threads), (QTimer, self.timers), (QProcess, self.processes)):
            monkeypatch.setattr(cls, "start", self._tracking(cls.start, watched))
        single_shot = QTimer.singleShot
        monkeypatch.setattr(QTimer, "singleShot", staticmethod(lambda *args: _tracked_single_shot(single_shot, *args)))

    @staticmethod
    def _tracking(start, watched: weakref.WeakSet):
        def tracked_start(self, *args, **kwargs):
            watched.add(self)
            return start(self, *args, **kwargs)
        return tracked_start

    def leftovers(self) -> dict[str, list[str]]:
        """What still runs, by kind (only kinds with something in them)."""
        found = {
            "QThreads running": [t.objectName() or repr(t) for t in list(self.threads) if qt_alive(t) and t.isRunning()],
            "QTimers active": [t.objectName() or repr(t) for t in list(self.timers) if qt_alive(t) and t.isActive()],
            "QProcesses running": [f"{p.program()} {' '.join(p.arguments())}" for p in self._busy_processes()],
        }
        return {kind: names for kind, names in found.items() if names}

    def _busy_processes(self) -> list[QProcess]:
        return [p for p in list(self.processes) if qt_alive(p) and p.state() != QProcess.ProcessState.NotRunning]

    def settle(self, app, grace_s: float) -> dict[str, list[str]]:
        """Run the event loop until nothing is left or ``grace_s`` has passed; what is left."""
        deadline = time.monotonic() + grace_s
        while (left := self.leftovers()) and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        return left

    def clean_up(self) -> None:
        """After a failure: kill leaked processes and cancel leaked single shots, so the next test starts clean."""
        for process in self._busy_processes():
            process.kill()
            process.waitForFinished(2_000)
        for timer in list(_UNOWNED_SHOTS):
            timer.stop()
            timer.deleteLater()
        _UNOWNED_SHOTS.clear()


@pytest.fixture(autouse=True)
def no_dangling_qt(monkeypatch, qapp):
    watch = QtWatch(monkeypatch)
    yield watch
    left = watch.settle(qapp, QT_GRACE_S)
    watch.clean_up()
    assert not left, "test left Qt work going: " + "; ".join(f"{kind}: {names}" for kind, names in left.items())


def _tracked_single_shot(original, msec, *args) -> None:
    """``QTimer.singleShot`` as a QTimer object the guard can see (named after its caller).

    Qt's static single shot creates a timer nobody can query, so a test could leave one
    behind that fires minutes later inside another test. The functor forms run from the GUI
    thread become a single-shot QTimer (a child of the context object, so it dies with it,
    as Qt's does); the rare member-string form and calls from other threads go to Qt.
    """
    *context, functor = args
    receiver = context[-1] if context else None
    gui = QCoreApplication.instance().thread()
    if not callable(functor) or QThread.currentThread() != gui or \
            (receiver is not None and receiver.thread() != gui):
        original(msec, *args)
        return
    caller = sys._getframe(2)
    timer = QTimer(receiver)
    timer.setObjectName(f"QTimer.singleShot({msec} ms) from "
                        f"{Path(caller.f_code.co_filename).name}:{caller.f_lineno}")
    timer.setSingleShot(True)
    if receiver is None:  # nobody else owns it: keep it until it fires
        _UNOWNED_SHOTS.add(timer)
    timer.timeout.connect(functor)
    timer.timeout.connect(lambda: _UNOWNED_SHOTS.discard(timer))
    timer.timeout.connect(timer.deleteLater)
    timer.start(msec)


def qt_alive(obj) -> bool:
    try:
        obj.objectName()
        return True
    except RuntimeError:  # the C++ object is already deleted
        return False
