"""Spectrograms for display: dB magnitudes on a linear, log or mel frequency axis.

The views draw an image whose rows are evenly spaced on the chosen axis, so a log or mel
axis is made here by sampling the linear STFT at the frequencies of evenly spaced display
rows (linear interpolation between bins; a log axis starts at :data:`LOG_MIN_HZ`). Long
clips are reduced to at most ``max_columns`` time columns by taking the loudest frame of
each group, so a transient is never averaged away. numpy only: this runs in the analysis
thread, never the GUI thread.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCALES = ("linear", "log", "mel")
LOG_MIN_HZ = 20.0
DB_FLOOR = -160.0


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
    """``[frames, n_fft // 2 + 1]`` power in dB (full-scale sine = 0 dB), Hann window."""
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    padded = np.pad(np.asarray(mono, dtype=np.float32), (n_fft // 2, n_fft // 2))
    n_frames = max(1, 1 + (padded.shape[0] - n_fft) // hop)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]
    spectrum = np.fft.rfft(frames * window, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2) * (2.0 / window.sum()) ** 2
    return (10.0 * np.log10(np.maximum(power, 10 ** (DB_FLOOR / 10)))).astype(np.float32)


def spectrogram(samples: np.ndarray, sample_rate: int, scale: str = "log", rows: int = 256,
                max_columns: int = 1600, n_fft: int = 2048, hop: int = 512) -> Spectrogram:
    """Display spectrogram of ``samples`` ``[T]`` or ``[T, C]`` (channels averaged first)."""
    mono = samples if samples.ndim == 1 else samples.mean(axis=1)
    db = stft_power_db(mono, n_fft, hop)
    group = max(1, -(-db.shape[0] // max_columns))
    if group > 1:
        pad = (-db.shape[0]) % group
        db = np.pad(db, ((0, pad), (0, 0)), constant_values=DB_FLOOR).reshape(-1, group, db.shape[1]).max(axis=1)
    max_hz = sample_rate / 2
    bins = axis_to_hz((np.arange(rows) + 0.5) / rows, scale, max_hz) / max_hz * (n_fft // 2)
    lo = np.clip(np.floor(bins).astype(int), 0, n_fft // 2 - 1)
    frac = (bins - lo).astype(np.float32)
    display = db[:, lo] * (1 - frac) + db[:, lo + 1] * frac
    return Spectrogram(display.astype(np.float32), hop * group / sample_rate, scale, max_hz)
