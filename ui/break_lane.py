"""The "where it breaks" lane: mel distance per 0.5 s window of the rendering at n, coloured from
good to bad along the clip, and its worst moments as buttons that seek there and loop around.

The colour scale is fixed (:data:`GOOD` green to :data:`BAD` red, in the DAC mel distance),
so a colour means the same at every count and on every clip. Windows not measured yet --
their rendering is missing -- are shaded "not yet rendered" like the other rendering views.
The worst-moment buttons keep a fixed width whatever their text: a new figure repaints them
and lays out nothing.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from ui import theme
from ui.time_views import NotYetShade, TimePlot

GOOD, BAD = 1.0, 3.0  # mel distance: close to the input .. plainly broken (a DAC-like codec: 1-2)
WORST_SHOWN = 5
CELL_S = 0.05  # the lane's drawing resolution
BUTTON_PX = 16  # fits the title strip
LOOP_MARGIN_S = 0.25  # the loop around a worst moment: its window and this much either side
LANE_COLOURS = pg.ColorMap([0.0, 0.5, 1.0], [(70, 163, 90), (230, 200, 60), (230, 70, 60)])


def moment_text(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f}"


def not_yet_spans(starts: np.ndarray, ends: np.ndarray, values: np.ndarray) -> tuple[tuple[float, float], ...]:
    """Runs of windows without a figure, as ``(start, end)`` seconds."""
    spans: list[list[float]] = []
    for start, end in zip(starts[np.isnan(values)], ends[np.isnan(values)]):
        if spans and abs(spans[-1][1] - start) < 1e-9:
            spans[-1][1] = float(end)
        else:
            spans.append([float(start), float(end)])
    return tuple((a, b) for a, b in spans)


class BreakPlot(TimePlot):
    """The lane itself: one coloured cell per window; click to seek (as every time view)."""

    def __init__(self) -> None:
        super().__init__("whereItBreaks", "Where it breaks")
        item = self.getPlotItem()
        item.getAxis("left").setStyle(showValues=False)
        item.vb.setLimits(yMin=0, yMax=1)
        item.vb.setYRange(0, 1, padding=0)
        self.cells = pg.ImageItem(axisOrder="row-major")
        self.addItem(self.cells)
        self.not_yet = NotYetShade(self)
        self.figures = None

    def set_figures(self, figures) -> None:
        """Show ``figures`` (:class:`app.studio.where_it_breaks.LaneFigures`): NaN windows as not yet."""
        self.figures = figures
        values = figures.values
        if values.size == 0:
            self.clear_figures()
            return
        # the last window is longer than the others: columns of CELL_S, each the colour of its window
        duration = float(figures.ends[-1])
        centres = (np.arange(max(1, round(duration / CELL_S))) + 0.5) * duration / max(1, round(duration / CELL_S))
        window = np.clip(np.searchsorted(figures.starts, centres, side="right") - 1, 0, values.size - 1)
        shade = np.clip((np.nan_to_num(values[window], nan=GOOD) - GOOD) / (BAD - GOOD), 0.0, 1.0)
        self.cells.setImage(LANE_COLOURS.map(shade, mode="byte")[None, :, :], autoLevels=False)
        self.cells.setRect(QRectF(0.0, 0.0, duration, 1.0))
        self.not_yet.set_spans(not_yet_spans(figures.starts, figures.ends, values))
        worst = figures.worst(WORST_SHOWN)
        self.cells.setToolTip("Mel distance per 0.5 s (green good, red bad). Worst: " +
                              (", ".join(f"{moment_text(s)} ({d:.2f})" for s, _e, d in worst) or "not yet measured"))

    def clear_figures(self) -> None:
        self.figures = None
        self.cells.clear()
        self.not_yet.set_spans(())


class WorstMoments(QWidget):
    """"worst:" and one button per worst moment, worst first; a click asks to seek and loop there."""

    momentChosen = Signal(float, float)  # loop start, loop end (seconds)

    def __init__(self) -> None:
        super().__init__()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        label = QLabel("worst:")
        label.setStyleSheet(f"color: {theme.MUTED}; font-size: 8pt;")
        row.addWidget(label)
        self.buttons: list[QToolButton] = []
        self._moments: list[tuple[float, float] | None] = [None] * WORST_SHOWN
        for i in range(WORST_SHOWN):
            button = QToolButton()
            button.setObjectName("worstMoment")
            button.setAutoRaise(True)
            button.setStyleSheet("font-size: 8pt; padding: 0px 2px;")
            button.setText("99:59.9")
            button.setFixedSize(button.sizeHint().width(), BUTTON_PX)
            button.clicked.connect(lambda _=False, i=i: self._chosen(i))
            row.addWidget(button)
            self.buttons.append(button)
        self.show_moments([])

    def show_moments(self, worst: list[tuple[float, float, float]], duration: float = float("inf")) -> None:
        """``(start, end, distance)``, worst first; the loop of each spans its window and a margin."""
        for i, button in enumerate(self.buttons):
            if i < len(worst):
                start, end, distance = worst[i]
                self._moments[i] = (max(0.0, start - LOOP_MARGIN_S), min(duration, end + LOOP_MARGIN_S))
                button.setText(moment_text(start))
                button.setToolTip(f"mel distance {distance:.2f} from {moment_text(start)} to {moment_text(end)}: "
                                  "click to hear it looped")
                button.setEnabled(True)
            else:
                self._moments[i] = None
                button.setText("–")
                button.setToolTip("")
                button.setEnabled(False)

    def _chosen(self, i: int) -> None:
        if self._moments[i] is not None:
            self.momentChosen.emit(*self._moments[i])
