"""A label whose new texts do not ask its window for a new layout.

A QLabel whose size may change asks its parent's layout to be redone on every ``setText``;
the window then lays out and repaints every widget in it. The notes under the views and
the status fields change text on every rendered chunk and every slider move, and each
change cost the GUI thread a whole-window repaint (30-40 ms with the views drawn), during
which the audio it was waiting for was decoded more slowly too.

:class:`SteadyLabel` keeps a fixed size that only ever grows: a text that fits (the usual
case: the same note with other numbers) changes nothing but the label's own pixels; a
wider one widens it once. Texts known in advance can be reserved, so that even the first
of them fits.
"""
from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QLabel


class SteadyLabel(QLabel):
    """A QLabel of fixed size that grows to fit a wider text, and never shrinks."""

    def __init__(self, text: str = "",
                 alignment: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter) -> None:
        super().__init__(text)
        self.setAlignment(alignment)
        self._grow()

    def reserve(self, texts: Iterable[str]) -> None:
        """Grow to fit each of ``texts`` now (call it once the label's font and style are set)."""
        shown = self.text()
        for sample in texts:
            super().setText(sample)
            self._grow()
        super().setText(shown)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        if text == self.text():
            return
        super().setText(text)
        self._grow()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        """A new font or style (a stylesheet reached it through a new parent) may need more room."""
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._grow()

    def _grow(self) -> None:
        """Fix the size at the new text's, or keep the current one where that is larger."""
        hint = self.sizeHint()
        if self.minimumSize() == self.maximumSize():  # fixed already
            if hint.width() <= self.minimumWidth() and hint.height() <= self.minimumHeight():
                return
            hint = hint.expandedTo(self.minimumSize())
        self.setFixedSize(hint)
