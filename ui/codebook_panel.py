"""How the clip uses each codebook: a usage heatmap, entropy per codebook, bitrate efficiency.

The heatmap is codebook (rows) by code index (columns) with ``log10(1 + count)`` so rare
and frequent codes are both visible; a codebook that uses few of its entries shows as a
mostly dark row. Entropy bars sit under it against the ``log2(codebook_size)`` ceiling;
efficiency is the sum of entropies over the nominal bits. For grouped quantizers (a family
whose ``describe()['groups']`` gives the group and level of every codebook, as HiFi-Codec
does) rows are labelled ``L<level> G<group>``, a line separates the levels, and the entropy
bars take one colour per group.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ui import theme


GROUP_COLOURS = (theme.ACCENT, theme.OPUS, theme.ORIGINAL, theme.PLAYHEAD)


class CodebookPanel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.summary = QLabel("Open a clip to see how it uses the codebooks.")
        self.summary.setWordWrap(True)
        self.usage = theme.panel_plot("codebookUsage", "code index", "codebook")
        item = self.usage.getPlotItem()
        item.setTitle("Code usage (log count)", color=theme.MUTED, size="9pt")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get(theme.USAGE_MAP))
        item.addItem(self.image)
        self.group_lines: list[pg.InfiniteLine] = []
        self.group_of: list[int] = []

        self.entropy = theme.panel_plot("codebookEntropy", "codebook", "entropy (bits)")
        e = self.entropy.getPlotItem()
        e.setMouseEnabled(x=False, y=False)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush=theme.ACCENT)
        e.addItem(self.bars)
        self.ceiling = pg.InfiniteLine(angle=0, pen=pg.mkPen(theme.MUTED, style=pg.QtCore.Qt.PenStyle.DashLine))
        e.addItem(self.ceiling)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.summary)
        layout.addWidget(self.usage, 3)
        layout.addWidget(self.entropy, 2)

    def set_stats(self, stats, groups: dict | None = None) -> None:
        counts = np.log10(1.0 + stats.counts.astype(np.float32))
        n, size = counts.shape
        self.image.setImage(counts, autoLevels=False, levels=(0, max(1e-3, float(counts.max()))))
        self.image.setRect(QRectF(0, 0.5, size, n))
        item = self.usage.getPlotItem()
        group_of = (groups or {}).get("group_of_codebook") or [0] * n
        level_of = (groups or {}).get("level_of_codebook") or list(range(n))
        names = [f"L{level_of[i]} G{group_of[i]}" if groups else str(i + 1) for i in range(n)]
        item.getAxis("left").setTicks([[(i + 1, names[i]) for i in range(n) if n <= 16 or i % 4 == 0]])
        item.vb.setLimits(xMin=0, xMax=size, yMin=0.5, yMax=n + 0.5)
        item.vb.setRange(xRange=(0, size), yRange=(0.5, n + 0.5), padding=0)
        for line in self.group_lines:
            item.removeItem(line)
        self.group_lines = []
        level_starts = [i for i in range(1, n) if level_of[i] != level_of[i - 1]] if groups else []
        for boundary in level_starts:
            line = pg.InfiniteLine(boundary + 0.5, angle=0, pen=pg.mkPen(theme.PLAYHEAD, width=1.5))
            item.addItem(line)
            self.group_lines.append(line)
        x = np.arange(1, n + 1)
        self.group_of = group_of
        self.bars.setOpts(x=x, height=stats.entropy_bits, width=0.7)
        self.ceiling.setValue(stats.bits_per_code)
        self.entropy.getPlotItem().vb.setRange(xRange=(0.4, n + 0.6), yRange=(0, stats.bits_per_code * 1.08),
                                               padding=0)
        used = ", ".join(f"{u}" for u in stats.used)
        self.summary.setText(
            f"<b>Bitrate efficiency {stats.efficiency:.1%}</b> — entropy used of {stats.bits_per_code:.0f} "
            f"bits per code, averaged over {n} codebooks.<br><span style='color:{theme.MUTED}'>"
            f"Entries used per codebook: {used}</span>")

    def set_selected(self, n: int) -> None:
        """Codebooks in use (the first n) in colour -- one per group -- the rest grey."""
        count = len(self.bars.opts["x"])
        groups = self.group_of or [0] * count
        brushes = [pg.mkBrush(GROUP_COLOURS[groups[i] % len(GROUP_COLOURS)] if i < n else theme.UNRENDERED)
                   for i in range(count)]
        if brushes:
            self.bars.setOpts(brushes=brushes)
