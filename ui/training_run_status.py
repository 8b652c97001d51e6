"""The run's controls (Start, Pause/Resume, Stop) and its status line (state, phase, step, progress, pace).

Both show the state of :class:`app.training.run.TrainingRun` and nothing else: the buttons
ask, the run decides.  Pause and Resume share a button, as they never both make sense.  While
a running process is not stepping (starting, validating) the status says which and its
progress bar is busy rather than still.
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from app.training.history import TRAINING, RunHistory
from app.training.run import ACTIVE, FAILED, FINISHED, IDLE, PAUSED, PAUSING, RUNNING, STOPPED, STOPPING
from app.training.run_texts import pace_text, phase_text, step_text
from ui import theme
from ui.training_widgets import named

STATE_TEXT = {IDLE: ("No run", theme.MUTED), RUNNING: ("Running", theme.ACCENT),
              PAUSING: ("Pausing: finishing the step, saving a checkpoint…", theme.PLAYHEAD),
              STOPPING: ("Stopping: finishing the step, saving a checkpoint…", theme.PLAYHEAD),
              PAUSED: ("Paused", theme.PLAYHEAD), STOPPED: ("Stopped", theme.MUTED),
              FINISHED: ("Finished", theme.ORIGINAL), FAILED: ("Failed", theme.RESIDUAL)}
PAUSE_TEXT, RESUME_TEXT = "❚❚  Pause", "▶  Resume"


def _row(widget: QWidget) -> QHBoxLayout:
    layout = QHBoxLayout(widget)
    layout.setContentsMargins(0, 0, 0, 0)
    return layout


class RunControls(QWidget):
    startRequested = Signal()
    pauseRequested = Signal()
    resumeRequested = Signal()
    stopRequested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._state = IDLE
        self.start_button = named(QPushButton("▶  Start"), "trainStart", "Start a new run with this setup")
        self.pause_button = named(QPushButton(PAUSE_TEXT), "trainPause",
                                  "Pause: save a checkpoint and stop; Resume continues exactly from it")
        self.stop_button = named(QPushButton("■  Stop"), "trainStop",
                                 "Save a checkpoint and end the run (press again to end at once)")
        self.start_button.setStyleSheet(f"QPushButton:enabled {{ background: {theme.ACCENT}; color: #0b0c0e; "
                                        "font-weight: bold; }")
        layout = _row(self)
        for button in (self.start_button, self.pause_button, self.stop_button):
            button.setMinimumHeight(30)
            layout.addWidget(button)
        self.start_button.clicked.connect(self.startRequested)
        self.pause_button.clicked.connect(self._pause_or_resume)
        self.stop_button.clicked.connect(self.stopRequested)

    def show_state(self, state: str, resumable: bool) -> None:
        """Offer what ``state`` allows; Resume when the run has ended and can be continued."""
        self._state = state
        active = state in ACTIVE
        self.start_button.setEnabled(not active)
        self.pause_button.setEnabled(state == RUNNING or (not active and resumable))
        self.pause_button.setText(PAUSE_TEXT if active or not resumable else RESUME_TEXT)
        self.stop_button.setEnabled(state in (RUNNING, PAUSING, STOPPING))
        self.stop_button.setText("■  Stop now" if state == STOPPING else "■  Stop")

    def _pause_or_resume(self) -> None:
        (self.pauseRequested if self._state == RUNNING else self.resumeRequested).emit()


class RunStatus(QWidget):
    """● state  ·  phase  ·  step n / total  [progress]  pace, ETA and best validation so far."""

    def __init__(self) -> None:
        super().__init__()
        self.state_label = named(QLabel(""), "trainState")
        self.phase_label = named(QLabel(""), "trainPhase")
        self.phase_label.setStyleSheet(f"color: {theme.PLAYHEAD};")
        self.step_label = QLabel("")
        self.step_label.setStyleSheet("font-family: monospace;")
        self.progress = named(QProgressBar(), "trainProgress")
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.rate_label = named(QLabel(""), "trainRate")
        self.rate_label.setStyleSheet(f"color: {theme.MUTED};")
        layout = _row(self)
        layout.addWidget(self.state_label)
        layout.addWidget(self.phase_label)
        layout.addWidget(self.step_label)
        layout.addWidget(self.progress, 1)
        layout.addWidget(self.rate_label)

    def show_state(self, state: str) -> None:
        text, colour = STATE_TEXT[state]
        self.state_label.setText(f"<span style='color:{colour}'>●</span> {text}")

    def show_progress(self, history: RunHistory, state: str) -> None:
        total = history.total_steps or 0
        running = state == RUNNING
        self.phase_label.setText(phase_text(history) if running else "")
        self.step_label.setText(step_text(history))
        if running and history.phase != TRAINING:
            self.progress.setRange(0, 0)  # busy: no step moves the bar now
        else:
            self.progress.setRange(0, max(1, total))
            self.progress.setValue(min(history.step, max(1, total)))
        self.rate_label.setText(pace_text(history, state in ACTIVE))
