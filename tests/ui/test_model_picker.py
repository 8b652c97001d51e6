"""The model picker shared by the studio's toolbar and the training tab."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.studio.settings import StudioSettings
from ui.model_picker import ModelPicker


@pytest.fixture
def recent(tmp_path) -> Path:
    """A model the user opened before: the settings remember it, so the picker lists it."""
    path = tmp_path / "recent.safetensors"
    path.write_bytes(b"x")
    StudioSettings().add_recent_model(str(path))
    return path


def make_picker(qtbot, browse_label: str = "Browse…") -> ModelPicker:
    picker = ModelPicker(StudioSettings(), browse_label)
    qtbot.addWidget(picker)
    return picker


def choose(picker: ModelPicker, index: int) -> None:
    """What a click on an entry does: make it current, then report the activation."""
    picker.setCurrentIndex(index)
    picker.activated.emit(index)


def entries(picker: ModelPicker) -> list[tuple[str, str | None]]:
    return [(picker.itemText(i), picker.itemData(i)) for i in range(picker.count())]


def test_the_list_is_the_catalogue_then_the_shown_model_then_the_browse_entry(qtbot, recent):
    picker = make_picker(qtbot)
    picker.fill("/elsewhere/unlisted.pth")
    listed = entries(picker)
    assert listed[0] == ("Default (bundled)", "default")
    assert listed[-3:] == [("recent.safetensors", str(recent)), ("unlisted.pth", "/elsewhere/unlisted.pth"),
                           ("Browse…", None)]
    assert picker.source() == "/elsewhere/unlisted.pth"
    picker.fill(None)
    assert picker.source() == "default" and ("unlisted.pth", "/elsewhere/unlisted.pth") not in entries(picker)


def test_choosing_a_model_reports_it_and_the_browse_entry_goes_back_and_asks_to_browse(qtbot, recent):
    picker = make_picker(qtbot, "Open checkpoint…")
    picker.fill("default")
    chosen, browsing = [], []
    picker.modelChosen.connect(chosen.append)
    picker.browseRequested.connect(lambda: browsing.append(picker.source()))
    choose(picker, picker.findData(str(recent)))
    assert chosen == [str(recent)] and browsing == []
    choose(picker, picker.count() - 1)
    assert chosen == [str(recent)] and browsing == [str(recent)]  # back on the model it showed when asked
    assert picker.source() == str(recent)


def test_selecting_an_unlisted_model_offers_it_above_the_browse_entry(qtbot):
    picker = make_picker(qtbot)
    picker.fill(None)
    picker.select("/models/base.safetensors")
    assert entries(picker)[-2:] == [("base.safetensors", "/models/base.safetensors"), ("Browse…", None)]
    assert picker.source() == "/models/base.safetensors"
    listed = entries(picker)
    picker.select("default")
    assert picker.source() == "default" and entries(picker) == listed  # listed already: nothing added
