"""How the clip uses each codebook: a usage heatmap, entropy per codebook, bitrate efficiency.

The heatmap is codebook (rows) by code (columns), coloured by ``log10(1 + count)`` with its
colour scale in counts beside it, so rare and frequent codes are both visible. A codebook
has far more codes than the panel has pixels (1024 in ~350 px), so neighbouring codes are
gathered into columns of a few codes each, coloured by the most used code among them -- a
used code never disappears between pixels -- and hovering a cell lists the codes in it.
Ordered by usage (the default), each row is sorted from the most used code down, which shows
at a glance how many codes a codebook really uses and how evenly; in code-index order the
rows look like noise, as a well-spread codebook should. Codebooks beyond the selected
n (not heard) are dimmed, with a line at n.

Under the heatmap, per codebook: the entropy in bits (bars), ``log2`` of the number of
entries used (the most entropy those entries could carry) and ``log2(codebook_size)``, the
bits a code costs; efficiency is the sum of entropies over the bits spent. For grouped
quantizers (a model whose ``codebook_groups`` give the channel group and level of every
codebook) rows are labelled ``L<level> G<group>``, a line separates the
levels, and the entropy bars take one colour per group. Codecs that name runs of their codebooks
(Mimi's semantic first codebook before the acoustic ones) have a line between runs and the name
of a one-codebook run on its row.

The figures belong to one clip: when another opens, :meth:`CodebookPanel.clear` empties the
panel at once and says its figures are on their way, until that clip's statistics arrive.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QComboBox, QGraphicsRectItem, QLabel, QToolTip, QVBoxLayout, QWidget

from ui import theme

GROUP_COLOURS = (theme.ACCENT, theme.OPUS, theme.ORIGINAL, theme.PLAYHEAD)
ORDERS = {"usage (most used first)": "usage", "code index": "index"}  # the first is the default
MIN_COLUMN_PX = 1.5  # a column narrower than this is gathered with its neighbours
COUNT_TICKS = (0, 1, 10, 100, 1000, 10000, 100000)
NO_CLIP = "Open a clip to see how it uses the codebooks."
NOT_YET = "Not yet: the codebook figures of this clip follow once it is encoded."


def gather_columns(counts: np.ndarray, codes_per_column: int) -> np.ndarray:
    """``[N, size]`` counts to ``[N, ceil(size / k)]``: the largest count of each run of ``k`` codes."""
    n, size = counts.shape
    pad = (-size) % codes_per_column
    padded = np.pad(counts, ((0, 0), (0, pad)))
    return padded.reshape(n, -1, codes_per_column).max(axis=2)


def usage_order(counts: np.ndarray) -> np.ndarray:
    """Per codebook, its codes from the most used to the least (ties by code index)."""
    return np.argsort(-counts, axis=1, kind="stable")


class CodebookPanel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.summary = QLabel(NO_CLIP)
        self.summary.setWordWrap(True)
        self.order_box = QComboBox()
        self.order_box.setObjectName("codebookOrder")
        self.order_box.addItems(list(ORDERS))
        self.order_box.setToolTip("Columns in code-index order, or each codebook's codes sorted by how often "
                                  "the clip uses them")
        self.order_box.currentTextChanged.connect(lambda _t: self._draw_heatmap())

        self.usage = theme.panel_plot("codebookUsage", "code index", "codebook")
        item = self.usage.getPlotItem()
        item.setMouseEnabled(x=False, y=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        item.addItem(self.image)
        self.count_bar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get(theme.USAGE_MAP), width=12,
                                         interactive=False, colorMapMenu=False, label="count")
        self.count_bar.setImageItem(self.image, insert_in=item)
        self.unheard = QGraphicsRectItem()
        self.unheard.setBrush(pg.mkBrush(10, 10, 12, 170))
        self.unheard.setPen(pg.mkPen(None))
        self.unheard.setZValue(5)
        item.addItem(self.unheard, ignoreBounds=True)
        self.n_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(theme.PLAYHEAD, width=1.5))
        self.n_line.setZValue(6)
        item.addItem(self.n_line, ignoreBounds=True)
        self.group_lines: list[pg.InfiniteLine] = []
        self.group_of: list[int] = []
        self.usage.scene().sigMouseMoved.connect(self._hover)
        item.vb.sigResized.connect(lambda *_a: self._draw_heatmap())

        self.entropy = theme.panel_plot("codebookEntropy", "codebook", "bits per code")
        e = self.entropy.getPlotItem()
        e.setMouseEnabled(x=False, y=False)
        e.setTitle(f"<span style='color:{theme.ACCENT}'>■ entropy</span>&nbsp;&nbsp;"
                   f"<span style='color:{theme.TEXT}'>▬ log2(entries used)</span>&nbsp;&nbsp;"
                   f"<span style='color:{theme.MUTED}'>- - bits a code costs</span>", size="8pt")
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush=theme.ACCENT)
        e.addItem(self.bars)
        self.used_marks = pg.PlotDataItem([], [], connect="pairs", pen=pg.mkPen(theme.TEXT, width=2))
        e.addItem(self.used_marks)
        self.ceiling = pg.InfiniteLine(angle=0, pen=pg.mkPen(theme.MUTED, style=pg.QtCore.Qt.PenStyle.DashLine))
        e.addItem(self.ceiling)

        self.stats = None
        self.n = 1
        self.codes_per_column = 1
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.summary)
        layout.addLayout(theme.control_row("Order codes by", self.order_box))
        layout.addWidget(self.usage, 3)
        layout.addWidget(self.entropy, 2)

    def clear(self, clip_open: bool) -> None:
        """Forget the figures shown (another clip, or none, is open now): an empty heatmap and
        no bars, and a summary saying whether this clip's figures are on their way."""
        self.stats = None
        self.image.clear()
        self.bars.setOpts(x=[], height=[], brushes=[])
        self.used_marks.setData([], [])
        self.unheard.setRect(QRectF())
        self.n_line.setVisible(False)
        self.summary.setText(NOT_YET if clip_open else NO_CLIP)

    @property
    def order(self) -> str:
        return ORDERS[self.order_box.currentText()]

    def set_stats(self, stats, groups: dict | None = None, spans: tuple[tuple[str, int, int], ...] = ()) -> None:
        """Show ``stats``; ``groups`` as :attr:`ModelInfo.codebook_groups`, ``spans`` as
        :attr:`ModelInfo.codebook_spans` (named runs of codebooks, separated by a line)."""
        self.stats = stats
        n, size = stats.counts.shape
        item = self.usage.getPlotItem()
        group_of = (groups or {}).get("group_of_codebook") or [0] * n
        level_of = (groups or {}).get("level_of_codebook") or list(range(n))
        names = [f"L{level_of[i]} G{group_of[i]}" if groups else str(i + 1) for i in range(n)]
        span_starts = {first: label for label, first, _stop in spans if first < n}
        named = {first for _label, first, stop in spans if stop - first == 1 and first < n}
        for first in named:  # a run of one row is named on it; longer runs by the line alone
            names[first] = f"{span_starts[first]} {names[first]}"
        # past 16 rows, every fourth is labelled, and the named ones: a label on the row after a named one
        # would overlap it and hide the name (Mimi's 32 rows: "semantic 1", not "2", at the bottom)
        item.getAxis("left").setTicks([[(i + 1, names[i]) for i in range(n) if n <= 16 or i in named or (
            (i % 4 == 0 or i in span_starts) and i - 1 not in named)]])
        for line in self.group_lines:
            item.removeItem(line)
        self.group_lines = []
        level_starts = [i for i in range(1, n) if level_of[i] != level_of[i - 1]] if groups else []
        for boundary in sorted(set(level_starts) | {i for i in span_starts if i > 0}):
            line = pg.InfiniteLine(boundary + 0.5, angle=0, pen=pg.mkPen(theme.RESIDUAL, width=1.5))
            item.addItem(line)
            self.group_lines.append(line)
        top = float(np.log10(1.0 + stats.counts.max(initial=1)))
        self.count_bar.setLevels((0.0, max(top, 1e-3)))
        self.count_bar.axis.setTicks([[(float(np.log10(1 + c)), f"{c:,}") for c in COUNT_TICKS
                                       if np.log10(1 + c) <= top + 1e-9]])
        self._draw_heatmap()

        x = np.arange(1, n + 1)
        self.group_of = group_of
        self.bars.setOpts(x=x, height=stats.entropy_bits, width=0.7)
        used_bits = np.log2(np.maximum(stats.used, 1)).astype(float)
        self.used_marks.setData(np.repeat(x, 2) + np.tile([-0.35, 0.35], n), np.repeat(used_bits, 2))
        self.ceiling.setValue(stats.bits_per_code)
        self.entropy.getPlotItem().vb.setRange(xRange=(0.4, n + 0.6), yRange=(0, stats.bits_per_code * 1.08),
                                               padding=0)
        used = np.asarray(stats.used)
        self.summary.setText(
            f"<b>Bitrate efficiency {stats.efficiency:.1%}</b><span style='color:{theme.MUTED}'> — the entropy of "
            f"the codes, as a share of the {stats.bits_per_code:g} bits each one costs ({n} codebooks)."
            f"<br>Entries used per codebook: {used.min():,}–{used.max():,} of {size:,} "
            f"(median {int(np.median(used)):,}).</span>")
        self.set_selected(self.n)

    def _draw_heatmap(self) -> None:
        if self.stats is None:
            return
        counts = self.stats.counts
        n, size = counts.shape
        item = self.usage.getPlotItem()
        most_used = int(max(self.stats.used))
        if self.order == "index":
            shown_codes = size
            item.setLabel("bottom", "code index")
        else:  # past the most entries any codebook uses, every rank is an unused code: leave them out
            counts = np.take_along_axis(counts, usage_order(counts), axis=1)
            shown_codes = min(size, int(np.ceil(most_used * 1.05 / 10) * 10))
            item.setLabel("bottom", f"usage rank (1 = most used; past {most_used:,} all unused, not shown)"
                          if shown_codes < size else "usage rank (1 = most used)")
        width_px = max(1.0, float(item.vb.width()))
        self.codes_per_column = max(1, int(np.ceil(shown_codes * MIN_COLUMN_PX / width_px)))
        shown = gather_columns(counts[:, :shown_codes], self.codes_per_column)
        self.image.setImage(np.log10(1.0 + shown.astype(np.float32)), autoLevels=False,
                            levels=self.count_bar.levels())
        self.image.setRect(QRectF(0, 0.5, shown.shape[1] * self.codes_per_column, n))
        item.vb.setLimits(xMin=0, xMax=shown_codes, yMin=0.5, yMax=n + 0.5)
        item.vb.setRange(xRange=(0, shown_codes), yRange=(0.5, n + 0.5), padding=0)

    def describe_cell(self, codebook: int, position: int) -> str:
        """What the heatmap cell at ``codebook`` (1-based) and code position ``position`` holds."""
        counts = self.stats.counts[codebook - 1]
        k = self.codes_per_column
        first = position // k * k
        positions = range(first, min(first + k, counts.size))
        if self.order == "usage":
            order = usage_order(counts[None])[0]
            listed = ", ".join(f"code {order[p]}: {counts[order[p]]:,}" for p in positions)
            where = f"usage ranks {first + 1}–{positions[-1] + 1}" if k > 1 else f"usage rank {first + 1}"
        else:
            listed = ", ".join(f"{p}: {counts[p]:,}" for p in positions)
            where = f"codes {first}–{positions[-1]}" if k > 1 else f"code {first}"
        return f"Codebook {codebook}, {where} — counts {listed}"

    def _hover(self, scene_pos) -> None:
        vb = self.usage.getPlotItem().vb
        if self.stats is None or not vb.sceneBoundingRect().contains(scene_pos):
            return
        point = vb.mapSceneToView(scene_pos)
        n, size = self.stats.counts.shape
        codebook, position = int(round(point.y())), int(point.x())
        if 1 <= codebook <= n and 0 <= position < size:
            QToolTip.showText(self.usage.mapToGlobal(self.usage.mapFromScene(scene_pos)),
                              self.describe_cell(codebook, position), self.usage)

    def set_selected(self, n: int) -> None:
        """Codebooks in use (the first n) in colour -- one per group -- the rest grey and dimmed."""
        self.n = n
        count = len(self.bars.opts["x"])
        groups = self.group_of or [0] * count
        brushes = [pg.mkBrush(GROUP_COLOURS[groups[i] % len(GROUP_COLOURS)] if i < n else theme.UNRENDERED)
                   for i in range(count)]
        if brushes:
            self.bars.setOpts(brushes=brushes)
        if self.stats is not None:
            total, size = self.stats.counts.shape
            self.unheard.setRect(QRectF(0, n + 0.5, size, total - n))
            self.n_line.setValue(n + 0.5)
            self.n_line.setVisible(n < total)
