"""The Live tab in the studio window: a file fed as the input device, the studio's n and A/B
followed while running, the recording saved, the threads gone after Stop and after close."""
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from x_display import x_display  # noqa: F401 (the fixture)

from app.playback import audio_output
from app.playback.audio_output import SilentClockStream
from model.audio_io import read_audio
from model.rvq_format import read_rvq

SCRIPT = Path(__file__).parents[2] / "scripts" / "live_screenshot.py"
WINDOW_TIMEOUT_S = 600
LIVE_THREADS = ("live-codec", "simulated-input", "live-start")  # and the output's clock, checked on its stream


def _live_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name in LIVE_THREADS]


@pytest.mark.slow
def test_live_tab_follows_n_and_ab_while_running_and_stops_cleanly(qtbot, monkeypatch, studio, music_path, tmp_path):
    monkeypatch.setattr(audio_output, "open_device_stream", SilentClockStream)  # a clock, no device
    qtbot.waitUntil(lambda: studio.session.model is not None, timeout=60_000)
    panel = studio.live
    studio.tabs.setCurrentWidget(panel)

    monkeypatch.setenv("RVQ_STUDIO_NO_AUDIO", "1")  # no input device: the tab says why
    panel.start_button.click()
    qtbot.waitUntil(lambda: "no live input" in panel.state_label.text(), timeout=60_000)
    assert not panel.start_button.isChecked() and not panel.live.running

    monkeypatch.setenv("RVQ_STUDIO_SIMULATED_INPUT", str(music_path))
    panel.fill_devices()
    assert panel.device_box.findText("file: music.wav") >= 0
    panel.start_button.click()
    qtbot.waitUntil(lambda: panel.live.status().state == "codec", timeout=60_000)
    monitor = panel.live.monitor
    studio.session.set_n(2)
    qtbot.waitUntil(lambda: monitor.status().n == 2, timeout=10_000)
    studio.session.set_source("residual")
    assert monitor.source == "residual"
    studio.session.set_source("original")
    qtbot.waitUntil(lambda: monitor.status().seconds > 0.5, timeout=30_000)
    qtbot.wait(200)  # the panel's timer draws
    assert "latency" in panel.figures_label.text() and "load" in panel.figures_label.text()
    assert monitor.status().priority.split(":")[0] in panel.figures_label.text()  # real-time, raised or normal
    assert np.isfinite(panel.spectrograms["reconstruction"].values).all()

    panel.start_button.click()  # Stop
    assert not panel.live.running and _live_threads() == [] and monitor._output._thread is None
    assert panel.save_button.isEnabled()
    wav, rvq = panel.live.save(tmp_path / "live.wav")
    recorded = read_audio(wav).samples[0]
    codes, meta = read_rvq(rvq)
    assert meta.length == recorded.shape[0] and codes.shape[1] == studio.session.model.n_codebooks

    panel.start_button.click()  # live again, then the window closes under it
    qtbot.waitUntil(lambda: panel.live.running, timeout=30_000)
    studio.shutdown()
    assert not panel.live.running and _live_threads() == [] and not panel.timer.isActive()
    assert monitor._output._thread is None


@pytest.mark.slow
def test_the_live_tab_runs_on_an_x_server(tmp_path, x_display, music_path):
    """The screenshot script's session (simulated input, silent output) under Qt's xcb platform."""
    out = tmp_path / "live.png"
    env = {"QT_QPA_PLATFORM": "xcb", "DISPLAY": x_display, "RVQ_STUDIO_NO_AUDIO": "1", "OMP_NUM_THREADS": "1",
           "RVQ_STUDIO_SIMULATED_INPUT": str(music_path), "RVQ_STUDIO_SETTINGS": str(tmp_path / "settings.ini"),
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(SCRIPT.parents[1])}
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--seconds", "2"],
                          env=env, capture_output=True, text=True, timeout=WINDOW_TIMEOUT_S, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "platform plugin" not in done.stderr, done.stderr[-2000:]
    assert out.stat().st_size > 10_000
