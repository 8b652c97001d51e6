"""A bounded single-producer, single-consumer ring of sample frames.

The audio callbacks and the codec thread hand audio to each other through these rings: a
write or a read copies into preallocated storage and moves one counter, so neither side
allocates, locks or waits. Each counter is written by one side only (the writer's
``written``, the reader's ``read``) and only after the samples it covers are in place; a
Python int assignment is atomic under the GIL, so a reader never sees a frame counted before
it is written. A full ring refuses the frames that do not fit (the writer counts them as
lost) rather than overwriting what the reader has not taken yet.
"""
from __future__ import annotations

import numpy as np


class FrameRing:
    """Frames of ``channels`` float32 samples, at most ``capacity`` held."""

    def __init__(self, capacity: int, channels: int) -> None:
        if capacity < 1:
            raise ValueError(f"ring capacity must be at least one frame, got {capacity}")
        self.capacity = capacity
        self._data = np.zeros((capacity, channels), dtype=np.float32)
        self.written = 0  # frames ever written (writer only)
        self.read = 0  # frames ever read (reader only)

    def available(self) -> int:
        """Frames ready to read."""
        return self.written - self.read

    def space(self) -> int:
        return self.capacity - self.available()

    def write(self, frames: np.ndarray) -> int:
        """Append ``frames [k, channels]`` (as many as fit); returns how many were taken."""
        k = min(frames.shape[0], self.space())
        start = self.written % self.capacity
        first = min(k, self.capacity - start)
        self._data[start:start + first] = frames[:first]
        self._data[:k - first] = frames[first:k]
        self.written += k
        return k

    def read_into(self, out: np.ndarray) -> int:
        """Fill ``out [k, channels]`` with the oldest frames (as many as there are); returns how many."""
        k = min(out.shape[0], self.available())
        start = self.read % self.capacity
        first = min(k, self.capacity - start)
        out[:first] = self._data[start:start + first]
        out[first:k] = self._data[:k - first]
        self.read += k
        return k

    def skip(self, k: int) -> int:
        """Drop up to ``k`` of the oldest frames; returns how many."""
        k = min(k, self.available())
        self.read += k
        return k
