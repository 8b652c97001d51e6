"""The time-linked views: time ruler, waveform overview, spectrograms and the token view.

All share one time axis in seconds (``setXLink``), zoom and pan horizontally together, show
the playhead (a line moved by the window's frame timer), and ask for a seek when clicked.
Spectrogram images carry explicit levels set by the shared colour scale, so the original,
the reconstruction and the residual are comparable pixel for pixel; their rows are evenly
spaced on the chosen frequency axis (see :mod:`app.studio.spectrogram`) and :class:`FrequencyAxis`
labels them in Hz. Nothing is drawn over the data: titles live in the strip above each view
(:mod:`ui.timeline_panel`), and axes choose how many labels fit the pixels they have.
A view of a rendering covers the spans not rendered yet with a hatched shade labelled "not
yet rendered" (:class:`NotYetShade`): what lies there is no reconstruction, and must not
read as one.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainterPath
from PySide6.QtWidgets import QGraphicsItem, QGraphicsLineItem, QGraphicsPathItem, QGraphicsRectItem

from app.studio.rendering_spectrograms import RenderingSpectrogram
from app.studio.spectrogram import axis_to_hz, hz_to_axis
from ui import theme
from ui.column_image import ColumnImage

LOG_HZ_BY_PRIORITY = (1000, 100, 10000, 5000, 500, 200, 2000, 50, 20000, 20)
LABEL_SPACING_PX = 24  # a label is about 11 px tall; keep a label's height free between two
EDGE_MARGIN_PX = 7  # half a label: a label centred closer to the end of its axis would be cut
LEFT_AXIS_PX = 46
TOKEN_BLOCK_GAP = 0.6  # rows of space between the channels' blocks in the token view
TOKEN_LABEL_PX = 13  # codebook labels at least this far apart
STALE_OPACITY = 0.35  # a rendering view still showing the previous count, until the selected one is drawn


def hz_label(hz: float) -> str:
    return f"{hz / 1000:g}k" if hz >= 1000 else f"{hz:g}"


def spaced_ticks(positions: list[float], low: float, high: float, size_px: float,
                 spacing_px: float = LABEL_SPACING_PX, edge_px: float = EDGE_MARGIN_PX) -> list[float]:
    """The positions (taken in priority order) that keep ``spacing_px`` apart on an axis of
    ``size_px`` pixels showing ``low..high``, and none so close to an end that its label is cut."""
    if high <= low or size_px <= 0:
        return []
    px = lambda p: (p - low) / (high - low) * size_px  # noqa: E731
    kept: list[float] = []
    for p in positions:
        at = px(p)
        if edge_px <= at <= size_px - edge_px and all(abs(at - px(k)) >= spacing_px for k in kept):
            kept.append(p)
    return sorted(kept)


class FrequencyAxis(pg.AxisItem):
    """Left axis of a spectrogram whose y runs 0..1 on a linear, log or mel scale.

    The labels are round frequencies, the most telling first (1k, 100, 10k, ...), as many as
    fit the axis's height; a short view shows three, a tall one all of them."""

    def __init__(self) -> None:
        super().__init__("left")
        self.scale_name, self.max_hz = "log", 22050.0
        self.setWidth(LEFT_AXIS_PX)

    def set_scale(self, scale: str, max_hz: float) -> None:
        if (scale, max_hz) == (self.scale_name, self.max_hz):
            return  # unchanged (every update of a growing spectrogram): no new labels, no repaint
        self.scale_name, self.max_hz = scale, max_hz
        self.picture = None
        self.update()

    def candidate_hz(self) -> list[float]:
        if self.scale_name != "linear":
            return [h for h in LOG_HZ_BY_PRIORITY if h < self.max_hz]
        steps = (10000, 5000, 2000, 1000)
        return [float(h) for step in steps for h in np.arange(step, self.max_hz, step)]

    def tickValues(self, minVal, maxVal, size):
        hz = np.array(self.candidate_hz(), dtype=float)
        positions = [float(p) for p in hz_to_axis(hz, self.scale_name, self.max_hz)]
        return [(1.0, spaced_ticks(positions, minVal, maxVal, size))]

    def tickStrings(self, values, scale, spacing):
        return [hz_label(round(float(axis_to_hz(v, self.scale_name, self.max_hz)), -1)) for v in values]


