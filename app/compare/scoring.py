"""How close each contestant comes to the clip, and the rate-quality sweep behind the chart.

Scores are those of ``rvq-studio eval`` (the metrics of :mod:`model.listening_metrics`,
under the same names): measured against the original after both are brought to the
codec's loudness target by the same gain, as ``eval`` measures against the normalised
input, so a contestant's numbers here and a codec's numbers there agree in scale.

The sweep renders every count of each neural codec and a range of bitrates of Opus and
MP3, one point (:func:`measure_point`) at a time, so the studio can stop it between any two
(another clip, another metric).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from app.compare import contestants
from app.compare.contestants import ContestantSpec
from app.compare.rendering import ClipRenderer
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
    """Every count of each model, then Opus and MP3 at each bitrate."""
    specs = [contestants.codec(model, n) for model in models
             for n in range(1, renderer.shelf.get(model).n_codebooks + 1)]
    specs += [contestants.opus(kbps) for kbps in opus_kbps]
    return specs + [contestants.mp3(kbps) for kbps in mp3_kbps]


def measure_point(renderer: ClipRenderer, spec: ContestantSpec, metrics: Sequence[str]) -> RatePoint:
    """``spec`` rendered on the renderer's clip and scored: one point of the sweep. Raises what the
    rendering raises -- a ContestantError where the coder refuses the bitrate (Opus below its
    lowest rate per channel, a bitrate LAME lacks), others where it cannot run (no MP3 here, a
    codec failing on the clip) -- for the chart to say which points it lacks and why."""
    rendering = renderer.render(spec)
    audio = renderer.audio
    contestant = rendering.contestant
    series = contestants.model_label(contestant.model) if contestant.kind == "codec" else contestant.kind
    scores = score(audio.samples, rendering.samples, audio.sample_rate, metrics)
    return RatePoint(series, contestant.name, contestant.nominal_kbps, rendering.measured_kbps, scores)


def failure_summary(failures: dict[str, str], shown: int = 3) -> str:
    """One line naming the points that failed, grouped by why: ``{contestant name: reason}`` ->
    ``"mp3 32, mp3 40 and 4 more: no MP3: ..."``, groups joined by "; "."""
    by_reason: dict[str, list[str]] = {}
    for name, reason in failures.items():
        by_reason.setdefault(reason, []).append(name)
    parts = []
    for reason, names in by_reason.items():
        listed = ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")
        parts.append(f"{listed}: {reason}")
    return "; ".join(parts)
