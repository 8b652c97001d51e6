"""The Live tab: an input device monitored through the codec, at the studio's n and A/B.

The panel only shows and asks: :class:`app.live.live_session.LiveSession` owns the monitor and
its threads. While live, a timer pulls the monitor's status, both level meters and the two
rolling spectrograms (the input as it went into the codec, and its reconstruction, aligned).
The status line gives the latency (the codec's own plus the buffers) and the load (the share
of real time the codec thread works); when the codec cannot keep up the panel says that the
input is passed through instead, and counts the dropouts. A device that stops mid-session is
noticed on the same timer and said once (here and in the window's message bar): a lost input
ends the session with its recording ready to save, a lost output leaves it running unheard.
Once stopped, the figures line keeps the session's totals only (dropouts, seconds recorded),
read after the last block was coded: the same figures the stop message gives.
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (QComboBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout,
                               QWidget)

from app.live.live_session import LiveSession, LiveStatus
from app.studio.spectrogram import hz_to_axis
from ui import theme
from ui.column_image import ColumnImage
from ui.level_meter import LevelMeter

REFRESH_MS = 40
LEVELS_DB = (-100.0, 0.0)
DEFAULT_DEVICE = "Default input"
TICKS_HZ = ((100, "100"), (1000, "1k"), (10000, "10k"))


class LivePanel(QWidget):
    def __init__(self, live: LiveSession) -> None:
        super().__init__()
        self.setObjectName("livePanel")
        self.live = live
        self.device_box = QComboBox()
        self.device_box.setObjectName("liveDevice")
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("liveStart")
        self.start_button.setCheckable(True)
        self.save_button = QPushButton("Save recording…")
        self.save_button.setObjectName("liveSave")
        self.save_button.setEnabled(False)
        self.state_label = QLabel("Stopped")
        self.state_label.setObjectName("liveState")
        self.state_label.setWordWrap(True)
        self.figures_label = QLabel("")
        self.figures_label.setObjectName("liveFigures")
        self.figures_label.setWordWrap(True)
        self.figures_label.setStyleSheet(f"color: {theme.MUTED};")
        self.input_meter, self.output_meter = LevelMeter(1), LevelMeter(2)
        self.spectrograms = {key: ColumnImage(theme.SPECTROGRAM_MAP) for key in ("input", "reconstruction")}

        controls = QHBoxLayout()
        controls.addLayout(theme.control_row("Input", self.device_box), 1)
        controls.addWidget(self.start_button)
        controls.addWidget(self.save_button)
        meters = QGridLayout()
        for row, (caption, meter) in enumerate((("In", self.input_meter), ("Out", self.output_meter))):
            meters.addWidget(QLabel(caption), row, 0)
            meters.addWidget(meter, row, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.state_label)
        layout.addWidget(self.figures_label)
        layout.addLayout(meters)
        self.plots = {}
        for key, title in (("input", "Input"), ("reconstruction", "Reconstruction")):
            plot = theme.panel_plot(f"live_{key}", "seconds ago", title)
            plot.getPlotItem().setMouseEnabled(False, False)
            plot.addItem(self.spectrograms[key])
            layout.addWidget(plot, 1)
            self.plots[key] = plot

        self.timer = QTimer(self)
        self.timer.setObjectName("liveTimer")
        self.timer.timeout.connect(self.refresh)
        self.start_button.toggled.connect(self._toggled)
        self.save_button.clicked.connect(self.save_recording)
        live.started.connect(self._started)
        live.failed.connect(self._failed)
        self.fill_devices()

    def fill_devices(self) -> None:
        devices = self.live.devices()
        self.device_box.clear()
        self.device_box.addItems([DEFAULT_DEVICE, *devices] if devices else [])
        if not devices:
            self.device_box.setPlaceholderText("no input device")

    def _toggled(self, on: bool) -> None:
        if on:
            device = self.device_box.currentText()
            self.state_label.setText("Starting…")
            self.live.start(None if device in (DEFAULT_DEVICE, "") else device)
        else:
            self.live.stop()
            self._show_stopped()

    def _show_stopped(self) -> None:
        """The session ended (Stop, or its input device stopped): the timer stops, the recording can be saved."""
        self.timer.stop()
        self._release_start_button()
        self.refresh()
        self.start_button.setText("Start")
        self.save_button.setEnabled(self.live.status().seconds > 0)

    def _release_start_button(self) -> None:
        self.start_button.blockSignals(True)
        self.start_button.setChecked(False)
        self.start_button.blockSignals(False)

    def _started(self) -> None:
        self.start_button.setText("Stop")
        self.save_button.setEnabled(False)
        self.timer.start(REFRESH_MS)

    def _failed(self, reason: str) -> None:
        self._release_start_button()
        self.state_label.setText(reason)
        self.state_label.setStyleSheet(f"color: {theme.RESIDUAL};")
        status = self.live.status()  # a start that opened no input began a new, empty recording
        self._show_figures(status)
        self.save_button.setEnabled(status.seconds > 0)

    def refresh(self) -> None:
        """Status, meters and spectrograms from the monitor (the timer, while live)."""
        if self.live.check_devices() and not self.live.running:
            self._show_stopped()  # the input device stopped: the session ended
            return
        status = self.live.status()
        monitor = self.live.monitor
        self._show_figures(status)
        if status.state == "stopped":
            said = status.reason and f"{status.reason[:1].upper()}{status.reason[1:]}."
            self.state_label.setText(said or "Stopped")
            self.state_label.setStyleSheet(f"color: {theme.RESIDUAL};" if said else "")
            return
        words = {"starting": "Starting: filling the buffers", "codec": f"Live through the codec at n = {status.n}",
                 "pass-through": status.reason}
        unheard = monitor.output_reason  # no output device, or it stopped: said as a sentence of its own
        self.state_label.setText(words[status.state] + (f". {unheard[:1].upper()}{unheard[1:]}." if unheard else ""))
        self.state_label.setStyleSheet(f"color: {theme.RESIDUAL};" if status.state == "pass-through" else "")
        self.input_meter.set_levels(*monitor.input_levels.take())
        self.output_meter.set_levels(*monitor.output_levels.take())
        for key, image in self.spectrograms.items():
            rolling = monitor.spectrograms[key]
            db = rolling.image()
            image.set_values(db.T, levels=LEVELS_DB)
            image.setRect(-rolling.seconds, 0, rolling.seconds, 1)
            self._label_frequencies(self.plots[key], rolling.sample_rate / 2)

    def _show_figures(self, status: LiveStatus) -> None:
        """The figures line: latency, load and priority while live; the session's totals, live or
        stopped (none before a session recorded anything)."""
        live = status.state != "stopped"
        figures = [f"latency {1000 * (status.algorithmic_latency + status.buffer_latency):.0f} ms "
                   f"(codec {1000 * status.algorithmic_latency:.0f} + buffers {1000 * status.buffer_latency:.0f})",
                   f"load {status.load:.0%}"] if live else []
        if live and status.priority:
            figures.append(status.priority.split(":")[0])
        if live or status.seconds or status.recording_error:
            figures += [f"dropouts {status.dropouts}", f"recorded {status.seconds:.1f} s"]
        if status.lost_input:
            figures.append(f"input lost {status.lost_input / self.live.monitor.sample_rate:.1f} s "
                           "(the codec was a whole ring behind)")
        if status.recording_error:
            figures.append(status.recording_error)
        self.figures_label.setText(" · ".join(figures))
        self.figures_label.setToolTip(f"The codec thread runs at {status.priority}" if live and status.priority else "")

    @staticmethod
    def _label_frequencies(plot: pg.PlotWidget, max_hz: float) -> None:
        """Ticks in Hz on the log axis the rolling spectrograms' rows are spaced on."""
        ticks = [(float(hz_to_axis(hz, "log", max_hz)), label) for hz, label in TICKS_HZ if hz < max_hz]
        plot.getPlotItem().getAxis("left").setTicks([ticks])
        plot.getPlotItem().setYRange(0, 1, padding=0)

    def save_recording(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the live recording", "live.wav", "WAV (*.wav)")
        if not path:
            return
        try:
            wav, rvq = self.live.save(path)
        except (ValueError, OSError) as exc:  # a full disk, an unwritable folder: said in one line
            self.state_label.setText(f"Not saved: {exc}")
            self.state_label.setStyleSheet(f"color: {theme.RESIDUAL};")
            return
        self.state_label.setText(f"Saved {wav.name} and {rvq.name}")

    def shutdown(self) -> None:
        """Stop the timer and the live input's threads (idempotent)."""
        self.timer.stop()
        self.live.close()
