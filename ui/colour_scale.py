"""The spectrograms' colour scale: the colour map between its two handles, on a dB axis.

The two handles *are* the top and the bottom of the shown range: the upper one sits at
"Top dB", the lower one at "Top dB - Range". Dragging the upper handle moves the top (the
range grows or shrinks with it), the lower one moves the bottom, the band between them
moves both. Above the top every value is the brightest colour and below the bottom the
darkest, and the bar shows that too: it extends past both handles in those colours. The
axis stays put while dragging (so a handle follows the mouse) and is refitted around the new
range on release. pyqtgraph's ColorBarItem was not used: its handles rest at 25 % and 75 %
of the bar whatever the levels, which read as two unexplained extra values.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPolygonF
from PySide6.QtWidgets import QWidget

from ui import theme

MIN_RANGE_DB = 10.0
PAD_FRACTION = 0.15  # axis span beyond each handle, as a fraction of the range
BAR_X, BAR_WIDTH = 10, 16
MARGIN_TOP, MARGIN_BOTTOM = 22, 8
HANDLE_GRAB_PX = 7
TICK_SPACING_PX = 30


class ColourScale(QWidget):
    levelsChanged = Signal(float, float)  # (bottom, top) in dB, while a handle is dragged

    def __init__(self, colour_map: str, unit: str = "dBFS", limits: tuple[float, float] = (-220.0, 20.0)) -> None:
        super().__init__()
        self.setObjectName("colourScale")
        self.unit, self.limits = unit, limits
        lut = pg.colormap.get(colour_map).getLookupTable(nPts=256, alpha=False)
        self._rgb32 = (0xFF000000 | (lut[:, 0].astype(np.uint32) << 16) | (lut[:, 1].astype(np.uint32) << 8)
                       | lut[:, 2].astype(np.uint32))
        self._bar: tuple[tuple, QImage] | None = None  # (what it was made for, the image)
        self.low, self.high = -90.0, 0.0
        self.span = self._fitted_span()
        self._drag: tuple[str, float, float, float] | None = None  # (what, press y, low, high)
        self.setMouseTracking(True)
        self.setMinimumHeight(120)
        self.setToolTip("Colour scale of the spectrograms. Drag the upper handle to set the top, the lower "
                        "one to set the bottom (top − range), the band between them to move both.")

    def sizeHint(self) -> QSize:
        return QSize(70, 300)

    # -- levels -------------------------------------------------------------------------------
    def set_levels(self, low: float, high: float) -> None:
        self.low, self.high = float(low), float(high)
        if self._drag is None:
            self.span = self._fitted_span()
        self.update()

    def _fitted_span(self) -> tuple[float, float]:
        pad = PAD_FRACTION * (self.high - self.low)
        return self.low - pad, self.high + pad

    def y_of(self, db: float) -> float:
        low, high = self.span
        usable = self.height() - MARGIN_TOP - MARGIN_BOTTOM
        return MARGIN_TOP + (high - db) / (high - low) * usable

    def db_per_px(self) -> float:
        low, high = self.span
        return (high - low) / max(1, self.height() - MARGIN_TOP - MARGIN_BOTTOM)

    # -- mouse --------------------------------------------------------------------------------
    def grab_at(self, y: float) -> str | None:
        """What a press at ``y`` takes hold of: "top", "bottom", "band" or nothing."""
        top, bottom = self.y_of(self.high), self.y_of(self.low)
        if abs(y - top) <= HANDLE_GRAB_PX:
            return "top"
        if abs(y - bottom) <= HANDLE_GRAB_PX:
            return "bottom"
        return "band" if top < y < bottom else None

    def mousePressEvent(self, event) -> None:
        what = self.grab_at(event.position().y())
        if what is not None and event.button() == Qt.MouseButton.LeftButton:
            self._drag = (what, event.position().y(), self.low, self.high)

    def mouseMoveEvent(self, event) -> None:
        y = event.position().y()
        if self._drag is None:
            what = self.grab_at(y)
            self.setCursor(Qt.CursorShape.SizeVerCursor if what in ("top", "bottom") else
                           Qt.CursorShape.OpenHandCursor if what == "band" else Qt.CursorShape.ArrowCursor)
            return
        what, press_y, low, high = self._drag
        delta = round((press_y - y) * self.db_per_px())
        lo_limit, hi_limit = self.limits
        if what == "top":
            high = min(max(high + delta, low + MIN_RANGE_DB), hi_limit)
        elif what == "bottom":
            low = max(min(low + delta, high - MIN_RANGE_DB), lo_limit)
        else:
            delta = min(max(delta, lo_limit - low), hi_limit - high)
            low, high = low + delta, high + delta
        if (low, high) != (self.low, self.high):
            self.set_levels(low, high)
            self.levelsChanged.emit(low, high)

    def mouseReleaseEvent(self, event) -> None:
        if self._drag is not None:
            self._drag = None
            self.set_levels(self.low, self.high)

    # -- drawing ------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(theme.PLOT_BACKGROUND))
        bar_top, bar_bottom = MARGIN_TOP, self.height() - MARGIN_BOTTOM
        rows = max(1, bar_bottom - bar_top)
        painter.drawImage(QRectF(BAR_X, bar_top, BAR_WIDTH, rows), self._bar_image(rows))
        painter.setPen(QColor("#3a3c42"))
        painter.drawRect(QRectF(BAR_X, bar_top, BAR_WIDTH, rows))
        self._draw_ticks(painter, bar_top, bar_bottom)
        for db in (self.high, self.low):
            self._draw_handle(painter, self.y_of(db))
        painter.setPen(QColor(theme.MUTED))
        painter.drawText(QRectF(0, 2, self.width(), MARGIN_TOP - 6), Qt.AlignmentFlag.AlignCenter, self.unit)
        painter.end()

    def _bar_image(self, rows: int) -> QImage:
        """The bar's colours, one pixel per row, made again only when the levels or the height change.

        The window repaints this widget with its neighbours (a label that changes size relays
        out the window); a Python loop over the rows made that 12 ms of every such repaint."""
        key = (rows, self.span, self.low, self.high)
        if self._bar is None or self._bar[0] != key:
            db = self.span[1] - (np.arange(rows) + 0.5) * self.db_per_px()
            index = np.clip((db - self.low) / (self.high - self.low) * 255, 0, 255).astype(np.intp)
            pixels = np.ascontiguousarray(self._rgb32[index])
            image = QImage(pixels.data, 1, rows, 4, QImage.Format.Format_RGB32).copy()  # owns its pixels
            self._bar = key, image
        return self._bar[1]

    def _draw_ticks(self, painter: QPainter, bar_top: float, bar_bottom: float) -> None:
        per_px = self.db_per_px()
        step = next((s for s in (5, 10, 20, 30, 40, 60) if s / per_px >= TICK_SPACING_PX), 100)
        painter.setPen(QColor(theme.MUTED))
        x = BAR_X + BAR_WIDTH
        first = math.ceil(self.span[0] / step) * step
        for db in np.arange(first, self.span[1] + 1e-9, step):
            y = self.y_of(float(db))
            if not bar_top + 4 <= y <= bar_bottom - 4:
                continue
            painter.drawLine(QPointF(x, y), QPointF(x + 4, y))
            painter.drawText(QRectF(x + 6, y - 8, self.width() - x - 6, 16),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, f"{db:g}")

    def _draw_handle(self, painter: QPainter, y: float) -> None:
        """A line across the bar and a triangle pointing at it from the left."""
        painter.setPen(QColor(theme.TEXT))
        painter.drawLine(QPointF(BAR_X - 2, y), QPointF(BAR_X + BAR_WIDTH + 2, y))
        painter.setBrush(QColor(theme.TEXT))
        painter.drawPolygon(QPolygonF([QPointF(BAR_X - 2, y), QPointF(BAR_X - 9, y - 5), QPointF(BAR_X - 9, y + 5)]))
        painter.setBrush(Qt.BrushStyle.NoBrush)
