"""Blind listening tests through the window (offscreen): a whole MUSHRA session and a whole ABX
session with a pause in the middle, driven like a listener would, with the answers read back
from the saved file and the exported CSV and JSON. The stimuli are the synthetic clip and noisy
copies of it (tests/support/listening_stimuli.py): the window's logic does not depend on a codec.
"""
import csv
import json

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QAbstractButton, QLabel, QLineEdit, QPushButton, QWidget

from app.listening_test.stimuli import HIDDEN_REFERENCE, LOW_ANCHOR, MID_ANCHOR
from app.listening_test.test_file import load_test
from app.playback import audio_output
from app.playback.audio_output import AudioUnavailable, ManualOutputStream
from listening_stimuli import NOISE_LEVELS, noisy_copies
from synthetic_audio import write_music_clip
from ui.listening_test_window import ListeningTestWindow

CLIPS = ["first-clip.wav", "second-clip.wav", "third-clip.wav"]
SECRETS = [*NOISE_LEVELS, HIDDEN_REFERENCE, LOW_ANCHOR, MID_ANCHOR, "original", *CLIPS, "hiss", "anchor", "kHz"]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _window(qtbot, tmp_path, clock) -> ListeningTestWindow:
    clips = [str(write_music_clip(tmp_path / name, 0.5, 16000)) for name in CLIPS]  # the excerpts are read off them
    window = ListeningTestWindow(lambda spec: noisy_copies, clips, seed_source=lambda: 1534, clock=clock)
    qtbot.addWidget(window)
    window.ask_save_path = lambda: str(tmp_path / "test.json")
    window.ask_open_path = lambda: str(tmp_path / "test.json")
    window.ask_folder = lambda title: str(tmp_path)
    window.ask_png_path = lambda: str(tmp_path / "chart.png")
    window.show()
    window.activateWindow()
    qtbot.waitActive(window)  # the letter keys go to the active window
    return window


def _start(qtbot, window, kind: str, listener: str) -> None:
    window.kind.setCurrentIndex(window.kind.findData(kind))
    window.listener_name.setText(listener)
    for i in range(window.clip_list.count()):
        window.clip_list.item(i).setCheckState(Qt.CheckState.Checked)
    qtbot.mouseClick(window.findChild(QPushButton, "listeningTestStart"), Qt.MouseButton.LeftButton)
    page = (lambda: window.mushra_page) if kind == "mushra" else (lambda: window.abx_page)
    qtbot.waitUntil(lambda: window.pages.currentWidget() is page(), timeout=10000)
    assert page().isVisible()


def _on_page(window, kind, name):
    """The widget called ``name`` on the page shown (both trial pages have a counter, a Stop...)."""
    return window.pages.currentWidget().findChild(kind, name)


def _visible_words(window: QWidget) -> str:
    """Everything the window shows or carries about its visible widgets: texts, tips, names."""
    parts = [window.windowTitle()]
    for widget in window.findChildren(QWidget):
        if not widget.isVisible():
            continue
        parts += [widget.objectName(), widget.toolTip(), widget.statusTip(), widget.whatsThis(),
                  widget.accessibleName(), widget.accessibleDescription()]
        if isinstance(widget, (QLabel, QAbstractButton, QLineEdit)):
            parts.append(widget.text())
    return "\n".join(parts).lower()


def _assert_nothing_leaks(window) -> None:
    words = _visible_words(window)
    for secret in SECRETS:
        assert secret.lower() not in words, f"the trial shows {secret!r}"


