"""Integrated loudness (ITU-R BS.1770-4) of any number of channels.

pyloudnorm's meter stops at five channels ("Audio must have five channels or less"), yet a
film stem has eight. This meter follows the same algorithm (K-weighting, 400 ms blocks with
75 % overlap, absolute gate at -70 LUFS, relative gate 10 LU below) and equals pyloudnorm
for one to five channels, read as [L, R, C, Ls, Rs] with BS.1770's weights 1, 1, 1, 1.41,
1.41. With more than five channels the positions are unknown, so every channel is weighted
1.0 (BS.1770's weight for front channels): the loudness is the gated sum of the channels'
powers, never that of a downmix, where opposite-phase channels would cancel.

The gating needs only the K-weighted power of each channel in each 400 ms block, so
``LoudnessMeter`` measures a signal pushed in consecutive blocks of any size: it keeps the
filters' state, each channel's running sum of squares, and that sum at every block edge it
has passed (a few numbers per 100 ms), never the samples. The sums are accumulated in the
same order as one pass over the whole signal, so the result is bit-identical to it and
memory does not grow with the duration. Channels are filtered one at a time, so a block
costs one channel of float64 whatever the channel count.
"""
from __future__ import annotations

import numpy as np
import scipy.signal
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


def _block_edges(j: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last sample of gating blocks ``j`` (float64), as pyloudnorm computes them."""
    step = 1.0 - _OVERLAP
    lower = (BLOCK_SECONDS * (j * step) * rate).astype(np.int64)  # truncation, as pyloudnorm's int()
    upper = (BLOCK_SECONDS * (j * step + 1) * rate).astype(np.int64)
    return lower, upper


def _block_count(frames: int, rate: int) -> int:
    step = 1.0 - _OVERLAP
    return int(np.round((frames / rate - BLOCK_SECONDS) / (BLOCK_SECONDS * step))) + 1


class LoudnessMeter:
    """Integrated loudness of ``channels`` channels at ``rate`` pushed block by block."""

    def __init__(self, channels: int, rate: int) -> None:
        self.channels = channels
        self.rate = rate
        self.frames = 0
        self._filters = _k_weighting(rate)
        self._states = [[np.zeros(max(len(f.a), len(f.b)) - 1) for f in self._filters] for _ in range(channels)]
        self._energy = np.zeros(channels)  # sum of squares of the K-weighted samples so far
        self._lowers_passed = 0  # blocks whose lower edge has been recorded
        self._lower: list[np.ndarray] = []  # running energy at each passed lower edge: [channels, k]
        self._upper: list[np.ndarray] = []
        self._uppers_passed = 0  # blocks whose upper edge has been recorded

    def push(self, samples: np.ndarray) -> None:
        """Add the next ``[channels, frames]`` of the signal."""
        first, end = self.frames, self.frames + samples.shape[1]
        j = np.arange(self._uppers_passed, int(end / (BLOCK_SECONDS * (1.0 - _OVERLAP) * self.rate)) + 2,
                      dtype=np.float64)
        lower, upper = _block_edges(j, self.rate)  # lower edges run ahead of upper ones
        lower = lower[self._lowers_passed - self._uppers_passed:]
        lower, upper = lower[lower <= end] - first, upper[upper <= end] - first
        at_lower, at_upper = np.empty((self.channels, len(lower))), np.empty((self.channels, len(upper)))
        for index, channel in enumerate(samples):
            weighted = np.asarray(channel, dtype=np.float64)
            for stage, filt in enumerate(self._filters):
                weighted, self._states[index][stage] = scipy.signal.lfilter(
                    filt.b, filt.a, weighted, zi=self._states[index][stage])
                weighted = filt.passband_gain * weighted
            energy = np.empty(len(weighted) + 1)
            energy[0] = self._energy[index]
            np.square(weighted, out=energy[1:])
            np.cumsum(energy, out=energy)  # sequential, continuing the sum where the last block ended
            self._energy[index] = energy[-1]
            at_lower[index], at_upper[index] = energy[lower], energy[upper]
        self._lower.append(at_lower)
        self._upper.append(at_upper)
        self._lowers_passed += len(lower)
        self._uppers_passed += len(upper)
        self.frames = end

    def block_powers(self) -> np.ndarray:
        """Mean-square power of each K-weighted channel in each gating block: ``[channels, blocks]``."""
        count = _block_count(self.frames, self.rate)
        lower = self._energies_at(self._lower, count)
        upper = self._energies_at(self._upper, count)
        return (upper - lower) / (BLOCK_SECONDS * self.rate)

    def _energies_at(self, recorded: list[np.ndarray], count: int) -> np.ndarray:
        """Energies at ``count`` edges; an edge past the end is clipped to it (as pyloudnorm's slices)."""
        passed = np.concatenate(recorded, axis=1) if recorded else np.empty((self.channels, 0))
        missing = max(0, count - passed.shape[1])
        return np.concatenate([passed[:, :count], np.repeat(self._energy[:, None], missing, axis=1)], axis=1)

    def loudness(self) -> float:
        """Gated loudness in LUFS of what was pushed (at least one block long); -inf if silent."""
        if self.frames < BLOCK_SECONDS * self.rate:
            raise ValueError(f"loudness needs at least {BLOCK_SECONDS} s of audio")
        return gated_loudness(self.block_powers(), channel_weights(self.channels))


def block_powers(samples: np.ndarray, rate: int) -> np.ndarray:
    """Mean-square power of each K-weighted channel in each gating block: ``[channels, blocks]``."""
    meter = LoudnessMeter(samples.shape[0], rate)
    meter.push(samples)
    return meter.block_powers()


def integrated_loudness(samples: np.ndarray, rate: int) -> float:
    """Gated loudness in LUFS of ``[channels, frames]`` (at least one block long); -inf if silent."""
    meter = LoudnessMeter(samples.shape[0], rate)
    meter.push(samples)
    return meter.loudness()


def gated_loudness(powers: np.ndarray, weights: np.ndarray) -> float:
    """BS.1770's two gates over block ``powers [channels, blocks]`` with channel ``weights``."""
    weights = weights[:, None]
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
