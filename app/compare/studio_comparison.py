"""The studio's Compare tab without widgets: contestants rendered in the background on the
open clip, played on one sample clock and switched with the player's crossfade, and the
rate-quality chart's points.

Everything slow runs on one :class:`~app.studio.analysis_worker.AnalysisWorker` (a thread at
background priority): reading the clip and each contestant's rendering as its first-come tasks,
then the chart's points as its measurements, which it takes only when no such task waits. So
what can be heard comes first: a contestant added while the chart is measured waits for one
point at most, and a rendering in progress is never restarted. A new clip discards everything
queued (a new metric, the chart's points), and results and failures that arrive for an older clip
(its reading, its renderings) are ignored.

The Compare tab has its own :class:`~app.playback.player.AudioPlayer` at the clip's own rate
and channel count (the contestants are rendered there, not at a codec's rate). Each contestant
is a source that is "not ready" until its rendering arrives, so the player, asked to switch to
it, keeps playing what it plays and switches -- at the sample being played, with the
crossfade -- the moment it is there. The loop region applies as in the studio.

The chart is measured on at most :data:`CHART_SECONDS` from the middle of the clip: every
count of each model and a sweep of Opus and MP3 bitrates is a rendering each.

Memory grows neither with the contestants nor with the clip's length: the clip is written, as
it is read, to the clip's :class:`~app.compare.rendering_folder.RenderingFolder` (a temporary
folder, deleted on a new clip and on close), and every contestant is made from that copy read
in blocks and written there block by block as it is made (:meth:`ClipRenderer.render_kept`):
the worker holds blocks and a model, never a clip. Everything is read back through file
mappings. :meth:`StudioComparison.prefetch` (the tab's frame timer) has the kernel read every
contestant a few seconds ahead of the play position, so switching while playing reads memory,
not the disk. A rendering in progress stops at its next block (leaving no file) when its clip
is replaced, the tab closes, the models switch mode, or the contestant is removed.
"""
from __future__ import annotations

import threading
from itertools import chain
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.compare.contestants import MAX_CONTESTANTS, ContestantError, ContestantSpec, check_new
from app.compare.rendering import ClipRenderer, CodecShelf, Contestant, Rendering
from app.compare.rendering_folder import RenderingFolder
from app.compare.scoring import RatePoint, failure_summary, measure_point, sweep_specs
from app.playback.audio_output import StreamFactory
from app.playback.player import AudioPlayer
from app.playback.sources import OriginalSource
from app.studio.analysis_worker import AnalysisWorker
from app.studio.clip import checked_blocks
from model.audio_io import Audio, audio_info
from model.listening_metrics import FAST_METRICS, METRICS

CHART_SECONDS = 20.0
PREFETCH_SECONDS = 3.0  # read ahead of the play position (and the loop's start) for every contestant


def chart_metrics() -> list[str]:
    """The metrics the chart can show, the quick ones first. Whether a listening metric can run
    here is found out by measuring it (checking imports its packages: seconds, not for the GUI
    thread); :attr:`StudioComparison.chart_unavailable` then says why not."""
    return list(FAST_METRICS) + [name for name in METRICS if name not in FAST_METRICS]


def chart_excerpt(audio: Audio, seconds: float = CHART_SECONDS) -> Audio:
    """At most ``seconds`` of ``audio`` from its middle, in memory: the chart's material."""
    length = min(audio.frames, round(seconds * audio.sample_rate))
    start = (audio.frames - length) // 2
    return Audio(np.array(audio.samples[:, start:start + length]), audio.sample_rate)


class ContestantSource(OriginalSource):
    """A contestant's aligned rendering ``[T, C]`` for the player; not ready until it arrives
    (then read exactly as the original is: from its file mapping, read ahead by :meth:`StudioComparison.prefetch`)."""

    def __init__(self, key: tuple, length: int) -> None:  # noqa: super().__init__ wants the samples
        self.samples = None
        self.length = length
        self.key = key

    def arrive(self, samples: np.ndarray) -> None:
        samples.setflags(write=False)
        self.samples = samples  # one attribute write: the audio callback sees all of it or none

    def ready(self, start: int, frames: int) -> bool:
        return self.samples is not None