def _heard(window, frames: int = 2048) -> np.ndarray:
    """The first device channel of the next ``frames`` samples the player produces."""
    stream = ManualOutputStream.instances[-1]
    return np.concatenate([stream.pull()[:, 0] for _ in range(frames // stream.blocksize)])


def test_a_whole_mushra_session_through_the_window(qtbot, tmp_path):
    clock = Clock()
    window = _window(qtbot, tmp_path, clock)
    _start(qtbot, window, "mushra", "ann")
    session = window.session
    prepared = window.prepared
    assert session.total == len(CLIPS)
    ratings = {"quiet hiss": 90, "some hiss": 60, "loud hiss": 30, HIDDEN_REFERENCE: 100, LOW_ANCHOR: 10,
               MID_ANCHOR: 40}
    submit = _on_page(window, QPushButton, "submitTrial")
    for number in range(len(CLIPS)):
        _assert_nothing_leaks(window)
        assert _on_page(window, QLabel, "trialCounter").text() == f"Trial {number + 1} of {len(CLIPS)}"
        stimuli = prepared[session.clip]
        # a letter plays its stimulus, faded in from the reference; switching to another letter fades
        # between the two at the sample being played (equal power: cos / sin gains)
        ramps = window.player._ramps
        reference = stimuli["original"].audio[0]
        qtbot.mouseClick(_on_page(window, QPushButton, "playB"), Qt.MouseButton.LeftButton)
        heard_b = _heard(window)
        b = stimuli[session.stimulus_for("B")].audio[0][: heard_b.size]
        fade = ramps.length
        assert np.allclose(heard_b[fade:], b[fade:], atol=1e-6)
        assert np.allclose(heard_b[:fade], reference[:fade] * ramps.fade_out[:, 0] + b[:fade] * ramps.fade_in[:, 0],
                           atol=1e-5)
        qtbot.mouseClick(_on_page(window, QPushButton, "playD"), Qt.MouseButton.LeftButton)
        heard_d = _heard(window)
        at = slice(heard_b.size, heard_b.size + heard_d.size)
        b, d = stimuli[session.stimulus_for("B")].audio[0][at], stimuli[session.stimulus_for("D")].audio[0][at]
        assert np.allclose(heard_d[fade:], d[fade:], atol=1e-6)
        assert np.allclose(heard_d[:fade], b[:fade] * ramps.fade_out[:, 0] + d[:fade] * ramps.fade_in[:, 0], atol=1e-5)
        qtbot.keyClick(window, Qt.Key.Key_C)  # the letter keys switch too
        assert window.player.requested == ("letter", "C")
        qtbot.keyClick(window, Qt.Key.Key_R)
        assert window.player.requested == ("letter", "Ref")
        _on_page(window, QPushButton, "stopPlayback").click()
        # nothing rated 100: the trial cannot be submitted
        for letter in session.letters():
            window.sliders[letter].setValue(ratings[session.stimulus_for(letter)] - 1 if
                                            session.stimulus_for(letter) == HIDDEN_REFERENCE else
                                            ratings[session.stimulus_for(letter)])
        assert not submit.isEnabled()
        hidden = next(l for l in session.letters() if session.stimulus_for(l) == HIDDEN_REFERENCE)
        window.sliders[hidden].setValue(100)
        assert submit.isEnabled()
        clock.now += 20.0 + number
        qtbot.mouseClick(submit, Qt.MouseButton.LeftButton)
    assert window.pages.currentWidget() is window.results_page
    assert window.findChild(QWidget, "listeningTestResults").isVisible()

    saved = load_test(tmp_path / "test.json")
    listener = saved.listener("ann")
    assert listener.finished and [a["seconds"] for a in listener.answers] == [20.0, 21.0, 22.0]
    assert all(a["ratings"] == {k: float(v) for k, v in ratings.items()} for a in listener.answers)
    assert saved.seed == 1534 and listener.trials == session.listener.trials

    window.findChild(QPushButton, "exportResults").click()
    rows = list(csv.DictReader(open(tmp_path / "ann.csv")))
    assert len(rows) == len(CLIPS) * len(ratings)
    assert all(float(r["score"]) == ratings[r["stimulus"]] for r in rows)
    assert json.loads((tmp_path / "ann.json").read_text())["finished"] is True
    window.findChild(QPushButton, "exportChart").click()
    image = QImage(str(tmp_path / "chart.png"))
    assert not image.isNull() and image.width() >= 640
    # one listener, three clips: the overall mean of each stimulus is its rating, with a zero-width interval
    assert "quiet hiss: 90.0 ± 0.0" in window.results_text.text()
    assert "quiet hiss" in _visible_words(window)  # the leak check sees what the window shows: names only now


def test_an_abx_session_paused_and_resumed_from_the_file(qtbot, tmp_path):
    clock = Clock()
    window = _window(qtbot, tmp_path, clock)
    window.repeats.setValue(2)
    _start(qtbot, window, "abx", "bob")
    session = window.session
    total = session.total
    assert total == len(CLIPS) * len(NOISE_LEVELS) * 2
    for key, letter in ((Qt.Key.Key_X, "X"), (Qt.Key.Key_A, "A"), (Qt.Key.Key_B, "B")):
        qtbot.keyClick(window, key)  # the letter keys switch as the buttons do
        assert window.player.requested == ("letter", letter)
    given = []
    for _ in range(total // 2):
        _assert_nothing_leaks(window)
        trial = session.trial
        answer = trial.x if trial.contestant("original") == "loud hiss" else "A"
        given.append((trial, answer))
        clock.now += 5.0
        qtbot.mouseClick(_on_page(window, QPushButton, f"answer{answer}"), Qt.MouseButton.LeftButton)
    qtbot.mouseClick(_on_page(window, QPushButton, "pauseTest"), Qt.MouseButton.LeftButton)
    assert window.pages.currentWidget() is window.setup_page
    window.close()

    resumed = _window(qtbot, tmp_path, clock)
    resumed.listener_name.setText("bob")
    qtbot.mouseClick(resumed.findChild(QPushButton, "listeningTestOpen"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: resumed.pages.currentWidget() is resumed.abx_page, timeout=10000)
    session = resumed.session
    assert session.index == total // 2
    assert _on_page(resumed, QLabel, "trialCounter").text() == f"Trial {total // 2 + 1} of {total}"
    while not session.finished:
        trial = session.trial
        answer = trial.x if trial.contestant("original") == "loud hiss" else "A"
        given.append((trial, answer))
        qtbot.mouseClick(_on_page(resumed, QPushButton, f"answer{answer}"), Qt.MouseButton.LeftButton)
    assert resumed.pages.currentWidget() is resumed.results_page

    saved = load_test(tmp_path / "test.json").listener("bob")
    assert [a["answer"] for a in saved.answers] == [answer for _, answer in given]
    assert saved.trials == [trial for trial, _ in given]
    # always right on the loud hiss: 6 of 6, p = 1/64
    assert "bob, loud hiss: 6 of 6 right, one-sided p = 0.01562" in resumed.results_text.text()
    resumed.findChild(QPushButton, "exportResults").click()
    rows = list(csv.DictReader(open(tmp_path / "bob.csv")))
    assert [r["answer"] for r in rows] == [answer for _, answer in given]
    assert [r["correct"] == "True" for r in rows] == [answer == trial.x for trial, answer in given]


def test_a_device_that_stops_mid_trial_is_tried_again_at_each_letter_and_its_absence_said(qtbot, tmp_path,
                                                                                         monkeypatch):
    window = _window(qtbot, tmp_path, Clock())
    _start(qtbot, window, "abx", "Ann")
    note = window.findChild(QLabel, "soundNote")
    assert not note.isVisible()
    device = window.player.output_stream
    device.active = False  # unplugged mid-trial, as PortAudio leaves its stream
    qtbot.mouseClick(_on_page(window, QPushButton, "playB"), Qt.MouseButton.LeftButton)
    assert isinstance(window.player.output_stream, ManualOutputStream) and window.player.output_stream is not device
    assert not note.isVisible()  # it came back at once: nothing to say

    def unplugged(*args):
        raise AudioUnavailable("no sound: no usable output device (Device unavailable)")

    monkeypatch.setattr(audio_output, "open_device_stream", unplugged)
    window.player.output_stream.active = False
    qtbot.mouseClick(_on_page(window, QPushButton, "playA"), Qt.MouseButton.LeftButton)
    assert note.isVisible() and note.text() == "No sound: no usable output device (Device unavailable)."
    _assert_nothing_leaks(window)
    monkeypatch.setattr(audio_output, "open_device_stream", ManualOutputStream)  # plugged in again
    qtbot.mouseClick(_on_page(window, QPushButton, "playX"), Qt.MouseButton.LeftButton)
    assert isinstance(window.player.output_stream, ManualOutputStream) and not note.isVisible()
    window.close()


def test_the_setup_says_in_one_line_what_is_missing_or_wrong(qtbot, tmp_path):
    window = _window(qtbot, tmp_path, Clock())
    status = window.findChild(QLabel, "testStatus")
    qtbot.mouseClick(window.findChild(QPushButton, "listeningTestStart"), Qt.MouseButton.LeftButton)
    assert status.text() == "Choose at least one clip and enter the listener's name."
    window.listener_name.setText("ann")
    (tmp_path / "test.json").write_text('{"format": "rvq-studio listening test", "version": 1, "kind": "opera"}')
    qtbot.mouseClick(window.findChild(QPushButton, "listeningTestOpen"), Qt.MouseButton.LeftButton)
    assert status.text() == "Could not open the test: test.json: unknown test kind 'opera' (expected one of mushra, abx)"
    window.clip_list.item(0).setCheckState(Qt.CheckState.Checked)
    window.ask_save_path = lambda: str(tmp_path / "missing-folder" / "test.json")
    qtbot.mouseClick(window.findChild(QPushButton, "listeningTestStart"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: status.text().startswith("Could not save the test:"), timeout=10000)
    assert "missing-folder" in status.text() and "\n" not in status.text()
    assert window.session is None and window.pages.currentWidget() is window.setup_page


def test_a_click_on_a_rating_scale_rates_where_it_lands(qtbot, tmp_path):
    """A click at the top of a letter's scale rates it 100 (the platform styles paged it by ten)."""
    window = _window(qtbot, tmp_path, Clock())
    _start(qtbot, window, "mushra", "ann")
    slider = window.sliders["A"]
    top = QPoint(slider.width() // 2, 1)
    qtbot.mouseClick(slider, Qt.MouseButton.LeftButton, pos=top)
    assert slider.value() == 100
    assert window.slider_values["A"].text() == "100"
    assert _on_page(window, QPushButton, "submitTrial").isEnabled()
    _on_page(window, QPushButton, "stopPlayback").click()
