"""A run's curves: training losses, validation mel distance per codebook count, speed.

Drawn from :class:`app.training.history.RunHistory` as a whole (``draw``), so a live event,
a replay after reopening and a resumed run all go through one path.  Losses are on a log
axis: the reconstruction terms fall over decades while the adversarial ones stay near one.
Validation has one curve per codebook count, dark (1) to bright (all), so one sees whether
the run improves the low bitrates or only the top one.  Legends are coloured words in the
titles (as in the quality panel), so they never cover a curve.

Axes read in their own units from the first point: pyqtgraph's SI prefixes are off (they
turned 0.7 steps/s into "700 (x0.001)"), the step axis spans at least
:data:`MIN_STEP_SPAN` steps and never goes below step 0 (a single validation at step 0 gave an
axis from -0.4 to 0.4 "(x0.001)"), and the speed axis starts at zero so a steady rate does not
look like a swing.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QWidget

from app.training.history import RunHistory
from ui import theme

LOSS_CURVES = {  # key -> (legend, colour)
    "mel": ("mel", theme.ACCENT),
    "stft": ("STFT", theme.ORIGINAL),
    "codebook": ("codebook", theme.MUTED),
    "adversarial": ("adv.", theme.RESIDUAL),
    "feature_matching": ("feat. match", theme.PLAYHEAD),
    "discriminator": ("disc.", theme.OPUS),
}
VALIDATION_MAP = "viridis"
VALIDATION_TITLE = "Validation mel distance (lower is better)"
MARKED_VALIDATIONS = 60  # beyond this many validations, markers would hide the curves
SPARSE_LABEL_PX = 22
MIN_STEP_SPAN = 10  # steps: the narrowest step axis, so a first point shows whole-step ticks
SPEED_HEADROOM = 1.15  # the speed axis reaches this much above the fastest rate


class SparseAxis(pg.AxisItem):
    """A value axis for a short plot: round major ticks only, at least :data:`SPARSE_LABEL_PX` apart.

    pyqtgraph asks for about log(pixels) major ticks however short the axis, and always draws
    them, so in a plot 40 px tall six labels ran into each other."""

    def tickSpacing(self, minVal, maxVal, size):
        span = maxVal - minVal
        if span <= 0 or size <= 0:
            return super().tickSpacing(minVal, maxVal, size)
        wanted = span / max(1.0, size / SPARSE_LABEL_PX)
        magnitude = 10 ** math.floor(math.log10(wanted))
        return [(next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= wanted), 0)]


def _title(plot: pg.PlotWidget, text: str, keys: list[tuple[str, str]]) -> None:
    """``text`` and a legend of coloured ``(label, colour)`` words."""
    legend = "&nbsp;&nbsp;".join(f"<span style='color:{colour}'>━ {label}</span>" for label, colour in keys)
    plot.getPlotItem().setTitle(f"<span style='color:{theme.MUTED}'>{text}</span>&nbsp;&nbsp;&nbsp;{legend}",
                                size="9pt")


class TrainingCharts(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.losses = theme.panel_plot("trainLossPlot", "step", "training loss")
        self.losses.getPlotItem().setLogMode(y=True)
        _title(self.losses, "Losses", list(LOSS_CURVES.values()))
        self.loss_curves = {key: self.losses.plot([], [], pen=pg.mkPen(colour, width=1.5), connect="finite")
                            for key, (label, colour) in LOSS_CURVES.items()}

        self.validation = theme.panel_plot("trainValidationPlot", "step", "mel distance")
        _title(self.validation, VALIDATION_TITLE, [])
        self.validation_curves: dict[int, pg.PlotDataItem] = {}
        self.best_marker = pg.ScatterPlotItem(size=11, brush=pg.mkBrush(theme.PLAYHEAD), pen=pg.mkPen("w"))
        self.validation.addItem(self.best_marker)

        self.speed = theme.panel_plot("trainSpeedPlot", "step", "steps / s")
        _title(self.speed, "Training speed (steps per second over the steps of each report; "
                           "validation and checkpoints excluded)", [])
        self.speed_curve = self.speed.plot([], [], pen=pg.mkPen(theme.ACCENT, width=1.5), connect="finite")
        self.speed.getPlotItem().setAxisItems({"left": SparseAxis("left")})
        self.speed.getPlotItem().setLabel("left", "steps / s")
        for plot in (self.losses, self.speed):  # a long run has tens of thousands of points per curve
            plot.getPlotItem().setDownsampling(auto=True, mode="peak")
            plot.getPlotItem().setClipToView(True)
        for plot in (self.losses, self.validation, self.speed):
            item = plot.getPlotItem()
            for side in ("bottom", "left"):
                item.getAxis(side).enableAutoSIPrefix(False)
            item.getViewBox().setLimits(xMin=0, minXRange=MIN_STEP_SPAN)

        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.losses, 0, 0)
        layout.addWidget(self.validation, 0, 1)
        layout.addWidget(self.speed, 1, 0, 1, 2)
        layout.setRowStretch(0, 3)
        layout.setRowStretch(1, 1)

    def draw(self, history: RunHistory) -> None:
        steps = np.asarray(history.steps, dtype=np.float64)
        for key, curve in self.loss_curves.items():
            values = np.asarray(history.losses[key], dtype=np.float64)
            values[~(values > 0)] = np.nan  # a log axis has no place for zero or negative terms
            curve.setData(steps, values) if np.isfinite(values).any() else curve.setData([], [])
        rates = np.asarray(history.steps_per_s, dtype=np.float64)
        self.speed_curve.setData(steps, rates)
        finite = rates[np.isfinite(rates)]
        if finite.size and finite.max() > 0:
            self.speed.getPlotItem().setYRange(0.0, SPEED_HEADROOM * finite.max(), padding=0)
        self._show_validation(history)

    def _show_validation(self, history: RunHistory) -> None:
        counts = history.codebook_counts()
        if set(counts) != set(self.validation_curves):
            for curve in self.validation_curves.values():
                self.validation.removeItem(curve)
            colours = [pg.mkColor(tuple(c)) for c in
                       pg.colormap.get(VALIDATION_MAP).getLookupTable(0.2, 1.0, max(2, len(counts)))]
            self.validation_curves = {
                n: self.validation.plot([], [], pen=pg.mkPen(colours[i], width=1.5), symbol="o", symbolSize=4,
                                        symbolBrush=colours[i], symbolPen=None, connect="finite")
                for i, n in enumerate(counts)}
            shown = list(enumerate(counts)) if len(counts) <= 6 else [(0, counts[0]), (len(counts) - 1, counts[-1])]
            keys = [(f"n = {n}", colours[i].name()) for i, n in shown]
            _title(self.validation, VALIDATION_TITLE, keys if len(counts) <= 6 else [keys[0], ("…", theme.MUTED), keys[1]])
        for n, curve in self.validation_curves.items():
            steps, values = history.validation_curve(n)
            curve.setSymbol("o" if len(steps) <= MARKED_VALIDATIONS else None)
            curve.setData(steps, values)
        best = history.best
        top = best.rows[-1].get("mel_distance") if best and best.rows else None
        self.best_marker.setData([best.step] if top is not None else [], [top] if top is not None else [])
