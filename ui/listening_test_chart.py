"""The results chart of a listening test, painted directly so it exports to PNG as seen.

MUSHRA: the 0-100 scale with its five quality bands; per stimulus the overall mean with its
95 % confidence interval (thick), and beside it each clip's mean and interval (thin, one
colour per clip). ABX: per contestant the share of right answers, the 50 % guessing line, and
the one-sided p-value under each bar.
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QWidget

from app.listening_test.results import AbxScore, MushraSummary
from ui import theme

BANDS = [(80, "Excellent"), (60, "Good"), (40, "Fair"), (20, "Poor"), (0, "Bad")]
CLIP_COLOURS = ["#ffcc33", "#9ad17b", "#ff7a66", "#c792ea", "#5fd7d7", "#f78fb3"]
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 120, 24, 36, 72


class ResultsChart(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("listeningTestChart")
        self.setMinimumSize(640, 360)
        self.mushra: MushraSummary | None = None
        self.abx: list[AbxScore] = []
        self.stimuli: list[str] = []

    def show_mushra(self, summary: MushraSummary, stimuli: list[str]) -> None:
        self.mushra, self.abx, self.stimuli = summary, [], [s for s in stimuli if s in summary.overall]
        self.update()

    def show_abx(self, scores: list[AbxScore]) -> None:
        self.mushra, self.abx = None, scores
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor(theme.PLOT_BACKGROUND))
        plot = QRectF(MARGIN_LEFT, MARGIN_TOP, self.width() - MARGIN_LEFT - MARGIN_RIGHT,
                      self.height() - MARGIN_TOP - MARGIN_BOTTOM)
        if self.mushra is not None and self.stimuli:
            self._paint_mushra(painter, plot)
        elif self.abx:
            self._paint_abx(painter, plot)
        else:
            painter.setPen(QColor(theme.MUTED))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No answers yet")
        painter.end()

    @staticmethod
    def _y(plot: QRectF, value: float) -> float:
        return plot.bottom() - plot.height() * value / 100.0

    def _scale(self, painter: QPainter, plot: QRectF, bands: bool) -> None:
        for index, (low, label) in enumerate(BANDS if bands else [(v, f"{v} %") for v in (75, 50, 25, 0)]):
            high = 100 if index == 0 else (BANDS[index - 1][0] if bands else low + 25)
            top, bottom = self._y(plot, high), self._y(plot, low)
            if index % 2 == 0:
                painter.fillRect(QRectF(plot.left(), top, plot.width(), bottom - top), QColor(theme.PANEL))
            painter.setPen(QColor(theme.MUTED))
            painter.drawText(QRectF(4, top, MARGIN_LEFT - 44, bottom - top),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)
        painter.setPen(QPen(QColor(theme.MUTED), 1))
        painter.drawRect(plot)
        for value in range(0, 101, 20 if bands else 25):
            y = self._y(plot, value)
            painter.drawLine(QPointF(plot.left() - 4, y), QPointF(plot.left(), y))
            painter.drawText(QRectF(plot.left() - 34, y - 8, 28, 16), Qt.AlignmentFlag.AlignRight, str(value))

    def _column_labels(self, painter: QPainter, plot: QRectF, labels: list[str]) -> float:
        width = plot.width() / len(labels)
        painter.setPen(QColor(theme.TEXT))
        for i, label in enumerate(labels):
            painter.drawText(QRectF(plot.left() + i * width, plot.bottom() + 6, width, 40),
                             Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap, label)
        return width

    def _interval(self, painter: QPainter, plot: QRectF, x: float, mean: float, half: float | None,
                  colour: str, thick: bool) -> None:
        pen = QPen(QColor(colour), 3 if thick else 1.5)
        painter.setPen(pen)
        if half is not None:
            low, high = self._y(plot, max(0.0, mean - half)), self._y(plot, min(100.0, mean + half))
            painter.drawLine(QPointF(x, low), QPointF(x, high))
            cap = 7 if thick else 4
            painter.drawLine(QPointF(x - cap, low), QPointF(x + cap, low))
            painter.drawLine(QPointF(x - cap, high), QPointF(x + cap, high))
        painter.setBrush(QColor(colour))
        radius = 5 if thick else 3
        painter.drawEllipse(QPointF(x, self._y(plot, mean)), radius, radius)

    def _paint_mushra(self, painter: QPainter, plot: QRectF) -> None:
        summary = self.mushra
        self._scale(painter, plot, bands=True)
        width = self._column_labels(painter, plot, self.stimuli)
        clips = summary.clips
        for i, name in enumerate(self.stimuli):
            centre = plot.left() + (i + 0.5) * width
            overall = summary.overall[name]
            self._interval(painter, plot, centre - width * 0.18, overall.mean, overall.half_width, theme.ACCENT, True)
            for j, clip in enumerate(clips):
                interval = summary.per_clip[name].get(clip)
                if interval is not None:
                    x = centre + width * (0.02 + 0.3 * (j + 0.5) / len(clips))
                    self._interval(painter, plot, x, interval.mean, interval.half_width,
                                   CLIP_COLOURS[j % len(CLIP_COLOURS)], False)
        self._legend(painter, [("all clips", theme.ACCENT)] +
                     [(f"clip {j + 1}", CLIP_COLOURS[j % len(CLIP_COLOURS)]) for j in range(len(clips))])

    def _legend(self, painter: QPainter, entries: list[tuple[str, str]]) -> None:
        x = MARGIN_LEFT
        font = QFont(painter.font())
        painter.setFont(font)
        for label, colour in entries:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(colour))
            painter.drawEllipse(QPointF(x + 5, MARGIN_TOP / 2), 4, 4)
            painter.setPen(QColor(theme.TEXT))
            painter.drawText(QPointF(x + 14, MARGIN_TOP / 2 + 5), label)
            x += 24 + painter.fontMetrics().horizontalAdvance(label)

    def _paint_abx(self, painter: QPainter, plot: QRectF) -> None:
        self._scale(painter, plot, bands=False)
        several = len({s.listener for s in self.abx}) > 1
        labels = [(f"{s.contestant} ({s.listener})" if several else s.contestant) +
                  f"\n{s.correct}/{s.trials}, p = {s.p_value:.3g}" for s in self.abx]
        width = self._column_labels(painter, plot, labels)
        for i, score in enumerate(self.abx):
            share = 100.0 * score.correct / score.trials
            bar = QRectF(plot.left() + (i + 0.25) * width, self._y(plot, share), width * 0.5,
                         plot.bottom() - self._y(plot, share))
            painter.fillRect(bar, QColor(theme.ACCENT if score.p_value < 0.05 else theme.MUTED))
        painter.setPen(QPen(QColor(theme.PLAYHEAD), 1.5, Qt.PenStyle.DashLine))
        painter.drawLine(QPointF(plot.left(), self._y(plot, 50)), QPointF(plot.right(), self._y(plot, 50)))
        self._legend(painter, [("right answers (p < 0.05)", theme.ACCENT), ("not significant", theme.MUTED),
                               ("guessing", theme.PLAYHEAD)])
