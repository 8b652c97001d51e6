"""The one thread that owns the model: loading, encoding, chunk rendering.

Nothing else touches the codec, so the GUI thread never waits on it. The worker runs jobs
in this order each time it is free:

1. *control* jobs the user asked for (load a model, open a clip, export) -- first come;
2. while a new clip is being encoded (piece by piece, :mod:`app.studio.progressive_encode`):
   the chunks of the selected count just ahead of the playhead whose codes exist, else
   the next encode piece -- so the start of a clip is heard seconds before its end is
   encoded;
3. the next chunk of the selected codebook count, asked afresh from
   :mod:`app.studio.render_planner` with the current playhead (so slider moves and seeks reorder
   everything at once);
4. while the measurement thread is free, the next count's quality row: the chunks of its
   rendering it is measured on (:func:`app.studio.quality.measured_spans`, a bounded part of
   the clip) are gathered from the cache, one missing chunk decoded per step (a long clip's
   renderings do not all fit in the cache), then measured piece by piece on a second thread
   of the worker's own (an :class:`~app.studio.analysis_worker.AnalysisWorker`), since the
   metrics take seconds -- this thread stays free for the next file or a seek;
5. speculative chunks (neighbouring counts, then the rest) while the cache has room.

Cancellation is by generation: opening a clip or a model bumps it, queued jobs of older
generations are dropped, and an encode in progress stops before its next piece. A dropped
job the user asked for by name (an export) is reported as cancelled, never lost silently.
Results go to the GUI through queued Qt signals; rendered chunks go straight into the clip's
:class:`~app.studio.render_cache.RenderCache`, so the audio callback can use them before the GUI
even hears about them.

A slider move to a count not rendered at the playhead does not wait for the decode in
progress when that is of another count (a speculative chunk, the previous count's next one):
a hook on the codec's layers abandons it between two layers, and it is planned again later.

Decoding itself -- a chunk with its margins, exact, only once its codes are final -- is
:mod:`app.studio.chunk_decoding`; this module decides what is decoded when.
"""
from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QThread, Signal

from app.runtime.qthread_record import forgets_its_record
from app.runtime.thread_priority import lower_current_thread_priority
from app.studio import chunk_decoding, render_planner
from app.studio.analysis_worker import AnalysisWorker
from app.studio.clip import StudioClip, chunk_grid, read_checked
from app.studio.coded_files import is_coded_file, read_coded_file
from app.studio.fast_mode import enable_fast_mode
from app.studio.progressive_encode import EncodeState, ProgressiveEncode
from app.studio.quality import measured_spans, rate_row_in_pieces, rendering_pieces, span_chunks
from app.studio.render_cache import DEFAULT_BUDGET_BYTES, RenderCache
from app.studio.segmented import SegmentedEncode
from model import load_codec
from model.codec import Codec
from model.compression import model_input, normalisation_gain

CONTROL = 0  # priority of user-requested jobs (lower runs first)
CHUNK_SECONDS = 0.25  # short chunks: an uncached slider move waits for at most two of them
ENCODE_PIECE_SECONDS = 2.0  # encode granularity: progress, cancellation, first sound
ENCODE_LOOKAHEAD_CHUNKS = 8  # while encoding, decode at most this far ahead of the playhead
CHUNK_DECODE_GUESS_S = 0.05  # a chunk's decode time until one is measured (the bundled model: ~40 ms)
DECODE_HISTORY = 9  # the latest decodes the planning estimate is taken from (render_planner.decode_estimate)
AUDIO_LATENCY_GUESS_S = 0.012  # one output block: a rendered chunk is heard from the next callback
INFERENCE_NICENESS = 5  # below the GUI thread, above the analysis thread and other niced jobs
# One core for the model, the other left to the GUI, the audio callback and the analysis thread.
# Two intra-op threads meet at a barrier after every small operator: with the second core busy
# (the GUI, the analysis, anything else) one of them waits its turn there and a chunk's decode
# takes 200-700 ms instead of ~40 ms. The codec's parallel chunk pool defaults to this count too.
INFERENCE_TORCH_THREADS = 1


class Cancelled(Exception):
    """Raised inside a job when a newer request made it pointless."""


