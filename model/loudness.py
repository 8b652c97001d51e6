"""Integrated loudness (ITU-R BS.1770-4) of any number of channels.

pyloudnorm's meter stops at five channels ("Audio must have five channels or less"), yet a
film stem has eight. This meter follows the same algorithm (K-weighting, 400 ms blocks with
75 % overlap, absolute gate at -70 LUFS, relative gate 10 LU below) and equals pyloudnorm
for one to five channels, read as [L, R, C, Ls, Rs] with BS.1770's weights 1, 1, 1, 1.41,
1.41. With more than five channels the positions are unknown, so every channel is weighted
1.0 (BS.1770's weight for front channels): the loudness is the gated sum of the channels'
powers, never that of a downmix, where opposite-phase channels would cancel.

Channels are filtered one at a time and reduced to block powers at once, so memory stays
at one channel of float64 whatever the channel count.
"""
from __future__ import annotations

import numpy as np
from pyloudnorm.iirfilter import IIRfilter

BLOCK_SECONDS = 0.4
_OVERLAP = 0.75
_ABSOLUTE_GATE_LUFS = -70.0
_SURROUND_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)  # L, R, C, Ls, Rs


def channel_weights(channels: int) -> np.ndarray:
    """BS.1770 weights for ``channels`` channels (see the module docstring for > 5)."""
    if channels <= len(_SURROUND_WEIGHTS):
        return np.array(_SURROUND_WEIGHTS[:channels])
    return np.ones(channels)


def _k_weighting(rate: int) -> tuple[IIRfilter, IIRfilter]:
    return (IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, rate, "high_shelf"),
            IIRfilter(0.0, 0.5, 38.0, rate, "high_pass"))


def _block_bounds(frames: int, rate: int) -> tuple[np.ndarray, np.ndarray]:
    step = 1.0 - _OVERLAP
    count = int(np.round((frames / rate - BLOCK_SECONDS) / (BLOCK_SECONDS * step))) + 1
    j = np.arange(count, dtype=np.float64)
    lower = (BLOCK_SECONDS * (j * step) * rate).astype(np.int64)  # truncation, as pyloudnorm's int()
    upper = (BLOCK_SECONDS * (j * step + 1) * rate).astype(np.int64)
    return np.minimum(lower, frames), np.minimum(upper, frames)


def block_powers(samples: np.ndarray, rate: int) -> np.ndarray:
    """Mean-square power of each K-weighted channel in each gating block: ``[channels, blocks]``."""
    lower, upper = _block_bounds(samples.shape[1], rate)
    filters = _k_weighting(rate)
    powers = np.empty((samples.shape[0], len(lower)))
    for index, channel in enumerate(samples):
        weighted = np.asarray(channel, dtype=np.float64)
        for stage in filters:
            weighted = stage.apply_filter(weighted)
        energy = np.zeros(len(weighted) + 1)
        np.cumsum(np.square(weighted, out=weighted), out=energy[1:])
        powers[index] = (energy[upper] - energy[lower]) / (BLOCK_SECONDS * rate)
    return powers


def integrated_loudness(samples: np.ndarray, rate: int) -> float:
    """Gated loudness in LUFS of ``[channels, frames]`` (at least one block long); -inf if silent."""
    if samples.shape[1] < BLOCK_SECONDS * rate:
        raise ValueError(f"loudness needs at least {BLOCK_SECONDS} s of audio")
    powers = block_powers(samples, rate)
    weights = channel_weights(samples.shape[0])[:, None]
    with np.errstate(divide="ignore"):
        blocks = -0.691 + 10.0 * np.log10(np.sum(weights * powers, axis=0))
    above_absolute = blocks >= _ABSOLUTE_GATE_LUFS
    if not above_absolute.any():
        return float("-inf")
    relative_gate = -0.691 + 10.0 * np.log10(np.sum(weights * powers[:, above_absolute].mean(axis=1, keepdims=True))) - 10.0
    gated = (blocks > relative_gate) & (blocks > _ABSOLUTE_GATE_LUFS)
    if not gated.any():
        return float("-inf")
    with np.errstate(divide="ignore"):
        return float(-0.691 + 10.0 * np.log10(np.sum(weights * powers[:, gated].mean(axis=1, keepdims=True))))
