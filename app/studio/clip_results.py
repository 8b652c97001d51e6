"""What the studio derived from one clip, kept together so that the clip can come back whole.

While another file is being opened, the open clip's results are set aside rather than
cleared: if the new file's encode is cancelled or fails, the previous clip returns with its
quality rows, Opus points, spectrograms, codebook usage, envelope, residual levels and
player sources, listening metrics and where-it-breaks lanes as they were -- the same objects, nothing measured or drawn again. Its
renderings need no keeping here: they live in the clip's own render cache.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from model.evaluation import RateRow


@dataclass
class ClipResults:
    """The results of one clip (each spectrogram says its frequency scale, the rendering views their count)."""

    quality: dict[int, RateRow] = field(default_factory=dict)
    opus: dict[int, object] = field(default_factory=dict)  # n -> OpusPoint
    spectrograms: dict[str, object] = field(default_factory=dict)  # view -> Spectrogram
    stats: object | None = None  # CodebookStats
    envelope: object | None = None
    residual_gains: dict[int, float] = field(default_factory=dict)  # n -> dB
    sources: dict[tuple, object] = field(default_factory=dict)  # the player's sources of this clip
    rendering_views: tuple | None = None  # (token, RenderingSpectrograms)
    listening: object | None = None  # ListeningState
    lanes: dict[int, object] = field(default_factory=dict)  # n -> BreakLane
