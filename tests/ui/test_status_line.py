"""The quality panel's status line changes as rows arrive without laying the window out again."""
from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget

from ui.status_line import StatusLine

TEXTS = ("Measuring: codec n = 1–12; Opus n = 7–12.", "Measuring: codec n = 12.",
         "Measured on five 4 s excerpts spread over the clip; a longer note that needs its second line.", "")


def test_new_texts_repaint_the_line_but_ask_for_no_layout(shown, layout_requests):
    panel = QWidget()
    layout = QVBoxLayout(panel)
    status = StatusLine(lines=2)
    layout.addWidget(status)
    layout.addWidget(QLabel("below"))
    shown(panel, 260, 200)
    height = status.height()
    for _ in range(20):  # layouts still due from showing the panel
        QApplication.processEvents()
    requests = layout_requests.watch(panel)
    for text in TEXTS:
        status.setText(text)
        QApplication.processEvents()
        assert status.text() == text and status.toolTip() == text
    assert requests.count == 0
    assert status.height() == height == 2 * status.fontMetrics().lineSpacing() + 2
