"""A studio session without a window, on the bundled model, that never opens a sound device.

The studio's threads, timers and helper processes are Qt objects: the tests here are held to the
Qt leak guard of :mod:`qt_guard`, as the window's tests are.
"""
import pytest
import torch

from app.playback.audio_output import ManualOutputStream
from app.studio.session import StudioSession
from qt_guard import no_dangling_qt  # noqa: F401 (the guard is an autouse fixture)
from synthetic_audio import write_music_clip

LOAD_TIMEOUT_MS = 60_000


@pytest.fixture(scope="session")
def clip_path(tmp_path_factory):
    """3 s of stereo music-like audio: several encode pieces and a dozen render chunks."""
    return write_music_clip(tmp_path_factory.mktemp("clips") / "music.wav", seconds=3.0, channels=2)


@pytest.fixture
def two_torch_threads():
    """The process's torch default at two threads (the suite runs on one), restored after the test."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def session(qtbot):
    """A session with the default model loaded; closed (threads joined, stream closed) after the test."""
    session = StudioSession(ManualOutputStream)
    with qtbot.waitSignal(session.modelChanged, timeout=LOAD_TIMEOUT_MS):
        session.load_model("default")
    yield session
    session.close()
    assert not session.worker.isRunning() and not session.analysis.isRunning() and not session.views.isRunning()
    assert session.player.output_stream is None


@pytest.fixture
def open_encoded(qtbot, session):
    """``open_encoded(path)``: open ``path`` in the session, wait until it is encoded, return the clip."""
    def open_encoded(path):
        with qtbot.waitSignal(session.codesReady, timeout=LOAD_TIMEOUT_MS) as ready:
            session.open_file(path)
        return ready.args[0]
    return open_encoded
