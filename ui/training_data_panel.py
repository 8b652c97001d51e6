"""The training tab's data section: the folder, and what the background scan found in it.

A chosen folder is scanned off the GUI thread (:class:`app.training.data_scan.DataScan`); a
scan's result is shown only if its folder is still the chosen one.

Shows per top-level sub-folder how many files and how much audio (the groups the trainer
samples equally often), the sample rates present, the files that cannot be read (with the
reason on hover), and warnings about too little audio for the chosen preset.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QListWidget, QPushButton, QTableView, QTableWidget, QTableWidgetItem,
                               QVBoxLayout)

from app.training.data_scan import DataScan, DataSummary, data_warnings, passes_over_data
from app.training.request import TrainingPreset
from app.training.summary import format_minutes
from ui import theme
from ui.training_widgets import ROW_PX

WARNING_COLOUR = "#ffd479"
ERROR_COLOUR = "#ff9a9a"
ROWS_SHOWN = 5  # beyond this many sub-folders or unreadable files, the list scrolls


def fit_rows(view: QAbstractItemView, header_px: int = 0) -> None:
    """Make a table or list exactly as tall as its rows (up to :data:`ROWS_SHOWN`): no blank band."""
    view.ensurePolished()  # the style sheet's paddings are part of the header's and rows' sizes
    rows = view.model().rowCount()
    row_px = (view.rowHeight(0) if isinstance(view, QTableView) else view.sizeHintForRow(0)) if rows else ROW_PX
    view.setFixedHeight(header_px + min(rows, ROWS_SHOWN) * row_px + 2 * view.frameWidth())


class DataPanel(QGroupBox):
    folderChosen = Signal(str)
    scanned = Signal()  # the chosen folder's summary is in :attr:`data`

    def __init__(self) -> None:
        super().__init__("Data")
        self.data: DataSummary | None = None  # the chosen folder's, once scanned
        self._scans: list[DataScan] = []
        self.path = QLineEdit()
        self.path.setObjectName("trainDataPath")
        self.path.setPlaceholderText("Folder of recordings (or drop one on this tab)")
        self.path.editingFinished.connect(lambda: self.folderChosen.emit(self.path.text().strip()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.summary = QLabel("Choose a folder: every .wav .flac .ogg .opus .mp3 below it is used, at any rate.")
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet(f"color: {theme.MUTED};")
        self.groups = QTableWidget(0, 3)
        self.groups.setObjectName("trainDataGroups")
        self.groups.setHorizontalHeaderLabels(["Sub-folder", "Files", "Duration"])
        self.groups.verticalHeader().setVisible(False)
        self.groups.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.groups.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.groups.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.groups.verticalHeader().setDefaultSectionSize(ROW_PX)
        header = self.groups.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.rates = QLabel("")
        self.rates.setStyleSheet(f"color: {theme.MUTED};")
        self.unreadable = QListWidget()
        self.unreadable.setObjectName("trainUnreadable")
        self.unreadable.setToolTip("Files that cannot be read (hover one for the reason); training skips them")
        self.warnings = QLabel("")
        self.warnings.setObjectName("trainDataWarnings")
        self.warnings.setWordWrap(True)

        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.summary)
        layout.addWidget(self.groups)
        layout.addWidget(self.rates)
        layout.addWidget(self.unreadable)
        layout.addWidget(self.warnings)
        self._show_details(False)
        self.folderChosen.connect(self.scan)

    def folder(self) -> str:
        return self.path.text().strip()

    def set_folder(self, folder: str) -> None:
        self.path.setText(folder)
        self.folderChosen.emit(folder)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of recordings", self.path.text())
        if folder:
            self.set_folder(folder)

    def scan(self, folder: str) -> None:
        self.data = None
        if not folder:
            return
        self.show_scanning()
        scan = DataScan(folder)
        scan.scanned.connect(self._on_scanned)
        scan.failed.connect(self._on_scan_failed)
        self._scans = [s for s in self._scans if s.isRunning()] + [scan]
        scan.start()

    def _on_scanned(self, folder: str, summary: DataSummary) -> None:
        if folder == self.folder():
            self.data = summary
            self.scanned.emit()

    def _on_scan_failed(self, folder: str, text: str) -> None:
        if folder == self.folder():
            self.show_failure(text)

    def wait(self) -> None:
        """Wait for the scans still running (their threads must not outlive the panel)."""
        for scan in self._scans:
            scan.wait()

    def show_for(self, recipe: TrainingPreset | None) -> None:
        """The scanned folder's summary, with what is too little in it for ``recipe``."""
        if self.data is None or recipe is None:
            return
        warnings = data_warnings(self.data, recipe)
        self.show_summary(self.data, warnings, passes_over_data(self.data, recipe, recipe.steps))

    def _show_details(self, visible: bool) -> None:
        for widget in (self.groups, self.rates):
            widget.setVisible(visible)
        self.unreadable.setVisible(visible and self.unreadable.count() > 0)

    def show_scanning(self) -> None:
        self.summary.setText("Scanning…")
        self.warnings.setText("")
        self._show_details(False)

    def show_failure(self, text: str) -> None:
        self.summary.setText("")
        self.warnings.setText(text)
        self.warnings.setStyleSheet(f"color: {ERROR_COLOUR};")
        self._show_details(False)

    def show_summary(self, summary: DataSummary, warnings: list[str], passes: float | None) -> None:
        text = (f"{summary.files} files, {format_minutes(summary.minutes)} of audio: "
                f"{format_minutes(summary.train_minutes)} to train on, "
                f"{format_minutes(summary.validation_minutes)} held out for validation "
                f"({summary.validation_files} file{'s' if summary.validation_files != 1 else ''}).")
        if passes is not None:
            text += f" This run draws each second about {passes:,.0f} times."
        self.summary.setText(text)
        self.groups.setRowCount(len(summary.groups))
        for i, group in enumerate(summary.groups):
            cells = ("(top level)" if group.name == "." else group.name, str(group.files),
                     format_minutes(group.minutes))
            for j, value in enumerate(cells):
                item = QTableWidgetItem(value)
                if j:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.groups.setItem(i, j, item)
        self.rates.setText("Sample rates: " + ", ".join(f"{rate / 1000:g} kHz ({n})"
                                                       for rate, n in summary.sample_rates.items()))
        header = self.groups.horizontalHeader()
        header.ensurePolished()
        fit_rows(self.groups, header.sizeHint().height())
        self.unreadable.clear()
        for relative, reason in summary.unreadable:
            self.unreadable.addItem(f"✕ {relative}")
            self.unreadable.item(self.unreadable.count() - 1).setToolTip(reason)
        fit_rows(self.unreadable)
        problem = [summary.problem] if summary.problem else []
        self.warnings.setText("\n".join(f"⚠ {w}" for w in problem + warnings))
        self.warnings.setStyleSheet(f"color: {ERROR_COLOUR if problem else WARNING_COLOUR};")
        self._show_details(True)