def time_label(seconds: float, spacing: float, minutes: bool) -> str:
    """``1.5 s`` (or ``1:05.5`` once the clip reaches a minute), decimals as fine as the ticks."""
    decimals = max(0, math.ceil(-math.log10(spacing) - 1e-9)) if spacing < 1 else 0
    if minutes:
        m, s = divmod(max(0.0, seconds), 60)
        width = 3 + decimals if decimals else 2
        return f"{int(m)}:{s:0{width}.{decimals}f}"
    return f"{seconds:.{decimals}f} s"


class TimeAxis(pg.AxisItem):
    """Seconds with their unit on every label, so the time axis reads without a legend."""

    def tickStrings(self, values, scale, spacing):
        minutes = bool(values) and max(values) >= 60
        return [time_label(float(v), spacing, minutes) for v in values]


class Playhead(QGraphicsLineItem):
    """The play position: a plain C++ line item (no Python in its paint or bounds), moved 40
    times a second in seven views. pyqtgraph's InfiniteLine recomputes its bounds in Python on
    every paint, which made the playhead the largest GUI cost while playing. The line spans
    exactly the visible y range, so its repaint strip stays inside the plot and never
    touches the axes."""

    def __init__(self) -> None:
        super().__init__(0.0, 0.0, 0.0, 1.0)
        pen = pg.mkPen(theme.PLAYHEAD, width=1.5)
        pen.setCosmetic(True)
        self.setPen(pen)
        self.setZValue(30)
        self.seconds = 0.0
        self.span = (0.0, 1.0)

    def set_span(self, low: float, high: float) -> None:
        self.span = (low, high)
        self.setLine(self.seconds, low, self.seconds, high)

    def set_time(self, seconds: float) -> None:
        if seconds != self.seconds:  # no repaint while paused
            self.seconds = seconds
            self.setLine(seconds, self.span[0], seconds, self.span[1])


class TimePlot(pg.PlotWidget):
    """A plot on the shared time axis with a playhead and click-to-seek."""

    seekRequested = Signal(float)

    def __init__(self, object_name: str, title: str, left_axis: pg.AxisItem | None = None,
                 time_axis: str = "bottom") -> None:
        axes = {time_axis: TimeAxis(time_axis)}
        if left_axis is not None:
            axes["left"] = left_axis
        super().__init__(axisItems=axes)
        self.setObjectName(object_name)
        self.title = title
        item = self.getPlotItem()
        item.setMenuEnabled(False)
        item.hideButtons()
        item.setMouseEnabled(x=True, y=False)
        item.getAxis("left").setWidth(LEFT_AXIS_PX)
        self.playhead = Playhead()
        self.addItem(self.playhead, ignoreBounds=True)
        self.scene().sigMouseClicked.connect(self._clicked)
        item.vb.sigRangeChanged.connect(self._fit_playhead)

    def show_time_axis(self, show: bool) -> None:
        axis = self.getPlotItem().getAxis("bottom")
        axis.setStyle(showValues=show)
        axis.setHeight(22 if show else 3)

    def set_duration(self, seconds: float) -> None:
        vb = self.getPlotItem().vb
        vb.setLimits(xMin=0, xMax=max(seconds, 1e-3), minXRange=min(0.05, seconds))
        vb.setXRange(0, seconds, padding=0)

    def set_playhead(self, seconds: float) -> None:
        self.playhead.set_time(seconds)

    def _fit_playhead(self, *_args) -> None:
        _x, (y0, y1) = self.getPlotItem().vb.viewRange()
        self.playhead.set_span(y0, y1)

    def _clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.double():  # a Flag: never equal to 1
            return
        vb = self.getPlotItem().vb
        if vb.sceneBoundingRect().contains(event.scenePos()):
            self.seekRequested.emit(float(vb.mapSceneToView(event.scenePos()).x()))