class Abandoned(Exception):
    """Raised inside a planned chunk's decode (between two layers) once playback waits for another count."""


@dataclass(frozen=True)
class ModelInfo:
    """What the GUI may know about the loaded codec (no torch objects)."""

    source: str
    name: str
    family: str
    device: str
    sample_rate: int
    hop_length: int
    n_codebooks: int
    codebook_size: int
    trained: bool
    kbps: tuple[float, ...]  # kbps[n - 1] for n codebooks
    description: dict
    codebook_groups: dict | None  # channel group and level of every codebook (Codec.codebook_groups)
    codebook_strides: tuple[int, ...] = ()  # frames each codebook's code lasts (Codec.codebook_strides)
    fast_mode: str = ""  # fast mode's label and measured cost (app/studio/fast_mode.py), "" when exact

    @property
    def fast_requested(self) -> bool:
        """Loaded with fast mode asked for (on, or unavailable for this model: its label says which)."""
        return bool(self.fast_mode)

    @property
    def codebook_spans(self) -> tuple[tuple[str, int, int], ...]:
        """Named runs of codebooks as ``(name, first, stop)`` indices (``describe()["codebook_labels"]``:
        Mimi's "semantic" codebook 0 and "acoustic" 1-31); empty for a codec that names none."""
        return tuple((str(name), int(first), int(stop))
                     for name, first, stop in self.description.get("codebook_labels", ()))

    @classmethod
    def of(cls, codec: Codec, source: str, fast_mode: str = "") -> "ModelInfo":
        return cls(source, codec.name, codec.family, str(codec.device), codec.sample_rate, codec.hop_length,
                   codec.n_codebooks, codec.codebook_size, codec.trained,
                   tuple(codec.kbps(n) for n in range(1, codec.n_codebooks + 1)), codec.describe(),
                   codec.codebook_groups, tuple(codec.codebook_strides), fast_mode)


@dataclass(order=True)
class _Job:
    priority: int
    seq: int
    generation: int = 0
    fn: Callable[[], None] | None = None
    on_cancel: Callable[[str], None] | None = None  # told why, when the job is dropped unrun


