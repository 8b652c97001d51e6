"""A muted line of status text, word-wrapped in a fixed height, that changes without a layout.

A word-wrapped QLabel asks its window for a new layout whenever a new text changes its height,
and the window then lays out and repaints every view. A status that changes as measurements
arrive should only repaint itself: this widget reserves ``lines`` lines of height once and
draws whatever text it is given into them (the whole text is in its tooltip when it is cut).
"""
from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget


class StatusLine(QWidget):
    """``lines`` lines of wrapped text in ``colour``; setting a text repaints, never relays out."""

    def __init__(self, lines: int = 2, colour: str = "#8a8d94") -> None:
        super().__init__()
        self._text = ""
        self._colour = QColor(colour)
        self._lines = lines
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.fontMetrics().lineSpacing() * lines + 2)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        if text != self._text:
            self._text = text
            self.setToolTip(text)
            self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(200, self.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(40, self.height())

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.setPen(self._colour)
        painter.drawText(QRect(0, 0, self.width(), self.height()),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap, self._text)
