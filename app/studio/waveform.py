"""Waveform envelopes for the overview: min and max per display bin.

Drawing millions of samples is pointless at a few thousand pixels; min/max per bin keeps
every peak visible (a mean would hide transients). Runs in the analysis thread.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Envelope:
    low: np.ndarray
    high: np.ndarray
    seconds_per_bin: float


def envelope(samples: np.ndarray, sample_rate: int, bins: int = 2000) -> Envelope:
    """Min/max of ``samples`` (``[T]`` or ``[T, C]``, channels mixed) in ``<= bins`` bins."""
    mono = samples if samples.ndim == 1 else samples.mean(axis=1)
    per_bin = max(1, -(-mono.shape[0] // bins))
    pad = (-mono.shape[0]) % per_bin
    blocks = np.pad(mono, (0, pad), mode="edge" if mono.size else "constant").reshape(-1, per_bin)
    return Envelope(blocks.min(axis=1), blocks.max(axis=1), per_bin / sample_rate)
