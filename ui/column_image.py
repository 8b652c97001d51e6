"""Images coloured a range of columns at a time: the spectrograms and the tokens while they grow.

Given a float image, pyqtgraph colours all of it on every ``setImage``. While a rendering
streams in, that was four whole spectrograms (256 x 1600 values each) every 400 ms, and
both token blocks on every encoded piece, for a change of a few columns. A
:class:`ColumnImage` instead keeps the colour index of every pixel (uint8) and converts
only the columns it is told have changed, with pyqtgraph's own mapping of levels to its
256 colours (:func:`colour_indices`), so the picture is the same pixel for pixel. pyqtgraph
shows a uint8 image with a colour table as an indexed QImage made straight from that array,
converting nothing again.

Levels are in the values' own units (dB, code index) and go through the ImageItem's
``setLevels`` / ``getLevels``, as on a plain ImageItem; new levels recolour every column,
since every pixel may change. pyqtgraph's own levels stay unset: it is given indices.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsItem

COLOURS = 256


def colour_indices(values: np.ndarray, levels: tuple[float, float]) -> np.ndarray:
    """The colour-table index of each value: ``floor((v - low) * 256 / (high - low))`` clipped to
    0..255, computed as pyqtgraph computes it for a float image with a 256-colour table."""
    low, high = levels
    scale = COLOURS / ((high - low) or 1.0)
    return np.clip((values - low) * scale, 0, COLOURS - 1).astype(np.uint8)


class ColumnImage(pg.ImageItem):
    """A row-major image of ``values[rows, columns]`` in ``colour_map``, recoloured column range by range.

    It is drawn once into a device-sized pixmap: moving the playhead over it then costs a
    blit of the exposed strip instead of rescaling the whole image every frame."""

    def __init__(self, colour_map: str) -> None:
        super().__init__(axisOrder="row-major")
        self.setColorMap(pg.colormap.get(colour_map))
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.values: np.ndarray | None = None  # what is shown, in its own units (kept, not copied)
        self._levels = (0.0, 1.0)
        self._indices = np.zeros((0, 0), dtype=np.uint8)

    def set_values(self, values: np.ndarray, first: int = 0, end: int | None = None,
                   levels: tuple[float, float] | None = None) -> None:
        """Show ``values``, which differ from those shown only in columns ``[first, end)``.

        Every column is recoloured when there is nothing shown yet, the shape or the levels
        change, or no range is given. ``values`` is kept: outside the columns reported to
        change it must stay as it was shown."""
        end = values.shape[1] if end is None else end
        if levels is not None and (float(levels[0]), float(levels[1])) != self._levels:
            self._levels = (float(levels[0]), float(levels[1]))
            first, end = 0, values.shape[1]
        if self.values is None or values.shape != self.values.shape:
            self._indices = np.empty(values.shape, dtype=np.uint8)
            first, end = 0, values.shape[1]
        self.values = values
        if end > first:
            self._indices[:, first:end] = colour_indices(values[:, first:end], self._levels)
        self.setImage(self._indices, autoLevels=False)

    def setLevels(self, levels, update: bool = True) -> None:
        """New levels, in the values' units: every column is recoloured at once."""
        if self.values is None:
            self._levels = (float(levels[0]), float(levels[1]))
        else:
            self.set_values(self.values, levels=levels)

    def getLevels(self) -> np.ndarray:
        return np.array(self._levels)

    def clear(self) -> None:
        self.values = None
        super().clear()
