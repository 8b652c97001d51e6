"""A model-free thread for numerical work: the views' spectrograms and the Opus curve, and
(a second instance, owned by the inference worker) the quality rows.

Spectrograms of a 30 s clip take tens of milliseconds -- too long for the GUI thread, and
they should not wait behind the decoder either; a quality row takes seconds, and neither
the decoder nor the views should wait behind it. Each task comes with the function that
receives its result, called on the thread that owns the worker (the GUI's) -- that function
knows what the result was for and ignores it if the studio has moved on. Tasks are keyed; a
newer task with the same key replaces a queued one (only the latest spectrogram of the
rendering matters), and a failure is reported with the task's key.

The thread gives way to the decoder: before each task it waits, a bounded time, while
``defer_while()`` says playback is waiting for a decode (a slider move to a count not yet
rendered at the playhead). On two cores the analysis otherwise takes the core and the
interpreter lock the decode and the GUI need just then. Its torch work (the Opus curve's
distances) runs on one intra-op thread: two would spin at a barrier whenever the other
core is busy, which on a two-core machine it always is.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

import torch
from PySide6.QtCore import QThread, Signal

from app.runtime.qthread_record import forgets_its_record
from app.runtime.thread_priority import lower_current_thread_priority


ANALYSIS_TORCH_THREADS = 1
DEFER_LIMIT_S = 0.25  # a chunk's length: by then the decode waited for is done, or the playhead moved on
DEFER_POLL_S = 0.005

T = TypeVar("T")


class AnalysisWorker(QThread):
    taskFailed = Signal(str, str)  # key, message
    _computed = Signal(object, object)  # deliver, result: queued to the thread that owns this object

    def __init__(self, defer_while: Callable[[], bool] | None = None) -> None:
        super().__init__()
        self.setObjectName("analysisWorker")
        self._defer_while = defer_while or (lambda: False)
        self._cond = threading.Condition()
        self._tasks: OrderedDict[str, tuple[Callable[[], T], Callable[[T], None]]] = OrderedDict()
        self._stopping = False
        self._running = False
        self._computed.connect(self._deliver)

    def submit(self, key: str, compute: Callable[[], T], deliver: Callable[[T], None]) -> None:
        """Run ``compute`` on this thread, then ``deliver(result)`` on the thread that owns this object.

        A task still queued under ``key`` is replaced: only the newest request of a kind matters.
        """
        with self._cond:
            self._tasks.pop(key, None)
            self._tasks[key] = (compute, deliver)
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
                key, (compute, deliver) = self._tasks.popitem(last=False)
                self._running = True
            try:
                result = compute()
            except (ValueError, OSError, RuntimeError, MemoryError) as exc:
                self.taskFailed.emit(key, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            else:
                self._computed.emit(deliver, result)
            finally:
                with self._cond:
                    self._running = False

    def _deliver(self, deliver: Callable[[T], None], result: T) -> None:
        """Hand ``result`` over (on the owning thread: this method is the queued signal's receiver)."""
        deliver(result)

    def _give_way(self) -> None:
        """Hold the next task back while ``defer_while()``, for at most :data:`DEFER_LIMIT_S` (lock held)."""
        deadline = time.monotonic() + DEFER_LIMIT_S
        while not self._stopping and time.monotonic() < deadline and self._defer_while():
            self._cond.wait(DEFER_POLL_S)
