"""Closing a session ends every thread it started: the workers and the silent clock -- and no
chunk pool is left behind, whatever the process's torch thread count."""
import threading

from app.playback.audio_output import AudioUnavailable, SilentClockStream
from app.studio.session import StudioSession


def no_device(*_args):
    raise AudioUnavailable("no sound: no usable output device (test)")


def test_closing_a_session_leaves_the_threads_as_they_were(qtbot, two_torch_threads, clip_path):
    before = set(threading.enumerate())
    session = StudioSession(no_device)  # the silent clock drives the player: a Python thread
    try:
        with qtbot.waitSignal(session.modelChanged, timeout=60_000):
            session.load_model("default")
        with qtbot.waitSignal(session.codesReady, timeout=60_000) as ready:
            session.open_file(clip_path)
        clip = ready.args[0]
        qtbot.waitUntil(lambda: clip.cache.is_complete(session.n), timeout=60_000)
        session.toggle_play()
        assert isinstance(session.player.output_stream, SilentClockStream)
        qtbot.waitUntil(lambda: session.player.position > 0, timeout=60_000)
        session.compare_with("default")  # the comparison's worker thread too
        qtbot.waitUntil(lambda: session.comparison.renders(clip), timeout=60_000)
    finally:
        session.close()
    assert not session.worker.isRunning() and not session.analysis.isRunning() and not session.views.isRunning()
    assert not session.comparison.worker.isRunning()
    assert set(threading.enumerate()) == before
