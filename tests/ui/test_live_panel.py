"""The Live tab in the studio window: a file fed as the input device, the studio's n and A/B
followed while running, the recording saved, the threads gone after Stop and after close; a
device that stops mid-session said once, the tab ending (input) or going on unheard (output)."""
import subprocess
import sys
import threading
from pathlib import Path

from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QObject, Signal
from tiny_codecs import tiny_network
from x_display import x_display  # noqa: F401 (the fixture)

from app.live.input_device import SimulatedInputStream
from app.live.live_session import LiveSession
from app.live.monitor import LiveMonitor
from app.playback import audio_output
from app.playback.audio_output import ManualOutputStream, SilentClockStream
from model.codec import Codec
from ui.live_panel import LivePanel
from model.audio_io import read_audio
from model.rvq_format import read_rvq

SCRIPT = Path(__file__).parents[2] / "scripts" / "live_screenshot.py"
WINDOW_TIMEOUT_S = 600
LIVE_THREADS = ("live-codec", "simulated-input", "live-start")  # and the output's clock, checked on its stream


def _live_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name in LIVE_THREADS]


class _Studio(QObject):
    """What the live session reads of the studio: its model's source, n, A/B and player."""

    selectionChanged = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.model, self.n, self.source = SimpleNamespace(source="tiny"), 2, "reconstruction"
        self.player = SimpleNamespace(pause=lambda: None)


def _live_tab(qtbot, x: np.ndarray, codec: Codec, output=ManualOutputStream) -> tuple[LivePanel, list[str]]:
    """A Live tab on a tiny codec, started on ``x`` fed once at four times real time, playing to
    ``output``; and what it said."""
    def feeding(rate, channels, block, callback, device=None):
        return SimulatedInputStream(x[:, None], rate, block, callback, speed=4.0)

    live = LiveSession(_Studio(), LiveMonitor(feeding, output, raise_priority=False))
    live._codecs = {"tiny": codec}  # no model to load
    panel = LivePanel(live)
    qtbot.addWidget(panel)
    said = []
    live.deviceStopped.connect(said.append)
    panel.start_button.click()
    qtbot.waitUntil(lambda: panel.timer.isActive() or "no live input" in panel.state_label.text(), timeout=60_000)
    assert live.running
    return panel, said


def _tiny_input(seconds: float) -> tuple[np.ndarray, Codec]:
    codec = Codec(tiny_network("dac"), name="tiny", family="dac", config={})
    noise = 0.1 * np.random.default_rng(8).standard_normal(int(seconds * codec.sample_rate))
    return noise.astype(np.float32), codec


def test_an_input_device_that_stops_ends_the_live_tab_keeping_the_recording(qtbot, tmp_path):
    x, codec = _tiny_input(0.6)
    panel, said = _live_tab(qtbot, x, codec, SilentClockStream)  # an output that plays on however long it takes
    qtbot.waitUntil(lambda: bool(said), timeout=60_000)  # the file ran out, as an unplugged device's input does
    assert said[0].startswith("the input device stopped (unplugged, or taken by another program)")
    assert panel.state_label.text() == f"{said[0][:1].upper()}{said[0][1:]}."
    recorded = f"{x.shape[0] / codec.sample_rate:.1f} s"  # all the input, coded to its last block
    assert f"the {recorded} recorded are kept" in said[0]
    assert panel.figures_label.text() == f"dropouts {panel.live.status().dropouts} · recorded {recorded}"
    assert not panel.start_button.isChecked() and panel.start_button.text() == "Start"
    assert not panel.timer.isActive() and not panel.live.running and _live_threads() == []
    assert panel.save_button.isEnabled()
    wav, _ = panel.live.save(tmp_path / "live.wav")
    assert np.array_equal(read_audio(wav).samples[0], x)
    assert len(said) == 1


def test_an_output_device_that_stops_leaves_the_live_tab_running_unheard(qtbot):
    x, codec = _tiny_input(30.0)
    panel, said = _live_tab(qtbot, x, codec)
    panel.live.monitor._output.active = False  # as PortAudio leaves a stream whose device went away
    qtbot.waitUntil(lambda: bool(said), timeout=10_000)
    qtbot.wait(2 * panel.timer.interval())
    assert said == [panel.live.monitor.output_reason] and "the output device stopped" in said[0]
    assert panel.live.running and panel.start_button.isChecked() and panel.state_label.text().endswith(
        f". {said[0][:1].upper()}{said[0][1:]}.")
    assert panel.figures_label.text().startswith("latency ")
    panel.start_button.click()  # Stop
    assert not panel.live.running and _live_threads() == [] and not panel.timer.isActive()
    status = panel.live.status()  # the recording's final length, after its last block was coded
    assert panel.state_label.text() == "Stopped"
    assert panel.figures_label.text() == f"dropouts {status.dropouts} · recorded {status.seconds:.1f} s"


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

    panel.start_button.click()  # live again, until the input device goes away
    qtbot.waitUntil(lambda: panel.live.running and monitor._input.active, timeout=30_000)  # its stream started
    monitor._input.stop()  # its stream inactive, as an unplugged device's
    qtbot.waitUntil(lambda: not panel.live.running, timeout=10_000)
    assert studio.messages.text().startswith("Live: the input device stopped") and studio.messages.level == "warning"
    assert not panel.start_button.isChecked() and panel.save_button.isEnabled() and _live_threads() == []

    panel.start_button.click()  # Start tries it again, then the window closes under it
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
