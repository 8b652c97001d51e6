"""Regenerate docs/screenshots/listening_test_mushra.png and listening_test_results.png.

    .venv/bin/python scripts/listening_test_screenshot.py

Offscreen and mute. A MUSHRA test on the bundled model (2, 4 and 8 codebooks) over the demo
clips: the first trial part-way through being rated, then the results page. The results are
those of three *simulated* listeners whose scores follow each version's band-energy distance
from the original (24 log-spaced bands, mean absolute dB difference) plus seeded noise, so the
chart shows intervals of a realistic size; they are no measurement of perceived quality.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="rvq-listening-shot-"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["RVQ_STUDIO_NO_AUDIO"] = "1"
SIMULATED_LISTENERS = ("listener 1", "listener 2", "listener 3")


def band_levels(audio: np.ndarray, rate: int, frame: int = 2048, hop: int = 512) -> np.ndarray:
    """dB energy per frame in 24 log-spaced bands from 50 Hz, floored 60 dB under the loudest."""
    frames = np.lib.stride_tricks.sliding_window_view(audio.mean(axis=0), frame)[::hop] * np.hanning(frame)
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2
    frequencies = np.fft.rfftfreq(frame, 1 / rate)
    edges = np.geomspace(50, rate / 2, 25)
    energy = np.stack([power[:, (frequencies >= lo) & (frequencies < hi)].sum(axis=1)
                       for lo, hi in zip(edges[:-1], edges[1:])], axis=1)
    return 10 * np.log10(np.maximum(energy, energy.max() * 1e-6) + 1e-12)


def simulated_score(stimulus, original, rng: np.random.Generator) -> float:
    """A listener's score: 100 less 14 points per dB of band-energy distance, with a little noise."""
    distance = np.mean(np.abs(band_levels(stimulus.audio, stimulus.sample_rate) -
                              band_levels(original.audio, original.sample_rate)))
    if distance == 0:
        return 100.0
    return float(np.clip(round(100 - 14 * distance + rng.normal(0, 6)), 0, 99))


def main() -> None:
    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from app.listening_test.model_provider import ModelStimulusProvider
    from app.listening_test.session import ListenerSession
    from app.studio.model_catalog import demo_clips
    from ui import theme
    from ui.listening_test_window import ListeningTestWindow

    app = QApplication.instance() or QApplication([])
    theme.apply(app)
    clips = [str(p) for p in demo_clips()]
    window = ListeningTestWindow(lambda spec: ModelStimulusProvider.from_spec("default", spec), clips,
                                 default_spec="2, 4, 8", seed_source=lambda: 1534)
    window.resize(1000, 620)
    window.show()
    path = WORK / "test.json"
    window.ask_save_path = lambda: str(path)
    for i in range(window.clip_list.count()):
        window.clip_list.item(i).setCheckState(Qt.CheckState.Checked)  # every demo clip
    window.listener_name.setText(SIMULATED_LISTENERS[0])
    window.start_new()
    loop = QEventLoop()
    poll = QTimer(interval=100)
    poll.timeout.connect(lambda: loop.quit() if window.pages.currentWidget() is window.mushra_page else None)
    poll.start()
    loop.exec()
    poll.stop()

    rng = np.random.default_rng(1534)
    session = window.session
    stimuli = window.prepared[session.clip]
    for letter in session.letters()[:4]:  # part-way through the first trial
        window.sliders[letter].setValue(int(simulated_score(stimuli[session.stimulus_for(letter)],
                                                            stimuli["original"], rng)))
    window.letter_buttons[2].setChecked(True)
    app.processEvents()
    shots = ROOT / "docs" / "screenshots"
    window.grab().save(str(shots / "listening_test_mushra.png"))

    for name in SIMULATED_LISTENERS:
        listener = session if name == SIMULATED_LISTENERS[0] else ListenerSession(session.test, name, path)
        while not listener.finished:
            stimuli = window.prepared[listener.clip]
            scores = {letter: simulated_score(stimuli[listener.stimulus_for(letter)], stimuli["original"], rng)
                      for letter in listener.letters()}
            listener.submit_mushra(scores)
    window.show_results()
    app.processEvents()
    window.grab().save(str(shots / "listening_test_results.png"))
    window.close()
    print(f"wrote {shots / 'listening_test_mushra.png'} and {shots / 'listening_test_results.png'}")


if __name__ == "__main__":
    main()
