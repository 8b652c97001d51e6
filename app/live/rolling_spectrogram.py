"""The live views' spectrogram: the last few seconds, one column per hop, oldest on the left.

Columns are the studio's (:class:`~app.studio.spectrogram.SpectrogramLayout`, log axis): the
codec thread pushes samples as it makes them, and the GUI takes the image on its timer. A push
replaces the image instead of writing into it, so the GUI always holds a finished one, no lock.
"""
from __future__ import annotations

import numpy as np

from app.studio.spectrogram import DB_FLOOR, SpectrogramLayout

UNBOUNDED = 2 ** 40  # a layout this long never groups frames into columns


class RollingSpectrogram:
    """dB columns ``[columns, rows]`` of the latest samples pushed."""

    def __init__(self, sample_rate: int, columns: int = 430, rows: int = 128, n_fft: int = 1024,
                 hop: int = 512) -> None:
        self.sample_rate, self.n_fft, self.hop = sample_rate, n_fft, hop
        self._layout = SpectrogramLayout(UNBOUNDED, sample_rate, "log", rows, UNBOUNDED, n_fft, hop)
        self._db = np.full((columns, rows), DB_FLOOR, dtype=np.float32)
        self._tail = np.zeros(n_fft - hop, dtype=np.float32)  # what the next window reads from before

    @property
    def seconds(self) -> float:
        return self._db.shape[0] * self.hop / self.sample_rate

    def push(self, mono: np.ndarray) -> None:
        samples = np.concatenate([self._tail, mono.astype(np.float32, copy=False)])
        k = 0 if samples.shape[0] < self.n_fft else 1 + (samples.shape[0] - self.n_fft) // self.hop
        if k:
            columns = self._layout.columns(samples[:(k - 1) * self.hop + self.n_fft], 0, k)[-self._db.shape[0]:]
            self._db = np.concatenate([self._db[columns.shape[0]:], columns])
        self._tail = samples[k * self.hop:]

    def image(self) -> np.ndarray:
        return self._db
