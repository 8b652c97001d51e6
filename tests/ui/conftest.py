"""Fixtures for driving the real studio window offscreen.

* No test opens a sound device: ``app.audio_output.open_device_stream`` is replaced by
  :class:`ManualOutputStream`, which produces blocks only when a test pulls them.
* No test touches a person's settings (``RVQ_STUDIO_SETTINGS`` points into tmp_path).
* Like napari's conftest, a test fails if it leaves a QThread running, a QTimer active, or
  an output stream open: leaked threads crash later tests in ways that are hard to trace.
"""
import weakref

import pytest
from PySide6.QtCore import QThread, QTimer

from app import audio_output
from app.audio_output import ManualOutputStream
from app.synthetic_audio import write_music_clip


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
    monkeypatch.setenv("RVQ_STUDIO_SETTINGS", str(tmp_path / "settings.ini"))


@pytest.fixture(autouse=True)
def no_dangling_qt(monkeypatch, qapp):
    threads, timers = weakref.WeakSet(), weakref.WeakSet()
    start_thread, start_timer = QThread.start, QTimer.start

    def track_thread(self, *args):
        threads.add(self)
        return start_thread(self, *args)

    def track_timer(self, *args):
        timers.add(self)
        return start_timer(self, *args)

    monkeypatch.setattr(QThread, "start", track_thread)
    monkeypatch.setattr(QTimer, "start", track_timer)
    yield
    qapp.processEvents()
    running = [t.objectName() or repr(t) for t in list(threads) if _alive(t) and t.isRunning()]
    active = [t.objectName() or repr(t) for t in list(timers) if _alive(t) and t.isActive()]
    assert not running, f"test left QThreads running: {running}"
    assert not active, f"test left QTimers active: {active}"


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
