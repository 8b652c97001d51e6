"""The model picker: the models the studio offers, and a last entry to browse for another.

One widget for the studio's toolbar and the training tab's base model, so both list the same
models the same way (:func:`app.studio.model_catalog.model_entries`: the bundled default,
official DAC weights, the user's kept models with their training summary as a tooltip,
checkpoints opened before).  Choosing the last entry does not select it: the picker goes back
to the model it showed and asks its owner to browse (:attr:`ModelPicker.browseRequested`).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox

from app.studio.model_catalog import model_entries
from app.studio.settings import StudioSettings


class ModelPicker(QComboBox):
    modelChosen = Signal(str)  # the user picked a listed model (its source, what load_codec takes)
    browseRequested = Signal()  # the user picked the browse entry

    def __init__(self, settings: StudioSettings, browse_label: str) -> None:
        super().__init__()
        self.settings = settings
        self.browse_label = browse_label
        self._shown: str | None = None  # the source the picker shows: where it goes back to after browsing
        self.currentIndexChanged.connect(self._remember)
        self.activated.connect(self._activated)

    def source(self) -> str | None:
        """The source of the model shown (None while the list is empty)."""
        return self.currentData()

    def fill(self, current: str | None) -> None:
        """List the models anew, showing ``current`` (added to the list if it is not in it)."""
        self.blockSignals(True)
        self.clear()
        for entry in model_entries(self.settings.recent_models(), kept_folder=self.settings.models_folder()):
            self.addItem(entry.label, entry.source)
            if entry.summary:
                self.setItemData(self.count() - 1, entry.summary, Qt.ItemDataRole.ToolTipRole)
        if current is not None and self.findData(current) < 0:
            self.addItem(Path(current).name, current)
        self.addItem(self.browse_label, None)
        self.setCurrentIndex(max(0, self.findData(current or "default")))
        self.blockSignals(False)
        self._shown = self.currentData()

    def select(self, source: str) -> None:
        """Show ``source``, offered just above the browse entry if it is not listed yet."""
        if self.findData(source) < 0:
            self.insertItem(max(0, self.count() - 1), Path(source).name, source)
        self.setCurrentIndex(self.findData(source))

    def _remember(self, index: int) -> None:
        if self.itemData(index) is not None:
            self._shown = self.itemData(index)

    def _activated(self, index: int) -> None:
        source = self.itemData(index)
        if source is None:
            self.setCurrentIndex(max(0, self.findData(self._shown)))
            self.browseRequested.emit()
        else:
            self.modelChosen.emit(source)
