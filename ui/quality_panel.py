"""Quality at every codebook count: a table and a quality-versus-bitrate plot with Opus.

Rows fill in as the worker measures each count (quality is computed after the renderings
it needs exist); the Opus column and curve come from the analysis thread. The current n is
the selected row and the large marker. Opus points sit at the bitrate Opus actually used
(measured from its output), below 6 kbit/s Opus has no point.

A line under the table says which rows are still pending -- codec and Opus apart, since
they are measured on different threads -- and what they are measured on: a long clip is
measured on excerpts (:func:`app.studio.quality.measured_spans`).

A second table holds the slow listening metrics of each count (:mod:`app.studio.listening_rows`):
SI-SDR after undoing the codec's delay and that delay, STOI, ESTOI, ViSQOL in audio and speech
mode, DNSMOS (OVRL shown, SIG and BAK in the cell's tooltip). A cell reads "…" while pending,
"—" where the metric is absent (the reason in its tooltip), "off" while they are switched off.
The plot's picker offers them too (codec only: Opus is not measured with them).
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
           "SI-SDR dB (higher is better)": "si_sdr", "SI-SDR aligned dB (higher is better)": "si_sdr_aligned",
           "STOI (higher is better)": "stoi", "ESTOI (higher is better)": "estoi",
           "ViSQOL MOS (higher is better)": "visqol", "ViSQOL speech MOS (higher is better)": "visqol_speech",
           "DNSMOS OVRL (higher is better)": "dnsmos_ovrl"}
# the listening table: (header, metric, key shown, format, tip)
LISTENING = (("n", "", "", "", "codebooks"),
             ("SI-SDR\naligned", "si_sdr", "si_sdr_aligned", "{:.2f}", "SI-SDR in dB after undoing the codec's delay"),
             ("delay", "si_sdr", "delay_samples", "{:.0f}", "the codec's delay in samples (cross-correlation)"),
             ("STOI", "stoi", "stoi", "{:.3f}", "short-time objective intelligibility, 0-1"),
             ("ESTOI", "estoi", "estoi", "{:.3f}", "extended STOI, 0-1"),
             ("ViSQOL", "visqol", "visqol", "{:.2f}", "ViSQOL v3 audio mode (48 kHz), MOS-LQO 1-5"),
             ("ViSQOL\nspeech", "visqol_speech", "visqol_speech", "{:.2f}", "ViSQOL v3 speech mode (16 kHz), MOS-LQO 1-5"),
             ("DNS\nMOS", "dnsmos", "dnsmos_ovrl", "{:.2f}",
              "DNSMOS P.835 overall quality of the output alone, 1-5 (SIG and BAK in each cell's tooltip)"))
LISTENING_KEYS = {key: metric for _h, metric, key, _f, _t in LISTENING[1:]}


def counts_text(counts: list[int]) -> str:
    """``1-3, 5`` for [1, 2, 3, 5]: runs of consecutive counts as ranges."""
    runs: list[list[int]] = []
    for n in sorted(counts):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in runs)


def listening_text(n_counts: int, outcomes: dict, enabled: bool) -> str:
    """Which counts' listening metrics are still to come, or that they are off."""
    if not enabled:
        return "Listening metrics are off (View menu)."
    names = {metric for _h, metric, *_ in LISTENING[1:]}
    missing = [n for n in range(1, n_counts + 1) if not names <= set(outcomes.get(n, {}))]
    return f"Listening metrics, after the rows above: n = {counts_text(missing)} to come." if missing else ""


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
        self._style_table(self.table, TIPS)
        self.status = StatusLine(lines=2, colour=theme.MUTED)
        self.status.setObjectName("qualityStatus")
        self.measured_on = ""
        self.listening_table = QTableWidget(0, len(LISTENING))
        self.listening_table.setObjectName("listeningTable")
        self.listening_table.setHorizontalHeaderLabels([header for header, *_ in LISTENING])
        self._style_table(self.listening_table, [tip for *_, tip in LISTENING])
        self.listening_status = StatusLine(lines=1, colour=theme.MUTED)
        self.listening_status.setObjectName("listeningStatus")
        self.listening: dict[int, dict] = {}
        self.listening_enabled = True

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
        layout.addWidget(self.listening_table)
        layout.addWidget(self.listening_status)
        layout.addLayout(theme.control_row("Plot", self.metric_box))
        layout.addWidget(self.plot, 1)

    @staticmethod
    def _style_table(table: QTableWidget, tips) -> None:
        """Read-only rows selected whole, compact font, a tooltip per column."""
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(24)
        compact = QFont(table.font())
        compact.setPointSizeF(8)  # nine columns in a side panel: numbers and headers fit at 1280 px
        table.setFont(compact)
        header.setFont(compact)
        for j, tip in enumerate(tips):
            table.horizontalHeaderItem(j).setToolTip(tip)
        table.verticalHeader().setDefaultSectionSize(ROW_PX)
        table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)

    def reset(self, kbps: tuple[float, ...], measured_on: str = "") -> None:
        """Empty rows for a model's ``kbps``; ``measured_on`` says what the clip's rows are measured on ("": no clip)."""
        self.kbps, self.rows, self.opus, self.measured_on = kbps, {}, {}, measured_on
        self.listening = {}
        self.table.setRowCount(len(kbps))
        self.listening_table.setRowCount(len(kbps))
        for i in range(len(kbps)):
            for j in range(len(LISTENING)):
                cell = QTableWidgetItem(str(i + 1) if j == 0 else "")
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.listening_table.setItem(i, j, cell)
        self._fill_listening()
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
        """As tall as their rows (up to :data:`MAX_ROWS_SHOWN`, half that for the listening table):
        the plot gets the rest, no blank band."""
        for table, most in ((self.table, MAX_ROWS_SHOWN), (self.listening_table, MAX_ROWS_SHOWN // 2)):
            shown = min(table.rowCount(), most)
            header = table.horizontalHeader().sizeHint().height()
            table.setFixedHeight(header + shown * ROW_PX + 2 * table.frameWidth() + 2)

    def update_listening(self, outcomes: dict, enabled: bool) -> None:
        """The listening metrics measured so far (n -> metric -> outcome); ``enabled``: more are coming."""
        self.listening, self.listening_enabled = {n: dict(by_name) for n, by_name in outcomes.items()}, enabled
        self._fill_listening()
        if METRICS[self.metric_box.currentText()] in LISTENING_KEYS:
            self._redraw()

    def _fill_listening(self) -> None:
        for i in range(self.listening_table.rowCount()):
            by_name = self.listening.get(i + 1, {})
            for j, (_header, metric, key, form, _tip) in enumerate(LISTENING[1:], start=1):
                outcome = by_name.get(metric)
                if outcome is None:
                    text, tip = ("…", "measured after the quality rows") if self.listening_enabled else \
                        ("off", "listening metrics are off (View menu)")
                elif outcome.values.get(key) is None:
                    text, tip = "—", outcome.reason or "not measured"
                else:
                    text = form.format(outcome.values[key])
                    tip = " · ".join(f"{k.removeprefix('dnsmos_').upper()} {v:.2f}" for k, v in outcome.values.items()
                                     if v is not None) if metric == "dnsmos" else ""
                cell = self.listening_table.item(i, j)
                cell.setText(text)
                cell.setToolTip(tip)
        self.listening_status.setText(listening_text(len(self.kbps), self.listening, self.listening_enabled)
                                      if self.measured_on else "")

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
            self.listening_table.selectRow(n - 1)
        self._mark_selected()

    def _redraw(self) -> None:
        key = METRICS[self.metric_box.currentText()]
        label = self.metric_box.currentText().split(" (")[0]
        item = self.plot.getPlotItem()
        if item.getAxis("left").labelText != label:  # a new label lays the plot out again: 3-4 ms a time
            item.setLabel("left", label)
        codec = [(self.kbps[n - 1], value) for n in range(1, len(self.kbps) + 1)
                 if (value := self._value(n, key)) is not None]
        self.codec_curve.setData([x for x, _ in codec], [y for _, y in codec])
        opus = [] if key in LISTENING_KEYS else \
            sorted((p[0], getattr(p[1], key)) for p in self.opus.values() if p is not None)
        self.opus_curve.setData([x for x, _ in opus], [y for _, y in opus])
        self._mark_selected()

    def _value(self, n: int, key: str) -> float | None:
        """Count ``n``'s figure ``key``: from its quality row or its listening metrics; None until measured."""
        if key in LISTENING_KEYS:
            outcome = self.listening.get(n, {}).get(LISTENING_KEYS[key])
            return None if outcome is None else outcome.values.get(key)
        row = self.rows.get(n)
        return None if row is None else getattr(row, key)

    def _mark_selected(self) -> None:
        key = METRICS[self.metric_box.currentText()]
        value = self._value(self.n, key) if 0 < self.n <= len(self.kbps) else None
        self.current.setData([self.kbps[self.n - 1]] if value is not None else [], [value] if value is not None else [])
