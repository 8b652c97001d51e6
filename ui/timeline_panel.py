"""The stack of time-linked views with the shared colour scale and the spectrogram controls.

A time ruler on top, then the waveform, where the rendering breaks (:mod:`ui.break_lane`: mel
distance per 0.5 s, its worst moments in its strip), the four spectrograms and the tokens, each under a
slim title strip: the title on the left, what the view's colours mean on the right, so no
text covers the data.  The views drawn from a model's rendering (reconstruction, residual,
what a codebook adds, the tokens) name that model beside their title: the studio's model,
also while a second one is heard through the Fine-tuned source, which their strip then says. One :class:`ui.colour_scale.ColourScale` and the Top / Range spin
boxes edit the same levels, applied to all four spectrogram images, so a colour means the
same dB everywhere. Views sit in a vertical splitter so a user can give room to what they
study.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QSplitter, QVBoxLayout,
                               QWidget)

from ui import theme
from ui.break_lane import BreakPlot, WorstMoments
from ui.colour_scale import ColourScale
from ui.steady_label import SteadyLabel
from ui.time_views import LEFT_AXIS_PX, OverviewPlot, SpectrogramPlot, TimePlot, TimeRuler, TokenPlot

SPECTROGRAMS = {
    "original": ("spectrogramOriginal", "Original"),
    "reconstruction": ("spectrogramReconstruction", "Reconstruction at n"),
    "residual": ("spectrogramResidual", "Residual (original − reconstruction)"),
    "adds": ("spectrogramAdds", "What codebook n adds (n − (n−1))"),
}
DEFAULT_RANGE_DB = 90.0
TITLE_STRIP_PX = 17
MODEL_VIEWS = ("reconstruction", "residual", "adds")  # spectrograms drawn from a model's rendering


class TitledView(QWidget):
    """A view under its title strip: ``title`` left, a ``note`` (legend, units) right."""

    def __init__(self, plot: TimePlot, extra: QWidget | None = None) -> None:
        """``extra``: a widget of the strip's own between the title and the note (fixed width)."""
        super().__init__()
        self.setObjectName(f"{plot.objectName()}Frame")
        self.plot = plot
        # steady: the notes change with every rendered chunk and slider move (see ui.steady_label)
        self.title = SteadyLabel(plot.title)
        self.title.setObjectName("viewTitle")
        self.model = SteadyLabel("")  # the model whose rendering the view draws, where it draws one
        self.model.setObjectName("viewModel")
        self.note = SteadyLabel("", Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.note.setObjectName("viewNote")
        strip = QWidget()
        strip.setObjectName("titleStrip")
        strip.setFixedHeight(TITLE_STRIP_PX)
        row = QHBoxLayout(strip)
        row.setContentsMargins(LEFT_AXIS_PX + 2, 0, 6, 0)
        row.addWidget(self.title)
        row.addSpacing(8)
        row.addWidget(self.model)
        if extra is not None:
            row.addSpacing(8)
            row.addWidget(extra)
        row.addStretch(1)
        row.addWidget(self.note)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(strip)
        layout.addWidget(plot, 1)


class TimelinePanel(QWidget):
    seekRequested = Signal(float)
    loopChanged = Signal(float, float)
    scaleChanged = Signal(str)
    momentChosen = Signal(float, float)  # a worst moment's loop (seconds): seek there and loop it

    def __init__(self) -> None:
        super().__init__()
        self.ruler = TimeRuler()
        self.overview = OverviewPlot()
        self.breaks = BreakPlot()
        self.worst = WorstMoments()
        self.worst.momentChosen.connect(self.momentChosen)
        self.spectrograms = {key: SpectrogramPlot(name, title) for key, (name, title) in SPECTROGRAMS.items()}
        self.tokens = TokenPlot()
        self.plots: list[TimePlot] = [self.overview, self.breaks, *self.spectrograms.values(), self.tokens]
        for plot in [self.ruler, *self.plots]:
            plot.seekRequested.connect(self.seekRequested)
            if plot is not self.spectrograms["original"]:
                plot.setXLink(self.spectrograms["original"])
            if plot is not self.ruler:
                plot.show_time_axis(plot is self.tokens)
        self.overview.loopChanged.connect(self.loopChanged)
        self.frames = {plot: TitledView(plot, self.worst if plot is self.breaks else None) for plot in self.plots}

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        splitter.setHandleWidth(3)
        for plot, stretch, minimum in zip(self.plots, (2, 1, 4, 4, 4, 3, 3), (50, 22, 80, 80, 80, 60, 70)):
            frame = self.frames[plot]
            frame.setMinimumHeight(minimum + TITLE_STRIP_PX)
            splitter.addWidget(frame)
            splitter.setStretchFactor(splitter.count() - 1, stretch)
        self.splitter = splitter
        stack = QVBoxLayout()
        stack.setContentsMargins(0, 0, 0, 0)
        stack.setSpacing(0)
        stack.addWidget(self.ruler)
        stack.addWidget(splitter, 1)

        # colour scale and controls on the right
        self.colour_scale = ColourScale(theme.SPECTROGRAM_MAP)
        self.scale = QComboBox()
        self.scale.setObjectName("frequencyScale")
        self.scale.addItems(["log", "mel", "linear"])
        self.scale.setToolTip("Frequency axis of the spectrograms")
        self.scale.currentTextChanged.connect(self.scaleChanged)
        self.top = self._spin(0.0, "Top of the colour scale (dBFS): the upper handle", -60, 20)
        self.range = self._spin(DEFAULT_RANGE_DB, "Dynamic range shown (dB): from the upper to the lower handle",
                                10, 160)
        self.top.valueChanged.connect(self._levels_from_spins)
        self.range.valueChanged.connect(self._levels_from_spins)
        self.colour_scale.levelsChanged.connect(self._levels_from_scale)

        side = QVBoxLayout()
        side.setContentsMargins(0, 0, 0, 0)
        side.setSpacing(2)
        for text, widget in (("Frequency", self.scale), ("Top dB", self.top), ("Range dB", self.range)):
            label = QLabel(text)
            label.setStyleSheet(f"color: {theme.MUTED};")
            side.addWidget(label)
            side.addWidget(widget)
            side.addSpacing(4)
        side.addWidget(self.colour_scale, 1)
        side_widget = QWidget()
        side_widget.setLayout(side)
        side_widget.setFixedWidth(80)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(stack, 1)
        layout.addWidget(side_widget)
        self._levels_from_spins()

    @staticmethod
    def _spin(value: float, tip: str, low: float, high: float) -> QDoubleSpinBox:
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
        top = self.top.value()
        return top - self.range.value(), top

    def _levels_from_spins(self) -> None:
        low, high = self.levels
        self.colour_scale.set_levels(low, high)
        for plot in self.spectrograms.values():
            plot.image.setLevels((low, high))

    def _levels_from_scale(self, low: float, high: float) -> None:
        """A handle was dragged: the spin boxes follow (clamped to what they allow)."""
        for spin, value in ((self.top, high), (self.range, high - low)):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)
        self._levels_from_spins()

    def fit_levels(self, spec) -> None:
        """Top of the scale at the loudest bin of ``spec`` (rounded up to 5 dB)."""
        top = float(np.ceil(np.max(spec.db) / 5) * 5)
        self.top.setValue(min(max(top, self.top.minimum()), self.top.maximum()))

    # -- content ----------------------------------------------------------------------------
    def set_note(self, plot: TimePlot, text: str) -> None:
        self.frames[plot].note.setText(text)

    def show_views_model(self, name: str, heard_instead: str | None = None) -> None:
        """Name ``name`` as the model the model's views draw; ``heard_instead``: the model heard
        meanwhile (the Fine-tuned source), which they do not draw."""
        text = f"model: {name}" + (f"  ·  heard: Fine-tuned {heard_instead}, not drawn" if heard_instead else "")
        style = f"color: {theme.PLAYHEAD if heard_instead else theme.MUTED}; font-size: 8pt;"
        for plot in [*(self.spectrograms[key] for key in MODEL_VIEWS), self.tokens]:
            label = self.frames[plot].model
            if label.styleSheet() != style:  # a new style re-lays the strip out: only when it changes
                label.setStyleSheet(style)
            label.setText(text)

    def set_duration(self, seconds: float) -> None:
        for plot in [self.ruler, *self.plots]:
            plot.set_duration(seconds)

    def clear(self) -> None:
        for plot in self.spectrograms.values():
            plot.clear_image()
        self.show_breaks(None, 0.0)

    def show_breaks(self, figures, duration: float) -> None:
        """Where the rendering at n breaks (:class:`app.studio.where_it_breaks.LaneFigures`); None: nothing yet."""
        if figures is None:
            self.breaks.clear_figures()
            self.breaks.not_yet.set_spans(((0.0, duration),) if duration > 0 else ())
            self.worst.show_moments([])
        else:
            self.breaks.set_figures(figures)
            self.worst.show_moments(figures.worst(), duration)

    def set_playhead(self, seconds: float) -> None:
        for plot in [self.ruler, *self.plots]:
            plot.set_playhead(seconds)

    def visible_range(self) -> tuple[float, float]:
        return tuple(self.spectrograms["original"].getPlotItem().vb.viewRange()[0])
