"""In-window messages: errors and warnings shown where the user is looking, not in a dialog.

A modal dialog would block the studio (and tests); a bar above the views keeps playback
going and can be dismissed. It shows the last few messages, newest first, coloured by the
most severe one, so a warning is not lost when an error follows it.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton

MAX_SHOWN = 3
SEVERITY = ("error", "warning", "info")
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
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 6, 4)
        layout.addWidget(self._label, 1)
        layout.addWidget(close)
        self.level = ""
        self._messages: list[tuple[str, str]] = []
        self.hide()

    def show_message(self, level: str, text: str) -> None:
        self._messages = [(level, text)] + [m for m in self._messages if m[1] != text][: MAX_SHOWN - 1]
        self.level = min((lvl for lvl, _ in self._messages), key=SEVERITY.index)
        background, foreground = COLOURS.get(self.level, COLOURS["info"])
        self.setStyleSheet(f"QFrame#messageBar {{ background: {background}; }} QLabel {{ color: {foreground}; }}")
        self._label.setText("\n".join(t for _, t in self._messages))
        self.show()

    def dismiss(self, level: str | None = None) -> None:
        """Remove all messages (or only those of ``level``); hide when none remain."""
        self._messages = [m for m in self._messages if level is not None and m[0] != level]
        if self._messages:
            self.show_message(*self._messages[0])
        else:
            self.level = ""
            self.hide()

    def text(self) -> str:
        return self._label.text() if not self.isHidden() else ""
