"""A second, model-free thread for the views' numerical work: spectrograms and the Opus curve.

Spectrograms of a 30 s clip take tens of milliseconds -- too long for the GUI thread, and
they should not wait behind the decoder either. Tasks are keyed; a newer task with the same
key replaces a queued one (only the latest spectrogram of "reconstruction" matters), and a
result is delivered with its key and a token so the GUI can ignore stale answers.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from PySide6.QtCore import QThread, Signal

from app.qthread_record import forgets_its_record
from app.thread_priority import lower_current_thread_priority


class AnalysisWorker(QThread):
    resultReady = Signal(str, object, object)  # key, token, result
    taskFailed = Signal(str, str)  # key, message

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("analysisWorker")
        self._cond = threading.Condition()
        self._tasks: OrderedDict[str, tuple[object, Callable[[], object]]] = OrderedDict()
        self._stopping = False
        self._running = False

    def submit(self, key: str, token: object, fn: Callable[[], object]) -> None:
        with self._cond:
            self._tasks.pop(key, None)
            self._tasks[key] = (token, fn)
            self._cond.notify()

    def discard(self) -> None:
        """Drop all queued tasks (a new clip makes them pointless)."""
        with self._cond:
            self._tasks.clear()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._tasks.clear()
            self._cond.notify()
        self.wait()

    def idle(self) -> bool:
        with self._cond:
            return not self._tasks and not self._running

    @forgets_its_record
    def run(self) -> None:
        lower_current_thread_priority()
        while True:
            with self._cond:
                while not self._tasks and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                key, (token, fn) = self._tasks.popitem(last=False)
                self._running = True
            try:
                result = fn()
            except (ValueError, OSError, RuntimeError, MemoryError) as exc:
                self.taskFailed.emit(key, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            else:
                self.resultReady.emit(key, token, result)
            finally:
                with self._cond:
                    self._running = False
