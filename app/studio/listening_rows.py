"""The slow listening metrics of each codebook count, measured behind everything else.

ViSQOL (audio and speech mode), STOI/ESTOI, DNSMOS and SI-SDR after undoing the codec's
delay come from :func:`model.listening_metrics.measure`, on the same samples as the quality
rows (:func:`app.studio.quality.measured_spans`: at most 20 s, the excerpts of a long clip
joined end to end, both signals cut alike). They cost seconds each (ViSQOL audio mode 6-20 s
per 30 s rendering on two busy cores, DNSMOS about 10 s) and hold Python's interpreter lock for up
to 90 ms at a time, so they are computed in a process of their own
(:class:`app.runtime.child_process.ChildProcess`, one thread, nice +10), which this module's
thread feeds at background priority, one metric of one count per measurement, and only while
the quality rows and the Opus reference are all measured (``rows_pending``): they never delay a
view or a fast row, and the studio's interpreter is not held while they compute. A new clip or
model abandons them, killing the child if it is computing (it starts again with the next
metric); results are kept per count with the clip's other results. A child that crashes or
lacks a package gives that metric a one-line reason in the panel.

Both ViSQOL modes are measured for every clip: the studio cannot tell speech from music,
and speech mode costs a third of audio mode. Opus gets none of them: it would double the
minutes of background work per clip for a reference the fast rows already place.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.runtime.child_process import ChildProcess
from app.studio.analysis_worker import AnalysisWorker
from app.studio.clip import StudioClip
from app.studio.quality import Spans, rendering_pieces
from model.listening_metrics import METRICS, MetricOutcome

# cheapest first: the first columns fill within seconds of the quality rows
STUDIO_METRICS = ("si_sdr", "stoi", "estoi", "visqol_speech", "dnsmos", "visqol")
MEASURE = "model.listening_metrics:measure"  # what the child runs, by name
Pair = tuple[StudioClip, Spans, Mapping[int, np.ndarray], int, int]  # clip, spans, chunks, rate, serial


def joined_pieces(clip: StudioClip, spans: Spans, chunks: Mapping[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(reference, rendering)`` ``[C, 1, L]`` over ``spans``: the measured excerpts joined end to end.

    In C order, as the metrics' process receives them: a float32 sum's rounding depends on the
    memory layout, so the figures agree to the last bit wherever they are computed.
    """
    pieces = list(rendering_pieces(clip.samples, clip.gain, spans, chunks, clip.grid))
    return tuple(np.ascontiguousarray(np.concatenate([piece[k] for piece in pieces], axis=-1)) for k in (0, 1))


def one_metric(name: str, pair: Pair, process: ChildProcess) -> Generator[None, None, MetricOutcome]:
    """Measure metric ``name`` of the rendering of ``pair`` in ``process``: one step.

    The signals are sent only when the child does not hold this pair's already (the pair's
    serial is the key): the first metric of a count sends them, the others reuse them.
    """
    clip, spans, chunks, rate, serial = pair
    def signals() -> dict[str, np.ndarray]:
        return dict(zip(("reference", "estimate"), joined_pieces(clip, spans, chunks)))

    outcome = process.call(MEASURE, serial, signals, name, sample_rate=rate)
    yield
    return outcome


@dataclass
class ListeningState:
    """What one clip has of its listening metrics: outcomes per count and metric, and the renderings
    (clip, spans, chunks, rate) of the counts still to be measured -- kept with the clip's other
    results, so a clip brought back goes on where it stopped."""

    outcomes: dict[int, dict[str, MetricOutcome]] = field(default_factory=dict)
    inputs: dict[int, Pair] = field(default_factory=dict)


class ListeningRows(QObject):
    """The listening metrics of the open clip: per count, per metric, its outcome once measured.

    ``rows_pending()`` says whether quality rows or Opus points are still being measured;
    nothing here starts while it does.
    """

    changed = Signal()

    def __init__(self, rows_pending: Callable[[], bool], defer_while: Callable[[], bool]) -> None:
        super().__init__()
        self.worker = AnalysisWorker(defer_while=defer_while, name="listeningWorker", hold_while=rows_pending)
        self.process = ChildProcess("the listening metrics process")
        self._serials = itertools.count()
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
        self._abandon()
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
        self.state.inputs[n] = (clip, spans, chunks, sample_rate, next(self._serials))
        if self.enabled:
            self._submit(n)

    def set_enabled(self, on: bool) -> None:
        """Measure (the counts whose renderings are waiting) or stop measuring; what is in stays shown."""
        self.enabled = on
        if not on:
            self._abandon()
        else:
            for n in sorted(self.state.inputs):
                self._submit(n)
        self.changed.emit()

    def complete(self, counts: int) -> bool:
        """Whether every metric of counts 1..``counts`` is in."""
        return all(self._done(n) for n in range(1, counts + 1))

    def _done(self, n: int) -> bool:
        return all(name in self.outcomes.get(n, {}) for name in STUDIO_METRICS)

    def _abandon(self) -> None:
        """Drop the queued metrics and stop the one being computed."""
        self.worker.discard()
        self.process.cancel()

    def _submit(self, n: int) -> None:
        pair = self.state.inputs[n]
        for name in STUDIO_METRICS:
            if name not in self.outcomes.get(n, {}):
                self.worker.submit_measurement(
                    f"{name}:{n}", lambda name=name: one_metric(name, pair, self.process),
                    lambda outcome, n=n, clip=pair[0]: self._on_outcome(clip, n, outcome))

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
        """End the thread and the child process (waited for: nothing is left running)."""
        self.worker.discard()
        self.process.close()
        self.worker.stop()

