"""Spectrograms for display: dB magnitudes on a linear, log or mel frequency axis.

The views draw an image whose rows are evenly spaced on the chosen axis, so a log or mel
axis is made here by sampling the linear STFT at the frequencies of evenly spaced display
rows (linear interpolation between bins; a log axis starts at :data:`LOG_MIN_HZ`). Long
clips are reduced to at most ``max_columns`` time columns by taking the loudest frame of
each group, so a transient is never averaged away. numpy only: this runs in the analysis
thread, never the GUI thread.

:class:`SpectrogramLayout` fixes, for a clip's length, which STFT frames make each display
column and which samples each frame reads, so any range of columns can be computed on its
own from just the samples under it (:meth:`SpectrogramLayout.columns`) -- equal to the
same columns of the whole computation, which is itself that method applied to every
column. A rendering that grows chunk by chunk thus recomputes only the columns whose
windows reach into a new chunk (:mod:`app.studio.rendering_spectrograms`).

Columns are computed a block at a time (:meth:`SpectrogramLayout.blocks`): the windowed
frames and their spectra of a whole 10-minute clip at once took gigabytes for a moment,
a block of :data:`BLOCK_FRAMES` frames takes a few megabytes, whatever the clip's length.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

SCALES = ("linear", "log", "mel")
LOG_MIN_HZ = 20.0
DB_FLOOR = -160.0
BLOCK_FRAMES = 1024  # STFT frames computed at once: 8 MB of windowed frames at n_fft 2048


@dataclass(frozen=True)
class Spectrogram:
    db: np.ndarray  # [columns, rows] float32: x = time, y = frequency (pyqtgraph's image layout)
    seconds_per_column: float
    scale: str
    max_hz: float

    @property
    def duration(self) -> float:
        return self.db.shape[0] * self.seconds_per_column


def hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def axis_to_hz(position, scale: str, max_hz: float):
    """Frequency in Hz of a display position in ``[0, 1]`` (bottom to top)."""
    position = np.asarray(position, dtype=np.float64)
    if scale == "linear":
        return position * max_hz
    if scale == "log":
        return LOG_MIN_HZ * (max_hz / LOG_MIN_HZ) ** position
    if scale == "mel":
        return mel_to_hz(position * hz_to_mel(max_hz))
    raise ValueError(f"unknown frequency scale {scale!r} (expected one of {', '.join(SCALES)})")


def hz_to_axis(hz, scale: str, max_hz: float):
    """Inverse of :func:`axis_to_hz`."""
    hz = np.asarray(hz, dtype=np.float64)
    if scale == "linear":
        return hz / max_hz
    if scale == "log":
        return np.log(np.maximum(hz, LOG_MIN_HZ) / LOG_MIN_HZ) / np.log(max_hz / LOG_MIN_HZ)
    if scale == "mel":
        return hz_to_mel(hz) / hz_to_mel(max_hz)
    raise ValueError(f"unknown frequency scale {scale!r} (expected one of {', '.join(SCALES)})")


def stft_power_db(mono: np.ndarray, n_fft: int = 2048, hop: int = 512) -> np.ndarray:
    """``[frames, n_fft // 2 + 1]`` power in dB (full-scale sine = 0 dB), Hann window, centred frames."""
    padded = np.pad(np.asarray(mono, dtype=np.float32), (n_fft // 2, n_fft // 2))
    n_frames = max(1, 1 + (padded.shape[0] - n_fft) // hop)
    return _frames_power_db(padded, n_frames, n_fft, hop)


def _frames_power_db(padded: np.ndarray, n_frames: int, n_fft: int, hop: int) -> np.ndarray:
    """Power in dB of the ``n_frames`` windows at ``0, hop, 2 hop, ...`` of ``padded``."""
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]
    spectrum = np.fft.rfft(frames * window, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2) * (2.0 / window.sum()) ** 2
    return (10.0 * np.log10(np.maximum(power, 10 ** (DB_FLOOR / 10)))).astype(np.float32)


def to_mono(samples: np.ndarray) -> np.ndarray:
    """``[T]`` from ``[T]`` or ``[T, C]`` (channels averaged)."""
    return samples if samples.ndim == 1 else samples.mean(axis=1)


def excerpt(samples: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``samples[start:stop]`` along the first axis, zeros where the range leaves the signal."""
    out = np.zeros((stop - start, *samples.shape[1:]), dtype=samples.dtype)
    lo, hi = max(0, start), min(samples.shape[0], stop)
    if hi > lo:
        out[lo - start : hi - start] = samples[lo:hi]
    return out


@dataclass(frozen=True)
class SpectrogramLayout:
    """Display columns and rows of the spectrogram of a clip of ``length`` samples."""

    length: int
    sample_rate: int
    scale: str = "log"
    rows: int = 256
    max_columns: int = 1600
    n_fft: int = 2048
    hop: int = 512

    @property
    def n_frames(self) -> int:
        return max(1, 1 + (self.length + 2 * (self.n_fft // 2) - self.n_fft) // self.hop)

    @property
    def group(self) -> int:
        """STFT frames per display column (their maximum is shown)."""
        return max(1, -(-self.n_frames // self.max_columns))

    @property
    def n_columns(self) -> int:
        return -(-self.n_frames // self.group)

    @property
    def max_hz(self) -> float:
        return self.sample_rate / 2

    def columns_touching(self, start: int, stop: int) -> tuple[int, int]:
        """Columns ``[first, end)`` with a frame whose window reads a sample of ``[start, stop)``."""
        half = self.n_fft // 2
        # frame f reads samples [f hop - half, f hop - half + n_fft)
        first_frame = max(0, (start + half - self.n_fft) // self.hop + 1)
        last_frame = min(self.n_frames - 1, (stop - 1 + half) // self.hop)
        if last_frame < first_frame:
            return 0, 0
        return first_frame // self.group, last_frame // self.group + 1

    def blocks(self, first: int, end: int) -> list[tuple[int, int]]:
        """Columns ``[first, end)`` cut into ranges of at most :data:`BLOCK_FRAMES` frames (one column at least)."""
        step = max(1, BLOCK_FRAMES // self.group)
        return [(a, min(end, a + step)) for a in range(first, end, step)]

    def samples_of(self, first: int, end: int) -> tuple[int, int]:
        """Samples ``[start, stop)`` that columns ``[first, end)`` read (may reach past the clip)."""
        first_frame, end_frame = first * self.group, min(self.n_frames, end * self.group)
        start = first_frame * self.hop - self.n_fft // 2
        return start, (end_frame - 1) * self.hop - self.n_fft // 2 + self.n_fft

    def columns(self, mono: np.ndarray, first: int, end: int) -> np.ndarray:
        """``[end - first, rows]`` dB of columns ``[first, end)`` from ``mono`` = the samples :meth:`samples_of` them."""
        end_frame = min(self.n_frames, end * self.group)
        db = _frames_power_db(np.asarray(mono, dtype=np.float32), end_frame - first * self.group, self.n_fft,
                              self.hop)
        if self.group > 1:
            pad = (-db.shape[0]) % self.group
            db = np.pad(db, ((0, pad), (0, 0)), constant_values=DB_FLOOR)
            db = db.reshape(-1, self.group, db.shape[1]).max(axis=1)
        lo, frac = self._bins
        return (db[:, lo] * (1 - frac) + db[:, lo + 1] * frac).astype(np.float32)

    @cached_property
    def _bins(self) -> tuple[np.ndarray, np.ndarray]:
        """STFT bin below each display row and the interpolation weight of the one above."""
        half = self.n_fft // 2
        bins = axis_to_hz((np.arange(self.rows) + 0.5) / self.rows, self.scale, self.max_hz) / self.max_hz * half
        lo = np.clip(np.floor(bins).astype(int), 0, half - 1)
        return lo, (bins - lo).astype(np.float32)

    def spectrogram(self, db: np.ndarray) -> Spectrogram:
        """``db`` (all columns) as a :class:`Spectrogram` of this layout."""
        return Spectrogram(db, self.hop * self.group / self.sample_rate, self.scale, self.max_hz)


def spectrogram(samples: np.ndarray, sample_rate: int, scale: str = "log", rows: int = 256,
                max_columns: int = 1600, n_fft: int = 2048, hop: int = 512) -> Spectrogram:
    """Display spectrogram of ``samples`` ``[T]`` or ``[T, C]`` (channels averaged first), a block at a time."""
    layout = SpectrogramLayout(samples.shape[0], sample_rate, scale, rows, max_columns, n_fft, hop)
    db = np.empty((layout.n_columns, layout.rows), np.float32)
    for first, end in layout.blocks(0, layout.n_columns):
        db[first:end] = layout.columns(to_mono(excerpt(samples, *layout.samples_of(first, end))), first, end)
    return layout.spectrogram(db)
