"""Integrated loudness (ITU-R BS.1770-4) of any number of channels.

pyloudnorm's meter stops at five channels ("Audio must have five channels or less"), yet a
film stem has eight. This meter follows the same algorithm (K-weighting, 400 ms blocks with
75 % overlap, absolute gate at -70 LUFS, relative gate 10 LU below) and equals pyloudnorm
for one to five channels, read as [L, R, C, Ls, Rs] with BS.1770's weights 1, 1, 1, 1.41,
1.41. With more than five channels the positions are unknown, so every channel is weighted
1.0 (BS.1770's weight for front channels): the loudness is the gated sum of the channels'
powers, never that of a downmix, where opposite-phase channels would cancel.

The gating needs only the K-weighted energy of each channel between consecutive block edges
(every 100 ms), so ``LoudnessMeter`` measures a signal pushed in consecutive blocks of any
size and keeps only those energies (a few numbers per 100 ms), never the samples. The filter
(``model.k_weighting``, numpy only: scipy would cost every process some 70 MiB) runs on
blocks of ``BLOCK_FRAMES`` samples at fixed positions from the start of the signal; the
meter holds back the samples of an unfinished block, and a reading filters them from a copy
of the state. Each block's output and energies depend only on its samples and the state it
starts from, so the result is bit-identical however the signal was cut into pushes, and
memory does not grow with the duration.
"""
from __future__ import annotations

import numpy as np

from model.k_weighting import BLOCK_FRAMES, k_weighting

BLOCK_SECONDS = 0.4
_OVERLAP = 0.75
_EDGES_PER_BLOCK = 4  # a block spans 4 steps of 100 ms: it runs from edge j to edge j + 4
_ABSOLUTE_GATE_LUFS = -70.0
_SURROUND_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)  # L, R, C, Ls, Rs


def channel_weights(channels: int) -> np.ndarray:
    """BS.1770 weights for ``channels`` channels (see the module docstring for > 5)."""
    if channels <= len(_SURROUND_WEIGHTS):
        return np.array(_SURROUND_WEIGHTS[:channels])
    return np.ones(channels)


def _edges(first: int, end: int, rate: int) -> np.ndarray:
    """Sample positions of block edges ``first, first + 1, ...`` that are at most ``end``.

    Edge j is where pyloudnorm starts block j (``int(0.4 * (j * 0.25) * rate)``); it also ends
    block j - 4, because ``(j - 4) * 0.25 + 1`` and ``j * 0.25`` are the same float.
    """
    step = 1.0 - _OVERLAP
    j = np.arange(first, max(first, int(end / (BLOCK_SECONDS * step * rate)) + 2), dtype=np.float64)
    positions = (BLOCK_SECONDS * (j * step) * rate).astype(np.int64)  # truncation, as pyloudnorm's int()
    return positions[positions <= end]


def _block_count(frames: int, rate: int) -> int:
    step = 1.0 - _OVERLAP
    return int(np.round((frames / rate - BLOCK_SECONDS) / (BLOCK_SECONDS * step))) + 1


def _segment_energies(partial: np.ndarray, weighted: np.ndarray,
                      cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Energies of the segments of ``weighted [channels, n]`` that close at ``cuts`` (increasing,
    in ``(0, n]``), the first one continuing ``partial``; and the energy after the last cut."""
    starts = np.concatenate([[0], cuts[cuts < weighted.shape[1]]])
    pieces = np.add.reduceat(np.square(weighted), starts, axis=1)
    if len(cuts) and cuts[-1] == weighted.shape[1]:
        pieces = np.concatenate([pieces, np.zeros((len(pieces), 1))], axis=1)
    pieces[:, 0] += partial
    return pieces[:, :-1], pieces[:, -1]


class LoudnessMeter:
    """Integrated loudness of ``channels`` channels at ``rate`` pushed block by block."""

    def __init__(self, channels: int, rate: int) -> None:
        self.channels = channels
        self.rate = rate
        self.frames = 0
        self._filter = k_weighting(rate)
        self._state = self._filter.initial_state(channels)
        self._held = np.zeros((channels, BLOCK_FRAMES))  # samples after the last filtered block
        self._filtered = 0  # samples filtered so far: a multiple of BLOCK_FRAMES
        self._segments: list[np.ndarray] = []  # [channels, k]: energy between consecutive edges
        self._edges_passed = 1  # edge 0 (the start) closes no segment
        self._partial = np.zeros(channels)  # energy since the last edge passed

    def push(self, samples: np.ndarray) -> None:
        """Add the next ``[channels, frames]`` of the signal."""
        taken = 0
        while taken < samples.shape[1]:
            held = self.frames - self._filtered
            count = min(BLOCK_FRAMES - held, samples.shape[1] - taken)
            self._held[:, held:held + count] = samples[:, taken:taken + count]
            taken += count
            self.frames += count
            if held + count == BLOCK_FRAMES:
                self._filter_held()

    def _filter_held(self) -> None:
        weighted, self._state = self._filter.apply(self._held, self._state)
        cuts = _edges(self._edges_passed, self._filtered + BLOCK_FRAMES, self.rate) - self._filtered
        closed, self._partial = _segment_energies(self._partial, weighted, cuts)
        if len(cuts):
            self._segments.append(closed)
        self._edges_passed += len(cuts)
        self._filtered += BLOCK_FRAMES

    def _all_segments(self) -> np.ndarray:
        """``[channels, k]``: every closed segment, then the open one up to ``frames``."""
        held = self.frames - self._filtered
        if held == 0:
            return np.concatenate(self._segments + [self._partial[:, None]], axis=1)
        block = np.zeros_like(self._held)
        block[:, :held] = self._held[:, :held]
        weighted, _ = self._filter.apply(block, self._state)
        cuts = _edges(self._edges_passed, self.frames, self.rate) - self._filtered
        closed, partial = _segment_energies(self._partial, weighted[:, :held], cuts)
        return np.concatenate(self._segments + [closed, partial[:, None]], axis=1)

    def block_powers(self) -> np.ndarray:
        """Mean-square power of each K-weighted channel in each gating block: ``[channels, blocks]``.

        A block that runs past the end counts the samples up to it (as pyloudnorm's slices)."""
        count = max(0, _block_count(self.frames, self.rate))  # none before 0.35 s
        segments = self._all_segments()
        missing = max(0, count + _EDGES_PER_BLOCK - 1 - segments.shape[1])
        segments = np.concatenate([segments, np.zeros((self.channels, missing))], axis=1)
        energy = sum(segments[:, k:k + count] for k in range(_EDGES_PER_BLOCK))
        return energy / (BLOCK_SECONDS * self.rate)

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
