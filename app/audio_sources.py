"""What the player can play: the original, a reconstruction, or the residual between them.

All three read the same sample grid (the codec's rate, the clip's length), so switching
between them at sample index ``i`` means the same instant of the music. A source answers
two questions inside the audio callback: is ``[start, start + frames)`` available now, and
write it into this buffer. Reads touch only immutable arrays (the original, cached chunks)
and write into buffers the player owns.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from app.render_cache import RenderCache

RESIDUAL_GAIN_DB = 12.0  # the residual is quiet at useful bitrates; lift it to listening level


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
    ("finetuned", :mod:`app.comparison_render`) -- the player tells sources apart by key.
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
        return all(self.cache.is_rendered(self.n, c) for c in range(grid.chunk_at(start), last + 1))

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
    """Original minus reconstruction at ``n`` (what the codec removed), lifted by a fixed gain."""

    def __init__(self, original: OriginalSource, reconstruction: ReconstructionSource,
                 gain_db: float = RESIDUAL_GAIN_DB) -> None:
        self.original, self.reconstruction = original, reconstruction
        self.length = original.length
        self.gain = np.float32(10 ** (gain_db / 20))
        self.gain_db = gain_db
        self.key = ("residual", reconstruction.n)
        self._scratch = np.zeros((0, 0), dtype=np.float32)

    def ready(self, start: int, frames: int) -> bool:
        return self.reconstruction.ready(start, frames)

    def read(self, start: int, out: np.ndarray) -> None:
        if self._scratch.shape[0] < out.shape[0] or self._scratch.shape[1] != out.shape[1]:
            self._scratch = np.zeros(out.shape, dtype=np.float32)
        scratch = self._scratch[: out.shape[0]]
        self.original.read(start, out)
        self.reconstruction.read(start, scratch)
        out -= scratch
        out *= self.gain
        np.clip(out, -1.0, 1.0, out=out)
