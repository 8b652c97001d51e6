"""Fixtures for driving the real studio window offscreen.

* No test opens a sound device: ``app.playback.audio_output.open_device_stream`` is replaced by
  :class:`ManualOutputStream`, which produces blocks only when a test pulls them.
* No test touches a person's settings (``RVQ_STUDIO_SETTINGS`` points into tmp_path).
* Like napari's conftest, a test fails if it leaves a QThread running, a QTimer active
  (``QTimer.singleShot`` included), a QProcess running, or an output stream open: leaked
  threads and timers crash later tests in ways that are hard to trace. After the test the
  guard runs the event loop for up to :data:`QT_GRACE_S` so that what was told to stop can
  finish; plain Python threads are checked by ``tests/conftest.py``.
"""
import sys
import time
import weakref
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QProcess, QThread, QTimer
from PySide6.QtWidgets import QWidget

from app.playback import audio_output
from app.playback.audio_output import ManualOutputStream
from synthetic_audio import write_music_clip

QT_GRACE_S = 1.0
_UNOWNED_SHOTS: set[QTimer] = set()  # single-shot timers without a parent, alive until they fire


@pytest.fixture(autouse=True)
def no_sound_device(monkeypatch):
    ManualOutputStream.instances.clear()
    monkeypatch.setattr(audio_output, "open_device_stream", ManualOutputStream)
    yield
    open_streams = [s for s in ManualOutputStream.instances if not s.closed]
    ManualOutputStream.instances.clear()
    assert not open_streams, f"{len(open_streams)} output stream(s) left open"


@pytest.fixture(autouse=True)
def private_settings(monkeypatch, tmp_path):
    """Settings of the test's own, with the slow listening metrics off: a window test that waits for
    its renderings would otherwise also start their helper process (seconds of a core for each
    test). The tests of those metrics switch them on."""
    path = tmp_path / "settings.ini"
    path.write_text("[quality]\nlistening=false\n")
    monkeypatch.setenv("RVQ_STUDIO_SETTINGS", str(path))


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
            "QThreads running": [t.objectName() or repr(t) for t in list(self.threads) if _alive(t) and t.isRunning()],
            "QTimers active": [t.objectName() or repr(t) for t in list(self.timers) if _alive(t) and t.isActive()],
            "QProcesses running": [f"{p.program()} {' '.join(p.arguments())}" for p in self._busy_processes()],
        }
        return {kind: names for kind, names in found.items() if names}

    def _busy_processes(self) -> list[QProcess]:
        return [p for p in list(self.processes) if _alive(p) and p.state() != QProcess.ProcessState.NotRunning]

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


def _alive(obj) -> bool:
    try:
        obj.objectName()
        return True
    except RuntimeError:  # the C++ object is already deleted
        return False


@pytest.fixture(scope="session")
def music_path(tmp_path_factory):
    return write_music_clip(tmp_path_factory.mktemp("clips") / "music.wav", seconds=1.5, channels=1)


@pytest.fixture
def studio(qtbot, music_path):
    from ui.main_window import build_main_window

    window = build_main_window(str(music_path), open_demo=False)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitActive(window)  # shortcuts (Space, A, 1-9) go to the active window
    yield window
    window.shutdown()


@pytest.fixture
def loaded(qtbot, studio):
    """The studio with its clip open and the selected codebook count rendered."""
    qtbot.waitUntil(lambda: studio.session.clip is not None, timeout=60_000)
    clip = studio.session.clip
    qtbot.waitUntil(lambda: clip.cache.is_complete(studio.session.n), timeout=60_000)
    return studio


@pytest.fixture
def shown(qtbot):
    """``shown(widget, width, height)``: the widget laid out and on screen (offscreen), closed after the test."""
    def show(widget, width: int, height: int):
        qtbot.addWidget(widget)
        widget.resize(width, height)
        widget.show()
        qtbot.waitExposed(widget)
        return widget
    return show


class LayoutRequests(QObject):
    """Counts the new layouts asked of the widgets it watches."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.watched: list[QWidget] = []

    def watch(self, widget: QWidget) -> "LayoutRequests":
        """Count the requests of ``widget`` and of every widget in it, from now on."""
        for each in [widget, *widget.findChildren(QWidget)]:
            each.installEventFilter(self)
            self.watched.append(each)
        return self

    def eventFilter(self, _watched, event) -> bool:  # noqa: N802 (Qt's name)
        self.count += event.type() == QEvent.Type.LayoutRequest
        return False

    def stop(self) -> None:
        for each in self.watched:
            if _alive(each):
                each.removeEventFilter(self)
        self.watched.clear()


@pytest.fixture
def layout_requests():
    """``layout_requests.watch(widget)`` counts the layouts asked of it and its children; removed after the test.

    A label whose size may change asks for one on every new text, and the window then lays
    out and repaints every widget in it."""
    counter = LayoutRequests()
    yield counter
    counter.stop()
