"""The studio opens the listening test on its own model and recent clips (File > Listening test…),
and a MUSHRA trial runs on the bundled model's real decodings."""
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QWidget

from app.listening_test.excerpts import Excerpt
from app.listening_test.stimuli import HIDDEN_REFERENCE, LOW_ANCHOR, MID_ANCHOR
from app.listening_test.test_file import load_test

pytestmark = pytest.mark.slow


def test_the_studio_runs_a_mushra_trial_on_its_model(qtbot, studio, music_path, tmp_path):
    assert studio.wait_until_ready()
    rate = studio.session.player.sample_rate
    studio.session.player.set_loop(rate // 4, rate)  # the loop region: the studio's clip's excerpt
    file_menu = next(a.menu() for a in studio.menuBar().actions() if a.text() == "&File")
    next(a for a in file_menu.actions() if a.text() == "Listening &test…").trigger()
    window = studio.listening_test
    assert window is not None and window.isVisible() and window.objectName() == "listeningTestMode"
    clips = [window.clip_list.item(i).text() for i in range(window.clip_list.count())]
    assert str(music_path.resolve()) in clips  # the studio's recent file
    window.clip_list.item(clips.index(str(music_path.resolve()))).setCheckState(Qt.CheckState.Checked)
    window.listener_name.setText("ann")
    window.contestants.setText("2, 12")
    window.ask_save_path = lambda: str(tmp_path / "studio-test.json")
    qtbot.mouseClick(window.findChild(QPushButton, "listeningTestStart"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.mushra_page, timeout=120000)

    stimuli = window.prepared[0]
    clip_rate = stimuli["original"].sample_rate
    assert load_test(tmp_path / "studio-test.json").excerpts == [Excerpt(0.25, 0.75)]
    assert stimuli["original"].audio.shape[1] == round(0.75 * clip_rate)
    assert sorted(stimuli) == sorted(["original", "2 codebooks", "12 codebooks", HIDDEN_REFERENCE, LOW_ANCHOR,
                                      MID_ANCHOR])
    original = stimuli["original"].audio
    error = {n: float(np.mean((stimuli[f"{n} codebooks"].audio - original) ** 2)) for n in (2, 12)}
    assert error[12] < error[2]  # the trained model: more codebooks, closer to the original
    session = window.session
    for letter, slider in window.sliders.items():
        slider.setValue(100 if session.stimulus_for(letter) == HIDDEN_REFERENCE else 50)
    qtbot.mouseClick(window.pages.currentWidget().findChild(QPushButton, "submitTrial"), Qt.MouseButton.LeftButton)
    assert window.findChild(QWidget, "listeningTestResults").isVisible()
    assert load_test(tmp_path / "studio-test.json").listener("ann").finished
