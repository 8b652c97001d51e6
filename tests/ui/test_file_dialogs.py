"""The menu's file dialogs, with QFileDialog's static methods answering as a person would.

Each test triggers the real menu action; the dialog returns a path (or nothing, when the
person cancels) and the test checks what the window did with it.
"""
import numpy as np
import pytest
import soundfile as sf
import torch
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog

from synthetic_audio import write_music_clip
from model.export import save_model_file
from model.registry import family, preset
from model.rvq_format import read_rvq

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def menu_action(window, *titles: str):
    """The action at ``titles`` (menu, submenu..., item), matched without '&' and shortcut hints."""
    actions = window.menuBar().actions()
    for title in titles:
        action = next(a for a in actions if a.text().replace("&", "").split("\t")[0] == title)
        actions = action.menu().actions() if action.menu() else []
    return action


def answer_dialogs(monkeypatch, open_path: str = "", save_paths: dict[str, str] | None = None) -> list[str]:
    """Make the dialogs return ``open_path`` / ``save_paths[title]``; the titles asked, in order."""
    asked = []

    def get_open(parent, title, *args, **kwargs):
        asked.append(title)
        return open_path, ""

    def get_save(parent, title, *args, **kwargs):
        asked.append(title)
        return (save_paths or {}).get(title, ""), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(get_open))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(get_save))
    return asked


def test_file_open_opens_the_chosen_file(qtbot, loaded, monkeypatch, tmp_path):
    chosen = write_music_clip(tmp_path / "chosen.wav", seconds=1.0, seed=4)
    asked = answer_dialogs(monkeypatch, open_path=str(chosen))
    menu_action(loaded, "File", "Open audio…").trigger()
    qtbot.waitUntil(lambda: loaded.session.clip.path == chosen, timeout=30_000)
    # it is recent once it has opened (its encode complete)
    qtbot.waitUntil(lambda: loaded.settings.recent_files()[:1] == [str(chosen)], timeout=30_000)
    assert asked == ["Open audio"] and loaded.settings.recent_files()[0] == str(chosen)


def test_a_cancelled_dialog_changes_nothing(qtbot, loaded, monkeypatch):
    clip, model = loaded.session.clip, loaded.session.model
    asked = answer_dialogs(monkeypatch)
    for titles in (("File", "Open audio…"), ("File", "Open checkpoint…"),
                   ("File", "Export reconstruction (WAV/FLAC)…"), ("File", "Export metrics CSV…")):
        menu_action(loaded, *titles).trigger()
    qtbot.wait(200)
    assert asked == ["Open audio", "Open checkpoint", "Export reconstruction", "Export metrics"]
    assert loaded.session.clip is clip and loaded.session.model is model and loaded.messages.level != "error"


def test_open_checkpoint_loads_the_chosen_model_and_lists_it(qtbot, loaded, monkeypatch, tmp_path):
    torch.manual_seed(0)
    architecture = preset("tiny").architecture
    path = tmp_path / "tiny.safetensors"
    save_model_file(family("dac").build(architecture), path, family="dac", config=architecture, name="tiny",
                    trained=False)
    answer_dialogs(monkeypatch, open_path=str(path))
    menu_action(loaded, "File", "Open checkpoint…").trigger()
    qtbot.waitUntil(lambda: loaded.session.model.source == str(path), timeout=60_000)
    picker = loaded.model_box
    assert picker.currentData() == str(path) and loaded.settings.recent_models()[0] == str(path)


def test_exports_write_the_files_the_dialogs_name(qtbot, loaded, monkeypatch, tmp_path):
    session = loaded.session
    session.set_n(5)
    qtbot.waitUntil(lambda: len(session.quality) >= 1, timeout=60_000)
    paths = {"Export reconstruction": tmp_path / "clip.flac", "Export .rvq": tmp_path / "clip.rvq",
             "Export metrics": tmp_path / "quality.csv"}
    answer_dialogs(monkeypatch, save_paths={title: str(p) for title, p in paths.items()})
    for item in ("Export reconstruction (WAV/FLAC)…", "Export compressed .rvq…", "Export metrics CSV…"):
        menu_action(loaded, "File", item).trigger()
    qtbot.waitUntil(lambda: all(p.exists() for p in paths.values()), timeout=60_000)
    clip = session.clip
    info = sf.info(paths["Export reconstruction"])
    assert (info.samplerate, info.frames) == (clip.original_rate, clip.original_length)
    codes, _meta = read_rvq(paths["Export .rvq"])
    np.testing.assert_array_equal(codes, clip.codes[:, :5])
    lines = paths["Export metrics"].read_text().splitlines()
    assert lines[0].startswith("n_codebooks,kbps") and len(lines) >= 2


@pytest.mark.parametrize("view", ["Original", "Tokens"])
def test_a_view_exports_as_a_png_of_exactly_what_it_shows(qtbot, loaded, monkeypatch, tmp_path, view):
    timeline = loaded.timeline
    qtbot.waitUntil(lambda: timeline.spectrograms["original"].spectrogram is not None, timeout=30_000)
    frame = next(f for plot, f in timeline.frames.items() if plot.title == view)
    out = tmp_path / "view.png"
    answer_dialogs(monkeypatch, save_paths={"Export view": str(out)})
    ratio = frame.devicePixelRatioF()
    size = (round(frame.width() * ratio), round(frame.height() * ratio))
    shown = frame.grab().toImage()  # what the window shows when the person asks for the PNG
    menu_action(loaded, "File", "Export view as PNG", view).trigger()
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    saved = QImage(str(out))
    assert (saved.width(), saved.height()) == size
    assert saved == shown.convertToFormat(saved.format())  # pixel for pixel, title strip included
    assert len({saved.pixel(x, saved.height() // 2) for x in range(0, saved.width(), 4)}) > 10  # not blank
