"""The analysis thread's order: views before measurements, measurements in pieces, abandoned at once.

A view task (what the user looks at) waits for at most one piece of a measurement; a
measurement is dropped at its next piece when the clip changes or it is asked for anew; a
renewed view task keeps its place in the queue instead of going behind everything queued.
"""
import threading

import pytest

from app.studio.analysis_worker import AnalysisWorker

TIMEOUT_S = 30


@pytest.fixture
def worker(qtbot):
    worker = AnalysisWorker()
    worker.start()
    yield worker
    worker.stop()


class Gate:
    """Holds a measurement's first piece: ``started`` once the thread is in it, until ``release()``."""

    def __init__(self) -> None:
        self.started, self.released = threading.Event(), threading.Event()

    def wait_started(self) -> None:
        assert self.started.wait(TIMEOUT_S)

    def release(self) -> None:
        self.released.set()


def pieces(log, name, count, gate=None, closed=None):
    """A measurement of ``count`` pieces logging each; the first waits at ``gate``; returns ``name``."""
    def steps():
        try:
            for k in range(count):
                if k == 0 and gate is not None:
                    gate.started.set()
                    assert gate.released.wait(TIMEOUT_S)
                log.append(f"{name}{k}")
                yield
        finally:
            if closed is not None:
                closed.set()
        return name
    return steps


def held(worker, log):
    """A view task that holds the thread until the returned gate is set (tasks queue up meanwhile)."""
    running, gate = threading.Event(), threading.Event()
    worker.submit("hold", lambda: (running.set(), gate.wait(TIMEOUT_S)), lambda _r: log.append("held"))
    assert running.wait(TIMEOUT_S)
    return gate


def test_a_view_task_waits_for_one_piece_of_a_measurement_at_most(qtbot, worker):
    log, delivered = [], []
    gate = Gate()
    worker.submit_measurement("opus:1", pieces(log, "m", 3, gate), delivered.append)
    worker.submit_measurement("opus:2", pieces(log, "k", 2), delivered.append)
    gate.wait_started()
    assert worker.pending_measurements() == ["opus:1", "opus:2"]
    worker.submit("rendering", lambda: log.append("view"), lambda _r: None)
    gate.release()  # the first piece ends: the view comes before the next one
    qtbot.waitUntil(lambda: delivered == ["m", "k"], timeout=TIMEOUT_S * 1000)
    assert log == ["m0", "view", "m1", "m2", "k0", "k1"]


def test_a_new_clip_abandons_the_measurement_in_progress_at_its_next_piece(qtbot, worker):
    log, delivered = [], []
    gate, closed = Gate(), threading.Event()
    worker.submit_measurement("opus:1", pieces(log, "m", 5, gate, closed), delivered.append)
    worker.submit_measurement("opus:2", pieces(log, "k", 2), delivered.append)
    gate.wait_started()
    worker.discard()
    assert worker.pending_measurements() == []
    gate.release()
    assert closed.wait(TIMEOUT_S)  # its generator is closed: nothing it holds outlives it
    qtbot.waitUntil(worker.idle, timeout=TIMEOUT_S * 1000)
    qtbot.wait(50)  # a result queued to this thread would arrive now
    assert log == ["m0"] and delivered == []


def test_a_measurement_asked_for_anew_replaces_the_one_in_progress(qtbot, worker):
    log, delivered = [], []
    gate = Gate()
    worker.submit_measurement("opus:1", pieces(log, "old", 3, gate), delivered.append)
    gate.wait_started()
    worker.submit_measurement("opus:1", pieces(log, "new", 2), delivered.append)
    gate.release()
    qtbot.waitUntil(lambda: delivered == ["new"], timeout=TIMEOUT_S * 1000)
    assert log == ["old0", "new0", "new1"]


def test_a_renewed_view_task_keeps_its_place_in_the_queue(qtbot, worker):
    log = []
    gate = held(worker, log)
    worker.submit("rendering", lambda: "first", log.append)
    worker.submit("envelope", lambda: "envelope", log.append)
    worker.submit("rendering", lambda: "renewed", log.append)
    gate.set()
    qtbot.waitUntil(lambda: len(log) == 3, timeout=TIMEOUT_S * 1000)
    assert log == ["held", "renewed", "envelope"]


def test_a_failing_piece_is_reported_with_its_key_and_the_next_measurement_runs(qtbot, worker):
    def failing():
        yield
        raise ValueError("no Opus here")

    log, delivered, failures = [], [], []
    worker.taskFailed.connect(lambda key, text: failures.append((key, text)))
    worker.submit_measurement("opus:1", failing, delivered.append)
    worker.submit_measurement("opus:2", pieces(log, "k", 1), delivered.append)
    qtbot.waitUntil(lambda: delivered == ["k"] and bool(failures), timeout=TIMEOUT_S * 1000)
    assert failures == [("opus:1", "no Opus here")]
