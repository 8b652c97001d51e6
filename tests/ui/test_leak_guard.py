"""The leak guards themselves: they see what a test leaves behind and name its owner."""
import threading

from PySide6.QtCore import QObject, QProcess, QTimer


def test_a_pending_single_shot_is_a_named_timer_the_guard_sees(no_dangling_qt):
    QTimer.singleShot(60_000, lambda: None)
    line = test_a_pending_single_shot_is_a_named_timer_the_guard_sees.__code__.co_firstlineno + 1
    assert no_dangling_qt.leftovers() == {"QTimers active": [f"QTimer.singleShot(60000 ms) from "
                                                             f"test_leak_guard.py:{line}"]}
    no_dangling_qt.clean_up()
    assert no_dangling_qt.leftovers() == {}


def test_a_single_shot_that_fired_leaves_nothing(qtbot, no_dangling_qt):
    fired = []
    QTimer.singleShot(10, lambda: fired.append(True))
    qtbot.waitUntil(lambda: fired == [True], timeout=60_000)
    assert no_dangling_qt.leftovers() == {}


def test_a_single_shot_dies_with_its_context_object(no_dangling_qt):
    owner = QObject()
    QTimer.singleShot(60_000, owner, lambda: None)
    assert list(no_dangling_qt.leftovers()) == ["QTimers active"]
    del owner  # Python owns it: this deletes the QObject, and with it (as in Qt) the timer
    assert no_dangling_qt.leftovers() == {}


def test_a_running_process_is_reported_and_killed(no_dangling_qt):
    process = QProcess()
    process.start("sleep", ["30"])
    assert process.waitForStarted(5_000)
    assert no_dangling_qt.leftovers() == {"QProcesses running": ["sleep 30"]}
    no_dangling_qt.clean_up()
    assert process.state() == QProcess.ProcessState.NotRunning


def test_a_python_thread_is_named_with_the_function_it_runs(no_dangling_threads):
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="waiting-test-thread", daemon=True)
    thread.start()
    left = no_dangling_threads.still_running(grace_s=0.05)
    assert [no_dangling_threads.describe(t) for t in left] == ["waiting-test-thread (threading.Event.wait, daemon)"]
    stop.set()
    assert no_dangling_threads.still_running(grace_s=10.0) == []
