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
