"""A signal as consecutive ``[channels, frames]`` blocks: how the Compare tab renders a clip of
any length while holding a block of it, not the clip.

Every rendering step takes and yields such blocks (the clip read from its file, a codec's
decoded chunks, Opus's frames, the anchors' FFT blocks); these helpers cut an array into
blocks, regroup blocks into the fixed sizes a step needs and join them again.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

BLOCK_FRAMES = 1 << 16  # frames per block: ~1.4 s at 48 kHz, 512 KiB of stereo float32


def array_blocks(samples: np.ndarray, size: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
    """``samples`` ``[channels, frames]`` as consecutive float32 blocks of ``size`` frames (the last shorter)."""
    for start in range(0, samples.shape[1], size):
        yield np.ascontiguousarray(samples[:, start:start + size], dtype=np.float32)


def regrouped(blocks: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """The same signal in blocks of exactly ``size`` frames (the last one shorter, never empty)."""
    held: list[np.ndarray] = []
    count = 0
    for block in blocks:
        held.append(block)
        count += block.shape[1]
        if count < size:
            continue
        joined = np.concatenate(held, axis=1) if len(held) > 1 else held[0]
        start = 0
        while count - start >= size:
            yield joined[:, start:start + size]
            start += size
        held, count = [joined[:, start:]], count - start
    if count:
        yield np.concatenate(held, axis=1) if len(held) > 1 else held[0]


def joined(blocks: Iterable[np.ndarray]) -> np.ndarray:
    """The blocks as one array ``[channels, frames]`` (for a rendering that is held in memory)."""
    return np.concatenate(list(blocks), axis=1)
