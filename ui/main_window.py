"""The studio's main window (placeholder until the studio issue lands: shows model and file)."""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QMainWindow


class MainWindow(QMainWindow):
    def __init__(self, path: str | None = None, model: str = "default") -> None:
        super().__init__()
        self.setWindowTitle("RVQ Studio")
        self.resize(960, 600)
        text = f"<h2>RVQ Studio</h2><p>Model: {model}</p><p>File: {path or '(none)'}</p>"
        label = QLabel(text)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setCentralWidget(label)

    def save_screenshot_when_ready(self, out_path: str) -> int:
        self.show()
        QTimer.singleShot(0, self.close)
        pixmap = self.grab()
        return 0 if pixmap.save(out_path) else 1


def build_main_window(path: str | None = None, model: str = "default") -> MainWindow:
    return MainWindow(path, model)
