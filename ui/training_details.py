"""The run's details: its log, its latest validation, its preview on the studio's clip, the model to keep.

The preview itself (which model, when) is :class:`app.training.preview.RunPreview`; this module
only shows what it did and what the studio measured of both models on the clip.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QCheckBox, QGroupBox, QLabel, QPlainTextEdit, QPushButton, QRadioButton, QTabWidget,
                               QVBoxLayout, QWidget)

from app.studio.session import StudioSession
from app.training.history import RunHistory
from app.training.preview import RunPreview
from app.training.run import TrainingRun
from app.training.run_models import BEST, LATEST, RunModel, keep_note, model_label
from app.training.run_texts import log_line, validation_rows
from app.training.summary import model_summary_text
from ui import theme
from ui.training_widgets import fill_table, named, number_table

LOG_LINES_KEPT = 5000
NO_MODEL_TEXT = "The run's models appear here after its first validation."


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
        self.model_summary = named(QPlainTextEdit(), "trainResultSummary")
        self.model_summary.setReadOnly(True)
        self.model_summary.setFont(QFont("monospace", 8))
        self.addTab(self.log, "Log")
        self.addTab(self.validation_table, "Validation")
        self.addTab(preview, "Preview on the studio's clip")
        self.addTab(self.model_summary, "Chosen model")

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

    def show_chosen_model(self, model: RunModel | None) -> None:
        """The training summary of the model "Use this model" would keep."""
        text = model_summary_text(model.path) if model is not None else ""
        self.model_summary.setPlainText(text or "No model chosen yet: the run's models appear at its first validation.")

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
    """Which of the run's models to keep -- the best by validation or the latest -- and the button that keeps it.

    The choice is offered only when the two differ; a note says when the best is the model the
    run started from (:func:`app.training.run_models.keep_note`).  The chosen model's training
    summary is long (a row per codebook count), so it is shown in the details beside, not here."""

    chosenChanged = Signal(object)  # the chosen RunModel, or None

    def __init__(self) -> None:
        super().__init__("Result")
        self.text = named(QLabel(NO_MODEL_TEXT), "trainResult")
        self.text.setWordWrap(True)
        self.text.setStyleSheet(f"color: {theme.MUTED};")
        self.note = named(QLabel(""), "trainKeepNote")
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color: {theme.PLAYHEAD};")
        self.choices = {BEST: named(QRadioButton(""), "trainKeepBest", "Keep model.safetensors: the model of the "
                                    "run's best validation"),
                        LATEST: named(QRadioButton(""), "trainKeepLatest", "Keep latest.safetensors: the model of "
                                      "the run's latest validation, better or not (what the preview plays)")}
        self.use_button = named(QPushButton("Use this model"), "trainUseModel",
                                "Copy the chosen model to your models and add it to the model picker")
        self._models: dict[str, RunModel] = {}
        self._kind = BEST
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(self.note)
        for kind, button in self.choices.items():
            layout.addWidget(button)
            button.toggled.connect(lambda on, k=kind: on and self._choose(k))
        layout.addWidget(self.use_button)
        self.clear()

    def clear(self) -> None:
        """Nothing to keep (a new run, before its first validation)."""
        self.show_models({})

    def show_models(self, models: dict[str, RunModel]) -> None:
        """Offer the run's models (:func:`app.training.run_models.run_models`); the user's choice stays while it exists."""
        before = self.chosen()
        self._models = models
        self._show(before)

    def _show(self, before: RunModel | None) -> None:
        """Show the offered models and the choice; tell when the chosen model is another than ``before``."""
        models = self._models
        if self._kind not in models:
            self._kind = BEST
        both = len(models) > 1
        for kind, button in self.choices.items():
            button.setVisible(both)
            if kind in models:
                button.setText(model_label(models[kind]))
                button.blockSignals(True)
                button.setChecked(kind == self._kind)
                button.blockSignals(False)
        chosen = self.chosen()
        self.text.setText(NO_MODEL_TEXT if chosen is None else model_label(chosen))
        self.text.setVisible(not both)  # the choice names both models
        self.text.setStyleSheet(f"color: {theme.MUTED if chosen is None else theme.TEXT};")
        note = keep_note(models)
        self.note.setText(note)
        self.note.setVisible(bool(note))
        self.use_button.setEnabled(chosen is not None)
        if chosen != before:
            self.chosenChanged.emit(chosen)

    def chosen(self) -> RunModel | None:
        return self._models.get(self._kind)

    def _choose(self, kind: str) -> None:
        before = self.chosen()
        self._kind = kind
        self._show(before)