class TimeRuler(TimePlot):
    """Seconds above the whole stack, so the time of anything is read without scrolling down;
    a thin lane under the labels carries the playhead (click it to seek)."""

    HEIGHT_PX = 30

    def __init__(self) -> None:
        super().__init__("timeRuler", "Time", time_axis="top")
        item = self.getPlotItem()
        item.getAxis("top").setHeight(20)
        item.getAxis("left").setStyle(showValues=False)
        item.getAxis("left").setPen(pg.mkPen(None))
        item.hideAxis("bottom")
        item.vb.setLimits(yMin=0, yMax=1)
        item.vb.setYRange(0, 1, padding=0)
        self.setFixedHeight(self.HEIGHT_PX)


class NotYetShade:
    """Time spans of a view that have no data yet: covered opaque, hatched, and the widest one
    visible labelled "not yet rendered" (when the label fits in it).

    Two path items (the cover and the hatch, a cosmetic pattern in screen pixels) and one
    label, whatever the number of spans; they sit under the playhead."""

    LABEL = "not yet rendered"
    LABEL_PAD_PX = 8

    def __init__(self, plot: TimePlot) -> None:
        self.plot = plot
        self.spans: tuple[tuple[float, float], ...] = ()
        self.cover, self.hatch = QGraphicsPathItem(), QGraphicsPathItem()
        for item, brush, z in ((self.cover, QBrush(QColor(theme.PLOT_BACKGROUND)), 20),
                               (self.hatch, QBrush(QColor(theme.UNRENDERED), Qt.BrushStyle.BDiagPattern), 21)):
            item.setBrush(brush)
            item.setPen(pg.mkPen(None))
            item.setZValue(z)
            plot.addItem(item, ignoreBounds=True)
        self.label = pg.TextItem(self.LABEL, color=theme.MUTED, anchor=(0.5, 0.5))
        self.label.setZValue(22)
        self.label.hide()
        plot.addItem(self.label, ignoreBounds=True)
        plot.getPlotItem().vb.sigXRangeChanged.connect(self._place_label)

    def set_spans(self, spans: tuple[tuple[float, float], ...]) -> None:
        """Shade ``spans`` (seconds); an empty tuple removes the shade."""
        if spans == self.spans:
            return
        self.spans = spans
        path = QPainterPath()
        for start, end in spans:
            path.addRect(QRectF(start, 0.0, end - start, 1.0))
        self.cover.setPath(path)
        self.hatch.setPath(path)
        self._place_label()

    def _place_label(self, *_args) -> None:
        """The label in the middle of the widest visible span, if it fits there."""
        vb = self.plot.getPlotItem().vb
        (low, high), _y = vb.viewRange()
        visible = [(max(a, low), min(b, high)) for a, b in self.spans if b > low and a < high]
        seconds_per_px = vb.viewPixelSize()[0]
        widest = max(visible, key=lambda span: span[1] - span[0], default=None)
        needed_px = self.label.boundingRect().width() + 2 * self.LABEL_PAD_PX
        if widest is None or seconds_per_px <= 0 or (widest[1] - widest[0]) / seconds_per_px < needed_px:
            self.label.hide()
            return
        self.label.setPos((widest[0] + widest[1]) / 2, 0.5)
        self.label.show()


