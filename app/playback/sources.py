"""What the player can play: the original, a reconstruction, or the residual between them.

All three read the same sample grid (the codec's rate, the clip's length), so switching
between them at sample index ``i`` means the same instant of the music. A source answers
two questions inside the audio callback: is ``[start, start + frames)`` available now, and
write it into this buffer. Reads touch only immutable arrays (the original, cached chunks)
and write into buffers the player owns or the source allocated beforehand.

The residual is heard at a level-matched gain: the one that would bring its RMS to the
original's (:func:`level_matching_gain_db`), never below 0 dB (a residual louder than the
original stays as it is) and at most :data:`RESIDUAL_MAX_GAIN_DB`. A fixed lift made a
poor reconstruction's residual clip while a good one's stayed faint. The gain is measured
once per rendering, off the audio thread (:func:`residual_gain_db`), and swapped in by one
attribute write; peaks the lift pushes past full scale are bent by :mod:`app.playback.soft_limiter`.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from app.studio.render_cache import RenderCache
from app.playback.soft_limiter import soft_limit

RESIDUAL_MAX_GAIN_DB = 24.0  # more would lift a near-perfect reconstruction's rounding noise to full level
MAX_READ_FRAMES = 16384  # the longest read a source prepares scratch space for (longer reads go in pieces)


class AudioSource(Protocol):
    key: tuple
    length: int

    def ready(self, start: int, frames: int) -> bool: ...

    def read(self, start: int, out: np.ndarray) -> None:
        """Write samples ``start .. start + len(out)`` into ``out``; zeros past the end."""


class OriginalSource:
    """The input clip at the codec's rate: always available."""

    def __init__(self, samples: np.ndarray) -> None:
        samples.setflags(write=False)
        self.samples = samples
        self.length = samples.shape[0]
        self.key = ("original",)

    def ready(self, start: int, frames: int) -> bool:
        return True

    def read(self, start: int, out: np.ndarray) -> None:
        stop = min(self.length, start + out.shape[0])
        k = max(0, stop - start)
        out[:k] = self.samples[start:stop]
        out[k:] = 0.0


class ReconstructionSource:
    """The reconstruction at ``n`` codebooks, assembled from cached chunks as they arrive.

    ``kind`` names whose reconstruction it is: the studio model's, or a second model's
    ("finetuned", :mod:`app.studio.comparison_render`) -- the player tells sources apart by key.
    """

    def __init__(self, cache: RenderCache, n: int, kind: str = "reconstruction") -> None:
        self.cache, self.n = cache, n
        self.length = cache.grid.length
        self.key = (kind, n)

    def ready(self, start: int, frames: int) -> bool:
        grid = self.cache.grid
        if start >= self.length:
            return True
        last = grid.chunk_at(min(self.length, start + frames) - 1)
        for chunk in range(grid.chunk_at(start), last + 1):  # a plain loop: no generator in the callback
            if not self.cache.is_rendered(self.n, chunk):
                return False
        return True

    def read(self, start: int, out: np.ndarray) -> None:
        grid = self.cache.grid
        pos, written, frames = start, 0, out.shape[0]
        while written < frames and pos < self.length:
            chunk = grid.chunk_at(pos)
            c_start, c_end = grid.samples(chunk)
            data = self.cache.get(self.n, chunk)
            k = min(frames - written, c_end - pos)
            if data is None:  # evicted between ready() and read(): play silence, never crash
                out[written : written + k] = 0.0
            else:
                out[written : written + k] = data[pos - c_start : pos - c_start + k]
            written += k
            pos += k
        out[written:] = 0.0


class ResidualSource:
    """Original minus reconstruction at ``n`` (what the codec removed), lifted and soft-limited."""

    def __init__(self, original: OriginalSource, reconstruction: ReconstructionSource, gain_db: float = 0.0) -> None:
        self.original, self.reconstruction = original, reconstruction
        self.length = original.length
        self.key = ("residual", reconstruction.n)
        self.set_gain_db(gain_db)
        shape = (MAX_READ_FRAMES, original.samples.shape[1])
        self._recon, self._magnitude, self._bent = (np.zeros(shape, dtype=np.float32) for _ in range(3))

    def set_gain_db(self, gain_db: float) -> None:
        """Apply a new gain (from any thread: the callback reads ``gain`` once per block)."""
        self.gain_db = float(gain_db)
        self.gain = np.float32(10 ** (self.gain_db / 20))

    def ready(self, start: int, frames: int) -> bool:
        return self.reconstruction.ready(start, frames)

    def read(self, start: int, out: np.ndarray) -> None:
        gain = self.gain
        for offset in range(0, out.shape[0], MAX_READ_FRAMES):
            piece = out[offset : offset + MAX_READ_FRAMES]
            frames = piece.shape[0]
            recon = self._recon[:frames]
            self.original.read(start + offset, piece)
            self.reconstruction.read(start + offset, recon)
            piece -= recon
            piece *= gain
            soft_limit(piece, self._magnitude[:frames], self._bent[:frames])


def level_matching_gain_db(original_energy: float, residual_energy: float) -> float:
    """The gain bringing the residual's energy to the original's, within ``[0, RESIDUAL_MAX_GAIN_DB]`` dB."""
    if original_energy <= 0.0:
        return 0.0
    if residual_energy <= 0.0:
        return RESIDUAL_MAX_GAIN_DB
    return float(np.clip(10.0 * np.log10(original_energy / residual_energy), 0.0, RESIDUAL_MAX_GAIN_DB))


def residual_gain_db(original: np.ndarray, cache: RenderCache, n: int) -> float:
    """:func:`level_matching_gain_db` of the residual at ``n`` over the chunks of ``n`` in ``cache``.

    Chunk by chunk, so no clip-sized temporary is made; ``original`` is ``[T, C]``.
    """
    original_energy = residual_energy = 0.0
    for chunk in range(cache.grid.n_chunks):
        piece = cache.get(n, chunk)
        if piece is not None:
            start, end = cache.grid.samples(chunk)
            excerpt = original[start:end].astype(np.float64)
            original_energy += float(np.square(excerpt).sum())
            residual_energy += float(np.square(excerpt - piece).sum())
    return level_matching_gain_db(original_energy, residual_energy)
