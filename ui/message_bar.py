"""In-window messages: errors and warnings shown where the user is looking, not in a dialog.

A modal dialog would block the studio (and tests); a bar above the views keeps playback
going, can be dismissed, and keeps the last message readable (``text()``) for tests.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton

COLOURS = {"error": ("#4a1f22", "#ff9a9a"), "warning": ("#45391a", "#ffd479"), "info": ("#1d3347", "#9ccfff")}


class MessageBar(QFrame):
    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("messageBar")
        self._label = QLabel()
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 6, 4)
        layout.addWidget(self._label, 1)
        layout.addWidget(close)
        self.level = ""
        self.hide()

    def show_message(self, level: str, text: str) -> None:
        background, foreground = COLOURS.get(level, COLOURS["info"])
        self.setStyleSheet(f"QFrame#messageBar {{ background: {background}; }} QLabel {{ color: {foreground}; }}")
        self.level = level
        self._label.setText(text)
        self.show()

    def text(self) -> str:
        return self._label.text() if self.isVisible() else ""
