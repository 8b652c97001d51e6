"""The training tab: fine-tune on your own recordings and hear the result against the base model.

Widgets and wiring only.  The run is :class:`app.training.run.TrainingRun` (a separate
``rvq-studio train`` process), the folder scan :class:`app.training.data_scan.DataScan`, the speed
measurement :class:`app.training.estimate.SpeedEstimate`, the curves
:class:`app.training.history.RunHistory`; the preview asks the studio's session to render its
open clip with the run's model (:meth:`app.studio.session.StudioSession.compare_with`), which
puts "Fine-tuned" beside "Base" on the studio's source switch.

The preview follows the run's ``latest.safetensors``, which the trainer rewrites at every
validation, better or not, and names in its ``validation`` event; so the clip is re-rendered
with each validated model, and the user hears the run as it goes. "Use this model" keeps
``model.safetensors``, the best so far.

The last run shown is remembered in the settings; a reopened studio shows it again,
following its process if it still runs, or offering to resume it.

Events can arrive faster than it is worth redrawing (a small model reports many steps a
second), so they only update the history, and the views are redrawn from it at most every
:data:`REDRAW_MS`.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont, QValidator
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMessageBox,
                               QPlainTextEdit, QProgressBar, QPushButton, QScrollArea, QSpinBox, QTableWidget,
                               QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from app.training.data_scan import DataScan, DataSummary, data_warnings, passes_over_data
from app.studio.model_catalog import available_devices, model_entries
from app.studio.settings import StudioSettings
from app.studio.session import StudioSession
from app.training.estimate import SpeedEstimate
from app.training.history import RunHistory
from app.training.run import (ACTIVE, FAILED, FINISHED, IDLE, PAUSED, PAUSING, RESUMABLE, RUNNING, STOPPED,
                              STOPPING, TrainingRun)
from app.training.request import (MODES, TrainingRequest, default_preset, default_run_folder, default_threads,
                                model_family, presets_for)
from app.training.summary import model_summary_text
from app.training.user_models import KeepModelError, keep_model
from model.training.presets import PRESETS
from model.training.progress import event_text, format_duration
from model.training.step_timing import StepTiming
from ui import theme
from ui.message_bar import MessageBar
from ui.training_charts import TrainingCharts
from ui.training_data_panel import DataPanel

SETTINGS_RUN_KEY = "training/run"
REDRAW_MS = 250
LEFT_COLUMN_PX = 420
LOG_LINES_KEPT = 5000
GROUP_STYLE = f"""
QGroupBox {{ border: 1px solid #2e3035; border-radius: 4px; margin-top: 16px; padding: 6px 4px 4px 4px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {theme.MUTED}; font-weight: bold; }}
"""
STATE_TEXT = {IDLE: ("No run", theme.MUTED), RUNNING: ("Running", theme.ACCENT),
              PAUSING: ("Pausing: finishing the step, saving a checkpoint…", theme.PLAYHEAD),
              STOPPING: ("Stopping: finishing the step, saving a checkpoint…", theme.PLAYHEAD),
              PAUSED: ("Paused", theme.PLAYHEAD), STOPPED: ("Stopped", theme.MUTED),
              FINISHED: ("Finished", theme.ORIGINAL), FAILED: ("Failed", theme.RESIDUAL)}


def named(widget: QWidget, name: str, tip: str = "") -> QWidget:
    """``widget`` with its objectName (what tests and style sheets find it by) and tooltip."""
    widget.setObjectName(name)
    widget.setToolTip(tip)
    return widget


class LearningRateBox(QDoubleSpinBox):
    """A learning rate, written as people write them (3e-04), stepped by factors of two."""

    def __init__(self) -> None:
        super().__init__()
        self.setDecimals(12)
        self.setRange(1e-7, 1.0)

    def textFromValue(self, value: float) -> str:
        return f"{value:.1e}"

    def valueFromText(self, text: str) -> float:
        return float(text)

    def validate(self, text: str, pos: int):
        try:
            value = float(text)
        except ValueError:
            return QValidator.State.Intermediate, text, pos
        ok = self.minimum() <= value <= self.maximum()
        return (QValidator.State.Acceptable if ok else QValidator.State.Intermediate), text, pos

    def stepBy(self, steps: int) -> None:
        self.setValue(self.value() * 2.0 ** steps)


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
        self.estimate = SpeedEstimate()
        self.data: DataSummary | None = None
        self.timing: StepTiming | None = None
        self.close_choice = "stop"  # what closing the window does to a run in progress
        self._shut_down = False
        self._scans: list[DataScan] = []
        self._replaying = False
        self._base_chosen = False
        self.threads = default_threads()
        self.workers = 1
        self._shown_model: tuple[Path, int] | None = None  # (model file, mtime) the result text describes
        self._redraw = QTimer(self)
        self._redraw.setObjectName("trainingRedraw")
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(REDRAW_MS)
        self._redraw.timeout.connect(self._refresh)

        self.messages = MessageBar()
        self.data_panel = DataPanel()
        self.charts = TrainingCharts()
        setup = self._build_setup()
        actions = self._build_actions()
        result = self._build_result()
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 4, 0)
        for widget in (self.data_panel, setup, actions, result):
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

        right = QVBoxLayout()
        right.addLayout(self._build_status())
        right.addWidget(self.charts, 3)
        right.addWidget(self._build_details(), 2)
        body = QHBoxLayout()
        body.addWidget(scroll)
        body.addLayout(right, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 6)
        layout.addWidget(self.messages)
        layout.addLayout(body, 1)

        self._connect()
        self._mode_changed()
        self._show_state(self.run.state)
        self._reattach()

    # -- construction -------------------------------------------------------------------------
    def _build_setup(self) -> QGroupBox:
        box = QGroupBox("Setup")
        self.mode_box = named(QComboBox(), "trainMode",
                              "Quick: --freeze encoder,quantizer (files encoded with the base still decode). "
                              "Full: every part learns. From scratch: the preset's architecture.")
        for key, label in MODES.items():
            self.mode_box.addItem(label, key)
        self.base_box = QComboBox()
        self.base_box.setObjectName("trainBase")
        self.preset_box = QComboBox()
        self.preset_box.setObjectName("trainPreset")
        self.preset_note = QLabel("")
        self.preset_note.setWordWrap(True)
        self.preset_note.setStyleSheet(f"color: {theme.MUTED};")
        self.steps_box = QSpinBox()
        self.steps_box.setObjectName("trainSteps")
        self.steps_box.setRange(1, 100_000_000)
        self.steps_box.setSingleStep(1000)
        self.steps_box.setGroupSeparatorShown(True)
        self.batch_box = QSpinBox()
        self.batch_box.setObjectName("trainBatch")
        self.batch_box.setRange(1, 4096)
        self.lr_box = LearningRateBox()
        self.lr_box.setObjectName("trainLearningRate")
        self.device_box = QComboBox()
        self.device_box.setObjectName("trainDevice")
        self.device_box.addItems(available_devices())
        for combo in (self.mode_box, self.base_box, self.preset_box, self.device_box):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
        self.out_path = QLineEdit()
        self.out_path.setObjectName("trainOutput")
        self.out_path.setPlaceholderText("a new folder in the studio's runs folder")
        out_browse = QPushButton("…")
        out_browse.setFixedWidth(28)
        out_browse.clicked.connect(self._choose_output)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_path, 1)
        out_row.addWidget(out_browse)
        numbers = QHBoxLayout()
        numbers.addWidget(self.batch_box, 1)
        lr_caption = QLabel("Learning rate")
        lr_caption.setToolTip("Adam's learning rate; the arrows halve or double it")
        numbers.addSpacing(6)
        numbers.addWidget(lr_caption)
        numbers.addWidget(self.lr_box, 1)
        self.estimate_label = QLabel("")
        self.estimate_label.setObjectName("trainEstimate")
        self.estimate_label.setWordWrap(True)
        self.measure_button = named(QPushButton("Measure"), "trainMeasure",
                                    "Time real training steps of this setup on this device (in the background)")
        estimate_row = QHBoxLayout()
        estimate_row.addWidget(self.estimate_label, 1)
        estimate_row.addWidget(self.measure_button, 0, Qt.AlignmentFlag.AlignTop)

        form = QFormLayout(box)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("Mode", self.mode_box)
        form.addRow("Base model", self.base_box)
        form.addRow("Preset", self.preset_box)
        form.addRow("", self.preset_note)
        form.addRow("Steps", self.steps_box)
        form.addRow("Batch size", numbers)
        form.addRow("Device", self.device_box)
        form.addRow("Output", out_row)
        form.addRow("Speed", estimate_row)
        return box

    def _build_actions(self) -> QWidget:
        self.start_button = named(QPushButton("▶  Start"), "trainStart", "Start a new run with this setup")
        self.pause_button = named(QPushButton("❚❚  Pause"), "trainPause",
                                  "Pause: save a checkpoint and stop; Resume continues exactly from it")
        self.stop_button = named(QPushButton("■  Stop"), "trainStop",
                                 "Save a checkpoint and end the run (press again to end at once)")
        self.start_button.setStyleSheet(f"QPushButton:enabled {{ background: {theme.ACCENT}; color: #0b0c0e; "
                                        "font-weight: bold; }")
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        for button in (self.start_button, self.pause_button, self.stop_button):
            button.setMinimumHeight(30)
            layout.addWidget(button)
        return row

    def _build_result(self) -> QGroupBox:
        box = QGroupBox("Result")
        self.result_text = QLabel("The run's best model appears here after its first validation.")
        self.result_text.setObjectName("trainResult")
        self.result_text.setWordWrap(True)
        self.result_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result_text.setStyleSheet(f"color: {theme.MUTED};")
        self.use_button = named(QPushButton("Use this model"), "trainUseModel",
                                "Copy the run's best model to your models and add it to the model picker")
        layout = QVBoxLayout(box)
        layout.addWidget(self.result_text)
        layout.addWidget(self.use_button)
        return box

    def _build_status(self) -> QHBoxLayout:
        self.state_label = QLabel("")
        self.state_label.setObjectName("trainState")
        self.step_label = QLabel("")
        self.step_label.setStyleSheet("font-family: monospace;")
        self.progress = QProgressBar()
        self.progress.setObjectName("trainProgress")
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.rate_label = QLabel("")
        self.rate_label.setObjectName("trainRate")
        self.rate_label.setStyleSheet(f"color: {theme.MUTED};")
        row = QHBoxLayout()
        row.addWidget(self.state_label)
        row.addWidget(self.step_label)
        row.addWidget(self.progress, 1)
        row.addWidget(self.rate_label)
        return row

    def _build_details(self) -> QTabWidget:
        self.details = tabs = QTabWidget()
        tabs.setObjectName("trainDetails")
        self.log = QPlainTextEdit()
        self.log.setObjectName("trainLog")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES_KEPT)
        self.log.setFont(QFont("monospace", 8))
        self.validation_table = self._table("trainValidationTable", ["n", "kbps", "mel", "STFT", "SI-SDR"])
        preview = QWidget()
        self.preview_box = QCheckBox("Render the studio's clip with the run's model at each validation")
        self.preview_box.setObjectName("trainPreview")
        self.preview_box.setChecked(True)
        self.preview_status = QLabel("")
        self.preview_status.setObjectName("trainPreviewStatus")
        self.preview_status.setWordWrap(True)
        self.preview_table = self._table("trainPreviewTable", ["n", "kbps", "base mel", "fine-tuned mel", "change"])
        layout = QVBoxLayout(preview)
        layout.addWidget(self.preview_box)
        layout.addWidget(self.preview_status)
        layout.addWidget(self.preview_table, 1)
        tabs.addTab(self.log, "Log")
        tabs.addTab(self.validation_table, "Validation")
        tabs.addTab(preview, "Preview on the studio's clip")
        return tabs

    @staticmethod
    def _table(name: str, columns: list[str]) -> QTableWidget:
        table = QTableWidget(0, len(columns))
        table.setObjectName(name)
        table.setHorizontalHeaderLabels(columns)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setDefaultSectionSize(20)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        return table

    def _connect(self) -> None:
        self.data_panel.folderChosen.connect(self.scan)
        self.mode_box.currentIndexChanged.connect(lambda _i: self._mode_changed())
        self.base_box.activated.connect(self._base_activated)
        self.preset_box.currentIndexChanged.connect(lambda _i: self._preset_changed())
        for box in (self.steps_box, self.batch_box):
            box.valueChanged.connect(lambda _v: self._setup_changed())
        self.lr_box.valueChanged.connect(lambda _v: self._setup_changed())
        self.device_box.currentIndexChanged.connect(lambda _i: self._setup_changed())
        self.measure_button.clicked.connect(self.measure_speed)
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self._pause_or_resume)
        self.stop_button.clicked.connect(self.run.stop)
        self.use_button.clicked.connect(self.use_model)
        self.preview_box.toggled.connect(self._preview_toggled)
        self.run.stateChanged.connect(self._show_state)
        self.run.eventReceived.connect(self._on_event)
        self.run.logLine.connect(self.log.appendPlainText)
        self.run.runChanged.connect(self._on_run_changed)
        self.estimate.measured.connect(self._on_measured)
        self.estimate.failed.connect(lambda text: self.estimate_label.setText(f"Could not measure: {text}"))
        s = self.session
        s.modelChanged.connect(lambda _info: self._fill_bases())
        s.comparison.ready.connect(self._on_preview_ready)
        s.comparison.progress.connect(self._schedule_refresh)
        s.comparison.failed.connect(lambda text: self.preview_status.setText(f"⚠ {text}"))
        s.qualityChanged.connect(self._show_preview_quality)

    # -- setup --------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.mode_box.currentData()

    @property
    def base_model(self) -> str | None:
        return self.base_box.currentData() if self.mode != "scratch" else None

    def _fill_bases(self) -> None:
        current = self.base_box.currentData() if self._base_chosen else None
        if current is None and self.session.model is not None:
            current = self.session.model.source
        self.base_box.blockSignals(True)
        self.base_box.clear()
        entries = model_entries(self.settings.recent_models(), kept_folder=self.settings.models_folder())
        for entry in entries:
            self.base_box.addItem(entry.label, entry.source)
            if entry.summary:
                self.base_box.setItemData(self.base_box.count() - 1, entry.summary, Qt.ItemDataRole.ToolTipRole)
        if current is not None and self.base_box.findData(current) < 0:
            self.base_box.addItem(Path(current).name, current)
        self.base_box.addItem("Browse…", None)
        self.base_box.setCurrentIndex(max(0, self.base_box.findData(current or "default")))
        self.base_box.blockSignals(False)
        self._fill_presets()

    def _base_activated(self, index: int) -> None:
        if self.base_box.itemData(index) is None:
            path, _ = QFileDialog.getOpenFileName(self, "Base model", "",
                                                  "Model files (*.pth *.safetensors *.pt);;All files (*)")
            if path:
                self.settings.add_recent_model(path)
            self._base_chosen = bool(path)
            self.base_box.setCurrentIndex(0)
            self._fill_bases()
            if path:
                self.base_box.setCurrentIndex(self.base_box.findData(path))
        else:
            self._base_chosen = True
        self._fill_presets()

    def select_base(self, source: str) -> None:
        """Fine-tune ``source`` (offered in the list if it is not there yet)."""
        self._base_chosen = True
        if self.base_box.findData(source) < 0:
            self.base_box.insertItem(max(0, self.base_box.count() - 1), Path(source).name, source)
        self.base_box.setCurrentIndex(self.base_box.findData(source))
        self._fill_presets()

    def _mode_changed(self) -> None:
        self.base_box.setEnabled(self.mode != "scratch")
        if self.base_box.count() == 0:
            self._fill_bases()
        else:
            self._fill_presets()

    def _fill_presets(self) -> None:
        family = model_family(self.base_model)
        names = presets_for(self.mode, family)
        current = self.preset_box.currentText()
        self.preset_box.blockSignals(True)
        self.preset_box.clear()
        for name in names:
            self.preset_box.addItem(name)
            self.preset_box.setItemData(self.preset_box.count() - 1, PRESETS[name].description,
                                        Qt.ItemDataRole.ToolTipRole)
        wanted = current if current in names else default_preset(self.mode, family)
        self.preset_box.setCurrentIndex(max(0, self.preset_box.findText(wanted)))
        self.preset_box.blockSignals(False)
        self._preset_changed()

    def _preset_changed(self) -> None:
        recipe = PRESETS.get(self.preset_box.currentText())
        if recipe is None:
            return
        note = recipe.description
        if self.mode != "scratch":
            note = f"Training settings of '{recipe.name}'; the architecture is the base model's."
        self.preset_note.setText(note)
        for box, value in ((self.steps_box, recipe.steps), (self.batch_box, recipe.batch_size),
                           (self.lr_box, recipe.lr)):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)
        self._setup_changed()

    def _setup_changed(self) -> None:
        self.timing = None
        self.estimate.cancel()
        self.estimate_label.setText("Press Measure to time real steps of this setup on this device.")
        self._show_data()

    def _choose_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Run folder", str(self.settings.runs_folder()))
        if folder:
            self.out_path.setText(folder)

    def request(self) -> TrainingRequest:
        """The run the widgets describe (raises ValueError with a message for people)."""
        data = self.data_panel.path.text().strip()
        if not data:
            raise ValueError("Choose a folder of recordings first.")
        out = self.out_path.text().strip() or str(default_run_folder(self.settings.runs_folder(), data))
        return self._setup(data, out)

    def _setup(self, data: str, out: str) -> TrainingRequest:
        recipe = PRESETS[self.preset_box.currentText()]
        changed = lambda value, default: None if value == default else value  # noqa: E731
        return TrainingRequest(data=data, out=out, mode=self.mode, preset=recipe.name, base_model=self.base_model,
                               steps=changed(self.steps_box.value(), recipe.steps),
                               batch=changed(self.batch_box.value(), recipe.batch_size),
                               lr=changed(self.lr_box.value(), recipe.lr), device=self.device_box.currentText(),
                               threads=self.threads, workers=self.workers)

    # -- data ---------------------------------------------------------------------------------
    def scan(self, folder: str) -> None:
        self.data = None
        if not folder:
            return
        self.data_panel.show_scanning()
        scan = DataScan(folder)
        scan.scanned.connect(self._on_scanned)
        scan.failed.connect(self._on_scan_failed)
        self._scans = [s for s in self._scans if s.isRunning()] + [scan]
        scan.start()

    def _current_folder(self, folder: str) -> bool:
        return folder == self.data_panel.path.text().strip()

    def _on_scanned(self, folder: str, summary: DataSummary) -> None:
        if self._current_folder(folder):
            self.data = summary
            self._show_data()

    def _on_scan_failed(self, folder: str, text: str) -> None:
        if self._current_folder(folder):
            self.data_panel.show_failure(text)

    def _show_data(self) -> None:
        recipe = PRESETS.get(self.preset_box.currentText())
        if self.data is None or recipe is None:
            return
        recipe = recipe.with_overrides(batch_size=self.batch_box.value(), steps=self.steps_box.value())
        self.data_panel.show_summary(self.data, data_warnings(self.data, recipe),
                                     passes_over_data(self.data, recipe, recipe.steps))

    def dragEnterEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile() and Path(urls[0].toLocalFile()).is_dir():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        self.data_panel.set_folder(event.mimeData().urls()[0].toLocalFile())
        event.acceptProposedAction()

    # -- speed --------------------------------------------------------------------------------
    def measure_speed(self) -> None:
        try:
            request = self._setup("", "")  # timing needs the model and the batch, not the data
        except ValueError as exc:
            self.messages.show_message("error", str(exc))
            return
        self.estimate_label.setText(f"Measuring training steps on {request.device}…")
        self.estimate.measure(request)

    def _on_measured(self, timing: StepTiming) -> None:
        self.timing = timing
        recipe = PRESETS[self.preset_box.currentText()]
        steps = self.steps_box.value()
        gan_start = min(recipe.gan_start_step, steps)
        parts = []
        if gan_start > 0:
            parts.append(f"{format_duration(1000 * timing.mel_only_seconds)} per 1000 steps before the GAN starts "
                         f"(step {recipe.gan_start_step:,})")
        if steps > recipe.gan_start_step:
            parts.append(f"{format_duration(1000 * timing.gan_seconds)} per 1000 GAN steps")
        scaled = (f" (timed at batch {timing.measured_batch}, scaled to {timing.batch_size})"
                  if timing.measured_batch != timing.batch_size else "")
        total = format_duration(timing.run_seconds(0, steps, recipe.gan_start_step))
        self.estimate_label.setText(f"{'; '.join(parts)}{scaled}. This run: about {total} of training steps "
                                    f"on {timing.device}, plus validation.")

    # -- the run ------------------------------------------------------------------------------
    def start(self) -> None:
        try:
            request = self.request()
            if self.data is not None and self.data.problem:
                raise ValueError(self.data.problem)
            if self.session.comparison.active:
                self.session.compare_with(None)
            self.estimate.cancel()
            self.run.start(request)
        except (ValueError, OSError) as exc:
            self.messages.show_message("error", str(exc))
            return
        self.settings.set_value(SETTINGS_RUN_KEY, str(self.run.run_folder))
        self.messages.dismiss()

    def _pause_or_resume(self) -> None:
        if self.run.state == RUNNING:
            self.run.pause()
            return
        try:
            self.run.resume(self.device_box.currentText(), self.threads, self.workers, self.steps_box.value())
        except (ValueError, OSError) as exc:
            self.messages.show_message("error", str(exc))
            return
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
        self._preview()

    def _on_run_changed(self, _folder: str) -> None:
        self.history = RunHistory()
        self.log.clear()
        self._refresh()

    def _on_event(self, event: dict) -> None:
        self.history.ingest(event)
        try:
            text = event_text(event)
        except (KeyError, TypeError, ValueError):  # an event this version does not know how to word
            text = ""
        if text:  # paths inside the run folder, relative to it: the log stays readable
            self.log.appendPlainText(text.replace(f"{self.run.run_folder}/", ""))
        if event.get("event") == "start" and event.get("total_steps"):
            self.steps_box.blockSignals(True)
            self.steps_box.setValue(int(event["total_steps"]))
            self.steps_box.blockSignals(False)
        if self._replaying:
            return
        if event.get("event") == "validation":
            self._preview()
        self._schedule_refresh()

    def _schedule_refresh(self) -> None:
        if not self._redraw.isActive():
            self._redraw.start()

    def _show_state(self, state: str) -> None:
        text, colour = STATE_TEXT[state]
        self.state_label.setText(f"<span style='color:{colour}'>●</span> {text}")
        active = state in ACTIVE
        resumable = state in RESUMABLE and self.run.run_folder is not None and \
            (self.run.run_folder / "config.json").exists()
        self.start_button.setEnabled(not active)
        self.pause_button.setEnabled(state == RUNNING or (not active and resumable))
        self.pause_button.setText("❚❚  Pause" if active or not resumable else "▶  Resume")
        self.stop_button.setEnabled(state in (RUNNING, PAUSING, STOPPING))
        self.stop_button.setText("■  Stop now" if state == STOPPING else "■  Stop")
        for widget in (self.mode_box, self.base_box, self.preset_box, self.batch_box, self.lr_box,
                       self.out_path, self.data_panel, self.measure_button):
            widget.setEnabled(not active)
        self.base_box.setEnabled(not active and self.mode != "scratch")
        self.steps_box.setEnabled(not active)
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
        h = self.history
        self.charts.draw(h)
        total = h.total_steps or 0
        self.step_label.setText(f"  ·  step {h.step:,} / {total:,}" if total else "")
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(min(h.step, max(1, total)))
        rate = h.latest_rate()
        parts = []
        if rate:
            parts.append(f"{rate:.2f} steps/s" if rate >= 0.1 else f"{1 / rate:.1f} s/step")
        if self.run.active and h.eta_s is not None:
            parts.append(f"ETA {format_duration(h.eta_s)}")
        best = h.best
        if best is not None and best.mel_distance is not None:
            parts.append(f"best mel {best.mel_distance:.3f} (step {best.step:,})")
        self.rate_label.setText("  ·  ".join(parts))
        self._show_validation_table()
        self._show_result()
        self._show_preview_quality()

    def _show_validation_table(self) -> None:
        latest = self.history.validations[-1] if self.history.validations else None
        rows = latest.rows if latest else []
        self.validation_table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            cells = [r.get("n_codebooks"), r.get("kbps"), r.get("mel_distance"), r.get("stft_distance"),
                     r.get("si_sdr")]
            formats = ["{}", "{:.2f}", "{:.3f}", "{:.3f}", "{:.2f}"]
            for j, (value, fmt) in enumerate(zip(cells, formats)):
                item = QTableWidgetItem("—" if value is None else fmt.format(value))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.validation_table.setItem(i, j, item)
        if latest is not None:
            self.validation_table.setToolTip(f"validation at step {latest.step:,}")

    def _run_model(self) -> Path | None:
        folder = self.run.run_folder
        model = folder / "model.safetensors" if folder is not None else None
        return model if model is not None and model.is_file() else None

    def _show_result(self) -> None:
        model = self._run_model()
        self.use_button.setEnabled(model is not None)
        shown = (model, model.stat().st_mtime_ns) if model is not None else None
        if shown is not None and shown != self._shown_model:  # read the header only when the file changed
            self._shown_model = shown
            self.result_text.setText(model_summary_text(model) or f"{model}")
            self.result_text.setStyleSheet(f"color: {theme.TEXT}; font-family: monospace; font-size: 8pt;")

    def use_model(self) -> None:
        model = self._run_model()
        try:
            if model is None:
                raise KeepModelError("This run has no model yet: it appears at the first validation.")
            kept = keep_model(model, self.settings.models_folder(), self.run.run_folder.name)
        except (KeepModelError, OSError) as exc:
            self.messages.show_message("error", str(exc))
            return
        self.messages.show_message("info", f"Kept as {kept.name} in {kept.parent}: it is in the model picker now.")
        self._fill_bases()
        self.modelKept.emit(str(kept))

    # -- preview ------------------------------------------------------------------------------
    def _preview_model(self) -> Path | None:
        """The model of the run's latest validation (a run of an older trainer: its best)."""
        folder = self.run.run_folder
        if folder is None:
            return None
        return next((p for p in (folder / "latest.safetensors", folder / "model.safetensors") if p.is_file()), None)

    def _preview(self) -> None:
        model = self._preview_model()
        if not self.preview_box.isChecked() or model is None or self.session.model is None:
            return
        latest = self.history.validations[-1] if self.history.validations else None
        self.session.compare_with(str(model))
        what = f"the model of step {latest.step:,}" if latest else "the run's model"
        clip = self.session.clip
        self.preview_status.setText(f"Rendering {clip.path.name} with {what}…" if clip else
                                    f"Open a clip in the studio to hear {what} on it.")

    def _preview_toggled(self, on: bool) -> None:
        if on:
            self._preview()
        elif self.session.comparison.active:
            self.session.compare_with(None)
            self.preview_status.setText("")
            self.preview_table.setRowCount(0)

    def _on_preview_ready(self) -> None:
        latest = self.history.validations[-1] if self.history.validations else None
        step = f" (model of step {latest.step:,})" if latest else ""
        self.preview_status.setText(f"Ready{step}: in the Studio tab, switch between Base and Fine-tuned; "
                                    "the codebook slider sets n for both.")
        self._show_preview_quality()

    def _show_preview_quality(self) -> None:
        comparison = self.session.comparison
        if not comparison.active:
            return
        base, tuned = self.session.quality, comparison.quality
        counts = sorted(set(base) | set(tuned))
        self.preview_table.setRowCount(len(counts))
        for i, n in enumerate(counts):
            b, t = base.get(n), tuned.get(n)
            row = b or t
            change = f"{t.mel_distance - b.mel_distance:+.3f}" if b and t else "…"
            cells = [str(n), f"{row.kbps:.2f}", f"{b.mel_distance:.3f}" if b else "…",
                     f"{t.mel_distance:.3f}" if t else "…", change]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.preview_table.setItem(i, j, item)

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
        self.estimate.cancel()
        for scan in self._scans:
            scan.wait()
        self.run.shutdown(stop_process=self.close_choice == "stop")