class SpectrogramPlot(TimePlot):
    """One spectrogram image on a warped frequency axis; a rendering's not yet rendered spans shaded."""

    def __init__(self, object_name: str, title: str) -> None:
        self.frequency_axis = FrequencyAxis()
        super().__init__(object_name, title, self.frequency_axis)
        self.image = ColumnImage(theme.SPECTROGRAM_MAP)
        self.addItem(self.image)
        self.getPlotItem().vb.setLimits(yMin=0, yMax=1)
        self.getPlotItem().vb.setYRange(0, 1, padding=0)
        self.not_yet = NotYetShade(self)
        self.spectrogram = None
        self.selected_n: int | None = None
        self.drawing = pg.TextItem("", color=theme.TEXT, anchor=(0.5, 0.5), fill=theme.PLOT_BACKGROUND)
        self.drawing.setZValue(23)
        self.drawing.hide()
        self.addItem(self.drawing, ignoreBounds=True)
        self.getPlotItem().vb.sigXRangeChanged.connect(self._place_drawing)

    def set_spectrogram(self, spec, levels: tuple[float, float], first: int = 0, end: int | None = None) -> None:
        """Show ``spec``, which differs from the one shown only in time columns ``[first, end)``
        (all of them by default): only those are recoloured."""
        self.spectrogram = spec
        self.image.set_values(spec.db.T, first, end, levels)
        self.image.setRect(QRectF(0, 0, spec.duration, 1))
        self.frequency_axis.set_scale(spec.scale, spec.max_hz)
        self.not_yet.set_spans(spec.not_yet if isinstance(spec, RenderingSpectrogram) else ())
        self._show_staleness()

    def set_selected_n(self, n: int) -> None:
        """The count the title names: while the image is still that of another count, it is dimmed
        and labelled "drawing n = ..." until the new count's image arrives."""
        self.selected_n = n
        self._show_staleness()

    @property
    def stale(self) -> bool:
        """Whether the image shown is a rendering drawn at another count than the one selected."""
        spec = self.spectrogram
        return isinstance(spec, RenderingSpectrogram) and self.selected_n is not None and spec.n != self.selected_n

    def _show_staleness(self) -> None:
        stale = self.stale
        self.image.setOpacity(STALE_OPACITY if stale else 1.0)
        if stale:
            self.drawing.setText(f"drawing n = {self.selected_n}…")
            self._place_drawing()
        self.drawing.setVisible(stale)

    def _place_drawing(self, *_args) -> None:
        (low, high), _y = self.getPlotItem().vb.viewRange()
        self.drawing.setPos((low + high) / 2, 0.5)

    def clear_image(self) -> None:
        self.spectrogram = None
        self.image.clear()
        self.not_yet.set_spans(())
        self._show_staleness()


