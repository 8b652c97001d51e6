"""How close each contestant comes to the clip, and the rate-quality sweep behind the chart.

Scores are those of ``rvq-studio eval`` (the metrics of :mod:`model.listening_metrics`,
under the same names): measured against the original after both are brought to the
codec's loudness target by the same gain, as ``eval`` measures against the normalised
input, so a contestant's numbers here and a codec's numbers there agree in scale.

The sweep renders every count of each neural codec and a range of bitrates of Opus and
MP3, one point per step of a generator, so the studio can stop it at any point (another
clip, other contestants) and the command line can draw progress.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from app.compare import contestants
from app.compare.contestants import ContestantError, ContestantSpec
from app.compare.rendering import ClipRenderer, Rendering
from model.compression import measure_loudness, normalisation_gain
from model.listening_metrics import measure

OPUS_SWEEP_KBPS = (6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0)
MP3_SWEEP_KBPS = (32.0, 40.0, 48.0, 64.0, 96.0, 128.0)


@dataclass
class Scores:
    values: dict[str, float | None] = field(default_factory=dict)  # the metrics' keys, as eval --json names them
    unavailable: dict[str, str] = field(default_factory=dict)  # metric -> why it was not measured


def score(reference: np.ndarray, rendered: np.ndarray, sample_rate: int, metrics: Sequence[str]) -> Scores:
    """The ``metrics`` of ``rendered`` against ``reference`` (both ``[C, T]`` at ``sample_rate``)."""
    gain = np.float32(normalisation_gain(measure_loudness(reference, sample_rate)))
    ref, est = (reference * gain)[:, None, :], (rendered * gain)[:, None, :]
    scores = Scores()
    for name in metrics:
        outcome = measure(name, ref, est, sample_rate)
        scores.values.update(outcome.values)
        if outcome.reason is not None:
            scores.unavailable[name] = outcome.reason
    return scores


@dataclass(frozen=True)
class RatePoint:
    series: str  # a codec's model name, "opus" or "mp3"
    contestant: str
    nominal_kbps: float
    measured_kbps: float
    scores: Scores


def sweep_specs(renderer: ClipRenderer, models: Sequence[str], opus_kbps: Sequence[float] = OPUS_SWEEP_KBPS,
                mp3_kbps: Sequence[float] = MP3_SWEEP_KBPS) -> list[ContestantSpec]:
    """Every count of each model, then Opus and MP3 at each bitrate (Opus only where it can run)."""
    specs = [contestants.codec(model, n) for model in models
             for n in range(1, renderer.shelf.get(model).n_codebooks + 1)]
    lowest_opus = 6.0 * renderer.audio.channels
    specs += [contestants.opus(kbps) for kbps in opus_kbps if kbps >= lowest_opus]
    return specs + [contestants.mp3(kbps) for kbps in mp3_kbps]


def sweep(renderer: ClipRenderer, specs: Sequence[ContestantSpec], metrics: Sequence[str]) -> Iterator[RatePoint]:
    """One rate-quality point per spec, rendered and scored in turn; a bitrate a coder refuses is skipped."""
    audio = renderer.audio
    for spec in specs:
        try:
            rendering = renderer.render(spec)
        except ContestantError:
            continue
        yield rate_point(rendering, score(audio.samples, rendering.samples, audio.sample_rate, metrics))


def rate_point(rendering: Rendering, scores: Scores) -> RatePoint:
    contestant = rendering.contestant
    series = contestants.model_label(contestant.model) if contestant.kind == "codec" else contestant.kind
    return RatePoint(series, contestant.name, contestant.nominal_kbps, rendering.measured_kbps, scores)
