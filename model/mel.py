"""Mel filterbank identical to ``librosa.filters.mel`` defaults (Slaney scale, Slaney norm).

Why our own: DAC's mel loss (via descript-audiotools) multiplies STFT magnitudes by
librosa's filterbank, so loss values and trained weights are only comparable if our
filterbank matches librosa's bit for bit.  librosa itself is a heavy runtime dependency
(numba, scipy, soundfile-era audio stack) for ~30 lines of arithmetic, and torchaudio's
``melscale_fbanks`` differs (no half-Nyquist conventions, float32 throughout).

Exactness details mirrored from librosa:
  * frequencies of FFT bins are ``rfftfreq(n_fft, 1/sr)``; ``fmax`` defaults to ``sr / 2``;
  * Slaney mel scale: linear (``f / (200/3)``) below 1 kHz, logarithmic above with
    step ``log(6.4) / 27``;
  * triangle weights are computed in float64 and stored into a float32 array, *then*
    multiplied by the float64 Slaney area norm ``2 / (f[i+2] - f[i])`` and rounded to
    float32 again -- the same two roundings librosa performs, so results agree exactly.

Results are cached by argument tuple; callers receive a fresh tensor (a clone) so that
in-place edits can never corrupt the cache.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

_F_SP = 200.0 / 3.0  # Hz per mel in the linear region of the Slaney scale
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOG_STEP = np.log(6.4) / 27.0


class MelFilterbankError(ValueError):
    """Invalid mel filterbank parameters."""


def hz_to_mel(frequencies: np.ndarray) -> np.ndarray:
    """Slaney mel value of each frequency in Hz (librosa ``hz_to_mel(htk=False)``)."""
    frequencies = np.asarray(frequencies, dtype=np.float64)
    mels = frequencies / _F_SP
    log_region = frequencies >= _MIN_LOG_HZ
    safe = np.where(log_region, frequencies, _MIN_LOG_HZ)
    return np.where(log_region, _MIN_LOG_MEL + np.log(safe / _MIN_LOG_HZ) / _LOG_STEP, mels)


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Frequency in Hz of each Slaney mel value (librosa ``mel_to_hz(htk=False)``)."""
    mels = np.asarray(mels, dtype=np.float64)
    freqs = _F_SP * mels
    log_region = mels >= _MIN_LOG_MEL
    return np.where(log_region, _MIN_LOG_HZ * np.exp(_LOG_STEP * (mels - _MIN_LOG_MEL)), freqs)


@functools.lru_cache(maxsize=64)
def _cached_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float
) -> torch.Tensor:
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    offsets = edges[:, None] - fft_freqs[None, :]  # [n_mels + 2, n_bins]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    area_norm = 2.0 / (edges[2:] - edges[:-2])
    weights = (weights * area_norm[:, None]).astype(np.float32)
    return torch.from_numpy(weights)


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
) -> torch.Tensor:
    """Slaney-normalised triangular mel filters, float32 tensor ``[n_mels, n_fft // 2 + 1]``.

    Equal to ``librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels,
    fmin=fmin, fmax=fmax)``.
    """
    if sample_rate <= 0 or n_fft <= 0 or n_mels <= 0:
        raise MelFilterbankError(
            f"sample_rate, n_fft and n_mels must be positive (got {sample_rate}, {n_fft}, {n_mels})"
        )
    top = float(sample_rate) / 2.0 if fmax is None else float(fmax)
    if not 0.0 <= float(fmin) < top:
        raise MelFilterbankError(f"need 0 <= fmin < fmax (got fmin={fmin}, fmax={top})")
    return _cached_filterbank(int(sample_rate), int(n_fft), int(n_mels), float(fmin), top).clone()
