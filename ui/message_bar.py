"""In-window messages: errors and warnings shown where the user is looking, not in a dialog.

A modal dialog would block the studio (and tests); a bar above the views keeps playback
going and can be dismissed. It takes one line whatever arrives, so messages never squeeze
the views: the latest, coloured by its own severity (a "Saved" after an error is not red),
and a button counting the earlier ones that unfolds them. An information message is a
status (where an export stands, what was saved): a newer one supersedes it, so a "will be
written when the clip is encoded" note does not stay beside the "Saved" that fulfils it.
Errors and warnings stay until the user closes the bar, however many notes follow.
"""
from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton

MAX_KEPT = 20
COLOURS = {"error": ("#4a1f22", "#ff9a9a"), "warning": ("#45391a", "#ffd479"), "info": ("#1d3347", "#9ccfff")}
STATUS = "info"


class MessageBar(QFrame):
    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("messageBar")
        self._label = QLabel()
        self._label.setObjectName("messageText")
        self._label.setWordWrap(False)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # however long the text, it is elided to the bar, never widening the window
        self._label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.earlier = QToolButton()
        self.earlier.setObjectName("messageEarlier")
        self.earlier.setAutoRaise(True)
        self.earlier.setCheckable(True)
        self.earlier.setToolTip("Show the earlier messages")
        self.earlier.toggled.connect(self._show_latest)
        self.close_button = QToolButton()
        self.close_button.setObjectName("messageClose")
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Dismiss the messages")
        self.close_button.clicked.connect(lambda: self.dismiss())
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 6, 4)
        layout.addWidget(self._label, 1)
        layout.addWidget(self.earlier, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.level = ""
        self._messages: list[tuple[str, str]] = []  # (level, text), newest first
        self.hide()

    def show_message(self, level: str, text: str) -> None:
        """Show ``text`` on the bar; an earlier status (information) message gives way to it."""
        kept = [m for m in self._messages if m[1] != text and not (level == STATUS and m[0] == STATUS)]
        self._messages = [(level, text), *kept][:MAX_KEPT]
        self._show_latest()

    def dismiss(self, level: str | None = None) -> None:
        """Remove all messages (or only those of ``level``); hide when none remain."""
        self._messages = [m for m in self._messages if level is not None and m[0] != level]
        self._show_latest()

    def text(self) -> str:
        """The latest message, whole (the bar may show it elided)."""
        return self._messages[0][1] if self._messages and not self.isHidden() else ""

    def messages(self) -> list[tuple[str, str]]:
        """Every ``(level, text)`` kept, newest first."""
        return list(self._messages)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        if self._messages and not self.earlier.isChecked():
            self._show_latest()

    def _show_latest(self) -> None:
        if not self._messages:
            self.level = ""
            self.earlier.setChecked(False)
            self.hide()
            return
        self.level, latest = self._messages[0]
        background, foreground = COLOURS.get(self.level, COLOURS[STATUS])
        self.setStyleSheet(f"QFrame#messageBar {{ background: {background}; }} QLabel {{ color: {foreground}; }}")
        more = len(self._messages) - 1
        self.earlier.setVisible(more > 0)
        self.earlier.setText(f"{more} earlier {'▴' if self.earlier.isChecked() else '▾'}")
        if more and self.earlier.isChecked():
            self._label.setTextFormat(Qt.TextFormat.RichText)
            self._label.setText("<br>".join(
                f"<span style='color:{COLOURS.get(level, COLOURS[STATUS])[1]}'>{html.escape(text)}</span>"
                for level, text in self._messages))
        else:
            self._label.setTextFormat(Qt.TextFormat.PlainText)
            line = " ".join(latest.split())
            self._label.setText(self._label.fontMetrics().elidedText(line, Qt.TextElideMode.ElideRight,
                                                                     max(self._label.width(), 1)))
        self._label.setToolTip("\n".join(text for _, text in self._messages))
        self.show()
