"""The setup page's excerpt per clip: the author's choice for a clip, the studio's loop region
given for its clip, the loudest window for the others; recorded in the test file and rendered."""
from PySide6.QtCore import Qt

from app.listening_test.excerpts import Excerpt, loudest_window
from app.listening_test.test_file import load_test
from app.playback.audio_output import ManualOutputStream
from listening_stimuli import noisy_copies
from synthetic_audio import write_burst_clip
from ui.listening_test_window import ListeningTestWindow


def test_the_author_chooses_an_excerpt_and_the_others_are_the_loudest(qtbot, tmp_path):
    clips = [write_burst_clip(tmp_path / f"{k}.wav", 14.0, 2.0 + k, 3.0) for k in range(3)]
    asked = []

    def provider(clip, excerpt):
        asked.append((clip, excerpt))
        return noisy_copies(clip, excerpt)

    window = ListeningTestWindow(lambda spec: provider, clips, stream_factory=ManualOutputStream,
                                 excerpts={clips[2]: Excerpt(1.5, 4.0)})  # as the studio gives its loop region
    qtbot.addWidget(window)
    window.ask_save_path = lambda: str(tmp_path / "test.json")
    window.clip_list.setCurrentRow(0)
    window.excerpt_loudest.setChecked(False)
    window.excerpt_start.setValue(6.5)
    window.excerpt_length.setValue(5.0)
    window.clip_list.setCurrentRow(2)
    assert (window.excerpt_loudest.isChecked(), window.excerpt_start.value()) == (False, 1.5)
    for i in range(3):
        window.clip_list.item(i).setCheckState(Qt.CheckState.Checked)
    window.listener_name.setText("ann")
    window.start_new()
    qtbot.waitUntil(lambda: window.session is not None, timeout=20000)
    expected = [Excerpt(6.5, 5.0), Excerpt(loudest_window(clips[1], 10.0), 10.0), Excerpt(1.5, 4.0)]
    assert [excerpt for _, excerpt in asked] == expected
    assert load_test(tmp_path / "test.json").excerpts == expected
    window.close()
