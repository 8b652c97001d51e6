"""The slow listening metrics of each codebook count, measured behind everything else.

ViSQOL (audio and speech mode), STOI/ESTOI, DNSMOS and SI-SDR after undoing the codec's
delay come from :func:`model.listening_metrics.measure`, on the same samples as the quality
rows (:func:`app.studio.quality.measured_spans`: at most 20 s, the excerpts of a long clip
joined end to end, both signals cut alike). They cost seconds each (ViSQOL audio mode 6-20 s
per 30 s rendering on two busy cores, DNSMOS about 10 s), so they run on a thread of their
own at background priority, one metric of one count per measurement, and only while the
quality rows and the Opus reference are all measured (``rows_pending``): they never delay a
view or a fast row. A new clip or model abandons them; results are kept per count with the
clip's other results.

Both ViSQOL modes are measured for every clip: the studio cannot tell speech from music,
and speech mode costs a third of audio mode. Opus gets none of them: it would double the
minutes of background work per clip for a reference the fast rows already place.

numba's parallel kernels (ViSQOL) would take every core: the thread runs them on one, so
playback and decoding keep theirs.
"""
from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.studio.analysis_worker import AnalysisWorker
from app.studio.clip import StudioClip
from app.studio.quality import Spans, rendering_pieces
from model.listening_metrics import METRICS, MetricOutcome, measure

# cheapest first: the first columns fill within seconds of the quality rows
STUDIO_METRICS = ("si_sdr", "stoi", "estoi", "visqol_speech", "dnsmos", "visqol")
LISTENING_THREADS = 1


def joined_pieces(clip: StudioClip, spans: Spans, chunks: Mapping[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(reference, rendering)`` ``[C, 1, L]`` over ``spans``: the measured excerpts joined end to end."""
    pieces = list(rendering_pieces(clip.samples, clip.gain, spans, chunks, clip.grid))
    return (np.concatenate([ref for ref, _ in pieces], axis=-1),
            np.concatenate([est for _, est in pieces], axis=-1))


def one_metric(name: str, clip: StudioClip, spans: Spans, chunks: Mapping[int, np.ndarray],
               sample_rate: int) -> Generator[None, None, MetricOutcome]:
    """Measure metric ``name`` of the rendering in ``chunks`` on ``spans``: one step."""
    _one_numba_thread()
    reference, rendering = joined_pieces(clip, spans, chunks)
    outcome = measure(name, reference, rendering, sample_rate)
    yield
    return outcome


def _one_numba_thread() -> None:
    """numba's parallel loops on this thread use one core (its setting is per calling thread)."""
    try:
        import numba
    except ImportError:  # ViSQOL then runs without numba; nothing to limit
        return
    numba.set_num_threads(LISTENING_THREADS)


@dataclass
class ListeningState:
    """What one clip has of its listening metrics: outcomes per count and metric, and the renderings
    (clip, spans, chunks, rate) of the counts still to be measured -- kept with the clip's other
    results, so a clip brought back goes on where it stopped."""

    outcomes: dict[int, dict[str, MetricOutcome]] = field(default_factory=dict)
    inputs: dict[int, tuple[StudioClip, Spans, Mapping[int, np.ndarray], int]] = field(default_factory=dict)


class ListeningRows(QObject):
    """The listening metrics of the open clip: per count, per metric, its outcome once measured.

    ``rows_pending()`` says whether quality rows or Opus points are still being measured;
    nothing here starts while it does.
    """

    changed = Signal()

    def __init__(self, rows_pending: Callable[[], bool], defer_while: Callable[[], bool]) -> None:
        super().__init__()
        self.worker = AnalysisWorker(defer_while=defer_while, name="listeningWorker", hold_while=rows_pending)
        self.enabled = False
        self.state = ListeningState()
        self._clip: StudioClip | None = None
        self.worker.taskFailed.connect(self._on_failed)

    def start(self) -> None:
        self.worker.start()

    @property
    def outcomes(self) -> dict[int, dict[str, MetricOutcome]]:
        return self.state.outcomes

    def reset(self, clip: StudioClip | None, state: ListeningState | None = None) -> None:
        """The open clip is ``clip`` with ``state`` (None: nothing yet): other work is abandoned, and
        what ``state`` still lacks is measured again."""
        self.worker.discard()
        self._clip, self.state = clip, state if state is not None else ListeningState()
        if self.enabled:
            for n in sorted(self.state.inputs):
                self._submit(n)
        self.changed.emit()

    def add_rendering(self, clip: StudioClip, n: int, spans: Spans, chunks: Mapping[int, np.ndarray],
                      sample_rate: int) -> None:
        """The rendering at ``n`` was measured for its quality row on ``spans``: measure it here too.

        ``chunks`` are kept (by reference) until every metric of ``n`` is in.
        """
        if clip is not self._clip or self._done(n):
            return
        self.state.inputs[n] = (clip, spans, chunks, sample_rate)
        if self.enabled:
            self._submit(n)

    def set_enabled(self, on: bool) -> None:
        """Measure (the counts whose renderings are waiting) or stop measuring; what is in stays shown."""
        self.enabled = on
        if not on:
            self.worker.discard()
        else:
            for n in sorted(self.state.inputs):
                self._submit(n)
        self.changed.emit()

    def complete(self, counts: int) -> bool:
        """Whether every metric of counts 1..``counts`` is in."""
        return all(self._done(n) for n in range(1, counts + 1))

    def _done(self, n: int) -> bool:
        return all(name in self.outcomes.get(n, {}) for name in STUDIO_METRICS)

    def _submit(self, n: int) -> None:
        clip, spans, chunks, rate = self.state.inputs[n]
        for name in STUDIO_METRICS:
            if name not in self.outcomes.get(n, {}):
                self.worker.submit_measurement(
                    f"{name}:{n}", lambda name=name: one_metric(name, clip, spans, chunks, rate),
                    lambda outcome, n=n, clip=clip: self._on_outcome(clip, n, outcome))

    def _on_outcome(self, clip: StudioClip, n: int, outcome: MetricOutcome) -> None:
        if clip is not self._clip:
            return
        self.outcomes.setdefault(n, {})[outcome.name] = outcome
        if self._done(n):
            self.state.inputs.pop(n, None)  # the rendering's chunks are no longer held here
        self.changed.emit()

    def _on_failed(self, key: str, text: str) -> None:
        """A metric that raised (rather than being absent) is shown absent with the error as its reason."""
        name, n = key.rsplit(":", 1)
        clip = self._clip
        if clip is not None:
            self._on_outcome(clip, int(n), MetricOutcome(name, dict.fromkeys(METRICS[name].keys), text))

    def stop(self) -> None:
        self.worker.stop()

