"""Output level meters per channel in dBFS on a -60..0 dB scale: peak and RMS bars, peak hold, clip lights.

The window's frame timer takes from the player the peak and the RMS of everything played
since its previous look (:meth:`app.playback.player.AudioPlayer.take_levels`, so no block's
peak is missed) and hands them to :meth:`LevelMeter.set_levels`. The look is the usual
peak + RMS meter: a dim outer bar for the peak and a bright inner one for the RMS, which is
nearer to how loud it sounds. The peak's ballistics are those of a digital peak programme
meter: the bar rises at once and falls at :data:`FALL_DB_PER_S`, so short peaks stay
visible; a hold marker (and the number beside the bar) stays on the highest recent peak for
:data:`HOLD_S`, then falls; a clip light latches when a sample reaches full scale -- where
the device clips -- until the meter is clicked. The RMS bar integrates the mean square
exponentially over :data:`RMS_TIME_S` (a 25 ms RMS alone jumps by several dB on music).
Falling and integrating are computed from elapsed time, not from the number of frames, so a
GUI thread that is late now and then shows the same meter.
"""
from __future__ import annotations

import math
import time

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QWidget

FLOOR_DB = -60.0
FALL_DB_PER_S = 20.0
HOLD_S = 1.5
RMS_TIME_S = 0.3  # the RMS bar's integration time, as on a VU meter
CLIP_PEAK = 1.0  # 0 dBFS
SCALE_DB = (-60, -40, -20, -12, -6, 0)
ZONES = ((-18.0, "#2f9e44"), (-6.0, "#d9b830"), (0.0, "#e03131"))  # (upper edge in dB, colour), bottom up
CHANNEL_NAMES = ("L", "R")
BAR_HEIGHT, BAR_GAP, NAME_WIDTH, CLIP_WIDTH, READOUT_WIDTH = 10, 3, 12, 10, 40
RMS_INSET = 2  # px above and below the RMS bar, inside the peak bar
PEAK_DARKER = 190  # the peak bar's colours, dimmed (Qt's QColor.darker percent) under the bright RMS bar


def level_db(level: float) -> float:
    """A linear level (peak or RMS) in dBFS, no lower than the meter's floor."""
    return max(FLOOR_DB, 20 * math.log10(level)) if level > 0 else FLOOR_DB


