"""A model-free thread for numerical work: the views' spectrograms and the Opus curve, and
(a second instance, owned by the inference worker) the quality rows.

Two kinds of work, in a fixed order. *View* tasks -- a spectrogram, the waveform, the
residual's level, code statistics: what the user is looking at -- take tens of milliseconds
and always run first. *Measurements* -- a quality row, an Opus point -- take seconds; they
are generators that yield after each piece (:mod:`app.studio.quality`), and the thread runs
one piece at a time, taking any view task that arrived meanwhile before the next piece. So a
view never waits for more than one piece of a measurement, however many are queued.
:meth:`AnalysisWorker.discard` (a new clip or model) drops every queued task and abandons
the measurement in progress at its next piece.

Each task comes with the function that receives its result, called on the thread that owns
the worker (the GUI's) -- that function knows what the result was for and ignores it if the
studio has moved on. Tasks are keyed; a newer task with the same key replaces the queued
(or, for a measurement, running) one in its place in the queue -- only the latest
spectrogram of the rendering matters, and it does not go behind other work for being
renewed -- and a failure is reported with the task's key.

The thread gives way to the decoder: before each task or piece it waits, a bounded time,
while ``defer_while()`` says playback is waiting for a decode (a slider move to a count not
yet rendered at the playhead). On two cores the analysis otherwise takes the core and the
interpreter lock the decode and the GUI need just then. Its torch work (the metrics) runs
on one intra-op thread: two would spin at a barrier whenever the other core is busy, which
on a two-core machine it always is.

A worker may also hold its measurements back altogether while ``hold_while()`` says more
urgent measurements elsewhere are not done (the listening metrics wait for the quality rows):
it then looks again every :data:`HOLD_POLL_S`, and view tasks still run.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Generator
from typing import TypeVar

import torch
from PySide6.QtCore import QThread, Signal

from app.runtime.freed_memory import return_freed_memory
from app.runtime.qthread_record import forgets_its_record
from app.runtime.thread_priority import BACKGROUND_NICENESS, lower_current_thread_priority


ANALYSIS_TORCH_THREADS = 1
DEFER_LIMIT_S = 0.25  # a chunk's length: by then the decode waited for is done, or the playhead moved on
DEFER_POLL_S = 0.005
HOLD_POLL_S = 0.2  # how often held measurements look again: seconds-long work, no hurry

T = TypeVar("T")


Steps = Generator[None, None, T]  # a measurement: yields after each piece, returns its result
_FAILURES = (ValueError, OSError, RuntimeError, MemoryError)


class _Measurement:
    """A measurement taken up by the thread: its generator once started."""

    def __init__(self, key: str, start: Callable[[], Steps], deliver: Callable[[T], None]) -> None:
        self.key, self.start, self.deliver = key, start, deliver
        self.steps: Steps | None = None


class AnalysisWorker(QThread):
    taskFailed = Signal(str, str)  # key, message
    _computed = Signal(object, object)  # deliver, result: queued to the thread that owns this object

    def __init__(self, defer_while: Callable[[], bool] | None = None, niceness: int = BACKGROUND_NICENESS,
                 name: str = "analysisWorker", hold_while: Callable[[], bool] | None = None) -> None:
        """``niceness``: how far the thread lowers its own priority. Measurements are background
        work (the default); the thread that draws what the user looks at must not be starved by
        other processes on a busy machine, so the session runs its view tasks on a second
        instance at ``niceness=0``."""
        super().__init__()
        self.setObjectName(name)
        self._niceness = niceness
        self._defer_while = defer_while or (lambda: False)
        self._hold_while = hold_while or (lambda: False)
        self._cond = threading.Condition()
        self._views: OrderedDict[str, tuple[Callable[[], T], Callable[[T], None]]] = OrderedDict()
        self._measurements: OrderedDict[str, tuple[Callable[[], Steps], Callable[[T], None]]] = OrderedDict()
        self._current: _Measurement | None = None  # the measurement in progress; None once abandoned
        self._stopping = False
        self._running = False
        self._computed.connect(self._deliver)

    def submit(self, key: str, compute: Callable[[], T], deliver: Callable[[T], None]) -> None:
        """Run ``compute`` on this thread before any measurement, then ``deliver(result)`` on the
        thread that owns this object.

        A view task still queued under ``key`` is replaced in its place: only the newest
        request of a kind matters.
        """
        with self._cond:
            self._views[key] = (compute, deliver)
            self._cond.notify()

    def submit_measurement(self, key: str, steps: Callable[[], Steps], deliver: Callable[[T], None]) -> None:
        """Measure in the background: the generator ``steps()`` runs a piece at a time, each
        after every view task waiting; ``deliver`` gets its return value on the owning thread.

        Replaces a measurement queued under ``key``, or abandons one in progress under it.
        """
        with self._cond:
            if self._current is not None and self._current.key == key:
                self._current = None
            self._measurements[key] = (steps, deliver)
            self._cond.notify()

    def discard(self) -> None:
        """Drop all queued tasks and abandon the measurement in progress (a new clip makes them pointless)."""
        with self._cond:
            self._views.clear()
            self._measurements.clear()
            self._current = None

    def pending_measurements(self) -> list[str]:
        """The keys of the measurements in progress or queued, in the order they are taken."""
        with self._cond:
            current = [self._current.key] if self._current is not None else []
            return current + list(self._measurements)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self.discard()
            self._cond.notify()
        self.wait()

    def idle(self) -> bool:
        with self._cond:
            return not self._has_work() and not self._running

    def _has_work(self) -> bool:
        return bool(self._views or self._measurements) or self._current is not None

    @forgets_its_record
    def run(self) -> None:
        if self._niceness:
            lower_current_thread_priority(self._niceness)
        torch.set_num_threads(ANALYSIS_TORCH_THREADS)
        while True:
            with self._cond:
                while not self._has_work() and not self._stopping:
                    self._cond.wait()
                self._give_way()
                if self._stopping:
                    return
                view, measurement = None, None
                if self._views:
                    view = self._views.popitem(last=False)
                elif self._hold_while():
                    self._cond.wait(HOLD_POLL_S)
                    continue
                else:
                    if self._current is None and self._measurements:
                        key, (start, deliver) = self._measurements.popitem(last=False)
                        self._current = _Measurement(key, start, deliver)
                    measurement = self._current
                    if measurement is None:  # discarded while giving way
                        continue
                self._running = True
            try:
                if view is not None:
                    key, (compute, deliver) = view
                    self._compute(key, compute, deliver)
                else:
                    self._step(measurement)
            finally:
                with self._cond:
                    self._running = False
                    done = not self._has_work()
                if done:  # the temporaries of all that work go back to the system (glibc keeps them)
                    return_freed_memory()

    def _compute(self, key: str, compute: Callable[[], T], deliver: Callable[[T], None]) -> None:
        try:
            result = compute()
        except _FAILURES as exc:
            self._fail(key, exc)
        else:
            self._computed.emit(deliver, result)

    def _step(self, measurement: _Measurement) -> None:
        """The next piece of ``measurement``; its result or failure is passed on unless it was abandoned meanwhile."""
        try:
            if measurement.steps is None:
                measurement.steps = measurement.start()
            next(measurement.steps)
        except StopIteration as done:
            if self._end(measurement):
                self._computed.emit(measurement.deliver, done.value)
        except _FAILURES as exc:
            if self._end(measurement):
                self._fail(measurement.key, exc)
        else:
            with self._cond:
                abandoned = self._current is not measurement
            if abandoned:
                measurement.steps.close()

    def _end(self, measurement: _Measurement) -> bool:
        """``measurement`` has ended: forget it. False when it had been abandoned meanwhile."""
        with self._cond:
            if self._current is not measurement:
                return False
            self._current = None
            return True

    def _fail(self, key: str, exc: BaseException) -> None:
        self.taskFailed.emit(key, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    def _deliver(self, deliver: Callable[[T], None], result: T) -> None:
        """Hand ``result`` over (on the owning thread: this method is the queued signal's receiver)."""
        deliver(result)

    def _give_way(self) -> None:
        """Hold the next task back while ``defer_while()``, for at most :data:`DEFER_LIMIT_S` (lock held)."""
        deadline = time.monotonic() + DEFER_LIMIT_S
        while not self._stopping and time.monotonic() < deadline and self._defer_while():
            self._cond.wait(DEFER_POLL_S)