class OverviewPlot(TimePlot):
    """The waveform (min/max envelope), a lane showing which chunks of the selected rendering
    exist, and the loop region.

    The lane keeps :data:`LANE_PX` pixels whatever the view's height: the y range is refitted
    on every resize so the waveform fills [-1, 1] and the lane sits below it."""

    loopChanged = Signal(float, float)
    LANE_PX, GAP_PX, TOP = 6, 2, 1.04

    def __init__(self) -> None:
        super().__init__("waveformOverview", "Waveform")
        item = self.getPlotItem()
        item.getAxis("left").setStyle(showValues=False)
        self.fill = pg.FillBetweenItem(pg.PlotDataItem([0, 0]), pg.PlotDataItem([0, 0]),
                                       brush=pg.mkBrush(theme.ORIGINAL + "aa"))
        self.fill.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.addItem(self.fill)
        self.rendered = pg.ImageItem(axisOrder="row-major")
        self.rendered.setLookupTable(np.array([pg.mkColor(theme.UNRENDERED).getRgb(),
                                               pg.mkColor(theme.RENDERED).getRgb()], dtype=np.ubyte))
        self.addItem(self.rendered)
        self._rendered_seconds = 0.0
        self._lane = (-1.2, 0.1)  # (bottom, height) in view units, set by _fit_lane
        self.loop = pg.LinearRegionItem(brush=pg.mkBrush(79, 163, 255, 40), pen=pg.mkPen(theme.ACCENT))
        self.loop.setZValue(10)
        self.loop.hide()
        self.addItem(self.loop, ignoreBounds=True)
        self.loop.sigRegionChangeFinished.connect(lambda r: self.loopChanged.emit(*r.getRegion()))
        item.vb.sigResized.connect(self._fit_lane)
        self._fit_lane()

    def _fit_lane(self, *_args) -> None:
        height = max(float(self.getPlotItem().vb.height()), self.LANE_PX + self.GAP_PX + 10.0)
        per_px = (self.TOP + 1.0) / (height - self.LANE_PX - self.GAP_PX)
        bottom = -1.0 - (self.LANE_PX + self.GAP_PX) * per_px
        self._lane = (bottom, self.LANE_PX * per_px)
        vb = self.getPlotItem().vb
        vb.setLimits(yMin=bottom, yMax=self.TOP)
        vb.setYRange(bottom, self.TOP, padding=0)
        self._place_rendered()

    def set_envelope(self, env) -> None:
        x = (np.arange(env.low.shape[0]) + 0.5) * env.seconds_per_bin
        peak = max(float(np.abs(env.low).max(initial=0)), float(np.abs(env.high).max(initial=0)), 1e-6)
        scale = 1.0 / peak if peak < 1.0 else 1.0  # quiet clips still fill the lane
        self.fill.setCurves(pg.PlotDataItem(x, env.low * scale), pg.PlotDataItem(x, env.high * scale))

    def set_rendered(self, rendered: np.ndarray, chunk_seconds: float, n: int) -> None:
        """``rendered[c]``: chunk ``c`` of the reconstruction at ``n`` exists."""
        self._rendered_seconds = chunk_seconds * rendered.size
        self.rendered.setImage(rendered.astype(np.uint8)[None, :], autoLevels=False, levels=(0, 1))
        self.rendered.setToolTip(f"Rendered at n = {n}: {rendered.mean():.0%} "
                                 "(green: ready to play, grey: not yet)")
        self._place_rendered()

    def _place_rendered(self) -> None:
        if self.rendered.image is not None:
            bottom, height = self._lane
            self.rendered.setRect(QRectF(0, bottom, self._rendered_seconds, height))

    def show_loop(self, start: float, end: float) -> None:
        self.loop.setRegion((start, end))
        self.loop.show()


class TokenAxis(pg.AxisItem):
    """Left axis of the token view: codebook numbers, as many as fit, in each channel's block.

    The first label of a block names its channel (``L 1``, ``R 1``; ``L+R 1`` for both channels coded
    jointly) when it has a name."""

    def __init__(self) -> None:
        super().__init__("left")
        self.setWidth(LEFT_AXIS_PX)
        self.blocks: list[tuple[str, float]] = []  # (channel name, bottom row) per block
        self.n_codebooks = 1

    def set_layout(self, blocks: list[tuple[str, float]], n_codebooks: int) -> None:
        self.blocks, self.n_codebooks = blocks, n_codebooks
        self.picture = None
        self.update()

    def tickValues(self, minVal, maxVal, size):
        """The same codebook numbers in every block: the densest round set whose labels fit."""
        row_px = size / max(maxVal - minVal, 1e-9)
        for numbers in self._label_sets():
            values = sorted(bottom + k - 0.5 for k in numbers for _name, bottom in self.blocks)
            if all((b - a) * row_px >= TOKEN_LABEL_PX for a, b in zip(values, values[1:])):
                break
        return [(1.0, [v for v in values if minVal <= v <= maxVal])]

    def _label_sets(self):
        """Codebook numbers from every one down to 1 and the multiples of a step, then only 1."""
        n = self.n_codebooks
        for step in (1, 2, 4, 6, 8, 12, 16, 32, 64):
            if step < n:
                yield sorted({1, *range(step, n + 1, step)})
        yield [1]

    def tickStrings(self, values, scale, spacing):
        labels = []
        for v in values:
            name, bottom = next(b for b in self.blocks if b[1] <= v <= b[1] + self.n_codebooks)
            k = int(round(v - bottom + 0.5))
            labels.append(f"{name} {k}" if name and k == 1 else str(k))
        return labels


