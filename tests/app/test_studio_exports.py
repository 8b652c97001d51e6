"""Exports write the finished encode, whenever they are asked for, and are never lost silently."""
import threading
from contextlib import contextmanager

import pytest

from app.studio import inference_worker

TIMEOUT_MS = 60_000


@pytest.fixture
def hold_worker(session):
    """``with hold_worker():`` -- the inference worker waits (between jobs) until the block ends."""
    @contextmanager
    def hold():
        gate = threading.Event()
        session.worker.run_control(lambda: gate.wait(TIMEOUT_MS / 1000))
        try:
            yield
        finally:
            gate.set()
    return hold


@pytest.fixture
def messages(session):
    received = []
    session.message.connect(lambda level, text: received.append((level, text)))
    return received


@pytest.fixture
def exported(session):
    paths = []
    session.exported.connect(paths.append)
    return paths


@pytest.mark.slow  # the whole encode in half-second pieces, twice (15-20 s): the fast suite keeps its ten-minute budget
def test_exports_asked_for_mid_encode_wait_for_it_and_equal_exports_after_it(
        qtbot, session, hold_worker, messages, exported, open_encoded, clip_path, tmp_path, monkeypatch):
    monkeypatch.setattr(inference_worker, "ENCODE_PIECE_SECONDS", 0.5)  # several pieces
    session.open_file(clip_path)
    with hold_worker():  # runs right after the clip is read: no encode piece yet
        qtbot.waitUntil(lambda: session.clip is not None, timeout=TIMEOUT_MS)
        clip, n = session.clip, session.n
        assert not clip.encoding.complete
        session.export_rvq(tmp_path / "early.rvq")
        session.export_reconstruction(tmp_path / "early.wav")
        assert ("info", "early.rvq will be written when the clip is encoded.") in messages
        with pytest.raises(ValueError, match="cannot be decoded yet"):  # nor can any chunk be rendered
            session.worker.render_chunk(clip, n, 0)
    qtbot.waitUntil(lambda: len(exported) == 2, timeout=TIMEOUT_MS)
    assert clip.encoding.complete

    again = open_encoded(clip_path)  # a fresh clip and render cache
    assert again is not clip and session.n == n
    session.export_rvq(tmp_path / "late.rvq")
    session.export_reconstruction(tmp_path / "late.wav")
    qtbot.waitUntil(lambda: len(exported) == 4, timeout=TIMEOUT_MS)
    assert (tmp_path / "early.rvq").read_bytes() == (tmp_path / "late.rvq").read_bytes()
    assert (tmp_path / "early.wav").read_bytes() == (tmp_path / "late.wav").read_bytes()
    assert not [m for m in messages if m[0] == "error"]


def test_a_queued_export_dropped_by_opening_another_file_is_reported_cancelled(
        qtbot, session, hold_worker, messages, exported, open_encoded, clip_path, tmp_path):
    open_encoded(clip_path)
    with hold_worker():
        session.export_rvq(tmp_path / "dropped.rvq")
        with qtbot.waitSignal(session.codesReady, timeout=TIMEOUT_MS):
            session.open_file(clip_path)
            assert ("error", "Export to dropped.rvq was cancelled: another file was opened.") in messages
    assert not (tmp_path / "dropped.rvq").exists() and not exported


def test_an_export_waiting_for_an_encode_that_is_cancelled_is_reported_cancelled(
        qtbot, session, hold_worker, messages, exported, clip_path, tmp_path):
    session.open_file(clip_path)
    with hold_worker():
        qtbot.waitUntil(lambda: session.clip is not None, timeout=TIMEOUT_MS)
        session.export_reconstruction(tmp_path / "never.wav")
        session.cancel()
    assert session.clip is None
    assert ("warning", "Export to never.wav was cancelled: its clip was closed before it was encoded.") in messages
    qtbot.wait(200)
    assert not (tmp_path / "never.wav").exists() and not exported


def test_the_studios_reconstruction_at_another_rate_equals_the_command_lines_decode_of_its_codes(
        qtbot, session, open_encoded, exported, tmp_path):
    """At a file rate other than the model's, the studio's export and ``rvq-studio decode`` of the
    exported codes agree to the last sample: both resample the model's rendering of the clip's own
    length, not the codec's whole last frame."""
    from model.audio_io import read_audio
    from model.compression import decode_clip, read_clip
    from synthetic_audio import write_music_clip

    path = write_music_clip(tmp_path / "at 22050 Hz.wav", seconds=1.3, sample_rate=22050, channels=2, seed=4)
    open_encoded(path)
    session.export_rvq(tmp_path / "clip.rvq")
    session.export_reconstruction(tmp_path / "studio.wav")
    qtbot.waitUntil(lambda: len(exported) == 2, timeout=TIMEOUT_MS)
    studio = read_audio(tmp_path / "studio.wav")
    codec = session.worker.codec
    decoded = decode_clip(codec, read_clip(codec, tmp_path / "clip.rvq"))
    assert studio.sample_rate == decoded.sample_rate == 22050
    assert studio.samples.shape == decoded.samples.shape
    lsb = 2.0 ** -15  # the WAV holds 16-bit samples: the two may round apart by one step
    tail = studio.sample_rate // 100  # the last 10 ms, where the two differed
    assert abs(studio.samples[:, -tail:] - decoded.samples[:, -tail:]).max() <= 1.5 * lsb
    assert abs(studio.samples - decoded.samples).max() <= 1.5 * lsb
