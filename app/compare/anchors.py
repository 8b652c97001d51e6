"""ITU-R BS.1534's low-pass anchors: the clip with everything above 3.5 kHz (or 7 kHz) removed.

A listening test needs anchors whose degradation is known and the same in every lab, so
they are plain low-pass filters of the original. Ours is a linear-phase FIR (a
Kaiser-windowed sinc) applied without delay: the tap at the centre lines up with the
sample it filters, so an anchor needs no alignment. Its gain is half (-6 dB) at the
cut-off, within 0.01 dB of unity below :data:`PASS_EDGE` times the cut-off, and at least
:data:`STOP_ATTENUATION_DB` down above :data:`STOP_EDGE` times it.
"""
from __future__ import annotations

import numpy as np

PASS_EDGE, STOP_EDGE = 0.95, 1.05  # the transition band, as fractions of the cut-off
STOP_ATTENUATION_DB = 80.0
_BLOCK = 1 << 16  # samples filtered per FFT (overlap-add): only the output is clip-sized


def lowpass_taps(cutoff_hz: float, sample_rate: int) -> np.ndarray:
    """The filter: an odd number of symmetric taps summing to one (unity gain at 0 Hz)."""
    transition = (STOP_EDGE - PASS_EDGE) * cutoff_hz / sample_rate * 2 * np.pi  # radians per sample
    beta = 0.1102 * (STOP_ATTENUATION_DB - 8.7)  # Kaiser's formulas for the window and its length
    length = int(np.ceil((STOP_ATTENUATION_DB - 7.95) / (2.285 * transition))) | 1
    t = np.arange(length) - length // 2
    taps = 2 * cutoff_hz / sample_rate * np.sinc(2 * cutoff_hz / sample_rate * t) * np.kaiser(length, beta)
    return taps / taps.sum()


def lowpass(samples: np.ndarray, sample_rate: int, cutoff_hz: float) -> np.ndarray:
    """``samples`` ``[channels, frames]`` low-passed at ``cutoff_hz``, same length, no delay.

    A cut-off at or above the Nyquist frequency leaves nothing to remove: the samples come back.
    """
    if cutoff_hz * STOP_EDGE >= sample_rate / 2:
        return samples.astype(np.float32, copy=True)
    taps = lowpass_taps(cutoff_hz, sample_rate)
    half, frames, overlap = len(taps) // 2, samples.shape[1], len(taps) - 1
    size = 1 << int(np.ceil(np.log2(_BLOCK + len(taps))))
    spectrum = np.fft.rfft(taps, size)
    out = np.empty(samples.shape, np.float32)
    pending = np.zeros((samples.shape[0], overlap))  # the previous block's convolution reaching into this one
    for start in range(0, frames, _BLOCK):
        block = samples[:, start:start + _BLOCK].astype(np.float64)
        piece = np.fft.irfft(np.fft.rfft(block, size) * spectrum, size)[:, :block.shape[1] + overlap]
        piece[:, :overlap] += pending
        _place(out, piece[:, :block.shape[1]], start - half)  # complete: no later block reaches it
        pending = piece[:, block.shape[1]:]
    _place(out, pending, frames - half)
    return out


def _place(out: np.ndarray, values: np.ndarray, at: int) -> None:
    """``values`` into ``out``'s frames from ``at``, the part outside ``out`` dropped (the filter's
    delay is undone by placing the convolution ``half`` frames earlier)."""
    first, last = max(0, at), min(out.shape[1], at + values.shape[1])
    if last > first:
        out[:, first:last] = values[:, first - at:last - at]
