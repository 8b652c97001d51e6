"""The studio's background threads give way: workers run at a higher nice value, and (set at
start-up) a thread waiting for the GIL gets it after 1 ms rather than 5."""
import os
import sys
import threading

import pytest

from app.main import ensure_qt_application
from app.runtime import thread_priority


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread nice values are a Linux feature")
def test_a_lowered_thread_does_not_lower_the_others():
    main_tid = threading.get_native_id()
    before = os.getpriority(os.PRIO_PROCESS, main_tid)
    seen = {}

    def work() -> None:
        tid = threading.get_native_id()
        start = os.getpriority(os.PRIO_PROCESS, tid)
        seen["lowered"] = thread_priority.lower_current_thread_priority(3)
        seen["niceness"] = os.getpriority(os.PRIO_PROCESS, tid) - start

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert seen["lowered"] and seen["niceness"] == min(3, 19 - before)
    assert os.getpriority(os.PRIO_PROCESS, main_tid) == before


def test_starting_the_application_shortens_gil_waits(qtbot):
    previous = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    try:
        ensure_qt_application()
        assert sys.getswitchinterval() == pytest.approx(thread_priority.GIL_SWITCH_INTERVAL_S)
    finally:
        sys.setswitchinterval(previous)


def _in_a_thread(work):
    """``work()``'s result, called on a throwaway thread (priorities are per thread)."""
    seen = []
    worker = threading.Thread(target=lambda: seen.append(work()))
    worker.start()
    worker.join()
    return seen[0]


@pytest.mark.skipif(not hasattr(os, "sched_getscheduler"), reason="real-time scheduling is a POSIX feature")
def test_a_raised_thread_gets_what_it_says_and_gives_it_back():
    def work():
        got = thread_priority.raise_current_thread_priority()
        tid = threading.get_native_id()
        policy, niceness = os.sched_getscheduler(tid), os.getpriority(os.PRIO_PROCESS, tid)
        back = thread_priority.restore_normal_priority("done")
        return got, policy, niceness, back, os.sched_getscheduler(tid), os.getpriority(os.PRIO_PROCESS, tid)

    got, policy, niceness, back, policy_after, niceness_after = _in_a_thread(work)
    if got == "real-time priority":
        assert policy == os.SCHED_RR
    elif got.startswith("raised priority"):
        assert policy == os.SCHED_OTHER and niceness == thread_priority.RAISED_NICENESS
    else:
        assert got.startswith("normal priority: real-time scheduling refused") and policy == os.SCHED_OTHER
    assert back == "normal priority: done" and policy_after == os.SCHED_OTHER
    if got.startswith("raised priority"):
        assert niceness_after == 0


def test_refused_priorities_fall_back_to_a_nice_value_then_to_nothing(monkeypatch):
    def refused(*args):
        raise PermissionError(1, "Operation not permitted")

    asked = []
    monkeypatch.setattr(os, "sched_setscheduler", refused)
    monkeypatch.setattr(os, "setpriority", lambda which, who, value: asked.append((who, value)))
    got = _in_a_thread(lambda: (thread_priority.raise_current_thread_priority(), threading.get_native_id()))
    assert got[0] == "raised priority (nice -10): real-time scheduling refused (Operation not permitted)"
    assert asked == [(got[1], thread_priority.RAISED_NICENESS)]
    monkeypatch.setattr(os, "setpriority", refused)
    assert _in_a_thread(thread_priority.raise_current_thread_priority) == (
        "normal priority: real-time scheduling refused (Operation not permitted), "
        "a negative nice value too (Operation not permitted)")


def test_a_thread_already_at_a_higher_real_time_priority_keeps_it():
    seen = {}

    def run():
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(20))
        except OSError as exc:
            seen["refused"] = exc.strerror
            return
        seen["said"] = thread_priority.raise_unless_real_time()
        seen["policy"], seen["priority"] = os.sched_getscheduler(0), os.sched_getparam(0).sched_priority

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "refused" in seen:
        pytest.skip(f"real-time scheduling is refused here ({seen['refused']})")
    assert seen == {"said": "real-time priority (already)", "policy": os.SCHED_FIFO, "priority": 20}
