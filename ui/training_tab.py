"""The training tab: fine-tune on your own recordings and hear the result against the base model.

Composition and wiring only.  Its parts: the data section (:mod:`ui.training_data_panel`), the
setup form that makes the run's request (:mod:`ui.training_setup`), the run's controls and
status line (:mod:`ui.training_run_status`), its curves (:mod:`ui.training_charts`) and its
details -- log, validation, preview on the studio's clip, best model
(:mod:`ui.training_details`).  The run is :class:`app.training.run.TrainingRun` (a separate
``rvq-studio train`` process), the curves :class:`app.training.history.RunHistory`, the
preview's policy :class:`app.training.preview.RunPreview`.

The last run shown is remembered in the settings; a reopened studio shows it again,
following its process if it still runs, or offering to resume it.  So are the folder of
recordings and the setup (:class:`ui.training_setup.TrainingSetupForm` keeps its own).

Events can arrive faster than it is worth redrawing (a small model reports many steps a
second), so they only update the history, and the views are redrawn from it at most every
:data:`REDRAW_MS`.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QMessageBox, QScrollArea, QVBoxLayout, QWidget

from app.studio.session import StudioSession
from app.studio.settings import StudioSettings
from app.training.data_scan import DataSummary
from app.training.history import RunHistory
from app.training.run import ACTIVE, FAILED, FINISHED, PAUSED, RESUMABLE, STOPPED, TrainingRun
from app.training.run_models import model_label, run_models
from app.training.user_models import KeepModelError, keep_model
from ui import theme
from ui.message_bar import MessageBar
from ui.training_charts import TrainingCharts
from ui.training_data_panel import DataPanel
from ui.training_details import RunDetails, RunResult
from ui.training_run_status import RunControls, RunStatus
from ui.training_setup import TrainingSetupForm

SETTINGS_RUN_KEY = "training/run"
SETTINGS_DATA_KEY = "training/data"  # the folder of recordings last chosen, chosen again at the next launch
REDRAW_MS = 250
LEFT_COLUMN_PX = 420
GROUP_STYLE = f"""
QGroupBox {{ border: 1px solid #2e3035; border-radius: 4px; margin-top: 16px; padding: 6px 4px 4px 4px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {theme.MUTED}; font-weight: bold; }}
"""


class TrainingTab(QWidget):
    modelKept = Signal(str)  # a model copied to the user's models folder (for the model picker)

    def __init__(self, session: StudioSession, settings: StudioSettings) -> None:
        super().__init__()
        self.setObjectName("trainingTab")
        self.setAcceptDrops(True)
        self.setStyleSheet(GROUP_STYLE)
        self.session, self.settings = session, settings
        self.run = TrainingRun()
        self.history = RunHistory()
        self.close_choice = "stop"  # what closing the window does to a run in progress
        self._shut_down = False
        self._replaying = False
        self._redraw = QTimer(self)
        self._redraw.setObjectName("trainingRedraw")
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(REDRAW_MS)
        self._redraw.timeout.connect(self._refresh)

        self.messages = MessageBar()
        self.data_panel = DataPanel()
        self.setup = TrainingSetupForm(session, settings)
        self.controls = RunControls()
        self.result = RunResult()
        self.status = RunStatus()
        self.charts = TrainingCharts()
        self.details = RunDetails(session, self.run)
        self._lay_out()
        self._connect()
        self._show_state(self.run.state)
        self._reattach()
        data = self.settings.value(SETTINGS_DATA_KEY, "")
        if data and Path(data).is_dir() and not self.data_panel.folder():
            self.data_panel.set_folder(data)

    def _lay_out(self) -> None:
        """Data and setup scroll in the left column when the window is short; the run's controls
        and its result stay pinned below them, so Start and "Use this model" are always in view."""
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 4, 0)
        for widget in (self.data_panel, self.setup):
            left_layout.addWidget(widget)
        left_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        # as wide as the column's content needs *plus* the scroll bar, so a scroll bar that
        # appears (a short window) takes room of its own instead of covering the content
        content = max(LEFT_COLUMN_PX, left.minimumSizeHint().width())
        scroll.setFixedWidth(content + scroll.verticalScrollBar().sizeHint().width())
        below = QWidget()
        below.setFixedWidth(scroll.width())
        below_layout = QVBoxLayout(below)
        below_layout.setContentsMargins(left_layout.contentsMargins())
        below_layout.addWidget(self.controls)
        below_layout.addWidget(self.result)
        pinned = QVBoxLayout()
        pinned.addWidget(scroll, 1)
        pinned.addWidget(below)

        right = QVBoxLayout()
        right.addWidget(self.status)
        right.addWidget(self.charts, 3)
        right.addWidget(self.details, 2)
        body = QHBoxLayout()
        body.addLayout(pinned)
        body.addLayout(right, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 6)
        layout.addWidget(self.messages)
        layout.addLayout(body, 1)

    def _connect(self) -> None:
        self.data_panel.scanned.connect(self._show_data)
        self.data_panel.folderChosen.connect(lambda folder: self.settings.set_value(SETTINGS_DATA_KEY, folder))
        self.setup.changed.connect(self._show_data)
        self.setup.problem.connect(lambda text: self.messages.show_message("error", text))
        self.controls.startRequested.connect(self.start)
        self.controls.pauseRequested.connect(self.run.pause)
        self.controls.resumeRequested.connect(self.resume)
        self.controls.stopRequested.connect(self.run.stop)
        self.result.use_button.clicked.connect(self.use_model)
        self.result.chosenChanged.connect(self.details.show_chosen_model)
        self.run.stateChanged.connect(self._show_state)
        self.run.eventReceived.connect(self._on_event)
        self.run.runChanged.connect(self._on_run_changed)
        self.session.comparison.progress.connect(self._schedule_refresh)

    # -- data ---------------------------------------------------------------------------------
    @property
    def data(self) -> DataSummary | None:
        """The chosen folder's scan summary (None until it is scanned)."""
        return self.data_panel.data

    def _show_data(self) -> None:
        self.data_panel.show_for(self.setup.recipe())

    def dragEnterEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile() and Path(urls[0].toLocalFile()).is_dir():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        self.data_panel.set_folder(event.mimeData().urls()[0].toLocalFile())
        event.acceptProposedAction()

    # -- the run ------------------------------------------------------------------------------
    def start(self) -> None:
        try:
            request = self.setup.request(self.data_panel.folder())
            if self.data is not None and self.data.problem:
                raise ValueError(self.data.problem)
            self.details.preview.end()
            self.setup.estimate.cancel()
            self.run.start(request)
        except (ValueError, OSError) as exc:
            self.messages.show_message("error", str(exc))
            return
        self.settings.set_value(SETTINGS_RUN_KEY, str(self.run.run_folder))
        self.messages.dismiss()

    def resume(self) -> None:
        setup = self.setup
        try:
            self.run.resume(setup.device_box.currentText(), setup.threads, setup.workers, setup.steps_box.value())
        except (ValueError, OSError) as exc:
            self.messages.show_message("error", str(exc))
            return
        self.history.launched()
        self._refresh()
        self.messages.dismiss()

    def _reattach(self) -> None:
        folder = self.settings.value(SETTINGS_RUN_KEY, "")
        if not folder or not Path(folder).is_dir():
            return
        self._replaying = True
        try:
            self.run.attach(folder)
        finally:
            self._replaying = False
        self._refresh()
        step = self.history.step
        if self.run.active:
            self.messages.show_message("info", f"Following the training run in {folder} (step {step:,}).")
        elif self.run.state in RESUMABLE and self.run.state != FINISHED:
            self.messages.show_message("info", f"The training run in {folder} stopped at step {step:,}: "
                                       "Resume continues it from its last checkpoint.")
        self.details.follow()

    def _on_run_changed(self, _folder: str) -> None:
        self.history = RunHistory()
        self.result.clear()
        self._refresh()

    def _on_event(self, event: dict) -> None:
        self.history.ingest(event)
        self.details.add_event(event, live=not self._replaying)
        if event.get("event") == "start" and event.get("total_steps"):
            self.setup.show_run_length(int(event["total_steps"]))
        if not self._replaying:
            self._schedule_refresh()

    def _schedule_refresh(self) -> None:
        if not self._redraw.isActive():
            self._redraw.start()

    def _show_state(self, state: str) -> None:
        active = state in ACTIVE
        self.status.show_state(state)
        self.controls.show_state(state, self.run.resumable)
        self.setup.set_run_active(active)
        self.data_panel.setEnabled(not active)
        if self._replaying:
            return
        step = self.history.step
        if state == FAILED:
            self.messages.show_message("error", f"Training failed: {self.run.error}")
        elif state == PAUSED:
            self.messages.show_message("info", f"Paused at step {step:,}. Resume continues from the checkpoint.")
        elif state == FINISHED:
            self.messages.show_message("info", f"Training finished at step {step:,}. "
                                       "'Use this model' adds it to the model picker.")
        elif state == STOPPED:
            self.messages.show_message("info", f"Stopped at step {step:,}.")
        self._refresh()

    def _refresh(self) -> None:
        self.charts.draw(self.history)
        self.status.show_progress(self.history, self.run.state)
        self.details.show_history(self.history)
        self.result.show_models(run_models(self.run.run_folder))

    def use_model(self) -> None:
        model = self.result.chosen()
        try:
            if model is None:
                raise KeepModelError("This run has no model yet: it appears at the first validation.")
            kept = keep_model(model.path, self.settings.models_folder(), self.run.run_folder.name)
        except (KeepModelError, OSError) as exc:
            self.messages.show_message("error", str(exc))
            return
        self.messages.show_message("info", f"Kept the {model_label(model)} model as {kept.name} in {kept.parent}: "
                                   "it is in the model picker now.")
        self.setup.fill_bases()
        self.modelKept.emit(str(kept))

    # -- lifetime -----------------------------------------------------------------------------
    def ask_close_choice(self) -> str:
        """"stop", "leave" or "cancel": what to do with a run in progress when the window closes."""
        box = QMessageBox(QMessageBox.Icon.Question, "Training in progress",
                          f"A training run is in progress in {self.run.run_folder}.", parent=self)
        box.setInformativeText("Stop it (a checkpoint is saved; Resume continues it later), or leave it running "
                               "in the background? Reopening the studio follows it again.")
        stop = box.addButton("Stop the run", QMessageBox.ButtonRole.DestructiveRole)
        leave = box.addButton("Leave it running", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(leave)
        box.exec()
        return {stop: "stop", leave: "leave"}.get(box.clickedButton(), "cancel")

    def confirm_close(self) -> bool:
        """Ask what to do with a run in progress; False when the user cancels closing."""
        if self._shut_down or not self.run.active:
            return True
        choice = self.ask_close_choice()
        if choice == "cancel":
            return False
        self.close_choice = choice
        return True

    def shutdown(self) -> None:
        """End everything this tab started (the run only if asked to: see :meth:`confirm_close`)."""
        self._shut_down = True
        self._redraw.stop()
        self.setup.estimate.cancel()
        self.data_panel.wait()
        self.run.shutdown(stop_process=self.close_choice == "stop")
