"""Controls that must say the truth: the Loop button, the clock, the clip lights, the export folder."""
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFileDialog

from app.playback.audio_output import ManualOutputStream
from app.studio.settings import StudioSettings
from synthetic_audio import write_music_clip
from ui import theme


def colour_distance(a: QColor, b: QColor) -> int:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue())


def face(button) -> QColor:
    """The colour of the button's face, beside its text."""
    image = button.grab().toImage()
    return image.pixelColor(5, image.height() // 2)


def test_the_loop_button_lights_while_the_loop_is_on_and_follows_the_l_key(qtbot, loaded):
    loop, player = loaded.transport.loop_button, loaded.session.player
    off = face(loop)
    qtbot.keyClick(loaded, Qt.Key.Key_L)
    assert loop.isChecked() and player.loop is not None
    assert colour_distance(face(loop), QColor(theme.ACCENT)) < 30  # lit in the accent colour...
    assert colour_distance(face(loop), off) > 150  # ...unmistakably unlike its off state
    qtbot.keyClick(loaded, Qt.Key.Key_L)
    assert not loop.isChecked() and player.loop is None
    assert colour_distance(face(loop), off) < 30


def test_opening_another_clip_ends_the_loop_and_its_light(qtbot, loaded, tmp_path):
    loop = loaded.transport.loop_button
    qtbot.keyClick(loaded, Qt.Key.Key_L)
    other = write_music_clip(tmp_path / "other.wav", seconds=1.0, seed=5)
    loaded.open_file(str(other))
    qtbot.waitUntil(lambda: loaded.session.clip.path == other, timeout=60_000)
    assert not loop.isChecked() and loaded.session.player.loop is None


def test_the_clock_stops_at_the_clip_length(qtbot, loaded):
    session, player = loaded.session, loaded.session.player
    session.set_source("original")
    session.seek_seconds(session.clip.length / session.model.sample_rate - 0.05)
    player.play()
    stream = ManualOutputStream.instances[-1]
    while player.playing:
        stream.pull()
    assert player.position > session.clip.length  # the last block read past the end
    loaded._on_frame()
    shown, length = loaded.transport.clock.text().split(" / ")
    assert shown == length


def test_a_new_clip_resets_the_clip_lights(qtbot, loaded, tmp_path):
    meter = loaded.transport.meter
    meter.set_levels([1.0, 0.2], [0.5, 0.1])
    assert meter.clipped == [True, False]
    other = write_music_clip(tmp_path / "other.wav", seconds=1.0, seed=6)
    loaded.open_file(str(other))
    qtbot.waitUntil(lambda: loaded.session.clip.path == other, timeout=60_000)
    assert meter.clipped == [False, False]


def test_export_dialogs_open_in_the_folder_of_the_previous_export(qtbot, loaded, monkeypatch, tmp_path):
    chosen = tmp_path / "exports" / "quality.csv"
    chosen.parent.mkdir()
    starts = []

    def save_dialog(parent, title, start="", filters=""):
        starts.append(start)
        return str(chosen), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_dialog))
    loaded.export_metrics()
    assert chosen.exists()
    loaded.export_view(loaded.quality.plot, "Quality plot")
    assert starts[1] == str(chosen.parent / "quality.png")
    assert StudioSettings().export_folder() == str(chosen.parent)  # and the next session starts there too