class StudioComparison(QObject):
    changed = Signal()  # contestants, renderings, failures or chart points changed
    clipFailed = Signal(str)

    def __init__(self, stream_factory: StreamFactory | None = None, shelf: CodecShelf | None = None,
                 folder_factory: Callable[[], RenderingFolder] = RenderingFolder) -> None:
        super().__init__()
        self.folder_factory = folder_factory
        self.folder: RenderingFolder | None = None  # the open clip's renderings
        self.player = AudioPlayer(stream_factory)
        self.worker = AnalysisWorker(name="compareWorker")
        self.worker.taskFailed.connect(self._on_failed)
        self.shelf = shelf or CodecShelf()
        self.specs: list[ContestantSpec] = []
        self.renderings: dict[ContestantSpec, Rendering] = {}
        self.errors: dict[ContestantSpec, str] = {}
        self.points: dict[ContestantSpec, RatePoint] = {}
        self.point_failures: dict[ContestantSpec, str] = {}  # chart points that could not be measured, and why
        self.metric = "mel"
        self.fast = False  # the models render in fast mode, as the studio's (set_fast_mode)
        self.chart_unavailable: str | None = None  # why the chart's metric cannot be measured here
        self.selected: ContestantSpec | None = None
        self.audio: Audio | None = None
        self.path: str | None = None
        self.clip_error = ""  # why the open clip cannot be compared on ("" while it is read or is there)
        self._renderer: ClipRenderer | None = None
        self._chart: ClipRenderer | None = None
        self._sources: dict[ContestantSpec, OriginalSource] = {}
        self._original: OriginalSource | None = None
        self._generation = 0
        self._queued: set[ContestantSpec] = set()  # renderings handed to the worker for this clip
        self._cancels: dict[ContestantSpec, threading.Event] = {}  # set: stop that rendering at its next block
        self._queued_points: set[ContestantSpec] = set()  # chart points handed to it for this metric
        self._chart_models: tuple[str, ...] | None = None  # the models the queued sweep covers

    # -- the clip ---------------------------------------------------------------------------
    def open_clip(self, path: str | Path | None) -> None:
        """Compare on ``path`` (read in the background); None: no clip."""
        self._generation += 1
        self.worker.discard()
        self._cancel_renderings()
        self.player.pause()
        self.audio, self._renderer, self._chart, self.path = None, None, None, None if path is None else str(path)
        self.clip_error = ""
        self._forget_results()
        self._close_folder()
        if path is None:
            return
        try:
            self.folder = self.folder_factory()
        except OSError as exc:
            self._clip_failed(f"no temporary folder for the renderings: {exc.strerror or exc}")
            return
        self._start()
        generation = self._generation
        # the generation in the key: a slow read of an earlier clip still runs when this one is
        # opened, and its failure (or its folder's, deleted meanwhile) must not be this clip's
        self.worker.submit(f"clip {generation}", lambda folder=self.folder: kept_clip(path, folder),
                           lambda audio: self._on_audio(generation, audio))

    def _on_audio(self, generation: int, audio: Audio) -> None:
        if generation != self._generation:
            return
        self.audio = audio
        self._renderer = self._clip_renderer()
        self._chart = ClipRenderer(chart_excerpt(audio), self.shelf)
        self._original = OriginalSource(audio.samples.T)
        self.player.configure(audio.sample_rate, audio.channels, self._original)
        self._schedule()
        self._route()

    def _forget_results(self) -> None:
        self.renderings, self.errors, self.points, self._sources = {}, {}, {}, {}
        self.point_failures = {}
        self._queued, self._queued_points, self._chart_models = set(), set(), None
        self.changed.emit()

    # -- contestants ------------------------------------------------------------------------
    def add(self, spec: ContestantSpec) -> None:
        check_new(spec, self.specs)
        if len(self.specs) >= MAX_CONTESTANTS:
            raise ContestantError(f"at most {MAX_CONTESTANTS} contestants")
        self.specs.append(spec)
        if self.selected is None:
            self.selected = spec
        self._schedule()
        self._route()

    def remove(self, spec: ContestantSpec) -> None:
        self.specs.remove(spec)
        self._cancel_renderings([spec])
        self._delete_rendering(spec)
        for table in (self.errors, self.points, self._sources):
            table.pop(spec, None)
        if self.selected == spec:
            self.selected = self.specs[0] if self.specs else None
        self._schedule()
        self._route()

    def match_bitrate(self, kbps: float) -> None:
        """Every neural codec at the count whose nominal bitrate is closest to ``kbps``."""
        matched = [replace(s, n_codebooks=None, target_kbps=kbps) if s.kind == "codec" else s for s in self.specs]
        for k, spec in enumerate(matched):
            check_new(spec, matched[:k])  # two counts of one model become the same contestant
        selected = matched[self.specs.index(self.selected)] if self.selected in self.specs else None
        self._cancel_renderings([old for old in self.specs if old not in matched])
        for old in self.specs:
            if old not in matched:
                self._delete_rendering(old)
                for table in (self.errors, self._sources):
                    table.pop(old, None)
        self.specs, self.selected = matched, selected
        self._schedule()
        self._route()

    def select(self, spec: ContestantSpec) -> None:
        """Hear ``spec`` from the sample being played (as soon as its rendering is there)."""
        self.selected = spec
        self._route()
        self.changed.emit()

    def select_index(self, index: int) -> None:
        if 0 <= index < len(self.specs):
            self.select(self.specs[index])

    def set_metric(self, name: str) -> None:
        """Show ``name`` on the chart: its points are measured again."""
        if name != self.metric:
            self.metric = name
            if self._renderer is not None:  # (while the clip is read, nothing else is queued: keep its task)
                self.worker.discard()  # the old metric's points; renderings in the queue are handed over again
            self.points, self._queued, self._queued_points, self._chart_models = {}, set(), set(), None
            self.point_failures = {}  # measured again with the new metric: a failure may have passed
            self.chart_unavailable = None
            self._schedule()
            self.changed.emit()

    def set_fast_mode(self, on: bool) -> None:
        """Render the models in fast mode (bfloat16) or exactly, as the studio's model is: the codec
        contestants and the chart's points are made again. The models switch on the worker thread,
        after the rendering in progress, whose result (a new generation) is dropped."""
        if on == self.fast:
            return
        self.fast = on
        if self._renderer is None:  # no clip, or it is being read: no model renders for this one yet
            self.shelf.set_fast_mode(on)
        else:
            self._generation += 1
            self.worker.discard()
            # new renderers: the codes a model encoded the clip to depend on the mode
            self._cancel_renderings()
            self._renderer = self._clip_renderer()
            self._chart = ClipRenderer(chart_excerpt(self.audio), self.shelf)
            self.worker.submit(f"fast {self._generation}", lambda: self.shelf.set_fast_mode(on), lambda _: None)
        for spec in [s for s in self.renderings if s.kind == "codec"]:
            self._delete_rendering(spec)
            self._sources.pop(spec, None)
        self.errors = {spec: why for spec, why in self.errors.items() if spec.kind != "codec"}
        self.points, self._queued, self._queued_points, self._chart_models = {}, set(), set(), None
        self.point_failures = {}
        self._schedule()
        self._route()
        self.changed.emit()

    # -- playback ---------------------------------------------------------------------------
    def toggle_play(self) -> None:
        """Play or pause the open clip; nothing while it is read or if it failed (the player
        still holds the previous clip until the new one is there)."""
        self.player.pause() if self.player.playing or self.audio is None else self.player.play()

    def set_loop_seconds(self, start: float | None, end: float | None) -> None:
        if self.audio is None or start is None or end is None:
            self.player.set_loop(None)
            return
        rate = self.audio.sample_rate
        self.player.set_loop(int(start * rate), int(end * rate))

    def prefetch(self) -> None:
        """Have every contestant's next :data:`PREFETCH_SECONDS` from the play position (and from
        the loop's start) read into memory in the background: a switch then never waits on the
        disk. What lies more than a second behind or beyond that is unmapped from the process."""
        if self.audio is None or self.folder is None:
            return
        rate, position = self.audio.sample_rate, self.player.position
        frames = round(PREFETCH_SECONDS * rate)
        starts = [position] + ([self.player.loop[0]] if self.player.loop else [])
        for samples in [self.audio.samples] + [r.samples for r in self.renderings.values()]:
            for start in starts:
                self.folder.prefetch(samples, start, frames)
            self.folder.release(samples, position - rate, frames + 2 * rate)

    def _route(self) -> None:
        if self.audio is None or self.selected is None:
            return
        self.player.set_source(self._source(self.selected))

    def _source(self, spec: ContestantSpec) -> OriginalSource:
        if spec.kind == "original":
            return self._original
        if spec not in self._sources:
            source = ContestantSource(("contestant", spec.name), self.audio.frames)
            if spec in self.renderings:
                source.arrive(self.renderings[spec].samples.T)
            self._sources[spec] = source
        return self._sources[spec]

    # -- background work --------------------------------------------------------------------
    def _schedule(self) -> None:
        """Queue what is missing and not queued yet: renderings as the worker's first-come tasks
        (ahead of any chart point, never restarting one in progress), then the chart's points."""
        if self._renderer is None:  # the clip is still being read: its task stays queued
            return
        generation, renderer, chart, folder = self._generation, self._renderer, self._chart, self.folder
        for spec in self.specs:
            if spec not in self.renderings and spec not in self.errors and spec not in self._queued:
                self._queued.add(spec)
                cancel = self._cancels[spec] = threading.Event()
                self.worker.submit(f"render {generation} {spec.name}",
                                   lambda s=spec, c=cancel: renderer.render_kept(s, folder, c.is_set),
                                   lambda r, s=spec: self._on_rendering(generation, folder, s, r))
        models = tuple(dict.fromkeys(s.model for s in self.specs if s.kind == "codec"))
        if models != self._chart_models:  # the sweep's contestants: every count of these models, Opus, MP3
            self._chart_models = models
            self.worker.submit_measurement("chart specs", _one_step(lambda: sweep_specs(chart, self._loadable(models))),
                                           lambda specs: self._queue_points(generation, specs))

    def _loadable(self, models: tuple[str, ...]) -> list[str]:
        """The models that load (on the worker thread); the others are a contestant's error already."""
        loadable = []
        for model in models:
            try:
                self.shelf.get(model)
            except (ValueError, OSError, RuntimeError):
                continue
            loadable.append(model)
        return loadable

    def _queue_points(self, generation: int, specs: list[ContestantSpec]) -> None:
        if generation != self._generation:
            return
        chart, metric = self._chart, self.metric
        for spec in specs:
            if spec not in self.points and spec not in self._queued_points and spec not in self.point_failures:
                self._queued_points.add(spec)
                # the key names the clip and the metric: a failure reported for earlier ones is not this chart's
                self.worker.submit_measurement(f"point {generation} {metric} {spec.name}",
                                               _one_step(lambda s=spec: measure_point(chart, s, [metric])),
                                               lambda p, s=spec: self._on_point(generation, metric, s, p))

    def _on_rendering(self, generation: int, folder: RenderingFolder, spec: ContestantSpec,
                      rendering: Rendering) -> None:
        if generation != self._generation:  # an earlier clip's, or made before fast mode was switched
            if folder is self.folder:  # (an earlier clip's folder is gone with its files)
                folder.remove(rendering.samples)
            return
        self._queued.discard(spec)
        self._cancels.pop(spec, None)
        if spec not in self.specs:  # removed while it was rendered
            self.folder.remove(rendering.samples)
            return
        self.renderings[spec] = rendering
        if spec in self._sources:
            self._sources[spec].arrive(rendering.samples.T)  # a view: the rendering is held once
        self.changed.emit()

    def _on_point(self, generation: int, metric: str, spec: ContestantSpec, point: RatePoint) -> None:
        if generation == self._generation and metric == self.metric:
            self.points[spec] = point
            self.chart_unavailable = point.scores.unavailable.get(metric)
            self.changed.emit()

    def _on_failed(self, key: str, message: str) -> None:
        kind, _, rest = key.partition(" ")
        generation, _, name = rest.partition(" ")
        if kind not in ("clip", "render", "point") or generation != str(self._generation):  # or for a clip since closed
            return
        if kind == "clip":
            self._clip_failed(message)
            return
        if kind == "point":
            self._point_failed(name, message)
            return
        for spec in self.specs:
            if spec.name == name:
                self.errors[spec] = message
                self._queued.discard(spec)
                self._cancels.pop(spec, None)
        self.changed.emit()

    def _point_failed(self, metric_and_name: str, message: str) -> None:
        """A chart point that could not be measured: kept with why (not measured again for this clip
        and metric), so the chart does not claim it."""
        metric, _, name = metric_and_name.partition(" ")
        if metric != self.metric:
            return
        for spec in list(self._queued_points):
            if spec.name == name:
                self._queued_points.discard(spec)
                self.point_failures[spec] = message
        self.changed.emit()

    def chart_failures(self) -> str:
        """One line naming the chart's points that failed and why; "" when none did."""
        return failure_summary({spec.name: why for spec, why in self.point_failures.items()})

    def _clip_failed(self, message: str) -> None:
        self.clip_error = message
        self.clipFailed.emit(message)
        self.changed.emit()

    def stimuli(self) -> list[tuple[Contestant, np.ndarray]]:
        """The contestants rendered so far on the open clip, in their order, with their aligned
        samples ``[channels, frames]`` at the clip's rate and length (a blind test's stimuli)."""
        return [(self.renderings[s].contestant, self.renderings[s].samples) for s in self.specs if s in self.renderings]

    def chart_names(self) -> set[str]:
        """The contestants as the chart names its points (a codec matched to a bitrate by its count)."""
        names = set()
        for spec in self.specs:
            rendering = self.renderings.get(spec)
            if spec.kind == "codec" and rendering is not None:
                names.add(replace(spec, n_codebooks=rendering.contestant.n_codebooks, target_kbps=None).name)
            else:
                names.add(spec.name)
        return names

    def rendered(self) -> bool:
        """Every contestant is rendered or has failed."""
        return all(spec in self.renderings or spec in self.errors for spec in self.specs)

    def _clip_renderer(self) -> ClipRenderer:
        """The open clip's renderer: every rendering reads the clip's kept file in blocks."""
        audio, folder = self.audio, self.folder
        return ClipRenderer(audio, self.shelf, lambda: folder.blocks(audio.samples))

    def _cancel_renderings(self, specs: list[ContestantSpec] | None = None) -> None:
        """Stop the renderings of ``specs`` (None: all) at their next block; they leave no file."""
        for spec in list(self._cancels) if specs is None else specs:
            cancel = self._cancels.pop(spec, None)
            if cancel is not None:
                cancel.set()

    def _start(self) -> None:
        if not self.worker.isRunning():
            self.worker.start()

    def _delete_rendering(self, spec: ContestantSpec) -> None:
        rendering = self.renderings.pop(spec, None)
        if rendering is not None:
            self.folder.remove(rendering.samples)

    def _close_folder(self) -> None:
        if self.folder is not None:
            self.folder.close()
            self.folder = None

    def close(self) -> None:
        self._generation += 1
        self._cancel_renderings()
        self.worker.stop()
        self.player.close()
        self._close_folder()


def kept_clip(path: str | Path, folder: RenderingFolder) -> Audio:
    """The clip written to ``folder`` as it is read (never held whole): its samples are read from there."""
    blocks = checked_blocks(path)
    first = next(blocks)  # (after the header's checks)
    return Audio(folder.keep_blocks(chain([first], blocks), first.shape[0]), audio_info(path).samplerate)


def _one_step(compute):
    """A measurement of one piece: ``compute()`` as the analysis worker takes measurements."""
    def steps():
        yield
        return compute()
    return steps
