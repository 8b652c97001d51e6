"""ITU-R BS.1534's low-pass anchors: the clip with everything above 3.5 kHz (or 7 kHz) removed.

A listening test needs anchors whose degradation is known and the same in every lab, so
they are plain low-pass filters of the original. Ours is a linear-phase FIR (a
Kaiser-windowed sinc) applied without delay: the tap at the centre lines up with the
sample it filters, so an anchor needs no alignment. Its gain is half (-6 dB) at the
cut-off, within 0.01 dB of unity below :data:`PASS_EDGE` times the cut-off, and at least
:data:`STOP_ATTENUATION_DB` down above :data:`STOP_EDGE` times it.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from app.compare.blocks import array_blocks, joined, regrouped

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
    return joined(lowpass_blocks(array_blocks(samples), sample_rate, cutoff_hz))


def lowpass_blocks(blocks: Iterable[np.ndarray], sample_rate: int, cutoff_hz: float) -> Iterator[np.ndarray]:
    """:func:`lowpass` of a signal given as consecutive ``[channels, frames]`` blocks, as float32
    blocks: overlap-add on blocks of :data:`_BLOCK` frames, whatever the blocks given, so the
    result is the same to the bit. The output runs ``len(taps) // 2`` frames behind the input
    (the filter's delay, undone by dropping its first frames) until the last block flushes it."""
    if cutoff_hz * STOP_EDGE >= sample_rate / 2:
        yield from (block.astype(np.float32, copy=True) for block in blocks)
        return
    taps = lowpass_taps(cutoff_hz, sample_rate)
    half, overlap = len(taps) // 2, len(taps) - 1
    size = 1 << int(np.ceil(np.log2(_BLOCK + len(taps))))
    spectrum = np.fft.rfft(taps, size)
    pending, start = None, 0  # the previous block's convolution reaching into this one; frames in
    for block in regrouped(blocks, _BLOCK):
        frames = block.shape[1]
        piece = np.fft.irfft(np.fft.rfft(block.astype(np.float64), size) * spectrum, size)[:, :frames + overlap]
        if pending is not None:
            piece[:, :overlap] += pending
        if frames > half - start:  # complete: no later block reaches it (the frames before 0 dropped)
            yield piece[:, max(0, half - start):frames].astype(np.float32)
        pending, start = piece[:, frames:], start + frames
    if pending is not None:
        yield pending[:, max(0, half - start):half].astype(np.float32)
