"""The message bar: one line whatever arrives, coloured by what it shows, closable, statuses superseded."""
import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QToolButton, QVBoxLayout, QWidget

from ui.message_bar import COLOURS, MessageBar

NOTE = "early.wav will be written when the clip is encoded."


@pytest.fixture
def bar(shown):
    """A bar above a view that takes the rest of a 600 x 400 window, as in the studio."""
    window = QWidget()
    layout = QVBoxLayout(window)
    message_bar = MessageBar()
    view = QWidget()
    view.setObjectName("view")
    layout.addWidget(message_bar)
    layout.addWidget(view, 1)
    shown(window, 600, 400)
    yield message_bar  # the window stays referenced until the test ends


def shown_text(bar: MessageBar) -> str:
    return bar.findChild(QLabel).text()


def background(bar: MessageBar) -> str:
    return bar.grab().toImage().pixelColor(2, 2).name()


def test_the_close_button_dismisses_the_messages(qtbot, bar):
    bar.show_message("error", "Could not open the file: broken.wav: the file is empty.")
    bar.show_message("warning", "No usable output device. Everything else works.")
    close = next(b for b in bar.findChildren(QToolButton) if b.text() == "✕")
    close.click()
    assert bar.isHidden() and bar.text() == ""
    assert bar.messages() == []


def test_messages_take_one_line_and_the_earlier_ones_are_counted_and_unfold(qtbot, bar):
    view = bar.parentWidget().findChild(QWidget, "view")
    bar.show_message("error", "Could not open the file: a.wav: the file is empty.")
    qtbot.waitUntil(lambda: bar.isVisible(), timeout=60_000)
    one_line = view.height()
    bar.show_message("warning", "No usable output device. Everything else works.")
    bar.show_message("error", "Could not load the model: broken.pth: not a checkpoint " + "and more words " * 30)
    qtbot.wait(50)
    assert view.height() == one_line  # the views keep their room
    assert "\n" not in shown_text(bar) and "a.wav" not in shown_text(bar)
    assert bar.text().startswith("Could not load the model") and bar.text().endswith("more words ")  # whole
    assert bar.earlier.isVisible() and bar.earlier.text().startswith("2 earlier")
    bar.earlier.click()  # unfolded: every message, newest first
    assert "a.wav" in shown_text(bar) and "output device" in shown_text(bar)
    bar.earlier.click()
    assert "a.wav" not in shown_text(bar)


def test_the_bar_has_the_colour_of_the_message_it_shows(qtbot, bar):
    bar.show_message("error", "Could not open the file: a.wav: the file is empty.")
    assert background(bar) == QColor(COLOURS["error"][0]).name()
    bar.show_message("info", "Saved /tmp/clip_n12.wav")
    assert bar.level == "info" and background(bar) == QColor(COLOURS["info"][0]).name()
    assert ("error", "Could not open the file: a.wav: the file is empty.") in bar.messages()  # kept, not shown


def test_a_newer_status_supersedes_a_note_but_not_an_error(qtbot, bar):
    bar.show_message("error", "Could not load the model: broken.pth")
    bar.show_message("info", NOTE)
    bar.show_message("info", "Saved /tmp/early.wav")
    assert NOTE not in shown_text(bar)
    assert bar.messages() == [("info", "Saved /tmp/early.wav"), ("error", "Could not load the model: broken.pth")]
    bar.earlier.click()  # unfolded
    assert NOTE not in shown_text(bar) and "broken.pth" in shown_text(bar)


def test_the_studio_shows_saved_on_an_information_bar_after_an_error(qtbot, studio, tmp_path):
    studio.session.message.emit("error", "Could not open the file: a.wav: the file is empty.")
    studio.session.message.emit("info", NOTE)
    studio.session.exported.emit(str(tmp_path / "early.wav"))
    assert studio.messages.level == "info" and studio.messages.text() == f"Saved {tmp_path / 'early.wav'}"
    assert NOTE not in [text for _, text in studio.messages.messages()]
