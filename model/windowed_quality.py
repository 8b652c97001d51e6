"""Where a rendering is worst: the mel distance of each short window, and the worst few.

A whole-clip number hides a bad second in a good minute.  The signal is cut into windows of
``window_seconds`` (0.5 s by default); a remainder shorter than half a window joins the last
window rather than being judged on its own (too short for the mel distance's 2048-sample
frames to mean much).  Each window's distance is :func:`model.metrics.mel_distance` of that
window alone, channels pooled, items averaged.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from model.metrics import MetricInputError, mel_distance, paired_items

WINDOW_SECONDS = 0.5
_WINDOWS_PER_BATCH = 64  # windows measured together: a long clip's spectrograms are not all held at once


@dataclass(frozen=True)
class QualityWindow:
    start: float  # seconds
    end: float
    mel_distance: float


def window_bounds(length: int, window: int) -> list[tuple[int, int]]:
    """``[start, end)`` sample ranges covering ``length``: full windows, a short tail merged into the last."""
    if window <= 0:
        raise MetricInputError(f"window must be positive, got {window}")
    starts = list(range(0, max(length - window // 2, 1), window))  # the last start leaves > window // 2
    return [(start, starts[i + 1] if i + 1 < len(starts) else length) for i, start in enumerate(starts)]


@torch.no_grad()
def windowed_mel_distance(reference: np.ndarray | torch.Tensor, estimate: np.ndarray | torch.Tensor,
                          sample_rate: int, window_seconds: float = WINDOW_SECONDS) -> list[QualityWindow]:
    """Mel distance of every window, in time order.

    Windows of equal length are measured in batches; the last, longer one on its own.
    """
    ref, est = paired_items(reference, estimate)
    length = ref.shape[-1]
    if length == 0:
        raise MetricInputError("cannot measure windows of empty signals")
    bounds = window_bounds(length, max(1, round(window_seconds * sample_rate)))
    by_length: dict[int, list[int]] = {}
    for i, (start, end) in enumerate(bounds):
        by_length.setdefault(end - start, []).append(i)
    values = [0.0] * len(bounds)
    items = ref.shape[0]
    batches = [indices[i: i + _WINDOWS_PER_BATCH] for indices in by_length.values()
               for i in range(0, len(indices), _WINDOWS_PER_BATCH)]
    for indices in batches:
        pieces_ref = torch.cat([ref[..., bounds[i][0]: bounds[i][1]] for i in indices])
        pieces_est = torch.cat([est[..., bounds[i][0]: bounds[i][1]] for i in indices])
        distances = mel_distance(pieces_ref, pieces_est, sample_rate).reshape(len(indices), items).mean(dim=1)
        for i, distance in zip(indices, distances.tolist()):
            values[i] = distance
    return [QualityWindow(start / sample_rate, end / sample_rate, value)
            for (start, end), value in zip(bounds, values)]


def worst_windows(windows: list[QualityWindow], k: int) -> list[QualityWindow]:
    """The ``k`` windows with the largest mel distance, worst first (earlier first among equals)."""
    if k < 0:
        raise MetricInputError(f"k must be >= 0, got {k}")
    return sorted(windows, key=lambda w: -w.mel_distance)[:k]
