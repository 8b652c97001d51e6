"""Where the rendering at n breaks: the mel distance of every 0.5 s window, filled in as it renders.

The figures are those of :func:`model.windowed_quality.windowed_mel_distance` on the whole
rendering (the same windows, each measured alone, against the loudness-normalised input as
the quality rows are), but computed a few windows at a time as the chunks under a window
arrive, so a three-minute clip playing shows its lane filling behind the playhead instead
of waiting for a whole rendering that may never fit the cache. A window whose chunks are
not all rendered is NaN: "not yet", never a stand-in.

One :class:`BreakLane` per (clip, n), kept while the clip is open: a slider move back to a
count shows its figures at once. Only tasks on the view thread call :meth:`BreakLane.update`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from app.studio.render_cache import RenderCache
from app.studio.quality import rendering_pieces
from model.metrics import mel_distance
from model.windowed_quality import WINDOW_SECONDS, window_bounds

WINDOWS_PER_STEP = 4  # about 0.2 s of work on one core: the view thread's other tasks wait no longer
WORST_SHOWN = 5


@dataclass(frozen=True)
class LaneFigures:
    """A snapshot: window ``[starts[i], ends[i])`` (seconds) has mel distance ``values[i]`` (NaN: not yet)."""

    n: int
    starts: np.ndarray
    ends: np.ndarray
    values: np.ndarray
    more: bool  # rendered windows remain to be measured: ask again

    def worst(self, k: int = WORST_SHOWN) -> list[tuple[float, float, float]]:
        """``(start, end, distance)`` of the ``k`` worst windows measured so far, worst first
        (earlier first among equals, as :func:`model.windowed_quality.worst_windows`)."""
        measured = np.flatnonzero(~np.isnan(self.values))
        order = measured[np.argsort(-self.values[measured], kind="stable")][:k]
        return [(float(self.starts[i]), float(self.ends[i]), float(self.values[i])) for i in order]


class BreakLane:
    """The windows of ``cache``'s rendering at ``n`` against ``samples`` ``[T, C]`` times ``gain``."""

    def __init__(self, samples: np.ndarray, gain: float, cache: RenderCache, n: int, sample_rate: int) -> None:
        self.samples, self.gain, self.cache, self.n, self.rate = samples, gain, cache, n, sample_rate
        self.bounds = window_bounds(samples.shape[0], max(1, round(WINDOW_SECONDS * sample_rate)))
        grid = cache.grid
        self._chunks = [(grid.chunk_at(start), grid.chunk_at(end - 1)) for start, end in self.bounds]
        self.values = np.full(len(self.bounds), np.nan)
        edges = np.array(self.bounds, dtype=float) / sample_rate
        self._starts, self._ends = edges[:, 0], edges[:, 1]

    def update(self, limit: int = WINDOWS_PER_STEP) -> LaneFigures:
        """Measure up to ``limit`` windows whose chunks are all rendered; the figures as they stand."""
        rendered = self.cache.rendered_map(self.n)
        ready = [i for i in np.flatnonzero(np.isnan(self.values))
                 if rendered[self._chunks[i][0]:self._chunks[i][1] + 1].all()]
        by_length: dict[int, list[int]] = {}
        for i in ready[:limit]:
            start, end = self.bounds[i]
            by_length.setdefault(end - start, []).append(i)
        for indices in by_length.values():
            self._measure(indices)
        more = len(ready) > limit
        return LaneFigures(self.n, self._starts, self._ends, self.values.copy(), more)

    @torch.no_grad()
    def _measure(self, indices: list[int]) -> None:
        """Mel distance of equal-length windows ``indices``, together (a window evicted meanwhile stays NaN)."""
        pairs = []
        for i in indices:
            chunks = {c: self.cache.get(self.n, c) for c in range(self._chunks[i][0], self._chunks[i][1] + 1)}
            if any(chunk is None for chunk in chunks.values()):
                continue
            pairs.append((i, next(rendering_pieces(self.samples, self.gain, (self.bounds[i],), chunks,
                                                   self.cache.grid))))
        if not pairs:
            return
        # each window one item [1, C, L]: channels pooled, as windowed_mel_distance on [C, L] audio
        reference = torch.from_numpy(np.stack([ref[:, 0] for _, (ref, _est) in pairs]))
        estimate = torch.from_numpy(np.stack([est[:, 0] for _, (_ref, est) in pairs]))
        for (i, _), value in zip(pairs, mel_distance(reference, estimate, self.rate).tolist()):
            self.values[i] = value
