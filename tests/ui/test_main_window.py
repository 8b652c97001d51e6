"""The real studio window, offscreen: load, render, slider, A/B at the same sample, errors, exports."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget

from app.playback import audio_output
from app.playback.audio_output import AudioUnavailable, ManualOutputStream
from app.playback.crossfade import FadeRamps
from model import load_codec
from model.codec import EncodedAudio
from model.rvq_format import read_rvq
from ui.column_image import colour_indices
from ui.transport_bar import SOURCE_LABELS, hearing_note

OBJECT_NAMES = ["codebookSlider", "sourceToggle", "playButton", "spectrogramOriginal", "spectrogramReconstruction",
                "spectrogramResidual", "codebookUsage", "qualityTable"]


def wait_for_clip(qtbot, window, timeout=60_000):
    qtbot.waitUntil(lambda: window.session.clip is not None, timeout=timeout)
    return window.session.clip


def wait_rendered(qtbot, window, n, timeout=60_000):
    clip = wait_for_clip(qtbot, window, timeout)
    qtbot.waitUntil(lambda: clip.cache.is_complete(n), timeout=timeout)
    return clip


def test_key_widgets_have_stable_object_names(studio):
    for name in OBJECT_NAMES:
        assert studio.findChild(QWidget, name) is not None, name


def test_selected_count_renders_first_and_equals_the_whole_decode(qtbot, studio):
    wait_for_clip(qtbot, studio)
    n = studio.session.n
    assert n == studio.session.model.n_codebooks  # a new session starts at full quality
    clip = wait_rendered(qtbot, studio, n)
    assert not clip.cache.is_complete(1)  # the farthest count waits its turn
    codec = load_codec("default")  # same seed, same weights as the window's model
    whole = codec.decode(torch.from_numpy(clip.codes[:, :n]))[:, 0, : clip.length].numpy().T
    rendered = clip.cache.assemble(n) * np.float32(clip.gain)
    np.testing.assert_allclose(rendered, whole, atol=1e-5)
    overview = studio.timeline.overview.rendered  # the timeline shows the rendered range
    qtbot.waitUntil(lambda: overview.image is not None and overview.image.all(), timeout=60_000)


def test_slider_number_keys_and_bitrate_label(qtbot, studio):
    wait_for_clip(qtbot, studio)
    slider = studio.findChild(QWidget, "codebookSlider")
    slider.setValue(4)
    assert studio.session.n == 4 and studio.session.worker.selected_n == 4
    kbps = studio.session.model.kbps[3]
    assert f"{kbps:.2f} kbps" in studio.transport.bitrate.text()
    qtbot.keyClick(studio, Qt.Key.Key_7)
    assert studio.session.n == 7 and slider.value() == 7


def test_ab_toggle_and_slider_switch_the_player_at_the_same_sample_with_a_crossfade(qtbot, studio):
    session = studio.session
    wait_for_clip(qtbot, studio)
    clip = wait_rendered(qtbot, studio, session.n)
    top = session.n
    studio.findChild(QWidget, "codebookSlider").setValue(3)
    qtbot.waitUntil(lambda: clip.cache.is_complete(3), timeout=60_000)
    stream = ManualOutputStream.instances[-1]
    player = session.player
    qtbot.keyClick(studio, Qt.Key.Key_Space)
    assert player.playing
    for _ in range(6):
        stream.pull()
    assert player.audible == ("reconstruction", 3)

    at = player.position
    qtbot.keyClick(studio, Qt.Key.Key_A)  # to the original
    block = stream.pull(1024)[:, 0]
    assert session.source == "original"
    assert player.switch_log[-1] == (at, ("reconstruction", 3), ("original",))
    ramps = FadeRamps.for_rate(session.model.sample_rate)
    original, recon3 = clip.samples[:, 0], clip.cache.assemble(3)[:, 0]
    expected = original[at : at + 1024].copy()
    k = ramps.length
    expected[:k] = expected[:k] * ramps.fade_in[:, 0] + recon3[at : at + k] * ramps.fade_out[:, 0]
    np.testing.assert_allclose(block, expected, atol=1e-6)

    studio.transport.source_toggle.buttons["reconstruction"].click()
    stream.pull()
    at = player.position
    studio.findChild(QWidget, "codebookSlider").setValue(top)  # n switch while playing
    stream.pull()
    assert player.switch_log[-1] == (at, ("reconstruction", 3), ("reconstruction", top))
    qtbot.keyClick(studio, Qt.Key.Key_Space)
    assert not player.playing


def test_unreadable_file_shows_a_message_and_keeps_the_session(qtbot, studio, tmp_path):
    clip = wait_for_clip(qtbot, studio)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEfmt garbage")
    studio.open_file(str(bad))
    qtbot.waitUntil(lambda: "broken.wav" in studio.messages.text(), timeout=30_000)
    assert studio.messages.level == "error" and "previous clip stays open" in studio.messages.text()
    assert studio.session.clip is clip


def test_wrong_checkpoint_shows_a_message_and_keeps_the_model(qtbot, studio, tmp_path):
    wait_for_clip(qtbot, studio)
    model = studio.session.model
    fake = tmp_path / "model.pth"
    fake.write_bytes(b"this is no checkpoint")
    studio.load_model(str(fake))
    qtbot.waitUntil(lambda: "Could not load the model" in studio.messages.text(), timeout=30_000)
    assert studio.session.model is model and studio.session.clip is not None


@pytest.mark.slow
def test_a_jointly_coded_stereo_codec_opens_the_mono_clip_on_both_channels_and_renders_it(qtbot, studio):
    """EnCodec 48 kHz codes stereo jointly and decodes with per-segment scales: the open mono clip
    comes back as two equal channels (the message bar says so), one token block for both, and its
    rendering equals the codec's decode of the whole codes with their side information."""
    wait_for_clip(qtbot, studio)
    fixture = Path(__file__).parents[1] / "fixtures" / "encodec" / "encodec48k.th"
    studio.load_model(str(fixture))
    qtbot.waitUntil(lambda: studio.session.model.family == "encodec" and studio.session.clip is not None
                    and studio.session.clip.encoding.complete, timeout=60_000)
    clip, n = studio.session.clip, 2
    assert clip.channels == 2 and clip.codes.shape[0] == 1 and clip.duplicated_mono
    assert "is mono" in studio.messages.text() and "both sides" in studio.messages.text()
    assert len(studio.timeline.tokens.images) == 1 and studio.timeline.tokens.token_axis.blocks[0][0] == "L+R"
    studio.session.set_n(n)
    qtbot.waitUntil(lambda: clip.cache.is_complete(n), timeout=60_000)
    codec = load_codec(fixture)
    side = {name: torch.from_numpy(value) for name, value in clip.side.items()}
    whole = codec.decode(EncodedAudio(torch.from_numpy(clip.codes[:, :n]), side))[0, :, : clip.length].numpy().T
    np.testing.assert_allclose(clip.cache.assemble(n) * np.float32(clip.gain), whole, atol=1e-6)


