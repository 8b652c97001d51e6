"""The stack of time-linked views with the shared colour bar and the spectrogram controls.

One :class:`pyqtgraph.ColorBarItem` drives the levels of all four spectrogram images, so a
colour means the same dB everywhere; the dB range spin boxes and dragging the bar edit the
same levels. Views sit in a vertical splitter so a user can give room to what they study.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QSplitter, QVBoxLayout,
                               QWidget)

from ui import theme
from ui.time_views import OverviewPlot, SpectrogramPlot, TokenPlot

SPECTROGRAMS = {
    "original": ("spectrogramOriginal", "Original"),
    "reconstruction": ("spectrogramReconstruction", "Reconstruction at n"),
    "residual": ("spectrogramResidual", "Residual (original − reconstruction)"),
    "adds": ("spectrogramAdds", "What codebook n adds (n − (n−1))"),
}
DEFAULT_RANGE_DB = 90.0


class TimelinePanel(QWidget):
    seekRequested = Signal(float)
    loopChanged = Signal(float, float)
    scaleChanged = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.overview = OverviewPlot()
        self.spectrograms = {key: SpectrogramPlot(name, title) for key, (name, title) in SPECTROGRAMS.items()}
        self.tokens = TokenPlot()
        plots = [self.overview, *self.spectrograms.values(), self.tokens]
        self.plots = plots
        for plot in plots:
            plot.seekRequested.connect(self.seekRequested)
            if plot is not self.spectrograms["original"]:
                plot.setXLink(self.spectrograms["original"])
            plot.show_time_axis(plot is self.tokens)
        self.overview.loopChanged.connect(self.loopChanged)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        splitter.setHandleWidth(3)
        for plot, stretch, minimum in zip(plots, (2, 4, 4, 4, 3, 3), (60, 90, 90, 90, 70, 70)):
            plot.setMinimumHeight(minimum)
            splitter.addWidget(plot)
            splitter.setStretchFactor(splitter.count() - 1, stretch)
        self.splitter = splitter

        # colour bar and controls on the right
        self.colour_widget = pg.GraphicsLayoutWidget()
        self.colour_widget.setFixedWidth(78)
        self.colour_bar = pg.ColorBarItem(values=(-90, 0), colorMap=pg.colormap.get(theme.SPECTROGRAM_MAP),
                                          label="dBFS", interactive=True, rounding=1, width=16)
        self.colour_bar.setImageItem([p.image for p in self.spectrograms.values()])
        self.colour_widget.addItem(self.colour_bar)
        self.colour_bar.sigLevelsChanged.connect(self._levels_from_bar)

        self.scale = QComboBox()
        self.scale.setObjectName("frequencyScale")
        self.scale.addItems(["log", "mel", "linear"])
        self.scale.setToolTip("Frequency axis of the spectrograms")
        self.scale.currentTextChanged.connect(self.scaleChanged)
        self.top = self._spin(0.0, "Top of the colour scale (dBFS)")
        self.range = self._spin(DEFAULT_RANGE_DB, "Dynamic range shown (dB)", 10, 160)
        self.top.valueChanged.connect(self._levels_from_spins)
        self.range.valueChanged.connect(self._levels_from_spins)

        side = QVBoxLayout()
        side.setContentsMargins(0, 0, 0, 0)
        for text, widget in (("Frequency", self.scale), ("Top dB", self.top), ("Range dB", self.range)):
            label = QLabel(text)
            label.setStyleSheet(f"color: {theme.MUTED};")
            side.addWidget(label)
            side.addWidget(widget)
        side.addWidget(self.colour_widget, 1)
        side_widget = QWidget()
        side_widget.setLayout(side)
        side_widget.setFixedWidth(84)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(splitter, 1)
        layout.addWidget(side_widget)

    @staticmethod
    def _spin(value: float, tip: str, low: float = -60, high: float = 20) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(low, high)
        spin.setDecimals(0)
        spin.setSingleStep(5)
        spin.setValue(value)
        spin.setToolTip(tip)
        spin.setKeyboardTracking(False)
        return spin

    # -- levels -----------------------------------------------------------------------------
    @property
    def levels(self) -> tuple[float, float]:
        low, high = self.colour_bar.levels()
        return float(low), float(high)

    def _levels_from_spins(self) -> None:
        top = self.top.value()
        self.colour_bar.setLevels((top - self.range.value(), top))

    def _levels_from_bar(self, bar) -> None:
        low, high = self.levels
        for spin, value in ((self.top, high), (self.range, high - low)):
            spin.blockSignals(True)
            spin.setValue(round(value))
            spin.blockSignals(False)

    def fit_levels(self, spec) -> None:
        """Top of the scale at the loudest bin of ``spec`` (rounded up to 5 dB)."""
        top = float(np.ceil(np.max(spec.db) / 5) * 5)
        self.top.setValue(min(max(top, self.top.minimum()), self.top.maximum()))
        self._levels_from_spins()

    # -- content ----------------------------------------------------------------------------
    def set_duration(self, seconds: float) -> None:
        for plot in self.plots:
            plot.set_duration(seconds)

    def set_spectrogram(self, key: str, spec) -> None:
        self.spectrograms[key].set_spectrogram(spec, self.levels)

    def clear(self) -> None:
        for plot in self.spectrograms.values():
            plot.clear_image()

    def set_playhead(self, seconds: float) -> None:
        for plot in self.plots:
            plot.set_playhead(seconds)

    def visible_range(self) -> tuple[float, float]:
        return tuple(self.spectrograms["original"].getPlotItem().vb.viewRange()[0])
