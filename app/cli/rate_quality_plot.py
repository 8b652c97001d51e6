"""The rate-quality chart of ``rvq-studio compare --plot``, drawn with QPainter into a PNG.

The command line has no window and must not need a display, so the chart is painted on a
QImage under Qt's offscreen platform (no widgets, no plotting package): bitrate across, the
first metric's mean up, one line per codec (its counts) and per classic coder (its bitrates),
and the contestants without a bitrate (the original, the anchors) as dashed levels.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from app.compare.contestants import model_label
from app.compare.rendering import Contestant
from model.atomic_file import atomic_path

SIZE = (900, 560)
MARGINS = (80, 50, 40, 60)  # left, top, right, bottom
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[low, high]``: steps of 1, 2 or 5 times a power of ten."""
    span = (high - low) or abs(high) or 1.0
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    return [first + k * step for k in range(int(math.ceil((high - first) / step)) + 1)]


def save_rate_quality_plot(target: str | Path, means: list[dict], chosen: list[Contestant]) -> None:
    """Draw the first metric of ``means`` (one per contestant, as ``compare`` reports them) against
    their measured bitrate and save it as PNG at ``target`` (atomically)."""
    from PySide6.QtCore import QCoreApplication

    from app.main import ensure_qt_application

    if QCoreApplication.instance() is None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # a file is written; no display is needed
    ensure_qt_application()  # the process's one application (the studio's kind), for fonts and painting
    metric = next(key for key in means[0] if key not in ("contestant", "files", "kbps"))
    image = _draw(metric, means, chosen)
    with atomic_path(target) as temp:
        if not image.save(temp, "PNG"):
            raise OSError(f"{target}: could not write the PNG")


def _series(chosen: list[Contestant]) -> dict[str, list[int]]:
    """Contestants with a bitrate grouped into lines: a codec's model, or the coder's kind."""
    groups: dict[str, list[int]] = {}
    for k, contestant in enumerate(chosen):
        if contestant.kind in ("codec", "opus", "mp3"):
            key = model_label(contestant.model) if contestant.kind == "codec" else contestant.kind
            groups.setdefault(key, []).append(k)
    return groups


def _draw(metric: str, means: list[dict], chosen: list[Contestant]):
    from PySide6.QtCore import QPointF, QRectF, Qt
    from PySide6.QtGui import QColor, QImage, QPainter, QPen

    width, height = SIZE
    left, top, right, bottom = MARGINS
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    values = [row.get(metric) for row in means]
    rates = [row.get("kbps") for row in means]
    shown = [v for v in values if v is not None]
    y_ticks = nice_ticks(min(shown), max(shown))
    x_ticks = nice_ticks(0.0, max([r for r in rates if r is not None], default=1.0))
    x_of = lambda kbps: left + (kbps - x_ticks[0]) / (x_ticks[-1] - x_ticks[0]) * (width - left - right)  # noqa: E731
    y_of = lambda v: height - bottom - (v - y_ticks[0]) / (y_ticks[-1] - y_ticks[0] or 1) * (height - top - bottom)  # noqa: E731
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    for x in x_ticks:
        painter.setPen(QPen(QColor("#cccccc"), 1))
        painter.drawLine(QPointF(x_of(x), top), QPointF(x_of(x), height - bottom))
        painter.setPen(QColor("#333333"))
        painter.drawText(QRectF(x_of(x) - 40, height - bottom + 6, 80, 20), Qt.AlignmentFlag.AlignHCenter, f"{x:g}")
    for y in y_ticks:
        painter.setPen(QPen(QColor("#cccccc"), 1))
        painter.drawLine(QPointF(left, y_of(y)), QPointF(width - right, y_of(y)))
        painter.setPen(QColor("#333333"))
        painter.drawText(QRectF(0, y_of(y) - 10, left - 8, 20), Qt.AlignmentFlag.AlignRight, f"{y:.3g}")
    painter.setPen(QColor("black"))
    painter.drawText(QRectF(0, height - 28, width, 20), Qt.AlignmentFlag.AlignHCenter, "measured kbit/s")
    painter.drawText(QRectF(0, 10, width, 24), Qt.AlignmentFlag.AlignHCenter,
                     f"{metric} against bitrate (mean over files)")
    for colour, (name, members) in zip(COLOURS * 4, _series(chosen).items()):
        points = sorted((rates[k], values[k], chosen[k].name) for k in members
                        if rates[k] is not None and values[k] is not None)
        painter.setPen(QPen(QColor(colour), 2))
        for (x0, y0, _), (x1, y1, _) in zip(points, points[1:]):
            painter.drawLine(QPointF(x_of(x0), y_of(y0)), QPointF(x_of(x1), y_of(y1)))
        for x, y, label in points:
            painter.drawEllipse(QPointF(x_of(x), y_of(y)), 4, 4)
            painter.drawText(QPointF(x_of(x) + 6, y_of(y) - 6), label)
    for k, contestant in enumerate(chosen):
        if rates[k] is None and values[k] is not None:
            painter.setPen(QPen(QColor("#555555"), 1, Qt.PenStyle.DashLine))
            painter.drawLine(QPointF(left, y_of(values[k])), QPointF(width - right, y_of(values[k])))
            painter.drawText(QPointF(left + 6, y_of(values[k]) - 4), contestant.name)
    painter.end()
    return image
