"""Fixtures for driving the real studio window offscreen.

* No test opens a sound device: ``app.playback.audio_output.open_device_stream`` is replaced by
  :class:`ManualOutputStream`, which produces blocks only when a test pulls them.
* No test touches a person's settings (``RVQ_STUDIO_SETTINGS`` points into tmp_path).
* A test fails if it leaves an output stream open, or Qt work going (the guard of
  :mod:`qt_guard`: a QThread, a QTimer or a QProcess).
"""
import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QWidget

from app.playback import audio_output
from app.playback.audio_output import ManualOutputStream
from qt_guard import no_dangling_qt, qt_alive  # noqa: F401 (the guard is an autouse fixture)
from synthetic_audio import write_music_clip


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
            if qt_alive(each):
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
