"""The studio window: wires the widgets to :class:`app.studio.session.StudioSession`.

The window holds no state of its own beyond what it shows: every user intent goes to the
session, every change comes back as a session signal. A 40 Hz frame timer pulls the play
position and output levels from the player (the audio thread never calls into Qt) and
tells the session where the playhead is, which re-prioritises rendering.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6.QtCore import QDeadlineTimer, QEventLoop, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (QApplication, QComboBox, QFileDialog, QLabel, QMainWindow, QProgressBar,
                               QPushButton, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from app.listening_test.excerpts import Excerpt
from app.listening_test.model_provider import ModelStimulusProvider
from app.live.live_session import LiveSession
from app.playback.audio_output import StreamFactory
from app.studio.model_catalog import available_devices, demo_clips
from app.studio.settings import StudioSettings
from app.studio.session import StudioSession
from ui import theme
from ui.codebook_panel import CodebookPanel
from ui.elided_label import ElidedLabel
from ui.live_panel import LivePanel
from ui.message_bar import MessageBar
from ui.get_models_dialog import GetModelsDialog
from ui.listening_test_window import ListeningTestWindow
from ui.model_picker import ModelPicker
from ui.quality_panel import QualityPanel
from ui.steady_label import SteadyLabel
from ui.studio_texts import (measured_status, render_status, rendered_note, residual_note, residual_notes,
                             selection_texts)
from ui.timeline_panel import TimelinePanel
from ui.compare_tab import CompareTab
from ui.training_tab import TrainingTab
from ui.transport_bar import SOURCE_LABELS, TransportBar, hearing_note

AUDIO_FILTER = ("Audio files (*.wav *.flac *.ogg *.opus *.mp3 *.aif *.aiff *.ecdc);;EnCodec files (*.ecdc);;"
                "All files (*)")
MODEL_FILTER = "Model files (*.pth *.safetensors *.pt);;All files (*)"
FRAME_MS = 25  # 40 fps playhead and meters
SCREENSHOT_TIMEOUT_S = 1800
STATUS_MODEL_CHARS = 36  # width of the status bar's model field: a longer name is elided, never widening it


class MainWindow(QMainWindow):
    def __init__(self, path: str | None = None, model: str = "default", *,
                 stream_factory: StreamFactory | None = None, open_demo: bool = True,
                 session: StudioSession | None = None) -> None:
        super().__init__()
        app = QApplication.instance()
        theme.apply(app)
        self.setWindowTitle("RVQ Studio")
        self.setObjectName("studioWindow")
        self.resize(1480, 940)
        self.setAcceptDrops(True)
        self.settings = StudioSettings()
        self.session = session or StudioSession(stream_factory)
        self._clip_requested = False
        self._last_error = ""
        self._errors_shown = 0  # error messages shown so far: a screenshot ends at the first one
        self._levels_fitted = False  # the spectrograms' colour levels fit to the clip's original
        self._lanes: dict = {}  # n -> the latest figures of where the rendering at n breaks

        self.messages = MessageBar()
        self.timeline = TimelinePanel()
        self.quality = QualityPanel()
        self.codebooks = CodebookPanel()
        self.transport = TransportBar()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.quality, "Quality")
        self.tabs.addTab(self.codebooks, "Codebooks")
        self.live = LivePanel(LiveSession(self.session, output_factory=stream_factory))
        self.tabs.addTab(self.live, "Live")
        self.tabs.setMinimumWidth(440)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.timeline)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([1000, 470])
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 4, 6, 0)
        layout.setSpacing(4)
        layout.addWidget(self.messages)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.transport)
        self.training = TrainingTab(self.session, self.settings)
        self.pages = QTabWidget()
        self.pages.setObjectName("pages")
        self.pages.setDocumentMode(True)
        self.pages.addTab(central, "Studio")
        self.pages.addTab(self.training, "Training")
        self.compare = CompareTab(self.session, self.settings, stream_factory)
        self.pages.addTab(self.compare, "Compare")
        self.setCentralWidget(self.pages)
        self.get_models: GetModelsDialog | None = None  # made on first use (File > Get models…)
        self.listening_test: ListeningTestWindow | None = None  # made on first use (File > Listening test…)

        self._build_toolbar(model)
        self._build_status_bar()
        self._build_menus()
        self._build_shortcuts()
        self._connect()
        self.session.set_listening_metrics(self.settings.listening_metrics())
        self.session.fast_mode = self.settings.fast_mode()

        self.frame_timer = QTimer(self)
        self.frame_timer.setObjectName("frameTimer")
        self.frame_timer.timeout.connect(self._on_frame)
        self.frame_timer.start(FRAME_MS)

        self.session.load_model(model, self.device_box.currentText())
        self.settings.add_recent_model(model)
        if path is None and open_demo:
            demos = demo_clips()
            path = str(demos[0]) if demos else None
        if path is not None:
            self.open_file(path)
        else:
            self.messages.show_message("info", "Open an audio file (Ctrl+O) or drop one on the window.")

    # -- construction -------------------------------------------------------------------------
    def _build_toolbar(self, model: str) -> None:
        bar = self.addToolBar("Main")
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        open_button = QPushButton("Open…")
        open_button.clicked.connect(self.choose_file)
        bar.addWidget(open_button)
        bar.addSeparator()
        bar.addWidget(QLabel(" Model "))
        self.model_box = ModelPicker(self.settings, "Open checkpoint…")
        self.model_box.setObjectName("modelPicker")
        self.model_box.setMinimumWidth(260)
        self.model_box.fill(model)
        self.model_box.modelChosen.connect(self._model_chosen)
        self.model_box.browseRequested.connect(self.choose_checkpoint)
        bar.addWidget(self.model_box)
        bar.addWidget(QLabel(" Device "))
        self.device_box = QComboBox()
        self.device_box.setObjectName("devicePicker")
        self.device_box.addItems(available_devices())
        self.device_box.activated.connect(lambda _i: self._reload_model())
        bar.addWidget(self.device_box)
        bar.addSeparator()
        self.model_summary = QLabel("")
        self.model_summary.setStyleSheet(f"color: {theme.MUTED};")
        bar.addWidget(self.model_summary)

    def _build_status_bar(self) -> None:
        """Separate fields (model and device, bitrate, rendering, measuring), each its own label.

        Every field keeps its width when the model changes, so none moves: the model's name is
        elided to a fixed width (whole in its tooltip); the others are steady labels (see
        ui.steady_label: the rendering field changes with every chunk) with room for any model's
        widest text (see :meth:`_reserve_texts`)."""
        status = self.statusBar()
        self.status_model = ElidedLabel("No model", STATUS_MODEL_CHARS)
        self.status_model.setObjectName("statusModel")
        self.status_rate = SteadyLabel("")
        self.status_rate.setObjectName("statusRate")
        self.status_render = SteadyLabel("")
        self.status_render.setObjectName("statusRender")
        self.status_measured = SteadyLabel("")
        self.status_measured.setObjectName("statusMeasured")
        self.encode_progress = QProgressBar()
        self.encode_progress.setObjectName("encodeProgress")
        self.encode_progress.setMaximumWidth(220)
        self.encode_progress.setFormat("Encoding %p%")
        self.encode_progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self._cancel)
        for label in (self.status_model, self.status_rate, self.status_render, self.status_measured):
            status.addWidget(label)
        status.addPermanentWidget(self.encode_progress)
        status.addPermanentWidget(self.cancel_button)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Open audio…", self.choose_file, QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._action(file_menu, "Open &checkpoint…", self.choose_checkpoint)
        self._action(file_menu, "Get &models…", self.show_get_models)
        self._action(file_menu, "Listening &test…", self.show_listening_test)
        file_menu.addSeparator()
        self._action(file_menu, "Export &reconstruction (WAV/FLAC)…", self.export_reconstruction, "Ctrl+E")
        self._action(file_menu, "Export compressed .&rvq…", self.export_rvq)
        self._action(file_menu, "Export &metrics CSV…", self.export_metrics)
        views = file_menu.addMenu("Export &view as PNG")
        for label, widget in self._exportable_views().items():
            self._action(views, label, lambda _=False, w=widget, n=label: self.export_view(w, n))
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        play = self.menuBar().addMenu("&Playback")
        self._action(play, "Play / pause\tSpace", self.session.toggle_play)
        self._action(play, "Stop\tHome", self.session.player.stop)
        self._action(play, "Original ↔ reconstruction\tA", self.session.toggle_ab)
        self._action(play, "Residual\tR", lambda: self.session.set_source("residual"))
        self._action(play, "Loop region\tL", self.transport.loop_button.toggle)

        view = self.menuBar().addMenu("&View")
        for scale in ("log", "mel", "linear"):
            self._action(view, f"{scale.capitalize()} frequency axis",
                         lambda _=False, s=scale: self.timeline.scale.setCurrentText(s))
        view.addSeparator()
        self.listening_action = self._action(view, "&Listening metrics (ViSQOL, STOI, DNSMOS; slow, in the background)",
                                             self._set_listening_metrics)
        self.listening_action.setCheckable(True)
        self.listening_action.setChecked(self.settings.listening_metrics())
        self.fast_action = self._action(view, "&Fast mode (bfloat16: faster on some CPUs and GPUs, approximate)",
                                        self._set_fast_mode)
        self.fast_action.setCheckable(True)
        self.fast_action.setChecked(self.settings.fast_mode())

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_shortcuts(self) -> None:
        keys = {
            "Space": lambda: self.compare.toggle_play() if self.compare.isVisible() else self.session.toggle_play(),
            "A": self.session.toggle_ab,
            "R": lambda: self.session.set_source("residual"),
            "Home": self.session.player.stop,
            "L": self.transport.loop_button.toggle,
            "Right": lambda: self.session.set_n(self.session.n + 1),
            "Left": lambda: self.session.set_n(self.session.n - 1),
        }
        keys.update({str(d): (lambda d=d: self.compare.select_index(d - 1) if self.compare.isVisible()
                              else self.session.set_n(d)) for d in range(1, 10)})
        self.shortcuts = []
        for key, slot in keys.items():
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(slot)
            self.shortcuts.append(shortcut)

    def _connect(self) -> None:
        s = self.session
        s.modelChanged.connect(self._on_model)
        s.clipChanged.connect(self._on_clip)
        s.codesReady.connect(self._on_codes_ready)
        s.encodeProgress.connect(self._on_encode_progress)
        s.renderChanged.connect(self._on_render)
        s.selectionChanged.connect(self._on_selection)
        s.qualityChanged.connect(self._on_quality)
        s.spectrogramUpdated.connect(self._on_spectrogram)  # not spectrogramReady too: that would draw twice
        s.codebookStatsReady.connect(self._on_stats)
        s.envelopeReady.connect(self.timeline.overview.set_envelope)
        s.message.connect(self._on_message)
        s.exported.connect(lambda path: self.messages.show_message("info", f"Saved {path}"))
        self.live.live.deviceStopped.connect(lambda said: self._on_message("warning", f"Live: {said}."))
        t = self.transport
        t.playToggled.connect(s.toggle_play)
        t.stopClicked.connect(s.player.stop)
        t.codebookChanged.connect(s.set_n)
        t.source_toggle.sourceChosen.connect(s.set_source)
        t.loopToggled.connect(self._on_loop_toggled)
        self.timeline.seekRequested.connect(s.seek_seconds)
        self.timeline.loopChanged.connect(self._on_loop_moved)
        self.timeline.scaleChanged.connect(s.set_frequency_scale)
        s.comparisonChanged.connect(t.source_toggle.set_comparison)
        s.comparison.ready.connect(self._show_views_model)  # the Fine-tuned source became playable
        s.residualGainChanged.connect(self._show_residual_gain)
        s.listening.changed.connect(self._on_listening)
        s.laneChanged.connect(self._on_lane)
        self.timeline.momentChosen.connect(self._loop_around)
        self.training.modelKept.connect(lambda _path: self.model_box.fill(self.model_box.source() or "default"))

    # -- user intent --------------------------------------------------------------------------
    def open_file(self, path: str) -> None:
        """Open ``path``; it enters Open recent once it has opened (its encode complete)."""
        self._clip_requested = True
        self.session.open_file(path)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open audio", "", AUDIO_FILTER)
        if path:
            self.open_file(path)

    def choose_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", "", MODEL_FILTER)
        if path:
            self.load_model(path)

    def show_get_models(self) -> None:
        """The catalogue of official checkpoints (one dialog, kept: its download may outlive a close)."""
        if self.get_models is None:
            self.get_models = GetModelsDialog(self)
            self.get_models.modelAdded.connect(self._model_downloaded)
        self.get_models.refresh()
        self.get_models.show()
        self.get_models.raise_()

    def _model_downloaded(self, _path: str) -> None:
        self.model_box.fill(self.session.model.source if self.session.model is not None else None)

    def load_model(self, source: str) -> None:
        self.settings.add_recent_model(source)
        self.model_box.fill(source)
        self.status_model.setText(f"Loading {Path(source).name}…")
        self.session.load_model(source, self.device_box.currentText())

    def _model_chosen(self, source: str) -> None:
        if self.session.model is None or source != self.session.model.source:
            self.load_model(source)

    def _reload_model(self) -> None:
        if self.session.model is not None:
            self.session.load_model(self.session.model.source, self.device_box.currentText())

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent_files():
            self._action(self.recent_menu, path, lambda _=False, p=path: self.open_file(p))
        self.recent_menu.setEnabled(bool(self.settings.recent_files()))

    def _cancel(self) -> None:
        self.session.cancel()
        self.encode_progress.hide()
        self.cancel_button.hide()

    def _on_loop_toggled(self, on: bool) -> None:
        if on:
            start, end = self.timeline.visible_range()
            duration = self.session.clip.length / self.session.model.sample_rate if self.session.clip else 0
            if end - start >= duration * 0.99:  # whole clip visible: loop its middle third
                start, end = duration / 3, 2 * duration / 3
            self.timeline.overview.show_loop(start, end)
            self.session.set_loop_seconds(start, end)
        else:
            self.timeline.overview.loop.hide()
            self.session.set_loop_seconds(None, None)

    def _set_fast_mode(self, on: bool) -> None:
        self.settings.set_fast_mode(on)
        self.session.fast_mode = on
        self.compare.comparison.set_fast_mode(on)
        self._reload_model()

    def _set_listening_metrics(self, on: bool) -> None:
        self.settings.set_listening_metrics(on)
        self.session.set_listening_metrics(on)

    def _loop_around(self, start: float, end: float) -> None:
        """A worst moment was chosen: loop ``[start, end)`` and play from its start."""
        button = self.transport.loop_button
        button.blockSignals(True)  # checked here with this region, not the visible range a toggle would take
        button.setChecked(True)
        button.blockSignals(False)
        self.timeline.overview.show_loop(start, end)
        self.session.set_loop_seconds(start, end)
        self.session.seek_seconds(start)

    def _on_loop_moved(self, start: float, end: float) -> None:
        if self.transport.loop_button.isChecked():
            self.session.set_loop_seconds(start, end)

    # -- export -------------------------------------------------------------------------------
    def _exportable_views(self) -> dict[str, QWidget]:
        views = {"Whole window": self, "All time views": self.timeline}
        views.update({plot.title: frame for plot, frame in self.timeline.frames.items()})
        views.update({"Quality plot": self.quality.plot, "Quality table": self.quality.table,
                      "Codebook usage": self.codebooks})
        return views

    def _save_path(self, title: str, suggestion: str, filters: str) -> str:
        """A path chosen in a save dialog that opens in the folder of the previous export."""
        folder = self.settings.export_folder()
        start = str(Path(folder) / suggestion) if folder and Path(folder).is_dir() else suggestion
        path, _ = QFileDialog.getSaveFileName(self, title, start, filters)
        if path:
            self.settings.set_export_folder(str(Path(path).parent))
        return path

    def _clip_stem(self) -> str:
        return self.session.clip.path.stem if self.session.clip else "clip"

    def export_reconstruction(self) -> None:
        if self._need_clip():
            path = self._save_path("Export reconstruction", f"{self._clip_stem()}_n{self.session.n}.wav",
                                   "WAV (*.wav);;FLAC (*.flac)")
            if path:
                self._guard(self.session.export_reconstruction, path)

    def export_rvq(self) -> None:
        if self._need_clip():
            path = self._save_path("Export .rvq", f"{self._clip_stem()}_n{self.session.n}.rvq", "RVQ (*.rvq)")
            if path:
                self._guard(self.session.export_rvq, path)

    def export_metrics(self) -> None:
        if self._need_clip():
            path = self._save_path("Export metrics", f"{self._clip_stem()}_quality.csv", "CSV (*.csv)")
            if path:
                self._guard(self.session.export_metrics_csv, path)

    def export_view(self, widget: QWidget, name: str) -> None:
        path = self._save_path("Export view", f"{name.split(' ')[0].lower()}.png", "PNG (*.png)")
        if path:
            ok = widget.grab().save(path, "PNG")
            self._on_message("info" if ok else "error", f"Saved {path}" if ok else f"Could not write {path}")

    def _need_clip(self) -> bool:
        if self.session.clip is None:
            self._on_message("warning", "Open a clip first.")
            return False
        return True

    def _guard(self, fn, *args) -> None:
        try:
            fn(*args)
        except (ValueError, OSError) as exc:
            self._on_message("error", str(exc))

    # -- session events -----------------------------------------------------------------------
    def _on_message(self, level: str, text: str) -> None:
        if level == "error":
            self._last_error = text
            self._errors_shown += 1
        self.messages.show_message(level, text)

    def _on_model(self, info) -> None:
        self.transport.set_codebook_range(info.kbps, self.session.n)
        self._reserve_texts(info.kbps)
        trained = "" if info.trained else "  ·  untrained"
        self.model_summary.setText(f"{info.sample_rate / 1000:g} kHz  ·  hop {info.hop_length}  ·  "
                                   f"{info.n_codebooks} × {info.codebook_size} codes  ·  "
                                   f"{info.kbps[0]:.2f}–{info.kbps[-1]:.2f} kbps{trained}")
        self.quality.reset(info.kbps)
        self._on_listening()
        self._lanes = {}
        self.timeline.clear()
        self._on_selection()

    def _on_encode_progress(self, done: int, total: int) -> None:
        self._show_encode_progress(done, total)
        if self.session.clip is not None:  # tokens appear as the encode advances, only the new ones drawn
            self.timeline.tokens.extend_final(self.session.clip.final_code_frames)

    def _show_encode_progress(self, done: int, total: int) -> None:
        """The progress bar and its Cancel button, shown while the open clip is encoding."""
        self.encode_progress.setMaximum(max(1, total))
        self.encode_progress.setValue(done)
        busy = done < total
        self.encode_progress.setVisible(busy)
        self.cancel_button.setVisible(busy)

    def _show_tokens(self, clip) -> None:
        info = self.session.model
        channels = clip.codes.shape[0]
        if clip.channels > channels:  # both channels coded jointly: one block, named for both
            names = ["L+R"]
        else:
            names = ["L", "R"] if channels == 2 else [""]
        self.timeline.tokens.set_codes(clip.codes, info.codebook_size, clip.code_frame_seconds(info.sample_rate),
                                       names, clip.final_code_frames, info.codebook_spans)
        self.timeline.tokens.set_selected(self.session.n)

    def _on_clip(self, clip) -> None:
        self.messages.dismiss("info")
        self.timeline.clear()
        self.transport.loop_button.setChecked(False)
        self.transport.meter.reset_clip()  # a clip light speaks of the clip it lit in
        kbps = self.session.model.kbps[: self.session.n_codebooks]  # a coded file may store fewer codebooks
        self.transport.set_codebook_range(kbps, self.session.n)
        self.quality.reset(kbps, self.session.measured_on)
        self._on_listening()
        self._lanes = {}
        self.codebooks.clear(clip is not None)  # the figures were the previous clip's
        if clip is None:
            self.setWindowTitle("RVQ Studio")
            self.timeline.tokens.clear_codes()
            self.encode_progress.hide()
            self.cancel_button.hide()
            self.status_render.setText("")
            self.status_measured.setText("")
            return
        self.setWindowTitle(f"RVQ Studio — {clip.path.name}")
        self._show_encode_progress(clip.encoding.frames, clip.encoding.total)
        self.timeline.set_duration(clip.length / self.session.model.sample_rate)
        self._show_tokens(clip)
        self._levels_fitted = False
        self._on_selection()
        self._on_render(self.session.n)

    def _on_codes_ready(self, clip) -> None:
        self.encode_progress.hide()
        self.cancel_button.hide()
        self.settings.add_recent_file(str(clip.path.resolve()))  # only a file that opened is recent
        self.timeline.tokens.extend_final(clip.final_code_frames)

    def _on_selection(self) -> None:
        s = self.session
        info = s.model
        if info is None:
            return
        self.transport.set_codebooks(s.n, s.n_codebooks, info.kbps[s.n - 1])
        self.transport.source_toggle.set_source(s.source)
        self.timeline.tokens.set_selected(s.n)
        for key in ("reconstruction", "residual", "adds"):
            self.timeline.spectrograms[key].set_selected_n(s.n)
        self.codebooks.set_selected(s.n)
        self.quality.set_selected(s.n)
        self._show_lane()
        labels = self._selection_labels()
        for key, text in selection_texts(info.kbps[: s.n_codebooks], s.n).items():
            labels[key].setText(text)
        self._show_residual_gain()
        self.status_model.setText("  ·  ".join(filter(None, (info.name, info.device, info.fast_mode))))
        self._show_views_model()
        self._on_render(s.n)

    def _show_views_model(self) -> None:
        """Name the model the views draw; while the Fine-tuned source is heard (its rendering is
        playable), say that it is heard but not the one drawn."""
        s = self.session
        if s.model is None:
            return
        heard = s.comparison.model if s.source == "finetuned" and s.comparison.renders(s.clip) else None
        self.timeline.show_views_model(s.model.name, heard.name if heard is not None else None)

    def _selection_labels(self) -> dict[str, SteadyLabel]:
        """The labels :func:`ui.studio_texts.selection_texts` writes, by its keys."""
        frames, views = self.timeline.frames, self.timeline.spectrograms
        return {"reconstruction_title": frames[views["reconstruction"]].title,
                "reconstruction_note": frames[views["reconstruction"]].note,
                "residual_title": frames[views["residual"]].title,
                "adds_title": frames[views["adds"]].title,
                "tokens_note": frames[self.timeline.tokens].note,
                "status_rate": self.status_rate}

    def _reserve_texts(self, kbps: tuple[float, ...]) -> None:
        """Room for the widest form of every text that changes while playing, with this model's counts."""
        counts = range(1, len(kbps) + 1)
        for key, label in self._selection_labels().items():
            label.reserve(selection_texts(kbps, n)[key] for n in counts)
        frames = self.timeline.frames
        frames[self.timeline.spectrograms["residual"]].note.reserve(residual_notes())
        frames[self.timeline.overview].note.reserve(rendered_note(n, 1.0) for n in counts)
        self.status_render.reserve(render_status(n, 1.0, 1.0) for n in counts)
        self.status_measured.reserve(measured_status(k, len(kbps)) for k in range(len(kbps) + 1))
        # and any other model's (three-digit counts and bitrates): the next model moves no field
        widest = (999.99,) * 999
        self.status_rate.reserve([selection_texts(widest, len(widest))["status_rate"]])
        self.status_render.reserve([render_status(len(widest), 1.0, 1.0)])
        self.status_measured.reserve([measured_status(len(widest), len(widest))])

    def _show_residual_gain(self, *_args) -> None:
        self.timeline.set_note(self.timeline.spectrograms["residual"], residual_note(self.session.residual_gain_db))

    def _on_render(self, n: int) -> None:
        s = self.session
        if s.clip is None:
            return
        if n == s.n:
            rendered = s.clip.cache.rendered_map(n)
            overview = self.timeline.overview
            overview.set_rendered(rendered, s.clip.grid.chunk_samples / s.model.sample_rate, n)
            self.timeline.set_note(overview, rendered_note(n, rendered.mean()))
        total = sum(s.rendered_fraction(k) for k in range(1, s.clip.n_codebooks + 1)) / s.clip.n_codebooks
        self.status_render.setText(render_status(s.n, s.rendered_fraction(s.n), total))
        self.status_measured.setText(measured_status(len(s.quality), s.clip.n_codebooks))

    def _on_quality(self) -> None:
        self.quality.update_results(self.session.quality, self.session.opus)
        self._on_render(self.session.n)

    def _on_listening(self) -> None:
        listening = self.session.listening
        self.quality.update_listening(listening.outcomes, listening.enabled)

    def _on_lane(self, figures) -> None:
        self._lanes[figures.n] = figures
        if figures.n == self.session.n:
            self._show_lane()

    def _show_lane(self) -> None:
        """Where the rendering at the selected n breaks, as far as measured (nothing yet: all "not yet")."""
        s = self.session
        if s.clip is not None:
            self.timeline.show_breaks(self._lanes.get(s.n), s.clip.length / s.model.sample_rate)

    def _on_spectrogram(self, key: str, spec, first: int, end: int) -> None:
        """Columns ``[first, end)`` of view ``key`` changed: only they are redrawn."""
        if key == "original" and not self._levels_fitted:
            self.timeline.fit_levels(spec)
            self._levels_fitted = True
        self.timeline.spectrograms[key].set_spectrogram(spec, self.timeline.levels, first, end)

    def _on_stats(self, stats) -> None:
        info = self.session.model
        self.codebooks.set_stats(stats, info.codebook_groups if info else None, info.codebook_spans if info else ())
        self.codebooks.set_selected(self.session.n)

    def _on_frame(self) -> None:
        s = self.session
        position = s.tick()
        if s.model is None:
            return
        seconds = position / s.model.sample_rate
        self.timeline.set_playhead(seconds)
        duration = s.clip.length / s.model.sample_rate if s.clip else 0.0
        self.transport.show_time(seconds, duration)
        self.transport.set_playing(s.player.playing)
        self.transport.meter.set_levels(*s.player.take_levels())
        requested, audible = s.player.requested, s.player.audible
        waiting = s.player.playing and requested != audible and audible is not None
        self.transport.hearing.setText(hearing_note(SOURCE_LABELS[audible[0]]) if waiting else "")

    # -- drag and drop ------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_file(urls[0].toLocalFile())
            event.acceptProposedAction()

    # -- lifetime -----------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        if not self.training.confirm_close():
            event.ignore()
            return
        self.shutdown()
        super().closeEvent(event)

    def show_listening_test(self) -> None:
        """The blind listening test window (ABX, MUSHRA) on the studio's model and recent clips;
        a new one when the previous was closed, so it follows the model loaded since. The studio's
        clip is offered with its loop region as its excerpt."""
        if self.listening_test is None or not self.listening_test.isVisible():
            if self.listening_test is not None:
                self.listening_test.deleteLater()
            model = self.session.model.source if self.session.model is not None else "default"
            clips = list(dict.fromkeys(self.settings.recent_files() + [str(p) for p in demo_clips()]))
            self.listening_test = ListeningTestWindow(partial(ModelStimulusProvider.from_spec, model), clips,
                                                      spec_label="Contestants", default_spec="2, 4, 8, opus:12",
                                                      excerpts=self._loop_excerpt())
        self.session.player.pause()
        self.listening_test.show()
        self.listening_test.raise_()

    def _loop_excerpt(self) -> dict[str, Excerpt]:
        """The studio's clip and its loop region (in seconds), if both are there."""
        clip, player = self.session.clip, self.session.player
        if clip is None or player.loop is None or not player.sample_rate:
            return {}
        start, end = (sample / player.sample_rate for sample in player.loop)
        return {str(clip.path.resolve()): Excerpt(round(start, 3), round(end - start, 3))}

    def shutdown(self) -> None:
        """Stop the timer, the audio stream, the worker threads and the training tab's work (idempotent)."""
        if self.listening_test is not None:
            self.listening_test.close()
        self.frame_timer.stop()
        self.live.shutdown()
        if self.get_models is not None:
            self.get_models.shutdown()
        self.training.shutdown()
        self.compare.shutdown()
        self.session.close()

    def wait_until_ready(self, timeout_s: float = SCREENSHOT_TIMEOUT_S) -> bool:
        """Run the event loop until every rendering, measurement and view is done; False once an
        error is shown (the model or the file failed: it will not be ready) or at the deadline.

        One polling timer, stopped on return, checks both readiness and the deadline: a
        timeout timer of its own would stay armed for half an hour after every call."""
        loop = QEventLoop()
        deadline = QDeadlineTimer(int(timeout_s * 1000))
        result = {"ready": False}
        errors_before = self._errors_shown

        def check() -> None:
            s = self.session
            if self._errors_shown > errors_before or deadline.hasExpired():
                loop.quit()
            elif s.model is not None and (s.all_ready() if self._clip_requested else True):
                result["ready"] = True
                loop.quit()

        poll = QTimer()
        poll.timeout.connect(check)
        poll.start(100)
        loop.exec()
        poll.stop()
        return result["ready"]

    def save_screenshot_when_ready(self, out_path: str, timeout_s: float = SCREENSHOT_TIMEOUT_S) -> int:
        """Save the window as PNG once everything is ready, close it and return 0.

        Raises RuntimeError, after closing, with the error the window showed (or the timeout, or
        the write failure) in one line: the command line prints it and exits 2."""
        self.show()
        errors_before = self._errors_shown
        try:
            if not self.wait_until_ready(timeout_s):
                failed = self._errors_shown > errors_before
                raise RuntimeError(f"no screenshot: {self._last_error if failed else f'not ready after {timeout_s:g} s'}")
            QApplication.processEvents()
            if not self.grab().save(out_path):
                raise RuntimeError(f"{out_path}: could not write the screenshot")
        finally:
            self.close()
        return 0


def build_main_window(path: str | None = None, model: str = "default", **options) -> MainWindow:
    return MainWindow(path, model, **options)
