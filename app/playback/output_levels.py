"""What the level meters show: peak and RMS per channel of everything played since the GUI last looked.

The audio callback plays a block every ~11.6 ms; the GUI looks every ~25 ms. A single
"levels of the latest block" value, overwritten per block, loses the blocks the GUI never
saw -- a click in one of them never reaches the meter. So the callback writes each block's
peak, sum of squares and frame count into the next entry of a fixed ring
(:meth:`OutputLevels.add`, no allocation, no lock) and only then counts the block as
done (:meth:`OutputLevels.publish`); the GUI, the single reader, remembers how many blocks it has taken and folds the
entries of the ones done since (:meth:`OutputLevels.take`).

Why this needs no lock: an entry is complete before the count that publishes it is
written, and the callback touches only the entry of the block it is measuring, so the
entries below the count the reader saw stay as they were -- unless the callback has
meanwhile gone round the whole ring and reused them. The reader therefore copies at most
half a ring, then checks the count again: if the callback got within reach of what was
copied, it copies again. Every value returned is thus one a finished block really had (a
peak is never more than a real sample), and a GUI stalled for longer than a ring
(:data:`LEVEL_RING_BLOCKS` blocks, ~3 s at 512 frames) loses only blocks older than half
of it, which a meter falling at 20 dB/s no longer shows anyway.
"""
from __future__ import annotations

import numpy as np

LEVEL_RING_BLOCKS = 256


class OutputLevels:
    """Per-block peak and energy of the output, written by the callback, taken by the GUI."""

    def __init__(self, channels: int, max_frames: int, capacity: int = LEVEL_RING_BLOCKS) -> None:
        self.capacity = capacity
        self._peak = np.zeros((capacity, channels), dtype=np.float32)
        self._energy = np.zeros((capacity, channels), dtype=np.float32)  # sum of squares
        self._frames = np.zeros(capacity, dtype=np.float64)
        self._work = np.zeros((max_frames, channels), dtype=np.float32)
        self._piece = np.zeros(channels, dtype=np.float32)
        self.done = 0  # blocks measured (written by the callback only, after the block's entry)
        self._taken = 0  # blocks already handed to the reader (reader only)

    # -- the audio callback ------------------------------------------------------------------
    def begin(self) -> None:
        """Start the entry of a new block."""
        slot = self.done % self.capacity
        self._peak[slot] = 0.0
        self._energy[slot] = 0.0
        self._frames[slot] = 0.0

    def add(self, piece: np.ndarray) -> None:
        """Add ``piece`` (at most ``max_frames`` x channels) of what is played to the block's entry."""
        slot = self.done % self.capacity
        work, peak, energy = self._work[: piece.shape[0]], self._peak[slot], self._energy[slot]
        np.abs(piece, out=work)
        np.max(work, axis=0, out=self._piece)
        np.maximum(peak, self._piece, out=peak)
        np.square(piece, out=work)
        np.sum(work, axis=0, out=self._piece)
        np.add(energy, self._piece, out=energy)
        self._frames[slot] += piece.shape[0]

    def add_silence(self, frames: int) -> None:
        """``frames`` of zeros (paused): the meters fall instead of holding the last level."""
        self._frames[self.done % self.capacity] += frames

    def publish(self) -> None:
        """The block's entry is complete: make it visible to :meth:`take`."""
        self.done += 1

    # -- the GUI -----------------------------------------------------------------------------
    def take(self) -> tuple[np.ndarray, np.ndarray]:
        """``(peak, rms)`` per channel, linear, over the blocks done since the previous call (zeros if none)."""
        while True:
            end = self.done
            start = max(self._taken, end - self.capacity // 2)
            slots = np.arange(start, end) % self.capacity
            peak, energy, frames = self._peak[slots], self._energy[slots], self._frames[slots]  # copies
            if self.done - self.capacity < start:  # none of the copied entries was being reused meanwhile
                break
        self._taken = end
        count = frames.sum()
        rms = np.sqrt(energy.sum(axis=0, dtype=np.float64) / count) if count else np.zeros(peak.shape[1])
        return peak.max(axis=0, initial=0.0), rms.astype(np.float32)

    def skip(self) -> None:
        """Forget what was measured so far (a new clip): the next :meth:`take` starts from now."""
        self._taken = self.done
