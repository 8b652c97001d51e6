"""Output level meters: peak per channel in dBFS with a slow-falling hold.

The player writes the peak of each block it plays; the window's frame timer hands that to
:meth:`LevelMeter.set_peaks`, and the meter decays smoothly (about 20 dB/s) so short peaks
stay visible, as on a hardware meter.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QColor, QLinearGradient, QPainter
from PySide6.QtWidgets import QWidget

FLOOR_DB = -60.0
DECAY_DB_PER_TICK = 0.4


class LevelMeter(QWidget):
    def __init__(self, channels: int = 2) -> None:
        super().__init__()
        self.setObjectName("levelMeter")
        self.levels_db = [FLOOR_DB] * channels
        self.setMinimumWidth(120)
        self.setToolTip("Output level (peak dBFS)")

    def sizeHint(self) -> QSize:
        return QSize(160, 22)

    def set_peaks(self, peaks) -> None:
        for i, peak in enumerate(list(peaks)[: len(self.levels_db)]):
            db = 20 * math.log10(peak) if peak > 1e-6 else FLOOR_DB
            self.levels_db[i] = max(db, self.levels_db[i] - DECAY_DB_PER_TICK, FLOOR_DB)
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#141518"))
        gradient = QLinearGradient(0, 0, self.width(), 0)
        gradient.setColorAt(0.0, QColor("#2f9e44"))
        gradient.setColorAt(0.75, QColor("#e0c341"))
        gradient.setColorAt(1.0, QColor("#e03131"))
        rows = len(self.levels_db)
        h = (self.height() - 2 * (rows + 1)) / rows
        for i, db in enumerate(self.levels_db):
            fraction = (db - FLOOR_DB) / -FLOOR_DB
            painter.fillRect(QRectF(2, 2 + i * (h + 2), (self.width() - 4) * fraction, h), gradient)
        painter.setPen(QColor("#3a3c42"))
        for mark in (-48, -36, -24, -12, -6, 0):
            x = 2 + (self.width() - 4) * (mark - FLOOR_DB) / -FLOOR_DB
            painter.drawLine(int(x), 0, int(x), self.height())
        painter.end()
