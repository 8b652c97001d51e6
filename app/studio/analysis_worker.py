"""A model-free thread for numerical work: the views' spectrograms and the Opus curve, and
(a second instance, owned by the inference worker) the quality rows.

Spectrograms of a 30 s clip take tens of milliseconds -- too long for the GUI thread, and
they should not wait behind the decoder either; a quality row takes seconds, and neither
the decoder nor the views should wait behind it. Tasks are keyed; a newer task with the same
key replaces a queued one (only the latest spectrogram of "reconstruction" matters), and a
result is delivered with its key and a token so the GUI can ignore stale answers.

The thread gives way to the decoder: before each task it waits, a bounded time, while
``defer_while()`` says playback is waiting for a decode (a slider move to a count not yet
rendered at the playhead). On two cores the analysis otherwise takes the core and the
interpreter lock the decode and the GUI need just then. Its torch work (the Opus curve's
distances) runs on one intra-op thread: two would spin at a barrier whenever the other
core is busy, which it always is here.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import torch
from PySide6.QtCore import QThread, Signal

from app.runtime.qthread_record import forgets_its_record
from app.runtime.thread_priority import lower_current_thread_priority


ANALYSIS_TORCH_THREADS = 1
DEFER_LIMIT_S = 0.25  # a chunk's length: by then the decode waited for is done, or the playhead moved on
DEFER_POLL_S = 0.005


class AnalysisWorker(QThread):
    resultReady = Signal(str, object, object)  # key, token, result
    taskFailed = Signal(str, str)  # key, message

    def __init__(self, defer_while: Callable[[], bool] | None = None) -> None:
        super().__init__()
        self.setObjectName("analysisWorker")
        self._defer_while = defer_while or (lambda: False)
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
        torch.set_num_threads(ANALYSIS_TORCH_THREADS)
        while True:
            with self._cond:
                while not self._tasks and not self._stopping:
                    self._cond.wait()
                self._give_way()
                if self._stopping:
                    return
                if not self._tasks:  # discarded while giving way
                    continue
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

    def _give_way(self) -> None:
        """Hold the next task back while ``defer_while()``, for at most :data:`DEFER_LIMIT_S` (lock held)."""
        deadline = time.monotonic() + DEFER_LIMIT_S
        while not self._stopping and time.monotonic() < deadline and self._defer_while():
            self._cond.wait(DEFER_POLL_S)
