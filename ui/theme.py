"""The studio's look: a dark Fusion palette and matching pyqtgraph defaults.

Audio tools are dark so that spectrograms and meters carry the contrast; one accent colour
marks what is selected or playing. Colours live here once so every view agrees.
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QWidget

BACKGROUND = "#1b1c1f"
PANEL = "#232428"
PLOT_BACKGROUND = "#141518"
TEXT = "#d8d9dc"
MUTED = "#8a8d94"
ACCENT = "#4fa3ff"
PLAYHEAD = "#ffcc33"
ORIGINAL = "#9ad17b"
RECONSTRUCTION = "#4fa3ff"
RESIDUAL = "#ff7a66"
OPUS = "#c792ea"
RENDERED = "#46a35a"
UNRENDERED = "#4a4c52"
SPECTROGRAM_MAP = "inferno"
TOKEN_MAP = "turbo"
USAGE_MAP = "viridis"


def apply(app: QApplication) -> None:
    """Dark palette for the whole application and pyqtgraph's defaults."""
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: BACKGROUND, QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: PLOT_BACKGROUND, QPalette.ColorRole.AlternateBase: PANEL,
        QPalette.ColorRole.Text: TEXT, QPalette.ColorRole.Button: PANEL,
        QPalette.ColorRole.ButtonText: TEXT, QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: "#0b0c0e", QPalette.ColorRole.ToolTipBase: PANEL,
        QPalette.ColorRole.ToolTipText: TEXT, QPalette.ColorRole.PlaceholderText: MUTED,
    }
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor(MUTED))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(MUTED))
    app.setPalette(palette)
    font = QFont(app.font())
    font.setPointSize(9)
    app.setFont(font)
    app.setStyleSheet(STYLE)
    pg.setConfigOptions(background=PLOT_BACKGROUND, foreground=MUTED, antialias=False, imageAxisOrder="row-major")


STYLE = f"""
QToolBar {{ background: {PANEL}; border: none; spacing: 6px; padding: 3px; }}
QStatusBar {{ background: {PANEL}; color: {MUTED}; }}
QTabWidget::pane {{ border: 1px solid #2e3035; }}
QTabBar::tab {{ background: {PANEL}; color: {MUTED}; padding: 5px 12px; border: none; }}
QTabBar::tab:selected {{ color: {TEXT}; border-bottom: 2px solid {ACCENT}; }}
QPushButton#sourceButton, QPushButton#loopButton {{ padding: 4px 8px; border: 1px solid #3a3c42; background: {PANEL}; }}
QPushButton#sourceButton:checked, QPushButton#loopButton:checked {{
    background: {ACCENT}; color: #0b0c0e; border-color: {ACCENT}; }}
QWidget#titleStrip {{ background: {PANEL}; }}
QLabel#viewTitle {{ color: {TEXT}; font-weight: bold; font-size: 8pt; }}
QLabel#viewNote {{ color: {MUTED}; font-size: 8pt; }}
QStatusBar QLabel {{ color: {MUTED}; padding: 0 8px; border-right: 1px solid #3a3c42; }}
QLabel#bitrateLabel {{ color: {TEXT}; font-weight: bold; }}
QLabel#clockLabel {{ color: {PLAYHEAD}; }}
QTableWidget {{ gridline-color: #2e3035; }}
QHeaderView::section {{ background: {PANEL}; color: {MUTED}; border: none; padding: 3px; }}
"""


def control_row(caption: str, control: QWidget) -> QHBoxLayout:
    """A muted caption and the control it names, the control taking the rest of the row."""
    row = QHBoxLayout()
    label = QLabel(caption)
    label.setStyleSheet(f"color: {MUTED};")
    row.addWidget(label)
    row.addWidget(control, 1)
    return row


def panel_plot(object_name: str, bottom: str, left: str | None = None) -> pg.PlotWidget:
    """A plot for the side panels: named, labelled, without pyqtgraph's context menu and 'A' button."""
    plot = pg.PlotWidget()
    plot.setObjectName(object_name)
    item = plot.getPlotItem()
    item.setMenuEnabled(False)
    item.hideButtons()
    item.setLabel("bottom", bottom)
    if left is not None:
        item.setLabel("left", left)
    return plot
