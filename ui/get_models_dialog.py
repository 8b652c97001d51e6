"""The "Get models..." dialog: the catalogue of official checkpoints, licences shown before
anything is fetched, one download at a time with progress and cancel.

The download runs in :class:`app.model_downloads.download_worker.ModelDownload` (a thread of
app/); this dialog only shows it, so the window never freezes. Closing the dialog cancels a
running download without waiting for it (what arrived is kept and the next download resumes
it); :meth:`GetModelsDialog.shutdown` waits, for the main window's own shutdown. A model
downloaded here is announced with :attr:`GetModelsDialog.modelAdded`, so the model picker
lists it at once.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QHBoxLayout, QHeaderView, QLabel, QProgressBar,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from app.model_downloads.catalogue import load_catalogue
from app.model_downloads.download_worker import ModelDownload
from app.model_downloads.manager import ModelState, model_states
from ui import theme

COLUMNS = ("Model", "Sample rate", "kbps", "Licence", "Status")
INTRO = ("Official checkpoints. Nothing is downloaded until you click Download: read the licence "
         "first. Files go to the caches their own tools use (descript's, torch hub's, Hugging "
         "Face's), so those tools share them.")
ERROR_STYLE = f"color: {theme.RESIDUAL};"


class GetModelsDialog(QDialog):
    modelAdded = Signal(str)  # the path load_codec takes

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("getModelsDialog")
        self.setWindowTitle("Get models")
        self.states: list[ModelState] = []
        self.worker: ModelDownload | None = None

        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("modelTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._update_buttons)

        self.progress = QProgressBar()
        self.progress.setObjectName("downloadProgress")
        self.progress.hide()
        self.message = QLabel("")
        self.message.setObjectName("downloadMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("downloadButton")
        self.download_button.clicked.connect(self.download_selected)
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.setObjectName("cancelDownloadButton")
        self.cancel_button.clicked.connect(self.cancel)
        close_button = QPushButton("Close")
        close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        buttons.addWidget(close_button)

        layout = QVBoxLayout(self)
        for widget in (intro, self.table, self.progress, self.message):
            layout.addWidget(widget)
        layout.addLayout(buttons)
        self.resize(980, 470)
        self.refresh()

    # -- the table ----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the catalogue and the caches anew, keeping the selected row."""
        selected = self.selected_name()
        self.states = model_states(load_catalogue())
        self.table.setRowCount(len(self.states))
        for row, state in enumerate(self.states):
            entry = state.entry
            status = "downloaded" if state.path is not None else state.status  # where: in the tooltip
            cells = (entry.title, f"{entry.sample_rate} Hz", ", ".join(f"{b:g}" for b in entry.bitrates_kbps),
                     entry.licence, status)
            tips = (entry.title, entry.name, entry.name, entry.licence_source, state.status)
            for column, (text, tip) in enumerate(zip(cells, tips)):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                if not state.supported:
                    item.setForeground(Qt.GlobalColor.gray)
                self.table.setItem(row, column, item)
            if entry.name == selected:
                self.table.selectRow(row)
        self._update_buttons()

    def selected_name(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.states[rows[0].row()].entry.name if rows and rows[0].row() < len(self.states) else None

    def select(self, name: str) -> None:
        for row, state in enumerate(self.states):
            if state.entry.name == name:
                self.table.selectRow(row)

    def _selected_state(self) -> ModelState | None:
        name = self.selected_name()
        return next((s for s in self.states if s.entry.name == name), None)

    def _update_buttons(self) -> None:
        state = self._selected_state()
        running = self.worker is not None
        self.download_button.setEnabled(not running and state is not None and state.can_get)
        self.cancel_button.setEnabled(running)
        if state is not None and not state.supported and not running:
            self.message.setStyleSheet("")
            self.message.setText(f"{state.entry.title}: the {state.entry.family} family is not supported by "
                                 "this version; it is listed for reference.")

    # -- the download -------------------------------------------------------------------------
    def download_selected(self) -> None:
        state = self._selected_state()
        if state is None or not state.can_get or self.worker is not None:
            return
        self.worker = ModelDownload(state.entry)
        self.worker.progressed.connect(self._on_progress)
        self.worker.downloaded.connect(self._on_downloaded)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.finished.connect(self._on_finished)
        self.message.setStyleSheet("")
        self.message.setText(f"Downloading {state.entry.title} ({state.entry.licence})…")
        self.progress.setRange(0, 0)  # busy until the size is known
        self.progress.show()
        self.worker.start()
        self._update_buttons()

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def shutdown(self) -> None:
        """Cancel a running download and wait for its thread (the main window's shutdown)."""
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait()
            self._on_finished()

    def reject(self) -> None:
        self.cancel()
        super().reject()

    def _on_progress(self, _name: str, file: str, done: float, total: float) -> None:
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.progress.setFormat(f"{file}: {done / 1e6:.1f} of {total / 1e6:.1f} MB")
        else:
            self.progress.setRange(0, 0)

    def _on_downloaded(self, name: str, path: str) -> None:
        self.message.setStyleSheet("")
        self.message.setText(f"{name} is ready: {_home_relative(path)}")
        self.modelAdded.emit(path)

    def _on_failed(self, _name: str, text: str) -> None:
        self.message.setStyleSheet(ERROR_STYLE)
        self.message.setText(text)

    def _on_cancelled(self, name: str) -> None:
        self.message.setStyleSheet("")
        self.message.setText(f"{name}: download cancelled; the next download resumes where it stopped.")

    def _on_finished(self) -> None:
        worker, self.worker = self.worker, None
        if worker is None:
            return
        worker.wait()
        worker.deleteLater()
        self.progress.hide()
        self.refresh()


def _home_relative(path: str) -> str:
    """``~/...`` for a path in the home folder (the caches usually are): shorter, and the same for everyone."""
    try:
        return str(Path("~") / Path(path).relative_to(Path.home()))
    except ValueError:
        return path
