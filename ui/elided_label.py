"""A label of a fixed width that elides what does not fit and shows it whole in its tooltip.

For a field whose text has no known widest form -- a model's name -- beside others in a row:
a label that grew with its text would push its neighbours along whenever the text changed
(the status bar's fields moved with every model loaded).
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QLabel


class ElidedLabel(QLabel):
    """A QLabel ``chars`` average characters wide, whatever its text."""

    def __init__(self, text: str = "", chars: int = 30) -> None:
        super().__init__()
        self._chars = chars
        self._text = text
        self._fit()

    def full_text(self) -> str:
        """The text as set, not as shown elided."""
        return self._text

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        self._text = text
        self._show()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        """A new font or style changes what fits in the width."""
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._fit()

    def _fit(self) -> None:
        margins = self.contentsMargins()
        self.setFixedWidth(self.fontMetrics().averageCharWidth() * self._chars + margins.left() + margins.right())
        self._show()

    def _show(self) -> None:
        room = self.width() - self.contentsMargins().left() - self.contentsMargins().right()
        shown = self.fontMetrics().elidedText(self._text, Qt.TextElideMode.ElideMiddle, room)
        super().setText(shown)
        self.setToolTip(self._text if shown != self._text else "")
