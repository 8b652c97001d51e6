"""Cancel while another file encodes: the previous clip comes back whole; Open recent lists only files that opened."""
import threading

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from app.playback.audio_output import ManualOutputStream
from app.playback.soft_limiter import soft_limit
from app.studio.progressive_encode import ProgressiveEncode
from synthetic_audio import write_music_clip
from ui.studio_texts import residual_note

ENCODING_SECONDS = 30.0  # long enough to be still encoding when Cancel is clicked


def limited(x: np.ndarray) -> np.ndarray:
    out = np.asarray(x, np.float32).copy()
    soft_limit(out, np.empty_like(out), np.empty_like(out))
    return out


def hold_second_encode_piece(monkeypatch) -> tuple[threading.Event, threading.Event]:
    """``(started, release)``: from now on an encode's second piece waits for ``release`` once ``started``.

    So Cancel is clicked while a piece is in progress, as it mostly is: that piece ends after the click."""
    started, release = threading.Event(), threading.Event()
    step = ProgressiveEncode.step

    def held_step(self) -> None:
        if self.state.frames > 0:
            started.set()
            release.wait(30)
        step(self)

    monkeypatch.setattr(ProgressiveEncode, "step", held_step)
    return started, release


def test_cancel_brings_the_previous_clip_back_whole(qtbot, studio, tmp_path, monkeypatch):
    session = studio.session
    qtbot.waitUntil(session.all_ready, timeout=300_000)  # rendered at every count, measured, every view drawn
    clip, n = session.clip, session.n
    quality, opus, spectrograms = dict(session.quality), dict(session.opus), dict(session.spectrograms)
    stats, envelope, gain_db = session.stats, session.envelope, session.residual_gain_db
    chunks = {(m, c): clip.cache.get(m, c) for m in range(1, clip.n_codebooks + 1) for c in range(clip.grid.n_chunks)}
    assert gain_db is not None and gain_db > 0.05
    measured = []
    session.worker.qualityReady.connect(lambda row: measured.append(row.n_codebooks))
    started, release = hold_second_encode_piece(monkeypatch)

    studio.open_file(str(write_music_clip(tmp_path / "long.wav", seconds=ENCODING_SECONDS)))
    qtbot.waitUntil(lambda: session.clip is not clip and started.is_set(), timeout=60_000)
    assert studio.cancel_button.isVisible() and studio.encode_progress.isVisible()
    studio.cancel_button.click()
    release.set()  # the piece in progress ends after the click
    qtbot.wait(1_500)
    qtbot.waitUntil(session.all_ready, timeout=10_000)

    assert session.clip is clip and "Cancelled." in studio.messages.text()
    assert not studio.encode_progress.isVisible() and not studio.cancel_button.isVisible()
    assert {key: clip.cache.get(*key) for key in chunks} == chunks  # the same renderings, none decoded again
    assert measured == []  # no quality row measured again
    assert session.quality.keys() == quality.keys() and all(session.quality[k] is quality[k] for k in quality)
    assert session.opus.keys() == opus.keys() and all(session.opus[k] is opus[k] for k in opus)
    assert session.spectrograms.keys() == spectrograms.keys()
    assert all(session.spectrograms[view] is spectrograms[view] for view in spectrograms)
    assert session.stats is stats and session.envelope is envelope and session.residual_gain_db == gain_db

    # the window shows them again
    for view, plot in studio.timeline.spectrograms.items():
        assert plot.spectrogram is spectrograms[view], view
    table = studio.findChild(QWidget, "qualityTable")
    assert all(table.item(row, 4).text() not in ("", "…") for row in range(clip.n_codebooks))
    residual_frame = studio.timeline.frames[studio.timeline.spectrograms["residual"]]
    assert residual_frame.note.text() == residual_note(gain_db)

    qtbot.keyClick(studio, Qt.Key.Key_R)  # R: the residual, lifted to the original's level
    session.toggle_play()
    stream = ManualOutputStream.instances[-1]
    stream.pull(), stream.pull()  # past the crossfade from the reconstruction
    at = session.player.position
    block = stream.pull()
    session.toggle_play()
    assert session.player.audible == ("residual", n)
    difference = clip.samples[at : at + len(block)] - clip.cache.assemble(n)[at : at + len(block)]
    lifted = limited(difference * np.float32(10 ** (gain_db / 20)))
    np.testing.assert_array_equal(block, np.broadcast_to(lifted, block.shape))  # the mono clip on every channel


def test_open_recent_lists_only_files_that_opened(qtbot, studio, tmp_path, music_path):
    session = studio.session
    qtbot.waitUntil(lambda: session.clip is not None and session.clip.encoding.complete, timeout=60_000)
    clip = session.clip
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEfmt garbage")
    studio.open_file(str(broken))
    qtbot.waitUntil(lambda: "broken.wav" in studio.messages.text(), timeout=30_000)
    studio.open_file(str(write_music_clip(tmp_path / "cancelled.wav", seconds=ENCODING_SECONDS)))
    qtbot.waitUntil(studio.cancel_button.isVisible, timeout=30_000)
    studio.cancel_button.click()
    assert session.clip is clip

    studio.recent_menu.aboutToShow.emit()  # the menu is filled as it opens
    assert [action.text() for action in studio.recent_menu.actions()] == [str(music_path.resolve())]
    assert studio.settings.recent_files() == [str(music_path.resolve())]
