"""The transport in the real window, on a hand-driven output stream: seek, loop, meters, crossfade.

``ManualOutputStream`` produces a block only when a test pulls it, so what the "device"
receives is compared sample for sample with what it should be.
"""
import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QApplication, QStyle, QWidget

from app.playback.audio_output import ManualOutputStream
from app.playback.crossfade import FadeRamps
from ui.transport_bar import TransportBar, format_clock


def pull(frames: int) -> np.ndarray:
    """``frames`` samples of the device's output, in the player's own block size."""
    stream = ManualOutputStream.instances[-1]
    blocks, done = [], 0
    while done < frames:
        blocks.append(stream.pull())
        done += blocks[-1].shape[0]
    return np.concatenate(blocks)[:frames]


def test_a_click_on_the_slider_groove_picks_the_count_under_the_pointer(qtbot):
    """The platform style pages one step towards a groove click, which with one-codebook steps
    looked like nothing happened; the click now lands on the count where it is made."""
    bar = TransportBar()
    qtbot.addWidget(bar)
    bar.set_codebook_range(tuple(0.75 * k for k in range(1, 13)), 1)
    bar.show()
    qtbot.waitExposed(bar)
    slider = bar.slider
    picked = []
    bar.codebookChanged.connect(picked.append)
    handle = slider.style().pixelMetric(QStyle.PixelMetric.PM_SliderLength, None, slider)
    for k in (9, 4, 12):
        # the handle's centre for count k, as the style places it (it travels the width less one handle)
        x = QStyle.sliderPositionFromValue(1, 12, k, slider.width() - handle) + handle // 2
        qtbot.mouseClick(slider, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         QPoint(x, slider.height() // 2))
        assert slider.value() == k
    assert picked == [9, 4, 12]


def test_the_running_clock_asks_for_no_new_layout(qtbot, layout_requests):
    """A label that may change size asks for a new layout on every new text, and the window
    then repainted every widget in it at the frame rate while playing."""
    bar = TransportBar()
    qtbot.addWidget(bar)
    bar.show()
    qtbot.waitExposed(bar)
    bar.clock.setText(f"{format_clock(0)} / {format_clock(75.0)}")  # playing starts
    requests = layout_requests.watch(bar)
    for _ in range(20):  # layouts still due from showing it (or from a style a previous test left)
        QApplication.processEvents()
    requests.count = 0
    for ms in range(25, 75_000, 1_237):  # clock texts of every width, past a minute
        bar.clock.setText(f"{format_clock(ms / 1000)} / {format_clock(75.0)}")
        QApplication.processEvents()
    assert requests.count == 0


@pytest.mark.parametrize("view", ["spectrogramOriginal", "tokenView", "timeRuler"])
def test_clicking_a_view_seeks_the_player_to_the_time_under_the_mouse(qtbot, loaded, view):
    plot = loaded.findChild(QWidget, view)
    vb = plot.getPlotItem().vb
    (t0, t1), (y0, y1) = vb.viewRange()
    at = plot.mapFromScene(vb.mapViewToScene(QPointF(t0 + 0.7 * (t1 - t0), (y0 + y1) / 2)))
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=at)
    seconds = vb.mapSceneToView(plot.mapToScene(at)).x()  # the pixel's time, as the view maps it
    rate = loaded.session.model.sample_rate
    assert loaded.session.player.position == int(seconds * rate)
    assert seconds == pytest.approx(t0 + 0.7 * (t1 - t0), abs=(t1 - t0) / plot.width())  # within a pixel


def test_the_loop_plays_its_region_round_and_round(qtbot, loaded):
    session, player = loaded.session, loaded.session.player
    rate, clip = session.model.sample_rate, session.clip
    session.set_source("original")  # always available: what is heard is exactly the input's samples
    qtbot.keyClick(loaded, Qt.Key.Key_L)  # whole clip in view: the loop is its middle third
    duration = clip.length / rate
    start, end = int(duration / 3 * rate), int(2 * duration / 3 * rate)
    assert player.loop == (start, end) and loaded.timeline.overview.loop.isVisible()
    session.seek_seconds(start / rate)
    player.play()
    heard = pull(2 * (end - start) + 1000)[:, 0]
    original = clip.samples[:, 0]
    expected = np.concatenate([original[start:end], original[start:end], original[start:start + 1000]])
    np.testing.assert_array_equal(heard, expected)
    player.pause()


def test_dragging_the_loop_region_moves_the_loop(qtbot, loaded):
    qtbot.keyClick(loaded, Qt.Key.Key_L)
    loaded.timeline.overview.loop.setRegion((0.2, 0.6))  # what a drag of its edges ends with
    rate = loaded.session.model.sample_rate
    assert loaded.session.player.loop == (int(0.2 * rate), int(0.6 * rate))
    qtbot.keyClick(loaded, Qt.Key.Key_L)
    assert loaded.session.player.loop is None


def test_the_meters_show_the_peak_of_each_channel_of_a_known_sine(qtbot, studio, tmp_path):
    rate = 44100  # the default model's rate: the clip plays without resampling
    t = np.arange(int(0.6 * rate)) / rate
    sine = np.sin(2 * np.pi * 1000 * t)
    path = tmp_path / "sine.wav"
    sf.write(path, np.stack([10 ** (-6 / 20) * sine, 10 ** (-20 / 20) * sine], axis=1), rate, subtype="FLOAT")
    studio.open_file(str(path))
    qtbot.waitUntil(lambda: studio.session.clip is not None and studio.session.clip.path == path, timeout=60_000)
    studio.session.set_source("original")
    studio.session.player.play()
    pull(4096)
    meter = studio.transport.meter
    qtbot.waitUntil(lambda: meter.level_db[0] > -12.0, timeout=60_000)  # the window's frame timer read them
    # A block of 512 samples holds 11.6 periods of 1 kHz, so some sample lies within half a
    # sample of a crest: its |sin| >= cos(pi * 1000 / 44100) = 0.99746, i.e. at most 0.022 dB low.
    assert meter.level_db == pytest.approx([-6.0206, -20.0], abs=0.03)
    assert meter.hold_db == pytest.approx(meter.level_db) and meter.clipped == [False, False]
    studio.session.player.pause()


def test_the_slider_switch_crossfades_the_output_at_the_same_sample(qtbot, loaded):
    session, player = loaded.session, loaded.session.player
    clip, top = session.clip, session.n
    slider = loaded.findChild(QWidget, "codebookSlider")
    slider.setValue(3)
    qtbot.waitUntil(lambda: clip.cache.is_complete(3), timeout=60_000)
    player.play()
    pull(3 * player.blocksize)
    assert player.audible == ("reconstruction", 3)
    at = player.position
    slider.setValue(top)
    heard = ManualOutputStream.instances[-1].pull(1024)[:, 0]
    assert player.switch_log[-1] == (at, ("reconstruction", 3), ("reconstruction", top))
    old, new = clip.cache.assemble(3)[:, 0], clip.cache.assemble(top)[:, 0]
    ramps = FadeRamps.for_rate(session.model.sample_rate)  # the equal-power curve, 10 ms
    k = ramps.length
    expected = new[at:at + 1024].copy()
    expected[:k] = new[at:at + k] * ramps.fade_in[:, 0] + old[at:at + k] * ramps.fade_out[:, 0]
    np.testing.assert_allclose(heard, expected, atol=1e-6)
    player.pause()
