"""The training tab's setup form: what to train, how long, where; it produces the run's request.

The form says nothing the trainer would not: its modes, presets and defaults come from
:mod:`app.training.request`, and what it asks for is a :class:`app.training.request.TrainingRequest`
(the ``rvq-studio train`` command line).  The speed row times real steps of the setup in the
background (:class:`app.training.estimate.SpeedEstimate`); any change to the setup makes a
measurement stale, so it is dropped -- and only a change: refilling the model list (a model
kept, the studio's model changed) keeps the preset, the steps and the measurement when the
base stays the same.  The form is remembered in the settings and comes back at the next launch.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QSpinBox)

from app.studio.model_catalog import available_devices
from app.studio.session import StudioSession
from app.studio.settings import StudioSettings
from app.training.estimate import SpeedEstimate
from app.training.request import (MODES, TrainingPreset, TrainingRequest, default_preset, default_run_folder,
                                  default_threads, find_preset, model_family, presets_for)
from app.training.run_texts import estimate_text
from ui import theme
from ui.model_picker import ModelPicker
from ui.training_widgets import named

MODEL_FILTER = "Model files (*.pth *.safetensors *.pt);;All files (*)"


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


class TrainingSetupForm(QGroupBox):
    changed = Signal()  # mode, base, preset, steps, batch, rate or device changed
    problem = Signal(str)  # something the user asked for cannot be done, for the message bar

    def __init__(self, session: StudioSession, settings: StudioSettings) -> None:
        super().__init__("Setup")
        self.session, self.settings = session, settings
        self.estimate = SpeedEstimate()
        self.threads = default_threads()
        self.workers = 1
        self._base_chosen = False  # the user picked a base: it no longer follows the studio's model
        self._restoring = True  # while the remembered form is put back, nothing is remembered
        self._build()
        self._connect()
        self._mode_changed()
        self._restore(settings.training_form())
        self._restoring = False

    def _build(self) -> None:
        self.mode_box = named(QComboBox(), "trainMode",
                              "Quick: --freeze encoder,quantizer (files encoded with the base still decode). "
                              "Full: every part learns. From scratch: the preset's architecture.")
        for key, label in MODES.items():
            self.mode_box.addItem(label, key)
        self.base_box = named(ModelPicker(self.settings, "Browse…"), "trainBase")
        self.preset_box = named(QComboBox(), "trainPreset")
        self.preset_note = QLabel("")
        self.preset_note.setWordWrap(True)
        self.preset_note.setStyleSheet(f"color: {theme.MUTED};")
        self.steps_box = named(QSpinBox(), "trainSteps")
        self.steps_box.setRange(1, 100_000_000)
        self.steps_box.setSingleStep(1000)
        self.steps_box.setGroupSeparatorShown(True)
        self.batch_box = named(QSpinBox(), "trainBatch")
        self.batch_box.setRange(1, 4096)
        self.lr_box = named(LearningRateBox(), "trainLearningRate")
        self.device_box = named(QComboBox(), "trainDevice")
        self.device_box.addItems(available_devices())
        for combo in (self.mode_box, self.base_box, self.preset_box, self.device_box):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
        self.out_path = named(QLineEdit(), "trainOutput")
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
        self.estimate_label = named(QLabel(""), "trainEstimate")
        self.estimate_label.setWordWrap(True)
        self.measure_button = named(QPushButton("Measure"), "trainMeasure",
                                    "Time real training steps of this setup on this device (in the background)")
        estimate_row = QHBoxLayout()
        estimate_row.addWidget(self.estimate_label, 1)
        estimate_row.addWidget(self.measure_button, 0, Qt.AlignmentFlag.AlignTop)

        form = QFormLayout(self)
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

    def _connect(self) -> None:
        self.mode_box.currentIndexChanged.connect(lambda _i: self._mode_changed())
        self.base_box.modelChosen.connect(self._base_chosen_by_user)
        self.base_box.browseRequested.connect(self._browse_base)
        self.preset_box.currentIndexChanged.connect(lambda _i: self._preset_changed())
        for box in (self.steps_box, self.batch_box):
            box.valueChanged.connect(lambda _v: self._setup_changed())
        self.lr_box.valueChanged.connect(lambda _v: self._setup_changed())
        self.device_box.currentIndexChanged.connect(lambda _i: self._setup_changed())
        self.measure_button.clicked.connect(self.measure_speed)
        self.estimate.measured.connect(self._on_measured)
        self.estimate.failed.connect(lambda text: self.estimate_label.setText(f"Could not measure: {text}"))
        self.session.modelChanged.connect(lambda _info: self.fill_bases())

    # -- what the form describes --------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.mode_box.currentData()

    @property
    def base_model(self) -> str | None:
        return self.base_box.source() if self.mode != "scratch" else None

    def recipe(self) -> TrainingPreset | None:
        """The chosen preset with the form's steps and batch (None while no preset is listed)."""
        recipe = find_preset(self.preset_box.currentText())
        if recipe is None:
            return None
        return recipe.with_overrides(batch_size=self.batch_box.value(), steps=self.steps_box.value())

    def request(self, data: str) -> TrainingRequest:
        """The run the form describes on the recordings in ``data`` (ValueError with a message for people)."""
        if not data:
            raise ValueError("Choose a folder of recordings first.")
        out = self.out_path.text().strip() or str(default_run_folder(self.settings.runs_folder(), data))
        return self._request(data, out)

    def _request(self, data: str, out: str) -> TrainingRequest:
        recipe = find_preset(self.preset_box.currentText())
        changed = lambda value, default: None if value == default else value  # noqa: E731
        return TrainingRequest(data=data, out=out, mode=self.mode, preset=recipe.name, base_model=self.base_model,
                               steps=changed(self.steps_box.value(), recipe.steps),
                               batch=changed(self.batch_box.value(), recipe.batch_size),
                               lr=changed(self.lr_box.value(), recipe.lr), device=self.device_box.currentText(),
                               threads=self.threads, workers=self.workers)

    def show_run_length(self, steps: int) -> None:
        """The shown run's length as its process reported it: not a change of setup."""
        self.steps_box.blockSignals(True)
        self.steps_box.setValue(steps)
        self.steps_box.blockSignals(False)

    def set_run_active(self, active: bool) -> None:
        """While a run trains, its setup holds still; the device (for a resume) and steps stay open after it."""
        for widget in (self.mode_box, self.preset_box, self.batch_box, self.lr_box, self.out_path,
                       self.measure_button, self.steps_box):
            widget.setEnabled(not active)
        self.base_box.setEnabled(not active and self.mode != "scratch")

    # -- base model and preset ----------------------------------------------------------------
    def fill_bases(self) -> None:
        """List the models anew; the base stays the user's choice, else follows the studio's model.

        The setup changes only if the base or its preset did."""
        before = self.base_box.source()
        self._fill_base_list()
        if self._fill_presets() or self.base_box.source() != before:
            self._setup_changed()

    def _fill_base_list(self) -> None:
        current = self.base_box.source() if self._base_chosen else None
        if current is None and self.session.model is not None:
            current = self.session.model.source
        self.base_box.fill(current)

    def select_base(self, source: str) -> None:
        """Fine-tune ``source`` (offered in the list if it is not there yet)."""
        self.base_box.select(source)
        self._base_chosen_by_user(source)

    def _base_chosen_by_user(self, _source: str) -> None:
        self._base_chosen = True
        self._fill_presets()
        self._setup_changed()

    def _browse_base(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Base model", "", MODEL_FILTER)
        if not path:  # cancelled: the base follows the studio's model again
            self._base_chosen = False
            self.fill_bases()
            return
        self.settings.add_recent_model(path)  # listed from now on, with its training summary
        self.base_box.fill(path)
        self._base_chosen_by_user(path)

    def _mode_changed(self) -> None:
        self.base_box.setEnabled(self.mode != "scratch")
        if self.base_box.count() == 0:
            self._fill_base_list()
        self._fill_presets()
        self._setup_changed()

    def _fill_presets(self) -> bool:
        """Offer the presets of the mode and the base's family; whether the chosen preset changed
        (then its settings are put in the form)."""
        family = model_family(self.base_model)
        names = presets_for(self.mode, family)
        current = self.preset_box.currentText()
        self.preset_box.blockSignals(True)
        self.preset_box.clear()
        for name in names:
            self.preset_box.addItem(name)
            self.preset_box.setItemData(self.preset_box.count() - 1, find_preset(name).description,
                                        Qt.ItemDataRole.ToolTipRole)
        wanted = current if current in names else default_preset(self.mode, family)
        self.preset_box.setCurrentIndex(max(0, self.preset_box.findText(wanted)))
        self.preset_box.blockSignals(False)
        changed = self.preset_box.currentText() != current
        self._show_preset(apply_settings=changed)
        return changed

    def _preset_changed(self) -> None:
        self._show_preset(apply_settings=True)
        self._setup_changed()

    def _show_preset(self, apply_settings: bool) -> None:
        """The preset's note; its steps, batch and learning rate too when ``apply_settings``."""
        recipe = find_preset(self.preset_box.currentText())
        if recipe is None:
            return
        note = recipe.description
        if self.mode != "scratch":
            note = f"Training settings of '{recipe.name}'; the architecture is the base model's."
        self.preset_note.setText(note)
        if not apply_settings:
            return
        for box, value in ((self.steps_box, recipe.steps), (self.batch_box, recipe.batch_size),
                           (self.lr_box, recipe.lr)):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)

    def _setup_changed(self) -> None:
        self.estimate.cancel()
        self.estimate_label.setText("Press Measure to time real steps of this setup on this device.")
        self._remember()
        self.changed.emit()

    # -- remembered between launches ----------------------------------------------------------
    def _remember(self) -> None:
        if self._restoring:
            return
        self.settings.set_training_form({
            "mode": self.mode, "base": self.base_box.source() if self._base_chosen else None,
            "preset": self.preset_box.currentText(), "steps": self.steps_box.value(),
            "batch": self.batch_box.value(), "lr": self.lr_box.value(), "device": self.device_box.currentText()})

    def _restore(self, form: dict) -> None:
        """Put back a remembered form; what no longer applies (a model file gone, a device missing) is left out."""
        index = self.mode_box.findData(form.get("mode"))
        if index >= 0:
            self.mode_box.setCurrentIndex(index)
        base = form.get("base")
        if isinstance(base, str) and (base == "default" or Path(base).is_file()):
            self.select_base(base)
        if self.preset_box.findText(str(form.get("preset"))) >= 0:
            self.preset_box.setCurrentText(str(form["preset"]))
        for box, key, kind in ((self.steps_box, "steps", int), (self.batch_box, "batch", int),
                               (self.lr_box, "lr", float)):
            if isinstance(form.get(key), int | float):
                box.setValue(kind(form[key]))
        if self.device_box.findText(str(form.get("device"))) >= 0:
            self.device_box.setCurrentText(str(form["device"]))

    def _choose_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Run folder", str(self.settings.runs_folder()))
        if folder:
            self.out_path.setText(folder)

    # -- speed --------------------------------------------------------------------------------
    def measure_speed(self) -> None:
        try:
            request = self._request("", "")  # timing needs the model and the batch, not the data
        except ValueError as exc:
            self.problem.emit(str(exc))
            return
        self.estimate_label.setText(f"Measuring training steps on {request.device}…")
        self.estimate.measure(request)

    def _on_measured(self, timing) -> None:
        self.estimate_label.setText(estimate_text(timing, find_preset(self.preset_box.currentText()),
                                                  self.steps_box.value()))
