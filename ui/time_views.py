"""The time-linked views: waveform overview, spectrograms and the token view.

All share one time axis in seconds (``setXLink``), zoom and pan horizontally together, show
the playhead (an ``InfiniteLine`` moved by the window's frame timer), and ask for a seek
when clicked. Spectrogram images carry explicit levels set by the shared colour bar, so the
original, the reconstruction and the residual are comparable pixel for pixel; their rows
are evenly spaced on the chosen frequency axis (see :mod:`app.spectrogram`) and
:class:`FrequencyAxis` labels them in Hz.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import QGraphicsItem, QGraphicsLineItem

from app.spectrogram import axis_to_hz, hz_to_axis
from ui import theme

NICE_HZ = (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)


def hz_label(hz: float) -> str:
    return f"{hz / 1000:g}k" if hz >= 1000 else f"{hz:g}"


class FrequencyAxis(pg.AxisItem):
    """Left axis of a spectrogram whose y runs 0..1 on a linear, log or mel scale."""

    def __init__(self) -> None:
        super().__init__("left")
        self.scale_name, self.max_hz = "log", 22050.0
        self.setWidth(44)

    def set_scale(self, scale: str, max_hz: float) -> None:
        self.scale_name, self.max_hz = scale, max_hz
        self.picture = None
        self.update()

    def tickValues(self, minVal, maxVal, size):
        if self.scale_name == "linear":
            step = 2000 if self.max_hz <= 12000 else 5000
            hz = np.arange(0, self.max_hz + 1, step)
        else:
            hz = np.array([h for h in NICE_HZ if h <= self.max_hz], dtype=float)
        positions = hz_to_axis(hz, self.scale_name, self.max_hz)
        keep = [float(p) for p in positions if minVal <= p <= maxVal]
        return [(1.0, keep)]

    def tickStrings(self, values, scale, spacing):
        return [hz_label(round(float(axis_to_hz(v, self.scale_name, self.max_hz)), -1)) for v in values]


def cached_image(colour_map: str) -> pg.ImageItem:
    """An image drawn once into a device-sized pixmap: moving the playhead over it then costs a
    blit of the exposed strip instead of rescaling the whole image every frame."""
    image = pg.ImageItem(axisOrder="row-major")
    image.setColorMap(pg.colormap.get(colour_map))
    image.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    return image


class Playhead(QGraphicsLineItem):
    """The play position: a plain C++ line item (no Python in its paint or bounds), moved 40
    times a second in six views. pyqtgraph's InfiniteLine recomputes its bounds in Python on
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

    def __init__(self, object_name: str, title: str, left_axis: pg.AxisItem | None = None) -> None:
        axes = {"left": left_axis} if left_axis is not None else {}
        super().__init__(axisItems=axes)
        self.setObjectName(object_name)
        self.title = title
        item = self.getPlotItem()
        item.setMenuEnabled(False)
        item.hideButtons()
        item.setMouseEnabled(x=True, y=False)
        item.getAxis("left").setWidth(44)
        self.label = pg.TextItem(title, color=theme.TEXT, anchor=(0, 0), fill=pg.mkBrush(20, 21, 24, 170))
        self.label.setZValue(20)
        self.label.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.addItem(self.label, ignoreBounds=True)
        self.playhead = Playhead()
        self.addItem(self.playhead, ignoreBounds=True)
        self.scene().sigMouseClicked.connect(self._clicked)
        item.vb.sigRangeChanged.connect(self._place_label)

    def show_time_axis(self, show: bool) -> None:
        self.getPlotItem().getAxis("bottom").setStyle(showValues=show)
        self.getPlotItem().getAxis("bottom").setHeight(22 if show else 4)

    def set_duration(self, seconds: float) -> None:
        vb = self.getPlotItem().vb
        vb.setLimits(xMin=0, xMax=max(seconds, 1e-3), minXRange=min(0.05, seconds))
        vb.setXRange(0, seconds, padding=0)

    def set_playhead(self, seconds: float) -> None:
        self.playhead.set_time(seconds)

    def _place_label(self, *_args) -> None:
        (x0, _x1), (y0, y1) = self.getPlotItem().vb.viewRange()
        self.label.setPos(x0, y1)
        self.playhead.set_span(y0, y1)

    def _clicked(self, event) -> None:
        if event.button() != 1 or event.double():
            return
        vb = self.getPlotItem().vb
        if vb.sceneBoundingRect().contains(event.scenePos()):
            self.seekRequested.emit(float(vb.mapSceneToView(event.scenePos()).x()))