class InferenceWorker(QThread):
    modelLoaded = Signal(object)  # ModelInfo
    modelFailed = Signal(str)
    encodeProgress = Signal(int, int)
    clipReady = Signal(object)  # StudioClip, playable at once, codes still being filled
    encodeFinished = Signal(object)  # StudioClip whose codes are all final
    clipFailed = Signal(str)
    chunkRendered = Signal(int, int)  # n, chunk
    qualityReady = Signal(object)  # RateRow
    # (clip, n, spans, chunks): the rendered chunks at n a quality row was just measured on, for
    # measurements that follow it (the listening metrics)
    renderingMeasured = Signal(object, int, object, object)
    jobFailed = Signal(str)

    def __init__(self, cache_budget_bytes: int = DEFAULT_BUDGET_BYTES, chunk_seconds: float = CHUNK_SECONDS) -> None:
        super().__init__()
        self.setObjectName("inferenceWorker")
        self.cache_budget_bytes = cache_budget_bytes
        self.chunk_seconds = chunk_seconds
        self._cond = threading.Condition()
        self._jobs: list[_Job] = []
        self._seq = itertools.count()
        self._stopping = False
        self._generation = 0
        self._cancel_reason = ""  # why the current generation began: told to the jobs it drops
        self._codec: Codec | None = None
        # render target, written by the GUI thread (single attribute assignments)
        self.clip: StudioClip | None = None
        self.selected_n = 1
        self.audible_n: int | None = None  # the count still heard while a crossfade waits for selected_n
        self.playhead = 0
        self.playing = False
        self.playhead_at: float | None = None  # time.monotonic() when follow() last set the playhead
        self.recent_decodes: deque[float] = deque(maxlen=DECODE_HISTORY)  # seconds; this thread appends
        self.loop: tuple[int, int] | None = None
        self._quality_done: set[int] = set()  # counts whose measurement was handed over
        self._gathering: tuple[StudioClip, int, dict[int, np.ndarray]] | None = None  # (clip, n, chunks so far)
        self._measurer = AnalysisWorker(defer_while=self.playback_waits)
        self._measurer.setObjectName("measurementWorker")
        self._measurer.taskFailed.connect(self._on_measurement_failed)
        self._abandonable: tuple[int, int] | None = None  # the planned (n, chunk) being decoded
        self._encoding: tuple[ProgressiveEncode | SegmentedEncode, StudioClip, int] | None = None  # (encoder, clip, generation)

    # -- requests (GUI thread) --------------------------------------------------------------
    def load_model(self, source: str, device: str = "cpu", fast: bool = False) -> None:
        """Load ``source`` on ``device``; ``fast``: in fast mode (bfloat16, measured cost in the info)."""
        generation = self._new_generation("another model was loaded")

        def job() -> None:
            codec = load_codec(source, device)
            fast_label = enable_fast_mode(codec) if fast else ""
            self._check(generation)
            for module in codec.inference_network().modules():
                module.register_forward_pre_hook(self._abandon_if_pointless)
            self._codec = codec
            self.clip = None
            self.modelLoaded.emit(ModelInfo.of(codec, source, fast_label))

        self._submit(CONTROL, generation, job, self.modelFailed)

    def open_clip(self, path: str | Path) -> None:
        generation = self._new_generation("another file was opened")
        self._submit(CONTROL, generation, lambda: self._open(Path(path), generation), self.clipFailed)

    def cancel(self) -> None:
        """Drop queued work and stop an encode in progress before its next piece."""
        self._new_generation("loading was cancelled")

    def set_clip(self, clip: StudioClip | None, measured: set[int] = frozenset()) -> None:
        """Render for ``clip`` from now on (the GUI accepted it); the counts in ``measured`` have
        their quality row already (a clip brought back after a cancel) and are not measured again."""
        self.clip = clip
        self._quality_done = set(measured)
        self._gathering = None
        self._measurer.discard()
        self.wake()

    def run_control(self, fn: Callable[[], None], on_error: Signal | None = None, name: str | None = None) -> None:
        """Run ``fn`` on this thread before any rendering (exports and other model work).

        A ``name``d job ("Export to x.wav") that a newer request drops before it ran is
        reported on ``on_error`` as cancelled, with the reason.
        """
        on_error = on_error or self.jobFailed
        on_cancel = None if name is None else (lambda reason: on_error.emit(f"{name} was cancelled: {reason}."))
        self._submit(CONTROL, self._generation, fn, on_error, on_cancel)

    def follow(self, playhead: int, playing: bool) -> None:
        """The player is at ``playhead`` now (the GUI's frame timer): plans extrapolate from this moment.

        The frame timer runs every 25 ms: a playhead it told is up to two audio blocks old
        by the time the worker plans from it.
        """
        self.playhead, self.playing, self.playhead_at = playhead, playing, time.monotonic()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify()

    def start(self, *args) -> None:
        self._measurer.start()
        super().start(*args)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._generation += 1
            self._cond.notify()
        self.wait()
        self._measurer.stop()

    def _on_measured(self, clip: StudioClip, row, spans: tuple, chunks: dict[int, np.ndarray]) -> None:
        """A quality row arrived (GUI thread): pass it on, with what it was measured on, unless its
        clip has gone meanwhile."""
        if clip is self.clip:
            self.qualityReady.emit(row)
            self.renderingMeasured.emit(clip, row.n_codebooks, spans, chunks)
        self.wake()  # the next count can be handed over

    @property
    def codec(self) -> Codec | None:
        """The loaded codec, None before a model is loaded; only jobs on this thread may run it."""
        return self._codec

    @property
    def gathering(self) -> int | None:
        """The count whose whole rendering this thread is gathering for its quality row, if any."""
        return None if self._gathering is None else self._gathering[1]

    def rows_pending(self) -> bool:
        """Whether quality rows of the open clip are still to be measured (any thread may ask)."""
        clip = self.clip
        return clip is not None and (len(self._quality_done) < clip.n_codebooks or not self._measurer.idle())

    def playback_waits(self) -> bool:
        """Playing, the selected count is missing under the playhead, and this thread can decode it now.

        The player is then still playing the previous count (a slider move) or the original:
        any thread may ask, so that it can hold back work that would slow that decode down.
        """
        clip, codec = self.clip, self._codec
        if clip is None or codec is None or not self.playing:
            return False
        chunk = clip.grid.chunk_at(self.playhead)
        if clip.cache.is_rendered(self.selected_n, chunk):
            return False
        return clip.encoding.frames >= chunk_decoding.frames_needed(codec, clip.grid, chunk)

    def _new_generation(self, reason: str) -> int:
        with self._cond:
            self._generation += 1
            self._cancel_reason = reason
            dropped = [j for j in self._jobs if j.priority == CONTROL and j.generation != self._generation]
            self._jobs = [j for j in self._jobs if j.priority != CONTROL or j.generation == self._generation]
            heapq.heapify(self._jobs)
            generation = self._generation
        self._report_dropped(dropped, reason)
        return generation

    @staticmethod
    def _report_dropped(jobs: list[_Job], reason: str) -> None:
        for job in jobs:
            if job.on_cancel is not None:
                job.on_cancel(reason)

    def _submit(self, priority: int, generation: int, fn: Callable[[], None], on_error: Signal,
                on_cancel: Callable[[str], None] | None = None) -> None:
        def guarded() -> None:
            try:
                fn()
            except Cancelled:
                if on_cancel is not None:
                    on_cancel(self._cancel_reason)
            except (ValueError, OSError, RuntimeError) as exc:
                text = str(exc).strip()
                on_error.emit(text.splitlines()[0] if text else type(exc).__name__)

        with self._cond:
            heapq.heappush(self._jobs, _Job(priority, next(self._seq), generation, guarded, on_cancel))
            self._cond.notify()

    def _check(self, generation: int) -> None:
        if generation != self._generation or self._stopping:
            raise Cancelled

    # -- the thread -------------------------------------------------------------------------
    @forgets_its_record
    def run(self) -> None:
        lower_current_thread_priority(INFERENCE_NICENESS)
        torch.set_num_threads(INFERENCE_TORCH_THREADS)  # this thread's; also the default of threads started later
        while True:
            with self._cond:
                stale, job = self._take_job()
                while job is None and not self._stopping and not self._has_render_work():
                    self._cond.wait(0.25)
                    more, job = self._take_job()
                    stale += more
                reason = self._cancel_reason
                if self._stopping:
                    return
            self._report_dropped(stale, reason)
            if job is not None:
                job.fn()
            elif self._encoding is not None:
                self._encode_step()
            else:
                self._render_step()

    def _take_job(self) -> tuple[list[_Job], _Job | None]:
        """``(stale control jobs dropped, the job to run)``: jobs submitted just before a newer request."""
        stale = []
        while self._jobs and self._jobs[0].generation < self._generation and self._jobs[0].priority == CONTROL:
            stale.append(heapq.heappop(self._jobs))
        return stale, (heapq.heappop(self._jobs) if self._jobs else None)

    def _has_render_work(self) -> bool:
        if self._encoding is not None:
            return True
        clip = self.clip
        if clip is None or self._codec is None:
            return False
        if self._next_chunk(clip) is not None:
            return True
        return len(self._quality_done) < clip.n_codebooks and self._measurer.idle()

    def _next_chunk(self, clip: StudioClip, speculative: bool = True) -> tuple[int, int] | None:
        # The worker alone sets protection: the count selected and the one still being heard.
        clip.cache.protect({self.selected_n} | ({self.audible_n} if self.audible_n is not None else set()))
        return render_planner.next_chunk(clip.cache, self.selected_n, self.planned_playhead(clip), self.loop,
                                         speculative=speculative)

    def planned_playhead(self, clip: StudioClip) -> int:
        """Where the playhead will be when a decode started now is heard: plans start at its chunk.

        From the playhead last followed, the time since, the decode estimate and one block.
        """
        if not self.playing:
            return self.playhead
        since = 0.0 if self.playhead_at is None else max(0.0, time.monotonic() - self.playhead_at)
        ahead = since + render_planner.decode_estimate(self.recent_decodes, CHUNK_DECODE_GUESS_S)
        return render_planner.position_after(self.playhead, ahead + AUDIO_LATENCY_GUESS_S,
                                             self._codec.sample_rate, clip.grid.length, self.loop)

    def _encode_step(self) -> None:
        """One piece of the encode, unless a chunk just ahead of the playhead can be decoded."""
        encoder, clip, generation = self._encoding
        if generation != self._generation:
            self._encoding = None
            return
        if clip is self.clip:
            last = chunk_decoding.last_decodable_chunk(self._codec, clip.grid, encoder.state.frames)
            target = render_planner.next_chunk(clip.cache, self.selected_n, self.planned_playhead(clip), self.loop,
                                               speculative=False, last_chunk=last)
            ahead = None if target is None else target[1] - clip.grid.chunk_at(self.playhead)
            if ahead is not None and 0 <= ahead < ENCODE_LOOKAHEAD_CHUNKS:
                self.render_planned(clip, *target)
                return
        try:
            encoder.step()
        except (ValueError, RuntimeError) as exc:
            self._encoding = None
            self.clipFailed.emit(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return
        self.encodeProgress.emit(encoder.state.frames, encoder.state.total)
        if encoder.done:
            self._encoding = None
            self.encodeFinished.emit(clip)

    def _render_step(self) -> None:
        clip = self.clip
        if clip is None or not clip.encoding.complete:
            return
        target = self._next_chunk(clip, speculative=False)
        if target is None and self._measurer.idle() and len(self._quality_done) < clip.n_codebooks:
            # one count's chunks at a time in its hands; gathered before other counts are rendered
            # whole, as they are a bounded part of the clip: a long clip's rows came after minutes
            self._gather_step(clip)
            return
        target = target or self._next_chunk(clip)
        if target is not None:
            self.render_planned(clip, *target)

    def _gather_step(self, clip: StudioClip) -> None:
        """Add to the chunks the next count's row is measured on: cached ones at once, at most one decode."""
        if self._gathering is None or self._gathering[0] is not clip:
            n = next((n for n in render_planner.count_order(self.selected_n, clip.n_codebooks)
                      if n not in self._quality_done), None)
            if n is None:
                return
            self._gathering = (clip, n, {})
        _, n, pieces = self._gathering
        spans = measured_spans(clip.length, self._codec.sample_rate)
        needed = span_chunks(spans, clip.grid)
        try:
            for chunk in (c for c in needed if c not in pieces):
                piece = clip.cache.get(n, chunk)
                pieces[chunk] = self.render_chunk(clip, n, chunk) if piece is None else piece
                if piece is None and len(pieces) < len(needed):
                    return  # next step: the planner and queued jobs come first
            self._measure(clip, n, spans, pieces)
        except (ValueError, RuntimeError) as exc:
            self.jobFailed.emit(f"quality at n={n}: {exc}")
        self._gathering = None
        self._quality_done.add(n)

    def render_planned(self, clip: StudioClip, n: int, chunk: int) -> None:
        """Render a chunk the planner chose (on this thread), unless a slider move makes it pointless on the way.

        A decode takes 40-100 ms; a slider move to a count not rendered at the playhead would
        wait for the decode in progress (most often the previous count's next chunk, or a
        speculative one) before its own could start. While playback waits for another count,
        the decode is abandoned between two layers of the network instead (the chunk stays
        unrendered, :attr:`chunkRendered` is not emitted), and planned again later.
        """
        self._abandonable = (n, chunk)
        try:
            self.render_chunk(clip, n, chunk)
        except Abandoned:
            return
        finally:
            self._abandonable = None

    def _abandon_if_pointless(self, _module, _inputs) -> None:
        """Forward pre-hook on every layer of the codec: stop a planned decode of another count
        than the selected one while playback waits for the selected one."""
        target = self._abandonable
        if target is not None and target[0] != self.selected_n and self.playback_waits():
            raise Abandoned

    # -- model work (this thread only) --------------------------------------------------------
    def _open(self, path: Path, generation: int) -> None:
        """Read and check the file, hand the GUI a playable clip, start encoding it (an ``.ecdc``
        file: decode its codes, :mod:`app.studio.coded_files`)."""
        codec = self._codec
        if codec is None:
            raise RuntimeError("no model is loaded")
        if is_coded_file(path):
            coded = read_coded_file(codec, path, lambda: self._check(generation))
            length = coded.samples.shape[0]
            clip = self._new_clip(path, codec.sample_rate, length, coded.samples, None, coded.codes, coded.side)
            clip.encoding.frames = clip.encoding.total
            self.encodeProgress.emit(clip.encoding.total, clip.encoding.total)
            self.clipReady.emit(clip)
            self.encodeFinished.emit(clip)
            return
        audio = read_checked(path)
        self._check(generation)
        wave, loudness = model_input(codec, audio)
        self._check(generation)
        gain = np.float32(normalisation_gain(loudness))
        samples = np.ascontiguousarray((wave.reshape(-1, wave.shape[-1]).numpy() / gain).T)
        codes = np.zeros((wave.shape[0], codec.n_codebooks, codec.n_frames(samples.shape[0])), dtype=np.int64)
        clip = self._new_clip(path, audio.sample_rate, audio.frames, samples, loudness, codes, {},
                              duplicated_mono=audio.channels < samples.shape[1])
        encoder = (SegmentedEncode(codec, wave, codes, clip.encoding, ENCODE_PIECE_SECONDS, clip.side)
                   if codec.segments(0) is not None else ProgressiveEncode(codec, wave, codes, clip.encoding,
                                                                           ENCODE_PIECE_SECONDS))
        self._encoding = (encoder, clip, generation)
        self.encodeProgress.emit(0, clip.encoding.total)
        self.clipReady.emit(clip)

    def _new_clip(self, path: Path, original_rate: int, original_length: int, samples: np.ndarray,
                  loudness: float | None, codes: np.ndarray, side: dict[str, np.ndarray],
                  duplicated_mono: bool = False) -> StudioClip:
        """A clip of ``samples`` ``[T, C]`` at the codec's rate with its codes (not final yet) and an empty cache."""
        codec = self._codec
        segments = codec.segments(samples.shape[0]) or []
        # a segmenting codec decodes a chunk from the segments reaching it: chunks as long as a segment's stride
        # cost two segments' decode each, shorter ones as much for less
        chunk_seconds = max(self.chunk_seconds, segments[1][0] / codec.sample_rate if len(segments) > 1 else 0)
        grid = chunk_grid(samples.shape[0], codec.hop_length, codec.frame_rate, chunk_seconds)
        cache = RenderCache(grid, codes.shape[1], self.cache_budget_bytes, samples.shape[1])
        return StudioClip(path, original_rate, original_length, samples, loudness, codes, grid, cache,
                          EncodeState(0, grid.n_frames), side, duplicated_mono)

    def render_chunk(self, clip: StudioClip, n: int, chunk: int) -> np.ndarray:
        """Decode ``chunk`` at ``n`` into the clip's cache and return it (this thread only).

        Every decode of this worker goes through here -- planned, gathered for a quality row or
        for an export -- and is announced as :attr:`chunkRendered` (views, the residual's level);
        its time feeds the planner's estimate.
        """
        piece = chunk_decoding.decode_chunk(self._codec, clip, n, chunk, self.recent_decodes)
        self.chunkRendered.emit(n, chunk)
        return piece

    def full_rendering(self, clip: StudioClip, n: int) -> np.ndarray:
        """``[T, C]`` reconstruction at ``n``, from the cache where possible (this thread only)."""
        return chunk_decoding.full_rendering(clip, n, self.render_chunk)

    def _on_measurement_failed(self, n: str, text: str) -> None:
        self.jobFailed.emit(f"quality at n={n}: {text}")
        self.wake()

    def _measure(self, clip: StudioClip, n: int, spans: tuple, chunks: dict[int, np.ndarray]) -> None:
        """Hand the rendered ``chunks`` at ``n`` to the measurement thread, measured on ``spans`` piece by
        piece; its row comes as :attr:`qualityReady`."""
        rate, kbps = self._codec.sample_rate, self._codec.kbps(n)
        self._measurer.submit_measurement(
            str(n), lambda: rate_row_in_pieces(rendering_pieces(clip.samples, clip.gain, spans, chunks, clip.grid),
                                               rate, n, kbps),
            lambda row: self._on_measured(clip, row, spans, chunks))