class TokenPlot(TimePlot):
    """Code indices as images, one block per channel: codebook (rows, 1 at the bottom) by frame
    (columns); the codebooks above the selected n are dimmed, as they are not heard."""

    def __init__(self) -> None:
        self.token_axis = TokenAxis()
        super().__init__("tokenView", "Tokens", self.token_axis)
        self.images: list[ColumnImage] = []
        self.shades: list[QGraphicsRectItem] = []
        self.n_codebooks = 1
        self.duration = 0.0
        self.bottoms: list[float] = []
        self.codes: np.ndarray | None = None
        self.final_frames = 0
        self.span_lines: list[pg.InfiniteLine] = []

    def set_codes(self, codes: np.ndarray, codebook_size: int, seconds_per_frame: float,
                  channel_names: list[str], final_frames: int, spans: tuple[tuple[str, int, int], ...] = ()) -> None:
        """``codes`` ``[C, N, F]``, its first ``final_frames`` frames final; the first channel's block on top,
        each block named by ``channel_names`` ("" for none: a mono clip's one block).
        ``spans``: named runs of codebooks ``(name, first, stop)`` (Mimi's semantic codebook), each
        boundary drawn as a line across every block and the names in the view's tooltip.

        The array is kept: while the encode fills it, :meth:`extend_final` redraws only the
        frames that have become final."""
        channels, n, frames = codes.shape
        if channels != len(self.images):
            self._make_blocks(channels)
        self.n_codebooks = n
        self.duration = frames * seconds_per_frame
        self.bottoms = [(channels - 1 - c) * (n + TOKEN_BLOCK_GAP) for c in range(channels)]
        for image, block, bottom in zip(self.images, codes, self.bottoms):
            image.set_values(block, levels=(0, codebook_size - 1))
            image.setRect(QRectF(0, bottom, self.duration, n))
        self.codes, self.final_frames = codes, final_frames
        top = self.bottoms[0] + n
        vb = self.getPlotItem().vb
        vb.setLimits(yMin=0, yMax=top)
        vb.setYRange(0, top, padding=0)
        self.token_axis.set_layout(list(zip(channel_names, self.bottoms)), n)
        self._draw_span_lines(spans)

    def _draw_span_lines(self, spans: tuple[tuple[str, int, int], ...]) -> None:
        for line in self.span_lines:
            self.removeItem(line)
        boundaries = [first for _name, first, _stop in spans if 0 < first < self.n_codebooks]
        self.span_lines = [pg.InfiniteLine(bottom + first, angle=0, pen=pg.mkPen(theme.TEXT, width=1))
                           for bottom in self.bottoms for first in boundaries]
        for line in self.span_lines:
            line.setZValue(6)
            self.addItem(line, ignoreBounds=True)
        self.setToolTip("  ·  ".join(f"codebook {first + 1}: {name}" if stop - first == 1 else
                                     f"codebooks {first + 1}–{stop}: {name}" for name, first, stop in spans))

    def _make_blocks(self, channels: int) -> None:
        for item in [*self.images, *self.shades]:
            self.removeItem(item)
        self.images = [ColumnImage(theme.TOKEN_MAP) for _ in range(channels)]
        self.shades = []
        for image in self.images:
            self.addItem(image)
            shade = QGraphicsRectItem()
            shade.setBrush(pg.mkBrush(10, 10, 12, 200))
            shade.setPen(pg.mkPen(None))
            shade.setZValue(5)
            self.addItem(shade, ignoreBounds=True)
            self.shades.append(shade)

    def extend_final(self, frames: int) -> None:
        """The first ``frames`` frames of the codes are final now: redraw those that were not yet."""
        if self.codes is None or frames <= self.final_frames:
            return
        for image, block in zip(self.images, self.codes):
            image.set_values(block, self.final_frames, frames)
        self.final_frames = frames

    def clear_codes(self) -> None:
        self.codes = None
        for image in self.images:
            image.clear()

    def set_selected(self, n: int) -> None:
        for shade, bottom in zip(self.shades, self.bottoms):
            shade.setRect(QRectF(0, bottom + n, self.duration, self.n_codebooks - n))
