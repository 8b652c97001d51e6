"""The player's record of its switches, kept in a fixed-size ring the audio callback can write.

Tests and benchmarks read it to check that a switch happened at the sample where it was
asked for. The callback must not allocate, so a record is three stores into lists made
beforehand and a count increment; the tuples a reader sees are built on the reader's side.
A reader racing the callback may see the oldest entry overwritten mid-read -- the log is
for inspection, not for the sound.
"""
from __future__ import annotations

from collections.abc import Iterator

SWITCH_LOG_CAPACITY = 1024


class SwitchLog:
    """The last :attr:`capacity` switches, oldest first, as ``(sample, from key, to key)``."""

    __hash__ = None  # compares by content, like the list it used to be

    def __init__(self, capacity: int = SWITCH_LOG_CAPACITY) -> None:
        self.capacity = capacity
        self._samples: list[int] = [0] * capacity
        self._from: list[tuple | None] = [None] * capacity
        self._to: list[tuple | None] = [None] * capacity
        self.total = 0  # switches recorded since the last clear, including those overwritten

    def record(self, sample: int, from_key: tuple, to_key: tuple) -> None:
        """Called from the audio callback."""
        slot = self.total % self.capacity
        self._samples[slot], self._from[slot], self._to[slot] = sample, from_key, to_key
        self.total += 1

    def clear(self) -> None:
        self.total = 0

    def __len__(self) -> int:
        return min(self.total, self.capacity)

    def __iter__(self) -> Iterator[tuple[int, tuple, tuple]]:
        total, size = self.total, len(self)
        for k in range(total - size, total):
            slot = k % self.capacity
            yield self._samples[slot], self._from[slot], self._to[slot]

    def __getitem__(self, index):
        return list(self)[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (SwitchLog, list, tuple)):
            return NotImplemented
        return list(self) == list(other)

    def __repr__(self) -> str:
        return f"SwitchLog({list(self)!r})"
