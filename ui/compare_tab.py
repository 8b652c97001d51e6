"""The Compare tab: two to eight contestants on the studio's clip, heard one at a time on one
sample clock, and every codec's rate-quality curve on that clip.

Composition and wiring only; the work is :class:`app.compare.studio_comparison.StudioComparison`
(background renderings, the tab's own player, the chart's points). Left: the contestants
(``compareContestants``) with their nominal and measured bitrates, the editor that adds them
and the "match bitrate" control. Right: the switcher (``compareSwitcher``: a button per
contestant, keys 1-8 while the tab is shown, play/pause) and the chart (``compareChart``).
A contestant not rendered yet can be chosen: the player switches when it arrives. The studio's
loop region applies here too, and playing here pauses the studio. The tab reads the clip and
opens its output stream only once it is shown or given a contestant.
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QDoubleSpinBox, QFileDialog, QGroupBox, QHBoxLayout,
                               QLabel, QListWidget, QPushButton, QSpinBox, QSplitter, QVBoxLayout, QWidget)

from app.compare import contestants
from app.compare.contestants import ContestantError
from app.compare.studio_comparison import CHART_SECONDS, StudioComparison, chart_metrics
from app.playback.audio_output import StreamFactory
from app.studio.session import StudioSession
from app.studio.settings import StudioSettings
from ui import theme
from ui.message_bar import MessageBar
from ui.transport_bar import format_clock

FRAME_MS = 50
KINDS = ("Neural codec", "Opus", "MP3", "Original", "Anchor 3.5 kHz", "Anchor 7 kHz")
CLASSIC_COLOURS = {"opus": theme.OPUS, "mp3": "#f2a541"}
CODEC_COLOURS = (theme.RECONSTRUCTION, theme.ORIGINAL, theme.RESIDUAL, "#5fd3c6", "#e05fa0", theme.MUTED)
METRIC_KEYS = {"mel": "mel_distance", "stft": "stft_distance", "si_sdr": "si_sdr", "visqol": "visqol",
               "visqol_speech": "visqol_speech", "stoi": "stoi", "estoi": "estoi", "dnsmos": "dnsmos_ovrl",
               "pesq": "pesq"}


def contestant_text(index: int, spec, rendering, error: str | None) -> str:
    """A contestant's line: its key, name, bitrates (nominal and measured) and delay, or its state."""
    head = f"{index + 1}  {spec.name}"
    if error is not None:
        return f"{head}  —  failed: {error}"
    if rendering is None:
        return f"{head}  —  rendering…"
    contestant = rendering.contestant
    parts = []
    if contestant.n_codebooks is not None:
        parts.append(f"n = {contestant.n_codebooks}")
    if contestant.nominal_kbps is not None:
        parts.append(f"{contestant.nominal_kbps:.2f} kbps nominal")
    if rendering.measured_kbps is not None:
        parts.append(f"{rendering.measured_kbps:.2f} measured")
    if rendering.delay:
        parts.append(f"delay {rendering.delay} samples undone")
    return f"{head}  —  " + (", ".join(parts) if parts else "reference")