class LevelMeter(QWidget):
    def __init__(self, channels: int = 2) -> None:
        super().__init__()
        self.setObjectName("levelMeter")
        self.level_db = [FLOOR_DB] * channels  # the peak bars
        self.hold_db = [FLOOR_DB] * channels  # the hold markers and numbers
        self.rms_db = [FLOOR_DB] * channels  # the RMS bars
        self.clipped = [False] * channels
        self._hold_until = [0.0] * channels
        self._mean_square = [0.0] * channels
        self._last: float | None = None
        self.setMinimumWidth(210)  # the transport bar must fit a 1280 px window
        self.setMinimumHeight(42)
        self.setToolTip("Output level per channel, dBFS: the bright inner bar is the RMS (over "
                        f"{RMS_TIME_S * 1000:.0f} ms), the dim outer one the peak. The tick and the number hold the "
                        f"highest peak for {HOLD_S:g} s; the red light latches at 0 dBFS (clipping): click to reset.")

    def sizeHint(self) -> QSize:
        return QSize(340, 42)

    def set_levels(self, peaks, rms, now: float | None = None) -> None:
        """The peak and the RMS (linear, 0..1+) per channel of what was played since the last call."""
        now = time.monotonic() if now is None else now
        elapsed = min(now - self._last, 1.0) if self._last is not None else None
        self._last = now
        fall = FALL_DB_PER_S * (elapsed or 0.0)
        keep = math.exp(-elapsed / RMS_TIME_S) if elapsed is not None else 0.0  # the first reading counts whole
        for i, (peak, level) in enumerate(list(zip(peaks, rms))[: len(self.level_db)]):
            db = level_db(float(peak))
            self.level_db[i] = max(db, self.level_db[i] - fall)
            if db >= self.hold_db[i]:
                self.hold_db[i], self._hold_until[i] = db, now + HOLD_S
            elif now > self._hold_until[i]:
                self.hold_db[i] = max(self.hold_db[i] - fall, self.level_db[i])
            self.clipped[i] |= peak >= CLIP_PEAK
            self._mean_square[i] = keep * self._mean_square[i] + (1.0 - keep) * float(level) ** 2
            self.rms_db[i] = level_db(math.sqrt(self._mean_square[i]))
        self.update()

    def reset_clip(self) -> None:
        self.clipped = [False] * len(self.clipped)
        self.update()

    def mousePressEvent(self, event) -> None:
        self.reset_clip()

    # -- drawing ------------------------------------------------------------------------------
    def bar_span(self) -> tuple[float, float]:
        """(left, width) in pixels of the bars' scale, from the floor to full scale."""
        left = NAME_WIDTH
        return left, self.width() - CLIP_WIDTH - READOUT_WIDTH - 6 - left

    def x_of(self, db: float) -> float:
        """Where ``db`` sits on the bars (the scale is linear in dB)."""
        left, width = self.bar_span()
        return left + width * (min(max(db, FLOOR_DB), 0.0) - FLOOR_DB) / -FLOOR_DB

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#141518"))
        small = QFont(self.font())
        small.setPointSizeF(7.5)
        painter.setFont(small)
        left, width = self.bar_span()
        top = 3
        for i, db in enumerate(self.level_db):
            y = top + i * (BAR_HEIGHT + BAR_GAP)
            painter.setPen(QColor("#8a8d94"))
            painter.drawText(QRectF(0, y - 2, NAME_WIDTH - 2, BAR_HEIGHT + 4), Qt.AlignmentFlag.AlignCenter,
                             CHANNEL_NAMES[i] if len(self.level_db) == 2 else str(i + 1))
            painter.fillRect(QRectF(left, y, width, BAR_HEIGHT), QColor("#25272b"))
            self._draw_bar(painter, y, BAR_HEIGHT, db, PEAK_DARKER)
            self._draw_bar(painter, y + RMS_INSET, BAR_HEIGHT - 2 * RMS_INSET, self.rms_db[i])
            hold = self.hold_db[i]
            if hold > FLOOR_DB:
                x = self.x_of(hold)
                painter.fillRect(QRectF(x - 1, y, 2, BAR_HEIGHT), QColor("#f1f3f5"))
            clip = QRectF(left + width + 3, y, CLIP_WIDTH, BAR_HEIGHT)
            painter.fillRect(clip, QColor("#ff3b3b") if self.clipped[i] else QColor("#3a2326"))
            painter.setPen(QColor("#e03131") if self.clipped[i] else QColor("#d8d9dc"))
            painter.drawText(QRectF(clip.right() + 3, y - 3, READOUT_WIDTH, BAR_HEIGHT + 6),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             f"{hold:.1f}" if hold > FLOOR_DB else "-inf")
        self._draw_scale(painter, top + len(self.level_db) * (BAR_HEIGHT + BAR_GAP))
        painter.end()

    def _draw_bar(self, painter: QPainter, y: float, height: float, db: float, darker: int = 100) -> None:
        """A bar up to ``db``, ``height`` px tall from ``y``, in the zones' colours made ``darker`` (Qt's percent)."""
        low = FLOOR_DB
        for edge, colour in ZONES:  # hard colour zones, as on a hardware meter
            high = min(db, edge)
            if high > low:
                x0, x1 = self.x_of(low), self.x_of(high)
                painter.fillRect(QRectF(x0, y, x1 - x0, height), QColor(colour).darker(darker))
            low = edge
            if db <= edge:
                break

    def _draw_scale(self, painter: QPainter, y: float) -> None:
        painter.setPen(QColor("#8a8d94"))
        for mark in SCALE_DB:
            x = self.x_of(mark)
            painter.drawLine(int(round(x)), int(y - BAR_GAP + 1), int(round(x)), int(y))
            text = f"{mark}"
            rect = QRectF(x - 18, y, 36, self.height() - y)
            align = Qt.AlignmentFlag.AlignHCenter
            if mark == SCALE_DB[0]:
                rect, align = QRectF(x - 1, y, 36, self.height() - y), Qt.AlignmentFlag.AlignLeft
            painter.drawText(rect, align | Qt.AlignmentFlag.AlignTop, text)
