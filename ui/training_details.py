"""The run's details: its log, its latest validation, its preview on the studio's clip, its best model.

The preview itself (which model, when) is :class:`app.training.preview.RunPreview`; this module
only shows what it did and what the studio measured of both models on the clip.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QCheckBox, QGroupBox, QLabel, QPlainTextEdit, QPushButton, QTabWidget, QVBoxLayout,
                               QWidget)

from app.studio.session import StudioSession
from app.training.history import RunHistory
from app.training.preview import RunPreview
from app.training.run import TrainingRun
from app.training.run_texts import log_line, validation_rows
from app.training.summary import model_summary_text
from ui import theme
from ui.training_widgets import fill_table, named, number_table

LOG_LINES_KEPT = 5000


class RunDetails(QTabWidget):
    def __init__(self, session: StudioSession, run: TrainingRun) -> None:
        super().__init__()
        self.setObjectName("trainDetails")
        self.session, self.run = session, run
        self.preview = RunPreview(session)
        self.history = RunHistory()  # the shown run's, for the step its preview is of
        self.log = named(QPlainTextEdit(), "trainLog")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES_KEPT)
        self.log.setFont(QFont("monospace", 8))
        self.validation_table = number_table("trainValidationTable", ["n", "kbps", "mel", "STFT", "SI-SDR"])
        preview = QWidget()
        self.preview_box = named(QCheckBox("Render the studio's clip with the run's model at each validation"),
                                 "trainPreview")
        self.preview_box.setChecked(True)
        self.preview_status = named(QLabel(""), "trainPreviewStatus")
        self.preview_status.setWordWrap(True)
        self.preview_table = number_table("trainPreviewTable", ["n", "kbps", "base mel", "fine-tuned mel", "change"])
        layout = QVBoxLayout(preview)
        layout.addWidget(self.preview_box)
        layout.addWidget(self.preview_status)
        layout.addWidget(self.preview_table, 1)
        self.addTab(self.log, "Log")
        self.addTab(self.validation_table, "Validation")
        self.addTab(preview, "Preview on the studio's clip")

        run.logLine.connect(self.log.appendPlainText)
        run.runChanged.connect(lambda _folder: self.log.clear())
        self.preview_box.toggled.connect(self._preview_toggled)
        comparison = session.comparison
        comparison.ready.connect(self._on_preview_ready)
        comparison.failed.connect(lambda text: self.preview_status.setText(f"⚠ {text}"))
        session.qualityChanged.connect(self.show_preview_quality)

    def show_history(self, history: RunHistory) -> None:
        """The latest validation's table, and how the previewed model compares on the clip so far."""
        self.history = history
        fill_table(self.validation_table, validation_rows(history))
        if history.validations:
            self.validation_table.setToolTip(f"validation at step {history.validations[-1].step:,}")
        self.show_preview_quality()

    # -- preview ------------------------------------------------------------------------------
    def follow(self) -> None:
        """Preview the run's newest validated model, if the preview is on and there is one."""
        self._say_rendering(self.preview.follow(self.run.run_folder))

    def add_event(self, event: dict, live: bool) -> None:
        """Log an event of the run; a live one (not replayed from the run's log) may bring a model to hear."""
        text = log_line(event, self.run.run_folder)
        if text:
            self.log.appendPlainText(text)
        if live:
            self._say_rendering(self.preview.on_event(event, self.run.run_folder))

    def _validated_step(self) -> int | None:
        validations = self.history.validations
        return validations[-1].step if validations else None

    def _say_rendering(self, model: Path | None) -> None:
        if model is None:
            return
        step = self._validated_step()
        what = f"the model of step {step:,}" if step is not None else "the run's model"
        clip = self.session.clip
        self.preview_status.setText(f"Rendering {clip.path.name} with {what}…" if clip else
                                    f"Open a clip in the studio to hear {what} on it.")

    def _preview_toggled(self, on: bool) -> None:
        if on:
            self._say_rendering(self.preview.switch_on(self.run.run_folder))
        elif self.preview.switch_off():
            self.preview_status.setText("")
            self.preview_table.setRowCount(0)

    def _on_preview_ready(self) -> None:
        step = self._validated_step()
        of_step = f" (model of step {step:,})" if step is not None else ""
        self.preview_status.setText(f"Ready{of_step}: in the Studio tab, switch between Base and Fine-tuned; "
                                    "the codebook slider sets n for both.")
        self.show_preview_quality()

    def show_preview_quality(self) -> None:
        rows = self.preview.quality_rows()
        if rows is not None:
            fill_table(self.preview_table, rows)


class RunResult(QGroupBox):
    """The run's best model: its training summary, and the button that keeps it."""

    def __init__(self) -> None:
        super().__init__("Result")
        self.text = named(QLabel("The run's best model appears here after its first validation."), "trainResult")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setStyleSheet(f"color: {theme.MUTED};")
        self.use_button = named(QPushButton("Use this model"), "trainUseModel",
                                "Copy the run's best model to your models and add it to the model picker")
        self._shown: tuple[Path, int] | None = None  # (model file, mtime) the text describes
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(self.use_button)

    def show_model(self, model: Path | None) -> None:
        """Describe ``model`` (the run's best so far, or None before its first validation)."""
        self.use_button.setEnabled(model is not None)
        shown = (model, model.stat().st_mtime_ns) if model is not None else None
        if shown is not None and shown != self._shown:  # read the header only when the file changed
            self._shown = shown
            self.text.setText(model_summary_text(model) or f"{model}")
            self.text.setStyleSheet(f"color: {theme.TEXT}; font-family: monospace; font-size: 8pt;")
