"""The helper process the listening metrics run in: same figures as in the studio's process,
signals sent once per pair, abandoned and closed without a process left behind, a crash or a
failing function reported in one line and followed by a fresh child."""
import os
import signal
import threading
import time

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from app.runtime.child_process import ChildCancelled, ChildFailed, ChildProcess, live_children
from app.studio.listening_rows import MEASURE, STUDIO_METRICS
from model.listening_metrics import measure


@pytest.fixture
def child():
    process = ChildProcess("the test's helper process")
    yield process
    process.close()
    assert live_children() == []


def no_arrays():
    return {}


def busy_call(child, seconds=30.0):
    """``time.sleep(seconds)`` in the child on a thread of its own: (thread, what it raised or returned)."""
    outcome = []

    def run():
        try:
            outcome.append(child.call("time:sleep", None, no_arrays, seconds))
        except Exception as exc:  # noqa: BLE001 -- the test looks at what it was
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while not child._busy or child.pid is None:  # the call is in the child
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.01)
    return thread, outcome


def test_the_signals_of_one_key_are_sent_once_and_arrive_unchanged(child):
    sent = []
    signal_a = np.random.default_rng(0).standard_normal((2, 1, 1000)).astype(np.float32)

    def arrays():
        sent.append(1)
        return {"a": signal_a[:, :, ::2]}  # not contiguous: sent as the values it holds

    first = child.call("numpy:allclose", "pair 1", arrays, b=signal_a[:, :, ::2], rtol=0, atol=0)
    again = child.call("numpy:sum", "pair 1", arrays)
    assert first and again == pytest.approx(float(signal_a[:, :, ::2].sum()), rel=1e-5)
    assert len(sent) == 1
    child.call("numpy:sum", "pair 2", arrays)
    assert len(sent) == 2


def test_a_function_that_raises_is_one_line_and_the_child_goes_on(child):
    with pytest.raises(ChildFailed) as failed:
        child.call("math:sqrt", None, no_arrays, -1.0)
    assert "\n" not in str(failed.value) and "ValueError: math domain error" in str(failed.value)
    pid = child.pid
    assert child.call("math:hypot", None, no_arrays, 3.0, 4.0) == 5.0
    assert child.pid == pid  # the same child: a raising function does not end it


def test_a_child_killed_during_a_call_is_one_line_and_the_next_call_starts_another(child):
    thread, outcome = busy_call(child)
    first = child.pid
    os.kill(first, signal.SIGKILL)
    thread.join(10)
    assert isinstance(outcome[0], ChildFailed)
    assert "\n" not in str(outcome[0]) and "SIGKILL" in str(outcome[0])
    assert live_children() == []  # reaped
    assert child.call("math:hypot", None, no_arrays, 6.0, 8.0) == 10.0
    assert child.pid not in (None, first)


def test_a_child_that_died_while_idle_is_replaced_without_a_failure(child):
    child.call("math:hypot", None, no_arrays, 3.0, 4.0)
    first = child.pid
    os.kill(first, signal.SIGKILL)
    while first in live_children() and child._proc.poll() is None:
        time.sleep(0.01)
    assert child.call("math:hypot", None, no_arrays, 6.0, 8.0) == 10.0  # nothing was lost: no failure to report
    assert child.pid != first


def test_cancel_kills_the_call_in_progress_and_leaves_no_process(child):
    thread, outcome = busy_call(child)
    pid = child.pid
    started = time.monotonic()
    child.cancel()
    thread.join(15)
    assert not thread.is_alive() and time.monotonic() - started < 15  # not the 30 s of the call
    assert isinstance(outcome[0], ChildCancelled)
    assert live_children() == [] and child.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped, not a zombie
    assert child.call("math:hypot", None, no_arrays, 3.0, 4.0) == 5.0  # a new child


def test_close_ends_a_busy_child_and_refuses_further_calls(child):
    thread, outcome = busy_call(child)
    child.close()
    thread.join(10)
    assert isinstance(outcome[0], ChildCancelled) and live_children() == []
    with pytest.raises(ChildCancelled):
        child.call("math:hypot", None, no_arrays, 3.0, 4.0)


def test_close_of_an_idle_child_ends_it(child):
    child.call("math:hypot", None, no_arrays, 3.0, 4.0)
    assert live_children() == [child.pid]
    child.close()
    assert live_children() == []


@pytest.mark.slow  # the child imports torch and the metrics' packages: several seconds
def test_the_child_measures_what_the_studio_process_measures(child):
    rng = np.random.default_rng(1)
    rate = 16_000
    t = np.arange(int(1.5 * rate)) / rate
    reference = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    reference += 0.05 * rng.standard_normal(reference.shape).astype(np.float32)
    rendering = (reference + 0.05 * rng.standard_normal(reference.shape)).astype(np.float32)
    pair = {"reference": reference[None, None], "estimate": rendering[None, None]}
    threads = torch.get_num_threads()
    for name in STUDIO_METRICS:
        got = child.call(MEASURE, "pair", lambda: pair, name, sample_rate=rate)
        # The child computes on one thread; a BLAS or OpenMP reduction split over more threads sums in
        # another order, so the figure to equal is the one-thread computation here. Even then the
        # last bit is not fixed: vectorised sums start where the arrays lie in memory, and ESTOI of
        # these very arrays copied to eight offsets in one process gives ...262 or ...264 in its
        # 16th digit. So: equal outcomes up to the last two digits of a double.
        torch.set_num_threads(1)
        try:
            with threadpool_limits(limits=1):
                expected = measure(name, pair["reference"], pair["estimate"], rate)
        finally:
            torch.set_num_threads(threads)
        assert (got.name, got.reason, got.values.keys()) == (expected.name, expected.reason, expected.values.keys())
        for key, value in expected.values.items():
            assert got.values[key] == (None if value is None else pytest.approx(value, rel=1e-14, abs=0)), key


def test_a_failure_making_the_signals_is_the_callers_and_leaves_the_child_running(child):
    child.call("math:hypot", None, no_arrays, 3.0, 4.0)
    pid = child.pid

    def broken():
        raise ValueError("no such excerpt")

    with pytest.raises(ValueError, match="no such excerpt"):
        child.call("numpy:sum", "new pair", broken)
    assert child.pid == pid and child.call("math:hypot", None, no_arrays, 6.0, 8.0) == 10.0
