"""The studio driven as a person uses it: each test one journey, asserting what the user sees.

The other UI tests check one behaviour on a short clip on an idle machine; users open long
files while other work takes a core, move the slider while the clip renders, cancel an open
they regret, open files that are no audio at all, and play with keys and the mouse. A journey
runs the real window (offscreen, on a hand-driven output stream, see tests/ui/conftest.py)
through such a sequence, and the window is asked what it shows: the shade over what is not
rendered yet, the quality panel's pending rows, the message bar, the buttons. The fastest
journey also runs on a real X server (Xvfb, Qt's xcb platform) where one is installed.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QSlider, QStyle, QStyleOptionSlider, QWidget

from app.playback.audio_output import ManualOutputStream
from app.studio.rendering_spectrograms import RenderingSpectrogram
from busy_core import one_core_busy
from synthetic_audio import write_music_clip
from ui import theme
from ui.studio_texts import residual_note
from x_display import x_display  # noqa: F401 (the fixture)

LONG_SECONDS = 120.0  # a two-minute clip: rendering every count takes minutes on two loaded cores
CANCELLED_SECONDS = 30.0  # long enough to be still encoding when Cancel is clicked
# What is rendered is drawn within this: the views refresh every 0.4 s, and redrawing all three
# rendering views of the two-minute clip whole (after a slider move) takes 0.6 s of one core.
VIEWS_KEEP_UP_S = 5.0
OBSERVATIONS = 4  # times the views are compared with the rendering while it goes on
LONG_WAIT_MS = 1_500_000  # a two-minute clip rendered and measured with one core busy
RENDERING_VIEWS = ("reconstruction", "residual", "adds")


# -- what the user sees ---------------------------------------------------------------------
def shaded_spans(window, view: str) -> tuple[tuple[float, float], ...]:
    """The spans the view covers as "not yet rendered" (seconds)."""
    return window.timeline.spectrograms[view].not_yet.spans


def chunk_middles(window) -> np.ndarray:
    """The time (seconds) at the middle of each chunk of the open clip."""
    clip, rate = window.session.clip, window.session.model.sample_rate
    starts = np.arange(clip.grid.n_chunks) * clip.grid.chunk_samples
    ends = np.minimum(starts + clip.grid.chunk_samples, clip.length)
    return (starts + ends) / 2 / rate


def inside(seconds: float, spans) -> bool:
    return any(start <= seconds < end for start, end in spans)


def check_drawn_as_rendered(window, rendered_before: np.ndarray) -> None:
    """The reconstruction view draws every chunk in ``rendered_before`` and shades every chunk not
    rendered now; the residual view shades the same spans (where it would show the original)."""
    plot = window.timeline.spectrograms["reconstruction"]
    assert isinstance(plot.spectrogram, RenderingSpectrogram), "no rendering drawn yet"
    assert plot.not_yet.spans == plot.spectrogram.not_yet, "the shade is not the drawn snapshot's"
    spans = shaded_spans(window, "reconstruction")  # read before the rendering, which only grows
    rendered_now = window.session.clip.cache.rendered_map(window.session.n)
    middles = chunk_middles(window)
    hidden = [c for c, drawn in enumerate(rendered_before) if drawn and inside(middles[c], spans)]
    stand_ins = [c for c in np.flatnonzero(~rendered_now) if not inside(middles[c], spans)]
    assert not hidden, f"rendered chunks {hidden} still shaded (spans {spans})"
    assert not stand_ins, f"chunks {stand_ins} not rendered at n = {window.session.n} but drawn (spans {spans})"
    assert shaded_spans(window, "residual") == spans, "the residual view shades other spans"


def shaded_seconds(window) -> float:
    return sum(end - start for start, end in shaded_spans(window, "reconstruction"))


def quality_cells(window) -> list[list[str]]:
    table = window.findChild(QWidget, "qualityTable")
    return [[table.item(row, col).text() if table.item(row, col) else "" for col in range(table.columnCount())]
            for row in range(table.rowCount())]


def recent_entries(window) -> list[str]:
    window.recent_menu.aboutToShow.emit()  # the menu is filled as it opens
    return [action.text() for action in window.recent_menu.actions()]


def colour_distance(a: QColor, b: QColor) -> int:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue())


def play_blocks(blocks: int) -> None:
    """The sound device asks for ``blocks`` blocks."""
    stream = ManualOutputStream.instances[-1]
    for _ in range(blocks):
        stream.pull()


def click(qtbot, widget: QWidget, at: QPoint | None = None) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=at if at is not None else widget.rect().center())


def drag_slider(qtbot, slider: QSlider, value: int) -> None:
    """Drag the slider's handle with the mouse to where ``value`` sits."""
    option = QStyleOptionSlider()
    slider.initStyleOption(option)
    style, control = slider.style(), QStyle.ComplexControl.CC_Slider
    handle = style.subControlRect(control, option, QStyle.SubControl.SC_SliderHandle, slider)
    groove = style.subControlRect(control, option, QStyle.SubControl.SC_SliderGroove, slider)
    span = groove.width() - handle.width()
    to = QPoint(groove.x() + QStyle.sliderPositionFromValue(slider.minimum(), slider.maximum(), value, span)
                + handle.width() // 2, handle.center().y())
    qtbot.mousePress(slider, Qt.MouseButton.LeftButton, pos=handle.center())
    qtbot.mouseMove(slider, to)
    qtbot.mouseRelease(slider, Qt.MouseButton.LeftButton, pos=to)


@pytest.fixture
def window_on(qtbot):
    """``window_on(path)``: the studio opened on ``path`` and active, shut down after the test."""
    from ui.main_window import build_main_window

    windows = []

    def open_window(path: Path):
        window = build_main_window(str(path), open_demo=False)
        windows.append(window)
        qtbot.addWidget(window)
        window.show()
        window.activateWindow()
        qtbot.waitActive(window)  # shortcuts (Space, A, 1-9) go to the active window
        return window

    yield open_window
    for window in windows:
        window.shutdown()


# -- journeys -------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_long_clip_on_a_busy_machine_is_drawn_as_it_renders_then_fills_in(qtbot, window_on, tmp_path):
    long_clip = write_music_clip(tmp_path / "two_minutes.wav", seconds=LONG_SECONDS, seed=7)
    with one_core_busy():
        window = window_on(long_clip)
        session = window.session
        qtbot.waitUntil(lambda: session.clip is not None, timeout=120_000)
        last = session.model.n_codebooks
        status = window.quality.status
        qtbot.waitUntil(lambda: status.text().startswith("Measuring: codec n = "), timeout=30_000)
        assert f"Opus n = 1–{last}" in status.text()  # no Opus row comes before the encode ends

        qtbot.keyClick(window, Qt.Key.Key_Space)
        play_blocks(200)  # a couple of seconds heard
        assert session.player.playing and session.player.position > 0
        slider = window.findChild(QWidget, "codebookSlider")
        qtbot.keyClick(window, Qt.Key.Key_Left)
        assert session.n == slider.value() == last - 1
        qtbot.keyClick(window, Qt.Key.Key_6)
        assert session.n == slider.value() == 6
        drag_slider(qtbot, slider, 4)
        assert session.n == slider.value() == 4

        shaded = []
        for _ in range(OBSERVATIONS):
            play_blocks(100)
            rendered = session.clip.cache.rendered_map(session.n).copy()
            qtbot.waitUntil(lambda: check_drawn_as_rendered(window, rendered), timeout=int(VIEWS_KEEP_UP_S * 1000))
            shaded.append(shaded_seconds(window))
            pending = [n for n in range(1, last + 1) if n not in session.quality]
            if pending:
                assert status.text().startswith("Measuring: codec n = ")
            qtbot.wait(3_000)
        assert shaded[0] > 0, "the clip was rendered before it was looked at: nothing was shown pending"
        assert shaded == sorted(shaded, reverse=True) and shaded[-1] < shaded[0]  # the shade shrinks
        qtbot.keyClick(window, Qt.Key.Key_Space)

        def filled_in() -> bool:
            return session.clip.cache.is_complete(session.n) and len(session.quality) == last and \
                len(session.opus) == last and all(not shaded_spans(window, view) for view in RENDERING_VIEWS)

        qtbot.waitUntil(filled_in, timeout=LONG_WAIT_MS)
    assert status.text() == session.measured_on and "Measuring" not in status.text()
    assert all(cells[4] not in ("", "…") for cells in quality_cells(window))  # every row's SI-SDR
    for view in RENDERING_VIEWS:
        plot = window.timeline.spectrograms[view]
        assert plot.not_yet.cover.path().isEmpty() and not plot.not_yet.label.isVisible(), view


def test_cancel_during_a_longer_open_brings_the_finished_clip_back_whole(qtbot, studio, tmp_path, music_path):
    session = studio.session
    qtbot.waitUntil(session.all_ready, timeout=300_000)
    clip, title = session.clip, studio.windowTitle()
    drawn = {view: plot.spectrogram for view, plot in studio.timeline.spectrograms.items()}
    cells, residual_text = quality_cells(studio), studio.timeline.frames[
        studio.timeline.spectrograms["residual"]].note.text()
    assert residual_text == residual_note(session.residual_gain_db)

    studio.open_file(str(write_music_clip(tmp_path / "longer.wav", seconds=CANCELLED_SECONDS, seed=2)))
    qtbot.waitUntil(lambda: session.clip is not clip and studio.cancel_button.isVisible(), timeout=60_000)
    assert studio.encode_progress.isVisible() and "longer.wav" in studio.windowTitle()
    click(qtbot, studio.cancel_button)
    qtbot.wait(1_500)  # longer than an encode piece: a piece finishing after the click changes nothing

    assert session.clip is clip and studio.windowTitle() == title and "Cancelled." in studio.messages.text()
    assert not studio.encode_progress.isVisible() and not studio.cancel_button.isVisible()
    for view, plot in studio.timeline.spectrograms.items():
        assert plot.spectrogram is drawn[view], view  # the same drawings, none recomputed
        assert plot.not_yet.cover.path().isEmpty(), view
    assert quality_cells(studio) == cells
    assert studio.timeline.frames[studio.timeline.spectrograms["residual"]].note.text() == residual_text
    assert recent_entries(studio) == [str(music_path.resolve())]


def test_files_that_cannot_open_each_say_so_once_and_the_message_closes(qtbot, studio, tmp_path, music_path):
    session = studio.session
    qtbot.waitUntil(lambda: session.clip is not None and session.clip.encoding.complete, timeout=60_000)
    clip, title = session.clip, studio.windowTitle()
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    notes = tmp_path / "notes.wav"
    notes.write_text("Shopping list: bread, milk, a microphone.\n" * 20)
    bar = studio.messages
    for path, reason in ((empty, "the file is empty"), (notes, "")):
        studio.open_file(str(path))
        qtbot.waitUntil(lambda p=path: p.name in bar.text(), timeout=30_000)
        qtbot.wait(300)  # a second message would come now
        about = [(level, text) for level, text in bar.messages() if path.name in text]
        assert len(about) == 1 and about[0][0] == "error", bar.messages()
        assert reason in about[0][1] and "previous clip stays open" in about[0][1]
        assert not about[0][1].endswith(".).") and "Traceback" not in about[0][1]
        click(qtbot, bar.close_button)
        assert bar.isHidden() and bar.messages() == []
        assert session.clip is clip and studio.windowTitle() == title
    assert recent_entries(studio) == [str(music_path.resolve())]


def test_keys_and_the_mouse_drive_playback(qtbot, loaded):
    session, player = loaded.session, loaded.session.player
    qtbot.keyClick(loaded, Qt.Key.Key_Space)
    play_blocks(8)
    assert player.playing and player.position > 0
    qtbot.keyClick(loaded, Qt.Key.Key_A)
    assert session.source == "original" and loaded.transport.source_toggle.source() == "original"
    qtbot.keyClick(loaded, Qt.Key.Key_A)
    assert session.source == "reconstruction"
    qtbot.keyClick(loaded, Qt.Key.Key_R)
    assert session.source == "residual" and loaded.transport.source_toggle.source() == "residual"
    slider = loaded.findChild(QWidget, "codebookSlider")
    for digit in range(1, 10):
        qtbot.keyClick(loaded, getattr(Qt.Key, f"Key_{digit}"))
        assert session.n == slider.value() == digit and loaded.transport.bitrate.text().startswith(f"{digit} of ")

    loop = loaded.transport.loop_button
    qtbot.keyClick(loaded, Qt.Key.Key_L)
    face = loop.grab().toImage()
    assert loop.isChecked() and player.loop is not None and loaded.timeline.overview.loop.isVisible()
    assert colour_distance(face.pixelColor(5, face.height() // 2), QColor(theme.ACCENT)) < 30  # lit
    qtbot.keyClick(loaded, Qt.Key.Key_L)
    assert not loop.isChecked() and player.loop is None

    qtbot.keyClick(loaded, Qt.Key.Key_Space)
    assert not player.playing
    qtbot.keyClick(loaded, Qt.Key.Key_Home)
    assert player.position == 0

    plot = loaded.findChild(QWidget, "spectrogramOriginal")
    vb = plot.getPlotItem().vb
    (t0, t1), (y0, y1) = vb.viewRange()
    at = plot.mapFromScene(vb.mapViewToScene(QPointF(t0 + 0.6 * (t1 - t0), (y0 + y1) / 2)))
    click(qtbot, plot.viewport(), at)
    seconds = vb.mapSceneToView(plot.mapToScene(at)).x()
    assert player.position == int(seconds * session.model.sample_rate) > 0
    loaded._on_frame()  # the next frame draws the playhead where the click put it
    assert plot.playhead.seconds == pytest.approx(seconds, abs=1 / session.model.sample_rate)


def test_the_error_journey_on_a_real_x_server(tmp_path, x_display):
    """The window under Qt's xcb platform (a process picks its platform once: a subprocess)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "DISPLAY": x_display, "HOME": str(tmp_path)}
    journey = f"{__file__}::{test_files_that_cannot_open_each_say_so_once_and_the_message_closes.__name__}"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", journey],
                          env=env, capture_output=True, text=True, timeout=600, cwd=str(Path(__file__).parents[2]))
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