class SpectrogramPlot(TimePlot):
    """One spectrogram image on a warped frequency axis."""

    def __init__(self, object_name: str, title: str) -> None:
        self.frequency_axis = FrequencyAxis()
        super().__init__(object_name, title, self.frequency_axis)
        self.image = cached_image(theme.SPECTROGRAM_MAP)
        self.addItem(self.image)
        self.getPlotItem().vb.setLimits(yMin=0, yMax=1)
        self.getPlotItem().vb.setYRange(0, 1, padding=0)
        self.spectrogram = None

    def set_spectrogram(self, spec, levels: tuple[float, float]) -> None:
        self.spectrogram = spec
        self.image.setImage(spec.db.T, autoLevels=False, levels=levels)
        self.image.setRect(QRectF(0, 0, spec.duration, 1))
        self.frequency_axis.set_scale(spec.scale, spec.max_hz)

    def clear_image(self) -> None:
        self.spectrogram = None
        self.image.clear()


class OverviewPlot(TimePlot):
    """The waveform (min/max envelope), which parts of the selected rendering exist, the loop."""

    loopChanged = Signal(float, float)

    def __init__(self) -> None:
        super().__init__("waveformOverview", "Waveform · rendered range")
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
        self.loop = pg.LinearRegionItem(brush=pg.mkBrush(79, 163, 255, 40), pen=pg.mkPen(theme.ACCENT))
        self.loop.setZValue(10)
        self.loop.hide()
        self.addItem(self.loop, ignoreBounds=True)
        self.loop.sigRegionChangeFinished.connect(lambda r: self.loopChanged.emit(*r.getRegion()))
        item.vb.setLimits(yMin=-1.25, yMax=1.05)
        item.vb.setYRange(-1.25, 1.05, padding=0)

    def set_envelope(self, env) -> None:
        x = (np.arange(env.low.shape[0]) + 0.5) * env.seconds_per_bin
        peak = max(float(np.abs(env.low).max(initial=0)), float(np.abs(env.high).max(initial=0)), 1e-6)
        scale = 1.0 / peak if peak < 1.0 else 1.0  # quiet clips still fill the lane
        self.fill.setCurves(pg.PlotDataItem(x, env.low * scale), pg.PlotDataItem(x, env.high * scale))

    def set_rendered(self, rendered: np.ndarray, chunk_seconds: float) -> None:
        self.rendered.setImage(rendered.astype(np.uint8)[None, :], autoLevels=False, levels=(0, 1))
        self.rendered.setRect(QRectF(0, -1.22, chunk_seconds * rendered.size, 0.14))

    def show_loop(self, start: float, end: float) -> None:
        self.loop.setRegion((start, end))
        self.loop.show()


class TokenPlot(TimePlot):
    """Code indices as an image: codebook (rows) by frame (columns); unused codebooks dimmed."""

    def __init__(self) -> None:
        super().__init__("tokenView", "Tokens (codebook × time, code index)")
        self.image = cached_image(theme.TOKEN_MAP)
        self.addItem(self.image)
        self.shade = pg.QtWidgets.QGraphicsRectItem()
        self.shade.setBrush(pg.mkBrush(10, 10, 12, 190))
        self.shade.setPen(pg.mkPen(None))
        self.shade.setZValue(5)
        self.addItem(self.shade, ignoreBounds=True)
        self.n_codebooks = 1
        self.duration = 0.0

    def set_codes(self, codes: np.ndarray, codebook_size: int, seconds_per_frame: float) -> None:
        """``codes`` ``[N, F]`` of one channel."""
        self.n_codebooks = codes.shape[0]
        self.duration = codes.shape[1] * seconds_per_frame
        self.image.setImage(codes.astype(np.float32), autoLevels=False, levels=(0, codebook_size - 1))
        self.image.setRect(QRectF(0, 0, self.duration, self.n_codebooks))
        vb = self.getPlotItem().vb
        vb.setLimits(yMin=0, yMax=self.n_codebooks)
        vb.setYRange(0, self.n_codebooks, padding=0)
        ticks = [(i + 0.5, str(i + 1)) for i in range(self.n_codebooks) if self.n_codebooks <= 16 or i % 4 == 0]
        self.getPlotItem().getAxis("left").setTicks([ticks])

    def set_selected(self, n: int) -> None:
        self.shade.setRect(QRectF(0, n, self.duration, self.n_codebooks - n))