def test_missing_audio_device_is_reported_once_and_the_window_still_works(qtbot, monkeypatch, music_path):
    def no_device(*_args):
        raise AudioUnavailable("no sound: no usable output device (test)")

    monkeypatch.setattr(audio_output, "open_device_stream", no_device)
    from ui.main_window import build_main_window

    window = build_main_window(str(music_path), open_demo=False)
    qtbot.addWidget(window)
    try:
        wait_for_clip(qtbot, window)
        assert "no usable output device" in window.messages.text()
        window.session.toggle_play()
        qtbot.waitUntil(lambda: window.session.player.position > 0, timeout=60_000)
    finally:
        window.shutdown()


@pytest.mark.slow
def test_exports_and_screenshot_once_everything_is_ready(qtbot, studio, tmp_path):
    assert studio.wait_until_ready(timeout_s=300)
    session = studio.session
    table = studio.findChild(QWidget, "qualityTable")
    assert table.rowCount() == session.model.n_codebooks and table.item(0, 4).text() not in ("", "…")
    session.set_n(5)
    session.export_rvq(tmp_path / "clip.rvq")
    session.export_reconstruction(tmp_path / "clip.flac")
    session.export_metrics_csv(tmp_path / "quality.csv")
    qtbot.waitUntil(lambda: (tmp_path / "clip.rvq").exists() and (tmp_path / "clip.flac").exists(), timeout=30_000)
    codes, meta = read_rvq(tmp_path / "clip.rvq")
    np.testing.assert_array_equal(codes, session.clip.codes[:, :5])
    import soundfile as sf

    info = sf.info(tmp_path / "clip.flac")
    assert (info.samplerate, info.frames) == (session.clip.original_rate, session.clip.original_length)
    lines = (tmp_path / "quality.csv").read_text().splitlines()
    assert len(lines) == 1 + session.model.n_codebooks and lines[0].startswith("n_codebooks,kbps")
    out = tmp_path / "window.png"
    assert studio.save_screenshot_when_ready(str(out)) == 0 and out.stat().st_size > 10_000


