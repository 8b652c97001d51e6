"""The spectrograms of a rendering in progress, updated chunk by chunk instead of recomputed.

While the reconstruction at n is decoded, three views change: the reconstruction, the
residual (original minus reconstruction) and what codebook n adds (reconstruction at n
minus at n - 1), each of the *partial* rendering -- zeros where no chunk exists yet.
Recomputing all three whole every few hundred milliseconds took the analysis thread (and
so a core) for most of a long clip's rendering. Here a chunk that arrives changes only the
display columns whose STFT windows reach into it -- those inside it and those straddling
its edges -- so only those are computed (:class:`app.studio.spectrogram.SpectrogramLayout`),
from the same samples the whole computation would read: the result equals
:func:`app.studio.spectrogram.spectrogram` of the partial rendering, column for column.

An instance belongs to one (clip, frequency scale, n) and lives on the analysis thread:
only tasks there call :meth:`RenderingSpectrograms.update`, one at a time. Each update
returns new :class:`~app.studio.spectrogram.Spectrogram` snapshots (the GUI may hold the old ones
while they are replaced) and the column range that changed. A chunk counts once it is
taken in; one evicted from the render cache later keeps its columns as drawn.

Where a chunk is missing the signal is a stand-in (silence in the reconstruction, the
original in the residual) that would read as data. Each snapshot therefore says which time
spans are *not yet* rendered (:attr:`RenderingSpectrogram.not_yet`): the columns whose STFT
windows reach into a chunk the view has not taken, at n (and at n - 1 for what codebook n
adds). A view shows them as "not yet", never as the answer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.studio.render_cache import RenderCache
from app.studio.spectrogram import Spectrogram, SpectrogramLayout, excerpt, to_mono

VIEWS = ("reconstruction", "residual", "adds")


@dataclass(frozen=True)
class RenderingSpectrogram(Spectrogram):
    """A rendering view's snapshot, the time spans (seconds) where its rendering is not there yet,
    and the codebook count it was drawn at (a view still showing another count than the one
    selected says so instead of passing for the new one)."""

    not_yet: tuple[tuple[float, float], ...] = ()
    n: int = 0


class RenderingSpectrograms:
    """The three rendering views of ``cache`` at ``n`` against ``original`` ``[T, C]``."""

    def __init__(self, original: np.ndarray, cache: RenderCache, n: int, layout: SpectrogramLayout) -> None:
        self.original, self.cache, self.n, self.layout = original, cache, n, layout
        counts = (n, n - 1) if n > 1 else (n,)
        self._taken = {m: np.zeros(cache.grid.n_chunks, dtype=bool) for m in counts}  # chunks drawn, per count
        self._db: dict[str, np.ndarray] | None = None

    def update(self) -> list[tuple[str, Spectrogram, int, int]]:
        """``(view, snapshot, first column, end column)`` for each view that changed since the last call.

        The first call computes every column of all three views.
        """
        taken = {m: self._taken[m] | self.cache.rendered_map(m) for m in self._taken}
        missing = {"reconstruction": ~taken[self.n], "residual": ~taken[self.n],
                   "adds": ~np.logical_and.reduce(list(taken.values()))}
        if self._db is None:
            everything = [(0, self.layout.n_columns)]
            changed = dict.fromkeys(VIEWS, everything)
        else:
            new = {m: taken[m] & ~self._taken[m] for m in taken}
            own = self._columns(new[self.n])
            changed = {"reconstruction": own, "residual": own,
                       "adds": self._columns(np.logical_or.reduce(list(new.values())))}
        updates, db = [], dict(self._db or {})
        for view, ranges in changed.items():
            if not ranges:
                continue
            columns = np.empty((self.layout.n_columns, self.layout.rows), np.float32) if self._db is None \
                else self._db[view].copy()
            for first, end in (block for span in ranges for block in self.layout.blocks(*span)):
                start, stop = self.layout.samples_of(first, end)
                columns[first:end] = self.layout.columns(to_mono(self._signal(view, start, stop, taken)), first, end)
            db[view] = columns
            updates.append((view, self._snapshot(columns, missing[view]), ranges[0][0], ranges[-1][1]))
        self._taken, self._db = taken, db  # only now: a failed update leaves the state as it was
        return updates

    def _snapshot(self, db: np.ndarray, missing: np.ndarray) -> RenderingSpectrogram:
        """``db`` as a snapshot whose columns touching a ``missing`` chunk are marked not yet rendered."""
        plain = self.layout.spectrogram(db)
        step = plain.seconds_per_column
        not_yet = tuple((first * step, end * step) for first, end in self._columns(missing))
        return RenderingSpectrogram(plain.db, step, plain.scale, plain.max_hz, not_yet, self.n)

    def _columns(self, chunks: np.ndarray) -> list[tuple[int, int]]:
        """Sorted, merged column ranges touched by the runs of ``chunks`` (a bool map)."""
        grid, ranges = self.cache.grid, []
        for run_start, run_end in _runs(chunks):
            first, end = self.layout.columns_touching(grid.samples(run_start)[0], grid.samples(run_end - 1)[1])
            if ranges and first <= ranges[-1][1]:
                ranges[-1] = (ranges[-1][0], max(end, ranges[-1][1]))
            else:
                ranges.append((first, end))
        return ranges

    def _signal(self, view: str, start: int, stop: int, taken: dict[int, np.ndarray]) -> np.ndarray:
        """Samples ``[start, stop)`` of ``view``'s signal, computed as the whole-clip signal would be."""
        rendering = self._partial(self.n, start, stop, taken)
        if view == "reconstruction":
            return rendering
        if view == "residual":
            return excerpt(self.original, start, stop) - rendering
        below = self._partial(self.n - 1, start, stop, taken) if self.n > 1 else np.zeros_like(rendering)
        return rendering - below

    def _partial(self, n: int, start: int, stop: int, taken: dict[int, np.ndarray]) -> np.ndarray:
        """Samples ``[start, stop)`` of the rendering at ``n``: the taken chunks, zeros elsewhere."""
        grid = self.cache.grid
        out = np.zeros((stop - start, self.original.shape[1]), dtype=np.float32)
        lo, hi = max(0, start), min(grid.length, stop)
        if hi <= lo:
            return out
        for chunk in range(grid.chunk_at(lo), grid.chunk_at(hi - 1) + 1):
            piece = self.cache.get(n, chunk) if taken[n][chunk] else None
            if piece is not None:
                c_start, c_end = grid.samples(chunk)
                a, b = max(lo, c_start), min(hi, c_end)
                out[a - start : b - start] = piece[a - c_start : b - c_start]
        return out


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of True in ``flags``."""
    edges = np.flatnonzero(np.diff(np.r_[0, flags.astype(np.int8), 0]))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))
