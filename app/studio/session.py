"""The studio's state without widgets: model, clip, selection, playback, analysis, export.

Like napari's components, this object owns the state and its rules, and announces changes
through Qt signals; the window only draws it and forwards user intent. It wires these
threads: the inference worker (owns the model; measures quality on a thread of its own),
the analysis worker (numpy views, Opus), the listening metrics' worker
(:mod:`app.studio.listening_rows`) and the audio callback (the player). Everything
here runs on the GUI thread and returns at once -- anything slower is handed to a worker,
together with the method that takes its result; that method drops a result whose clip,
scale or count the session has left meanwhile.

A second model -- a training run's -- can be offered beside the studio's as the source
"finetuned" (:meth:`StudioSession.compare_with`): :mod:`app.studio.comparison_render` renders the same
clip with it, and the player switches between the two like between any sources.

Failures never replace a working session: a clip or model that cannot be opened is
reported through :attr:`message` and the previous clip, model and renderings stay. A new
clip is shown (and playable) as soon as it is read, while it is still being encoded; if
that encode is cancelled or fails, the previous clip comes back.

Exports are :mod:`app.studio.exports`: the session tells it which clip is current, and an
export asked for while the clip is still encoding waits there until the encode has finished.

Nothing here is process-wide: the GIL's switch interval and the garbage collector are set at
start-up (:mod:`app.runtime.process_setup`); the session only announces its quiet moments
(:mod:`app.runtime.quiet_moments`).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QObject, QTimer, Signal

from app.playback.audio_output import StreamFactory
from app.playback.player import AudioPlayer
from app.playback.sources import OriginalSource, ReconstructionSource, ResidualSource, residual_gain_db
from app.runtime import quiet_moments
from app.studio import render_planner
from app.studio.analysis_worker import AnalysisWorker
from app.studio.clip import StudioClip
from app.studio.clip_results import ClipResults
from app.studio.comparison_render import ComparisonRender
from app.studio.exports import Exports, OpusPoint, write_metrics_csv
from app.studio.inference_worker import InferenceWorker, ModelInfo
from app.studio.listening_rows import ListeningRows
from app.studio.quality import describe_spans, measured_spans, opus_row_in_pieces
from app.studio.render_cache import DEFAULT_BUDGET_BYTES
from app.studio.rendering_spectrograms import RenderingSpectrograms
from app.studio.spectrogram import Spectrogram, SpectrogramLayout, spectrogram
from app.studio.waveform import envelope
from app.studio.where_it_breaks import BreakLane, LaneFigures
from model.evaluation import RateRow
from model.metrics import bitrate_efficiency, codebook_entropy

SOURCES = ("original", "reconstruction", "residual", "finetuned")
VIEW_REFRESH_MS = 400


class CodebookStats:
    """Per-codebook code usage of the loaded clip: counts, entropy, bitrate efficiency.

    ``strides`` (a multi-scale codec's ``codebook_strides``): codebook k's code lasts that many
    frames and is counted once, not once per frame it is repeated over.
    """

    def __init__(self, codes: np.ndarray, codebook_size: int, strides: tuple[int, ...] = ()) -> None:
        n = codes.shape[1]
        strides = tuple(strides[:n]) or (1,) * n
        self.counts = np.stack([np.bincount(codes[:, k, ::stride].reshape(-1), minlength=codebook_size)
                                for k, stride in enumerate(strides)])
        entropy = codebook_entropy(torch.from_numpy(codes), codebook_size, strides)
        self.entropy_bits = entropy.numpy()
        self.bits_per_code = float(np.log2(codebook_size))
        self.efficiency = bitrate_efficiency(entropy, codebook_size, strides)
        self.used = (self.counts > 0).sum(axis=1)


class StudioSession(QObject):
    modelChanged = Signal(object)  # ModelInfo
    clipChanged = Signal(object)  # StudioClip, or None when no clip is open
    codesReady = Signal(object)  # StudioClip: its encode is complete
    encodeProgress = Signal(int, int)
    renderChanged = Signal(int)  # a chunk of count n arrived
    selectionChanged = Signal()  # n or source changed
    qualityChanged = Signal()
    spectrogramReady = Signal(str, object)  # "original" | "reconstruction" | "residual" | "adds"
    # the same, with the columns [first, end) that changed since the view's last snapshot (all of
    # them for a new clip, scale or n): a view can redraw only those while a rendering streams in
    spectrogramUpdated = Signal(str, object, int, int)
    codebookStatsReady = Signal(object)
    envelopeReady = Signal(object)
    message = Signal(str, str)  # level ("error", "warning", "info"), text
    exported = Signal(str)
    comparisonChanged = Signal(object)  # the second model's source, or None: no "finetuned" source
    residualGainChanged = Signal(int, float)  # n, the gain (dB) the residual at n is heard with, once measured
    laneChanged = Signal(object)  # LaneFigures of the open clip (the window shows those of the selected n)

    def __init__(self, stream_factory: StreamFactory | None = None, cache_budget_bytes: int = DEFAULT_BUDGET_BYTES,
                 chunk_seconds: float | None = None, listening_metrics: bool = False) -> None:
        """``listening_metrics``: measure the slow listening metrics (:attr:`listening`) from the start."""
        super().__init__()
        kwargs = {} if chunk_seconds is None else {"chunk_seconds": chunk_seconds}
        self.worker = InferenceWorker(cache_budget_bytes, **kwargs)
        self.fast_mode = False  # models load in fast mode (bfloat16; see app/studio/fast_mode.py)
        # Views (what the user looks at) and measurements on threads of their own: measurements
        # run at background priority, which on a busy machine would starve the views behind them.
        self.views = AnalysisWorker(defer_while=self.worker.playback_waits, niceness=0, name="viewWorker")
        self.analysis = AnalysisWorker(defer_while=self.worker.playback_waits)
        # the slow listening metrics, on a third thread, held while any quality row or Opus point is due
        self.listening = ListeningRows(lambda: self.worker.rows_pending() or not self.analysis.idle(),
                                       self.worker.playback_waits)
        self.listening.set_enabled(listening_metrics)
        self._lanes: dict[int, BreakLane] = {}  # n -> where the rendering at n breaks, of the open clip
        self.player = AudioPlayer(stream_factory)
        self.model: ModelInfo | None = None
        self.clip: StudioClip | None = None
        self.n = 1
        self.source = "reconstruction"
        self.frequency_scale = "log"
        self.quality: dict[int, RateRow] = {}
        self.opus: dict[int, OpusPoint] = {}
        self.stats: CodebookStats | None = None
        self.envelope = None
        self.spectrograms: dict[str, object] = {}
        self._rendering_views: tuple[tuple, RenderingSpectrograms] | None = None  # (token, views)
        self._pending_path: str | None = None
        self._requested: Path | None = None  # the file last asked for, until it is cancelled
        self._previous: tuple[StudioClip, ClipResults] | None = None  # what comes back if the encode is cancelled
        self.exports = Exports(self.worker, self.message.emit, self.exported.emit)
        self._sources: dict[tuple, object] = {}
        self._residual_gains: dict[int, float] = {}  # n -> dB, measured once the rendering at n is complete
        self._audio_reason_shown = False
        w = self.worker
        w.modelLoaded.connect(self._on_model_loaded)
        w.modelFailed.connect(self._on_model_failed)
        w.clipReady.connect(self._on_clip_ready)
        w.encodeFinished.connect(self._on_encode_finished)
        w.clipFailed.connect(self._on_clip_failed)
        w.encodeProgress.connect(self._on_encode_progress)
        w.chunkRendered.connect(self._on_chunk)
        w.qualityReady.connect(self._on_quality)
        w.renderingMeasured.connect(self._on_rendering_measured)
        w.jobFailed.connect(lambda text: self.message.emit("error", text))
        # while chunks stream in, refresh the rendering's views at most every 400 ms
        self._view_refresh = QTimer(self)
        self._view_refresh.setObjectName("viewRefreshThrottle")
        self._view_refresh.setSingleShot(True)
        self._view_refresh.setInterval(VIEW_REFRESH_MS)
        self._view_refresh.timeout.connect(self._submit_rendering_analysis)
        for thread in (self.views, self.analysis):
            thread.taskFailed.connect(lambda key, text: self.message.emit("warning", f"{key}: {text}"))
        self.comparison = ComparisonRender()  # its thread starts with the first comparison
        self.comparison.ready.connect(self._on_comparison_ready)
        self.comparison.failed.connect(lambda text: self.message.emit("warning", text))
        self.worker.start()
        self.views.start()
        self.analysis.start()
        self.listening.start()

    # -- model and clip ---------------------------------------------------------------------
    def load_model(self, source: str, device: str = "cpu") -> None:
        self.worker.load_model(source, device, self.fast_mode)

    def open_file(self, path: str | Path) -> None:
        if self.model is None:
            self._pending_path = str(path)
            return
        self._pending_path = None
        self._request_clip(path)

    def _request_clip(self, path: str | Path) -> None:
        """Ask the worker for ``path``: only the clip of the latest request not cancelled is taken."""
        self._requested = Path(path)
        self.worker.open_clip(path)

    def cancel(self) -> None:
        """Stop loading: drop queued work; a clip still encoding gives way to the previous one."""
        self.worker.cancel()
        self._requested = None
        if self.clip is not None and not self.clip.encoding.complete:
            self._revert()
        self.message.emit("info", "Cancelled.")

    def _revert(self) -> None:
        """The clip being encoded gives way: the previous clip comes back whole, else none is open."""
        previous, self._previous = self._previous, None
        if previous is not None:
            self._show_clip(*previous)
            return
        self.clip = None
        self.player.stop()
        self.worker.set_clip(None)
        self.exports.settle(self.clip)
        self.clipChanged.emit(None)

    def _on_model_failed(self, text: str) -> None:
        self.message.emit("error", f"Could not load the model: {text}")
        if self.clip is not None and not self.clip.encoding.complete:  # its encode was dropped: redo it
            self._request_clip(self.clip.path)

    def _on_model_loaded(self, info: ModelInfo) -> None:
        previous = self.clip
        self.model = info
        self.clip = None
        self._previous = None  # codes of another model
        self.worker.set_clip(None)
        self.views.discard()
        self.analysis.discard()  # measurements of the other model's renderings
        self.listening.reset(None)
        self.exports.settle(self.clip)
        self.n = min(max(self.n, 1), info.n_codebooks) if previous else info.n_codebooks
        self.modelChanged.emit(info)
        if not info.trained:
            self.message.emit("warning", f"{info.name}: this model is untrained -- reconstructions are noise-like.")
        path = self._pending_path or (str(previous.path) if previous else None)
        if path:
            self.open_file(path)

    def _on_clip_failed(self, text: str) -> None:
        if self.clip is not None and not self.clip.encoding.complete:  # failed while encoding
            self._revert()
        kept = " The previous clip stays open." if self.clip is not None else ""
        self.message.emit("error", f"Could not open the file: {text}.{kept}")

    def _on_clip_ready(self, clip: StudioClip) -> None:
        """A file was read (its encode goes on): shown at once; an encoded clip open until now is set
        aside with its results, to come back whole if this one's encode is cancelled or fails."""
        if clip.path != self._requested:  # read just before a cancel or a newer request
            return
        if self.clip is not None and self.clip.encoding.complete:
            self._previous = (self.clip, self._results())
        self._show_clip(clip, ClipResults())
        if clip.duplicated_mono:
            self.message.emit("info", f"{clip.path.name} is mono; {self.model.name} codes stereo, so it hears the "
                                      "channel on both sides (as the command line does).")

    def _results(self) -> ClipResults:
        """The open clip's results, as they stand."""
        return ClipResults(self.quality, self.opus, self.spectrograms, self.stats, self.envelope,
                           self._residual_gains, self._sources, self._rendering_views, self.listening.state,
                           self._lanes)

    def _show_clip(self, clip: StudioClip, results: ClipResults) -> None:
        """Make ``clip`` the open clip with ``results`` (empty for a new one): only what they lack is computed."""
        self.clip = clip
        self.exports.settle(self.clip)
        self.quality, self.opus, self.stats, self.envelope = results.quality, results.opus, results.stats, \
            results.envelope
        self._residual_gains, self._sources, self._rendering_views = results.residual_gains, results.sources, \
            results.rendering_views
        self._lanes = results.lanes
        self.n = min(self.n, clip.n_codebooks)
        views_current = self._rendering_views is not None and \
            self._rendering_views[0] == (clip, self.frequency_scale, self.n)
        self.spectrograms = {view: spec for view, spec in results.spectrograms.items()
                             if spec.scale == self.frequency_scale and (view == "original" or views_current)}
        original = self._sources.setdefault(("original",), OriginalSource(clip.samples))
        self.player.configure(self.model.sample_rate, clip.channels, original)
        quiet_moments.announce()  # playback has just stopped for the new clip: no block waits for it
        if self.player.unavailable_reason and not self._audio_reason_shown:
            self._audio_reason_shown = True
            reason = self.player.unavailable_reason
            self.message.emit("warning", f"{reason[:1].upper()}{reason[1:]}. Everything else works.")
        self.worker.selected_n = self.n
        self.worker.follow(0, False)
        self.worker.loop = None
        self.worker.set_clip(clip, measured=set(self.quality))
        self._route_player()
        if self.comparison.active:
            self.comparison.open_clip(clip.path, self.model)
        self.views.discard()
        self.analysis.discard()
        self.listening.reset(clip, results.listening)
        self._submit_missing_analysis(clip)
        self.clipChanged.emit(clip)
        self._show_results()
        self.selectionChanged.emit()
        if clip.encoding.complete:
            self._on_encode_finished(clip)

    def _show_results(self) -> None:
        """Announce the results the open clip already has (a clip brought back), as if they had just arrived."""
        for view, spec in self.spectrograms.items():
            self._show_spectrogram(view, spec, 0, spec.db.shape[0])
        if self.envelope is not None:
            self.envelopeReady.emit(self.envelope)
        if self.stats is not None:
            self.codebookStatsReady.emit(self.stats)
        if self.quality or self.opus:
            self.qualityChanged.emit()
        for n, gain_db in self._residual_gains.items():
            self.residualGainChanged.emit(n, gain_db)

    def _on_encode_progress(self, done: int, total: int) -> None:
        """The worker's progress, passed on only while the open clip is encoding: a piece that
        finished just after a cancel speaks of a clip that has gone."""
        if self.clip is not None and not self.clip.encoding.complete:
            self.encodeProgress.emit(done, total)

    def _on_encode_finished(self, clip: StudioClip) -> None:
        if clip is not self.clip:
            return
        self._previous = None
        size, strides = self.model.codebook_size, self.model.codebook_strides
        if self.stats is None:
            self._analyse("codebooks", (clip,), lambda: CodebookStats(clip.codes, size, strides),
                          self._show_codebook_stats)
        self._submit_opus(clip)
        self.exports.settle(self.clip)
        self.codesReady.emit(clip)

    # -- selection --------------------------------------------------------------------------
    @property
    def n_codebooks(self) -> int:
        """The counts the slider offers: the open clip's (an ``.ecdc`` file stores fewer than its model has),
        else the model's."""
        return self.clip.n_codebooks if self.clip is not None else self.model.n_codebooks

    def set_n(self, n: int) -> None:
        if self.model is None:
            return
        n = int(min(max(1, n), self.n_codebooks))
        if n == self.n:
            return
        self.n = n
        self.worker.selected_n = n
        self.worker.wake()
        self._route_player()
        self._submit_rendering_analysis()
        self.selectionChanged.emit()

    def set_source(self, source: str) -> None:
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r} (expected one of {', '.join(SOURCES)})")
        if source == "finetuned" and not self.comparison.active:
            raise ValueError("no second model to compare with: start a training run's preview first")
        if source != self.source:
            self.source = source
            self._route_player()
            self.selectionChanged.emit()

    def toggle_ab(self) -> None:
        """Original <-> reconstruction (from the residual, back to the original)."""
        self.set_source("original" if self.source != "original" else "reconstruction")

    def _source_object(self, kind: str, n: int):
        if kind == "finetuned" and not self.comparison.renders(self.clip):
            return self._source_object("reconstruction", n)  # the base until the comparison is ready
        key = (kind, n) if kind != "original" else ("original",)
        if key not in self._sources:
            if kind == "reconstruction":
                self._sources[key] = ReconstructionSource(self.clip.cache, n)
            elif kind == "finetuned":
                self._sources[key] = ReconstructionSource(self.comparison.clip.cache, n, kind)
            else:
                self._sources[key] = ResidualSource(self._sources[("original",)],
                                                    self._source_object("reconstruction", n),
                                                    self._residual_gains.get(n, 0.0))
        return self._sources[key]

    def _route_player(self) -> None:
        if self.clip is not None:
            self.player.set_source(self._source_object(self.source, self.n))

    # -- comparison with a second model -------------------------------------------------------
    def compare_with(self, model_source: str | None) -> None:
        """Offer ``model_source`` as the "finetuned" source (re-rendered if already offered); None ends it."""
        if model_source is None:
            self.comparison.clear()
            self._forget_comparison_sources()
            if self.source == "finetuned":
                self.set_source("reconstruction")
        else:
            if self.model is None:
                raise ValueError("load a model in the studio first")
            self.comparison.render(model_source, self.clip.path if self.clip else None, self.model)
        self.comparisonChanged.emit(model_source)

    def _on_comparison_ready(self) -> None:
        self._forget_comparison_sources()
        if self.source == "finetuned":
            self._route_player()

    def _forget_comparison_sources(self) -> None:
        for key in [k for k in self._sources if k[0] == "finetuned"]:
            del self._sources[key]

    # -- transport --------------------------------------------------------------------------
    def toggle_play(self) -> None:
        self.player.pause() if self.player.playing else self.player.play()

    def seek_seconds(self, seconds: float) -> None:
        if self.model is not None:
            sample = int(seconds * self.model.sample_rate)
            self.player.seek(sample)
            self.worker.follow(sample, self.player.playing)  # the player's position moves at its next block
            self.worker.wake()

    def set_loop_seconds(self, start: float | None, end: float | None) -> None:
        if self.model is None or start is None or end is None:
            self.player.set_loop(None)
            self.worker.loop = None
            return
        rate = self.model.sample_rate
        self.player.set_loop(int(start * rate), int(end * rate))
        self.worker.loop = self.player.loop
        self.worker.wake()

    def tick(self) -> int:
        """Called by the GUI's frame timer: tell the worker where the playhead is."""
        lost = self.player.check_output()
        if lost:
            self.message.emit("warning", f"{lost[:1].upper()}{lost[1:]}.")
        position = self.player.position
        self.worker.follow(position, self.player.playing)
        if self.comparison.active:
            self.comparison.follow(self.n, position, self.player.playing, self.player.loop)
        audible = self.player.audible
        self.worker.audible_n = audible[1] if audible and len(audible) == 2 else None
        return position

    # -- rendering progress and analysis -----------------------------------------------------
    @property
    def residual_gain_db(self) -> float | None:
        """The gain (dB) the residual at the current n is heard with; None until its rendering is measured.

        Until then the residual plays unlifted (0 dB).
        """
        return self._residual_gains.get(self.n)

    def rendered_fraction(self, n: int) -> float:
        return float(self.clip.cache.rendered_map(n).mean()) if self.clip else 0.0

    def _on_chunk(self, n: int, chunk: int) -> None:
        if self.clip is None:
            return
        self.renderChanged.emit(n)
        if n in (self.n, self.n - 1) and not self._view_refresh.isActive():
            self._view_refresh.start()
        if n not in self._residual_gains and self.clip.cache.is_complete(n):
            self._measure_residual_gain(n)

    def _measure_residual_gain(self, n: int) -> None:
        """Measure the level the residual at ``n`` is heard with (its rendering is complete)."""
        clip = self.clip
        self._analyse(f"residual_gain:{n}", (clip,), lambda: residual_gain_db(clip.samples, clip.cache, n),
                      lambda gain_db: self._set_residual_gain(n, gain_db))

    def set_frequency_scale(self, scale: str) -> None:
        self.frequency_scale = scale
        if self.clip is not None:
            self._submit_original_spectrogram(self.clip)
            self._submit_rendering_analysis()

    def _submit_missing_analysis(self, clip: StudioClip) -> None:
        """Compute what the open clip's views lack: everything for a new clip, for one brought back
        only what was not done yet (or was done for another frequency scale or count)."""
        if "original" not in self.spectrograms:
            self._submit_original_spectrogram(clip)
        self._submit_rendering_analysis()  # whole for new views, else only the chunks that came since
        if self.envelope is None:
            rate = self.model.sample_rate
            self._analyse("envelope", (clip,), lambda: envelope(clip.samples, rate), self._show_envelope)
        for n in range(1, clip.n_codebooks + 1):
            if n not in self._residual_gains and clip.cache.is_complete(n):
                self._measure_residual_gain(n)

    def _submit_original_spectrogram(self, clip: StudioClip) -> None:
        rate, scale = self.model.sample_rate, self.frequency_scale
        self._analyse("original", (clip, scale), lambda: spectrogram(clip.samples, rate, scale),
                      lambda spec: self._show_spectrogram("original", spec, 0, spec.db.shape[0]))

    def _submit_rendering_analysis(self) -> None:
        """Bring the rendering's views up to date: whole for a new clip, scale or n, else the new chunks' columns."""
        clip = self.clip
        if clip is None:
            return
        token = (clip, self.frequency_scale, self.n)
        if self._rendering_views is None or self._rendering_views[0] != token:
            layout = SpectrogramLayout(clip.length, self.model.sample_rate, self.frequency_scale)
            self._rendering_views = token, RenderingSpectrograms(clip.samples, clip.cache, self.n, layout)
        self._analyse("rendering", token, self._rendering_views[1].update, self._show_rendering_spectrograms)
        self._submit_lane()

    def _submit_lane(self) -> None:
        """Measure the next windows of where the rendering at n breaks (view thread), again while
        rendered windows remain; the figures go out as :attr:`laneChanged`."""
        clip, n = self.clip, self.n
        if n not in self._lanes:
            self._lanes[n] = BreakLane(clip.samples, clip.gain, clip.cache, n, self.model.sample_rate)

        def deliver(figures: LaneFigures) -> None:
            if clip is self.clip:
                self.laneChanged.emit(figures)
                if figures.more and n == self.n:
                    self._submit_lane()
        self.views.submit("lane", self._lanes[n].update, deliver)

    def lane(self, n: int) -> BreakLane | None:
        """Where the open clip's rendering at ``n`` breaks, as far as measured; None before it was asked for."""
        return self._lanes.get(n)

    def _submit_opus(self, clip: StudioClip) -> None:
        reference, rate = clip.reference(), self.model.sample_rate
        spans = measured_spans(clip.length, rate)
        joint = clip.channels // clip.codes.shape[0]  # 2 for a codec coding stereo jointly
        for n, kbps in enumerate(self.model.kbps[: clip.n_codebooks], start=1):
            if n in self.opus:  # measured before the clip was set aside
                continue

            self._analyse(f"opus:{n}", (clip,),
                          lambda n=n, kbps=kbps: opus_row_in_pieces(reference, rate, n, kbps, spans, joint),
                          lambda point, n=n: self._show_opus_point(n, point), measurement=True)

    @property
    def measured_on(self) -> str:
        """What the open clip's quality rows are measured on (the whole clip, or which excerpts); "" without a clip."""
        if self.clip is None:
            return ""
        rate = self.model.sample_rate
        return describe_spans(measured_spans(self.clip.length, rate), self.clip.length, rate)

    def _analyse(self, key: str, token: tuple, compute: Callable[[], object], show: Callable[[object], None],
                 measurement: bool = False) -> None:
        """Run ``compute`` on the analysis thread, then ``show`` its result here -- if the session
        still shows what ``token`` says it was computed for: ``(clip,)``, ``(clip, scale)`` or
        ``(clip, scale, n)``. ``key`` names the task: a newer one of the same name replaces it in
        the queue, and a failure is reported with it. A ``measurement`` (``compute`` makes a
        generator yielding after each piece) is background work: every view task runs before its
        next piece, and a new clip or model abandons it."""
        def deliver(result) -> None:
            if token == (self.clip, self.frequency_scale, self.n)[: len(token)]:
                show(result)
        if measurement:
            self.analysis.submit_measurement(key, compute, deliver)
        else:
            self.views.submit(key, compute, deliver)

    def _show_opus_point(self, n: int, point: OpusPoint) -> None:
        self.opus[n] = point
        self.qualityChanged.emit()

    def _show_envelope(self, result) -> None:
        self.envelope = result
        self.envelopeReady.emit(result)

    def _show_codebook_stats(self, stats: CodebookStats) -> None:
        self.stats = stats
        self.codebookStatsReady.emit(stats)

    def _show_rendering_spectrograms(self, updates: list[tuple[str, Spectrogram, int, int]]) -> None:
        for view, spec, first, end in updates:
            self._show_spectrogram(view, spec, first, end)

    def _show_spectrogram(self, view: str, spec: Spectrogram, first: int, end: int) -> None:
        self.spectrograms[view] = spec
        self.spectrogramReady.emit(view, spec)
        self.spectrogramUpdated.emit(view, spec, first, end)

    def _set_residual_gain(self, n: int, gain_db: float) -> None:
        self._residual_gains[n] = gain_db
        source = self._sources.get(("residual", n))
        if source is not None:
            source.set_gain_db(gain_db)
        self.residualGainChanged.emit(n, gain_db)

    def set_listening_metrics(self, on: bool) -> None:
        """Measure the slow listening metrics (default off here; the window turns them on from its settings)."""
        self.listening.set_enabled(on)

    def _on_rendering_measured(self, clip: StudioClip, n: int, spans: tuple, chunks: dict) -> None:
        if clip is self.clip:
            self.listening.add_rendering(clip, n, spans, chunks, self.model.sample_rate)

    def _on_quality(self, row: RateRow) -> None:
        if self.clip is not None:
            self.quality[row.n_codebooks] = row
            self.qualityChanged.emit()

    # -- readiness --------------------------------------------------------------------------
    def all_ready(self) -> bool:
        """Clip encoded, rendered as far as the studio renders it unasked, every count measured, all
        views computed.

        "Rendered" is "nothing left that the render planner would render": every count of a clip
        whose renderings fit the cache's budget, only the selected count's next chunks of a longer one
        (all counts never fit, so asking for them kept a long clip from ever being ready).
        """
        clip = self.clip
        if clip is None or self.model is None or not clip.encoding.complete:
            return False
        rendered = render_planner.next_chunk(clip.cache, self.n, self.player.position, self.player.loop) is None
        measured = len(self.quality) == clip.n_codebooks
        return rendered and measured and self.stats is not None and self.envelope is not None and \
            len(self.opus) == clip.n_codebooks and self.analysis.idle() and self.views.idle() and not self._view_refresh.isActive() and \
            {"original", "reconstruction", "residual", "adds"} <= set(self.spectrograms)

    # -- export -----------------------------------------------------------------------------
    def export_reconstruction(self, path: str | Path) -> None:
        """Write the reconstruction at the current n, at the file's own rate and length."""
        self.exports.reconstruction(self._require_clip(), self.n, self.model.sample_rate, Path(path))

    def export_rvq(self, path: str | Path) -> None:
        """The clip's codes at the current n as a ``.rvq`` file (no re-encoding)."""
        self.exports.rvq(self._require_clip(), self.n, self.model, Path(path))

    def export_metrics_csv(self, path: str | Path) -> None:
        """The quality rows measured so far, with Opus beside them, as CSV."""
        self._require_clip()
        write_metrics_csv(path, self.quality, self.opus)
        self.exported.emit(str(path))

    def _require_clip(self) -> StudioClip:
        if self.clip is None:
            raise ValueError("open a clip first")
        return self.clip

    # -- shutdown ---------------------------------------------------------------------------
    def close(self) -> None:
        self._view_refresh.stop()
        self.player.close()
        self.worker.stop()
        self.comparison.close()
        self.views.stop()
        self.analysis.stop()
        self.listening.stop()