@pytest.mark.slow
def test_screenshot_command_exits_zero(tmp_path, music_path):
    out = tmp_path / "shot.png"
    env = {"QT_QPA_PLATFORM": "offscreen", "RVQ_STUDIO_NO_AUDIO": "1", "OMP_NUM_THREADS": "1",
           "RVQ_STUDIO_SETTINGS": str(tmp_path / "s.ini"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "app.cli", str(music_path), "--screenshot", str(out)],
                          env=env, capture_output=True, text=True, timeout=600, cwd=str(music_path.parent))
    assert done.returncode == 0, done.stderr[-2000:]
    assert out.stat().st_size > 10_000


def test_cancelling_an_encode_keeps_the_previous_clip(qtbot, studio, tmp_path):
    from synthetic_audio import write_music_clip

    clip = wait_for_clip(qtbot, studio)
    qtbot.waitUntil(lambda: clip.encoding.complete, timeout=30_000)
    long_clip = write_music_clip(tmp_path / "long.wav", seconds=20.0)
    progress = []
    studio.session.encodeProgress.connect(lambda done, total: progress.append((done, total)))
    studio.open_file(str(long_clip))
    qtbot.waitUntil(lambda: studio.session.clip is not clip and bool(progress), timeout=30_000)
    assert studio.cancel_button.isVisible() and not studio.session.clip.encoding.complete
    studio.cancel_button.click()
    assert studio.session.clip is clip and "music.wav" in studio.windowTitle()  # the previous clip is back
    qtbot.wait(1_500)  # longer than one encode piece takes: a stale piece would show up now
    assert studio.session.clip is clip
    assert not any(done == total for done, total in progress)  # stopped before the last piece


def test_a_long_clip_is_heard_before_its_encode_completes(qtbot, studio, tmp_path):
    from synthetic_audio import write_music_clip

    wait_for_clip(qtbot, studio)
    long_clip = write_music_clip(tmp_path / "long.wav", seconds=20.0)
    studio.open_file(str(long_clip))
    qtbot.waitUntil(lambda: studio.session.clip.path == long_clip, timeout=30_000)
    clip = studio.session.clip
    cache, n = clip.cache, studio.session.n
    qtbot.waitUntil(lambda: cache.is_rendered(n, 0), timeout=30_000)
    assert not clip.encoding.complete  # the start is audible while the rest is still encoding
    stream = ManualOutputStream.instances[-1]
    studio.session.player.play()
    stream.pull()
    stream.pull()
    assert studio.session.player.audible == ("reconstruction", n)
    studio.session.player.pause()
    studio.session.cancel()


def test_frequency_axis_and_db_range_apply_to_all_spectrograms(qtbot, studio):
    wait_for_clip(qtbot, studio)
    timeline = studio.timeline
    timeline.scale.setCurrentText("mel")
    plots = [studio.findChild(QWidget, name) for name in OBJECT_NAMES[3:6]]
    qtbot.waitUntil(lambda: all(p.spectrogram is not None and p.spectrogram.scale == "mel" for p in plots),
                    timeout=30_000)
    timeline.top.setValue(-10)
    timeline.range.setValue(60)
    assert timeline.levels == (-70.0, -10.0)
    for plot in plots:
        assert tuple(plot.image.getLevels()) == (-70.0, -10.0)
        np.testing.assert_array_equal(plot.image.image, colour_indices(plot.spectrogram.db.T, (-70.0, -10.0)))


