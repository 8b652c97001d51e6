"""Quality at every codebook count: a table and a quality-versus-bitrate plot with Opus.

Rows fill in as the worker measures each count (quality is computed after the renderings
it needs exist); the Opus column and curve come from the analysis thread. The current n is
the selected row and the large marker. Opus points sit at the bitrate Opus actually used
(measured from its output), below 6 kbit/s Opus has no point.

A line under the table says which rows are still pending -- codec and Opus apart, since
they are measured on different threads -- and what they are measured on: a long clip is
measured on excerpts (:func:`app.studio.quality.measured_spans`).
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHeaderView, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from ui import theme
from ui.status_line import StatusLine

COLUMNS = ("n", "kbps", "mel", "STFT", "SI-SDR", "Opus\nkbps", "Opus\nmel", "Opus\nSTFT", "Opus\nSI-SDR")
TIPS = ("codebooks", "nominal bitrate per channel", "mel distance (DAC)", "multi-scale STFT distance (DAC)",
        "scale-invariant SDR in dB", "bitrate Opus actually used, per channel", "Opus mel distance",
        "Opus multi-scale STFT distance", "Opus SI-SDR in dB")
OPUS_COLUMNS = (5, 6, 7, 8)
ROW_PX = 20
MAX_ROWS_SHOWN = 16  # beyond this many codebook counts the table scrolls
METRICS = {"Mel distance (lower is better)": "mel_distance", "STFT distance (lower is better)": "stft_distance",
           "SI-SDR dB (higher is better)": "si_sdr"}


def counts_text(counts: list[int]) -> str:
    """``1-3, 5`` for [1, 2, 3, 5]: runs of consecutive counts as ranges."""
    runs: list[list[int]] = []
    for n in sorted(counts):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in runs)


def pending_text(n_counts: int, rows: dict, opus: dict) -> str:
    """Which rows are still being measured, codec and Opus apart; "" once all are in."""
    parts = [f"{name} n = {counts_text(missing)}" for name, done in (("codec", rows), ("Opus", opus))
             if (missing := [n for n in range(1, n_counts + 1) if n not in done])]
    return f"Measuring: {'; '.join(parts)}." if parts else ""


class QualityPanel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("qualityTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(24)
        compact = QFont(self.table.font())
        compact.setPointSizeF(8)  # nine columns in a side panel: numbers and headers fit at 1280 px
        self.table.setFont(compact)
        header.setFont(compact)
        for j, tip in enumerate(TIPS):
            self.table.horizontalHeaderItem(j).setToolTip(tip)
        self.table.verticalHeader().setDefaultSectionSize(ROW_PX)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.status = StatusLine(lines=2, colour=theme.MUTED)
        self.status.setObjectName("qualityStatus")
        self.measured_on = ""

        self.metric_box = QComboBox()
        self.metric_box.addItems(list(METRICS))
        self.metric_box.currentTextChanged.connect(lambda _: self._redraw())
        self.plot = theme.panel_plot("qualityPlot", "bitrate (kbps)")
        item = self.plot.getPlotItem()
        item.setTitle(f"<span style='color:{theme.RECONSTRUCTION}'>● codec</span>&nbsp;&nbsp;"
                      f"<span style='color:{theme.OPUS}'>■ Opus</span>&nbsp;&nbsp;"
                      f"<span style='color:{theme.PLAYHEAD}'>● current n</span>", size="9pt")
        self.codec_curve = item.plot([], [], pen=pg.mkPen(theme.RECONSTRUCTION, width=2), symbol="o", symbolSize=6,
                                     symbolBrush=theme.RECONSTRUCTION)
        self.opus_curve = item.plot([], [], pen=pg.mkPen(theme.OPUS, width=2, style=Qt.PenStyle.DashLine),
                                    symbol="s", symbolSize=6, symbolBrush=theme.OPUS)
        self.current = pg.ScatterPlotItem(size=14, brush=pg.mkBrush(theme.PLAYHEAD), pen=pg.mkPen("w"))
        item.addItem(self.current)
        self.rows: dict[int, object] = {}
        self.opus: dict[int, tuple[float, object] | None] = {}
        self.kbps: tuple[float, ...] = ()
        self.n = 1

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.table)
        layout.addWidget(self.status)
        layout.addLayout(theme.control_row("Plot", self.metric_box))
        layout.addWidget(self.plot, 1)

    def reset(self, kbps: tuple[float, ...], measured_on: str = "") -> None:
        """Empty rows for a model's ``kbps``; ``measured_on`` says what the clip's rows are measured on ("": no clip)."""
        self.kbps, self.rows, self.opus, self.measured_on = kbps, {}, {}, measured_on
        self.table.setRowCount(len(kbps))
        for i, rate in enumerate(kbps):
            cells = [str(i + 1), f"{rate:.2f}"] + ["…"] * (len(COLUMNS) - 2)
            for j, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if j in OPUS_COLUMNS:
                    cell.setForeground(QColor(theme.OPUS))
                self.table.setItem(i, j, cell)
        self._fit_table_height()
        self._show_status()
        self._redraw()

    def _show_status(self) -> None:
        """What is still pending and what the rows are measured on (nothing without a clip)."""
        pending = pending_text(len(self.kbps), self.rows, self.opus) if self.measured_on else ""
        self.status.setText(" ".join(text for text in (pending, self.measured_on) if text))

    def _fit_table_height(self) -> None:
        """As tall as its rows (up to :data:`MAX_ROWS_SHOWN`): the plot gets the rest, no blank band."""
        shown = min(self.table.rowCount(), MAX_ROWS_SHOWN)
        header = self.table.horizontalHeader().sizeHint().height()
        self.table.setFixedHeight(header + shown * ROW_PX + 2 * self.table.frameWidth() + 2)

    def update_results(self, rows: dict, opus: dict) -> None:
        self.rows, self.opus = dict(rows), dict(opus)
        for n, r in self.rows.items():
            for j, text in ((2, f"{r.mel_distance:.3f}"), (3, f"{r.stft_distance:.3f}"), (4, f"{r.si_sdr:.2f}")):
                self.table.item(n - 1, j).setText(text)
        for n, point in self.opus.items():
            texts = ("—",) * len(OPUS_COLUMNS) if point is None else (
                f"{point[0]:.2f}", f"{point[1].mel_distance:.3f}", f"{point[1].stft_distance:.3f}",
                f"{point[1].si_sdr:.2f}")
            for j, text in zip(OPUS_COLUMNS, texts):
                self.table.item(n - 1, j).setText(text)
        self._show_status()
        self._redraw()

    def set_selected(self, n: int) -> None:
        """Only the marker of the selected count moves: a slider move redraws nothing else."""
        self.n = n
        if 0 < n <= self.table.rowCount():
            self.table.selectRow(n - 1)
        self._mark_selected()

    def _redraw(self) -> None:
        key = METRICS[self.metric_box.currentText()]
        label = self.metric_box.currentText().split(" (")[0]
        item = self.plot.getPlotItem()
        if item.getAxis("left").labelText != label:  # a new label lays the plot out again: 3-4 ms a time
            item.setLabel("left", label)
        codec = sorted(self.rows.items())
        self.codec_curve.setData([r.kbps for _, r in codec], [getattr(r, key) for _, r in codec])
        opus = sorted((p[0], getattr(p[1], key)) for p in self.opus.values() if p is not None)
        self.opus_curve.setData([x for x, _ in opus], [y for _, y in opus])
        self._mark_selected()

    def _mark_selected(self) -> None:
        key = METRICS[self.metric_box.currentText()]
        row = self.rows.get(self.n)
        self.current.setData([row.kbps] if row else [], [getattr(row, key)] if row else [])