class CompareTab(QWidget):
    def __init__(self, session: StudioSession, settings: StudioSettings,
                 stream_factory: StreamFactory | None = None) -> None:
        super().__init__()
        self.setObjectName("compareTab")
        self.session, self.settings = session, settings
        self._clip_path: str | None = None
        self.comparison = StudioComparison(stream_factory)
        self.comparison.set_fast_mode(settings.fast_mode())  # the models render as the studio's (View > Fast mode)
        self.messages = MessageBar()
        self._build_editor()
        self._build_switcher()
        self._build_chart()
        left = QWidget()
        column = QVBoxLayout(left)
        column.addWidget(self.editor)
        right = QWidget()
        column = QVBoxLayout(right)
        column.addWidget(self.switcher)
        column.addLayout(theme.control_row("Chart", self.metric_box))
        column.addWidget(self.chart, 1)
        column.addWidget(self.chart_note)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([520, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.messages)
        layout.addWidget(splitter, 1)

        self.comparison.changed.connect(self._refresh)
        self.comparison.clipFailed.connect(lambda text: self.messages.show_message("error", text))
        session.clipChanged.connect(self._on_clip)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._on_frame)
        self.timer.start(FRAME_MS)
        self._refresh()

    # -- construction -------------------------------------------------------------------------
    def _build_editor(self) -> None:
        self.editor = QGroupBox("Contestants (2 to 8)")
        self.list = QListWidget()
        self.list.setObjectName("compareContestants")
        self.list.currentRowChanged.connect(self.comparison.select_index)
        self.kind_box = QComboBox()
        self.kind_box.addItems(KINDS)
        self.kind_box.currentIndexChanged.connect(self._kind_changed)
        self.model_box = QComboBox()
        self.model_box.setEditable(True)
        self.model_box.addItems(list(dict.fromkeys(["default", *self.settings.recent_models()])))
        browse = QPushButton("…")
        browse.setToolTip("choose a model file")
        browse.clicked.connect(self._browse)
        self.count_box = QSpinBox()
        self.count_box.setRange(0, 64)
        self.count_box.setSpecialValueText("all")
        self.count_box.setPrefix("n = ")
        self.kbps_box = QDoubleSpinBox()
        self.kbps_box.setRange(0.5, 320.0)
        self.kbps_box.setValue(12.0)
        self.kbps_box.setSuffix(" kbps")
        add, remove = QPushButton("Add"), QPushButton("Remove")
        add.setObjectName("compareAdd")
        add.clicked.connect(self._add)
        remove.clicked.connect(self._remove)
        self.match_box = QDoubleSpinBox()
        self.match_box.setRange(0.5, 320.0)
        self.match_box.setValue(6.0)
        self.match_box.setSuffix(" kbps")
        match = QPushButton("Match bitrate")
        match.setToolTip("every neural codec at the codebook count whose nominal bitrate is closest")
        match.clicked.connect(self._match)
        self.note = QLabel()
        self.note.setObjectName("viewNote")
        self.note.setWordWrap(True)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_box, 1)
        model_row.addWidget(browse)
        rate_row = QHBoxLayout()
        rate_row.addWidget(self.count_box)
        rate_row.addWidget(self.kbps_box)
        rate_row.addWidget(add)
        match_row = QHBoxLayout()
        match_row.addWidget(self.match_box)
        match_row.addWidget(match)
        match_row.addWidget(remove)
        layout = QVBoxLayout(self.editor)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.kind_box)
        layout.addLayout(model_row)
        layout.addLayout(rate_row)
        layout.addLayout(match_row)
        layout.addWidget(self.note)
        self._kind_changed()

    def _build_switcher(self) -> None:
        self.switcher = QWidget()
        self.switcher.setObjectName("compareSwitcher")
        self.switch_row = QHBoxLayout(self.switcher)
        self.switch_row.setContentsMargins(0, 0, 0, 0)
        self.play_button = QPushButton("Play")
        self.play_button.setObjectName("comparePlay")
        self.play_button.clicked.connect(self.toggle_play)
        self.time_label = QLabel("0:00.0")
        self.switch_group = QButtonGroup(self)
        self.switch_group.setExclusive(True)
        self.switch_group.idClicked.connect(self.select_index)
        self.switch_buttons: list[QPushButton] = []

    def _build_chart(self) -> None:
        self.metric_box = QComboBox()
        self.metric_box.addItems(chart_metrics())
        self.chart_note = QLabel()
        self.chart_note.setObjectName("viewNote")
        self.chart_note.setWordWrap(True)
        self.metric_box.currentTextChanged.connect(self.comparison.set_metric)
        self.chart = theme.panel_plot("compareChart", "measured bitrate (kbps)")
        self.chart.getPlotItem().addLegend(offset=(-10, 10))
        self.chosen = pg.ScatterPlotItem(size=15, brush=pg.mkBrush(None), pen=pg.mkPen(theme.PLAYHEAD, width=2))
        self.chart.getPlotItem().addItem(self.chosen)
        self._curves: dict[str, pg.PlotDataItem] = {}

    # -- user intent --------------------------------------------------------------------------
    def _kind_changed(self) -> None:
        kind = self.kind_box.currentIndex()
        self.model_box.setEnabled(kind == 0)
        self.count_box.setEnabled(kind == 0)
        self.kbps_box.setEnabled(kind in (0, 1, 2))
        self.kbps_box.setToolTip("for a neural codec with n = all: the bitrate its count should come closest to")

    def spec_from_editor(self):
        kind, kbps = self.kind_box.currentIndex(), self.kbps_box.value()
        if kind == 0:
            count = self.count_box.value()
            return contestants.codec(self.model_box.currentText().strip() or "default",
                                     n_codebooks=count or None, target_kbps=None if count else kbps)
        return (contestants.opus(kbps), contestants.mp3(kbps), contestants.original(),
                contestants.anchor(3500.0), contestants.anchor(7000.0))[kind - 1]

    def add(self, spec) -> None:
        try:
            self.comparison.add(spec)
            self._follow_clip()
        except ContestantError as exc:
            self.messages.show_message("warning", str(exc))

    def _add(self) -> None:
        try:
            self.add(self.spec_from_editor())
        except ContestantError as exc:
            self.messages.show_message("warning", str(exc))

    def _remove(self) -> None:
        row = self.list.currentRow()
        if 0 <= row < len(self.comparison.specs):
            self.comparison.remove(self.comparison.specs[row])

    def _match(self) -> None:
        try:
            self.comparison.match_bitrate(self.match_box.value())
        except ContestantError as exc:
            self.messages.show_message("warning", str(exc))

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model to compare", str(self.settings.models_folder()),
                                              "Models (*.safetensors *.pth *.th *.pt *.ckpt);;All files (*)")
        if path:
            self.model_box.setEditText(path)

    def select_index(self, index: int) -> None:
        self.comparison.select_index(index)

    def toggle_play(self) -> None:
        if not self.comparison.player.playing:
            self.session.player.pause()  # one player at a time
        self.comparison.toggle_play()

    def _on_clip(self, clip) -> None:
        self._clip_path = None if clip is None else str(clip.path)
        if self.isVisible() or self.comparison.specs:
            self._follow_clip()

    def _follow_clip(self) -> None:
        """Compare on the studio's clip. Only once the tab is used: until then it reads nothing
        and opens no output stream."""
        if self._clip_path != self.comparison.path:
            self.messages.dismiss("error")  # the bar's errors are the previous clip's failures
            self.comparison.open_clip(self._clip_path)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._follow_clip()

    # -- views --------------------------------------------------------------------------------
    def _refresh(self) -> None:
        c = self.comparison
        row = c.specs.index(c.selected) if c.selected in c.specs else -1
        self.list.blockSignals(True)
        self.list.clear()
        for k, spec in enumerate(c.specs):
            self.list.addItem(contestant_text(k, spec, c.renderings.get(spec), c.errors.get(spec)))
        self.list.setCurrentRow(row)
        self.list.blockSignals(False)
        self._refresh_switcher(row)
        self._refresh_chart()
        waiting = len(c.specs) - len(c.renderings) - len(c.errors)
        count = len(c.specs)
        self.note.setText(f"Nothing can be rendered: {c.clip_error}" if c.clip_error else
                          "Add at least two contestants." if count < 2 else
                          f"Rendering {waiting} of {count} in the background…" if waiting else
                          "All rendered, aligned to the clip. Keys 1–8 switch while playing.")

    def _refresh_switcher(self, selected: int) -> None:
        names = [spec.name for spec in self.comparison.specs]
        if [b.text().split("  ", 1)[-1] for b in self.switch_buttons] != names:
            for button in self.switch_buttons:
                self.switch_group.removeButton(button)
                button.deleteLater()
            while self.switch_row.count():
                self.switch_row.takeAt(0)
            self.switch_buttons = []
            for k, name in enumerate(names):
                button = QPushButton(f"{k + 1}  {name}")
                button.setObjectName("sourceButton")  # styled like the studio's source toggle
                button.setCheckable(True)
                self.switch_group.addButton(button, k)
                self.switch_row.addWidget(button)
                self.switch_buttons.append(button)
            self.switch_row.addStretch(1)
            self.switch_row.addWidget(self.time_label)
            self.switch_row.addWidget(self.play_button)
        for k, button in enumerate(self.switch_buttons):
            button.setChecked(k == selected)

    def _refresh_chart(self) -> None:
        c = self.comparison
        key = METRIC_KEYS.get(c.metric, c.metric)
        series: dict[str, list] = {}
        for point in c.points.values():
            value = point.scores.values.get(key)
            if value is not None:
                series.setdefault(point.series, []).append((point.measured_kbps, value, point.contestant))
        item = self.chart.getPlotItem()
        for name in list(self._curves):
            if name not in series:
                item.removeItem(self._curves.pop(name))
                item.legend.removeItem(name)
        for name, points in sorted(series.items()):
            points.sort()
            if name not in self._curves:
                codecs = sum(1 for known in self._curves if known not in CLASSIC_COLOURS)
                colour = CLASSIC_COLOURS.get(name, CODEC_COLOURS[codecs % len(CODEC_COLOURS)])
                self._curves[name] = item.plot([], [], name=name, pen=pg.mkPen(colour, width=2), symbol="o",
                                               symbolSize=6, symbolBrush=colour)
            self._curves[name].setData([p[0] for p in points], [p[1] for p in points])
        names = c.chart_names()
        chosen = [(p[0], p[1]) for points in series.values() for p in points if p[2] in names]
        self.chosen.setData([x for x, _ in chosen], [y for _, y in chosen])
        item.setLabel("left", key)
        reason, failed = c.chart_unavailable, c.chart_failures()
        if reason:
            self.chart_note.setText(f"{c.metric}: not measured here: {reason}")
        elif failed:
            self.chart_note.setText(f"Not shown (failed): {failed}. The rest measured on up to {CHART_SECONDS:g} s "
                                    "from the middle of the clip; the contestants are ringed.")
        else:
            self.chart_note.setText("Every count of each model, Opus and MP3 at a range of bitrates, measured on "
                                    f"up to {CHART_SECONDS:g} s from the middle of the clip; the contestants are ringed.")

    def _on_frame(self) -> None:
        c = self.comparison
        player = self.session.player
        lost = c.player.check_output()
        if lost:
            self.messages.show_message("warning", f"{lost[:1].upper()}{lost[1:]}.")
        if getattr(player, "playing", False) and c.player.playing:  # the studio started playing: one at a time
            c.player.pause()
        loop = player.loop
        if loop is not None and player.sample_rate:
            c.set_loop_seconds(loop[0] / player.sample_rate, loop[1] / player.sample_rate)
        else:
            c.set_loop_seconds(None, None)
        c.prefetch()  # every contestant read ahead of the playhead: a switch never waits on the disk
        self.time_label.setText("" if c.audio is None else  # (the player holds the previous clip until then)
                                f"{format_clock(c.player.position / c.audio.sample_rate)} / "
                                f"{format_clock(c.audio.duration)}")
        self.play_button.setText("Pause" if c.player.playing else "Play")

    def shutdown(self) -> None:
        self.timer.stop()
        self.comparison.close()