def test_dropping_a_file_opens_it_and_remembers_it(qtbot, studio, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    from synthetic_audio import write_music_clip

    first = wait_for_clip(qtbot, studio)
    dropped = write_music_clip(tmp_path / "dropped.wav", seconds=1.0, seed=3)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(dropped))])
    event = QDropEvent(QPointF(100, 100), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    studio.dropEvent(event)
    qtbot.waitUntil(lambda: studio.session.clip is not first, timeout=30_000)
    assert studio.session.clip.path == dropped
    # it is recent once it has opened (its encode complete)
    qtbot.waitUntil(lambda: studio.settings.recent_files()[:1] == [str(dropped.resolve())], timeout=30_000)
    assert studio.settings.recent_files()[0] == str(dropped.resolve())
    assert "dropped.wav" in studio.windowTitle()


def test_the_texts_that_change_while_playing_ask_the_window_for_no_new_layout(qtbot, loaded, layout_requests):
    """Notes, titles, the bitrate and the status fields change with every rendered chunk and
    slider move; each change of a label's size relaid out and repainted the whole window."""
    session, transport = loaded.session, loaded.transport
    requests = layout_requests.watch(loaded)
    for _ in range(20):  # layouts still due from showing the clip
        QApplication.processEvents()
    requests.count = 0
    last = session.model.n_codebooks
    for n in [1, *range(last, 0, -1), last]:  # every count, from and to the widest neighbours
        transport.slider.setValue(n)
        for label in SOURCE_LABELS.values():
            transport.hearing.setText(hearing_note(label))
            QApplication.processEvents()
        transport.hearing.setText("")
        QApplication.processEvents()
    assert requests.count == 0


def test_the_window_fits_a_1280_by_800_screen_with_every_page_and_note_shown(qtbot, studio):
    studio.transport.hearing.setText("hearing reconstruction until rendered")  # the longest transient note
    studio.transport.set_codebooks(32, 32, 24.00)  # the longest bitrate text
    studio.transport.source_toggle.set_comparison("run/model.safetensors")  # "Fine-tuned" shown too
    for page in (studio.training, studio.pages.widget(0)):
        studio.pages.setCurrentWidget(page)
        hint = studio.minimumSizeHint()
        assert hint.width() <= 1280 and hint.height() <= 800, (page.objectName(), hint)
    studio.resize(1280, 800)
    qtbot.waitUntil(lambda: (studio.width(), studio.height()) == (1280, 800), timeout=60_000)


def test_after_a_slider_move_the_rendering_views_say_they_still_show_the_previous_count(qtbot, loaded):
    """The titles name the new count at once; until its images are drawn, the three rendering
    views are marked as showing the previous one, never passed off as the new count's."""
    s, views = loaded.session, loaded.timeline.spectrograms
    rendering = [views[key] for key in ("reconstruction", "residual", "adds")]
    qtbot.waitUntil(lambda: all(v.spectrogram is not None and v.spectrogram.n == s.n for v in rendering),
                    timeout=60_000)
    assert not any(v.stale for v in rendering)
    previous = s.n
    loaded.transport.slider.setValue(previous - 3)  # as a drag would: one selection change, drawn later
    assert s.n == previous - 3
    assert all(v.stale and v.spectrogram.n == previous for v in rendering)
    qtbot.waitUntil(lambda: not any(v.stale for v in rendering), timeout=60_000)
    assert all(v.spectrogram.n == previous - 3 for v in rendering)


def test_a_sound_device_that_stops_while_playing_is_reported_and_the_playhead_goes_on(qtbot, loaded):
    player = loaded.session.player
    player.play()
    device = player.output_stream
    device.pull()
    device.active = False  # as PortAudio leaves a stream whose device went away
    qtbot.waitUntil(lambda: "output device stopped" in loaded.messages.text(), timeout=60_000)
    assert loaded.messages.level == "warning" and device.closed
    reached = player.position
    qtbot.waitUntil(lambda: player.position > reached, timeout=60_000)  # on the silent clock
