"""Which part of each clip a listening test plays: an excerpt the test's author chooses per clip.

BS.1534-3 asks for short excerpts (about 10 s) that are critical for the systems under test; the
head of a file is often a fade-in or silence. So each clip has its own :class:`Excerpt`, recorded
in the test file: given by the author (the studio's loop region is the default for the studio's
clip), or, left open, the loudest window of the chosen length (:func:`loudest_window`: the
highest mean square over all channels, found in one pass over the file in blocks).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.audio_io import audio_info, read_blocks

DEFAULT_SECONDS = 10.0
STEP_SECONDS = 0.1  # the loudest window starts on a multiple of this


@dataclass(frozen=True)
class Excerpt:
    """``seconds`` of a clip from ``start`` (seconds); ``start`` None: the loudest such window."""

    start: float | None
    seconds: float = DEFAULT_SECONDS

    def __post_init__(self) -> None:
        if not (math.isfinite(self.seconds) and self.seconds > 0):
            raise ValueError(f"an excerpt lasts more than 0 s, got {self.seconds:g}")
        if self.start is not None and not (math.isfinite(self.start) and self.start >= 0):
            raise ValueError(f"an excerpt starts at 0 s or later, got {self.start:g}")

    def frames(self, sample_rate: int) -> tuple[int, int]:
        """``(first frame, frame count)`` at ``sample_rate`` (of a chosen excerpt)."""
        return round(self.start * sample_rate), round(self.seconds * sample_rate)

    def to_json(self) -> dict:
        return {"start": self.start, "seconds": self.seconds}


HEAD = Excerpt(0.0, 12.0)  # what tests saved before excerpts were chosen played: each clip's first 12 s


def chosen(excerpt: Excerpt, clip: str | Path) -> Excerpt:
    """``excerpt`` with its start fixed (the loudest window if open) and cut to the clip;
    ValueError if it starts after the clip ends."""
    info = audio_info(clip)
    duration = info.frames / info.samplerate
    start = loudest_window(clip, excerpt.seconds) if excerpt.start is None else excerpt.start
    if start >= duration:
        raise ValueError(f"{Path(clip).name}: the excerpt starts at {start:g} s, after the clip's end "
                         f"({duration:.1f} s)")
    return Excerpt(start, min(excerpt.seconds, duration - start))


def loudest_window(clip: str | Path, seconds: float) -> float:
    """The start (seconds, a multiple of :data:`STEP_SECONDS`) of the ``seconds`` of ``clip`` with
    the highest mean square; 0 when the clip is no longer than that."""
    rate = audio_info(clip).samplerate
    step = max(1, round(STEP_SECONDS * rate))
    energies, carry = [], None
    for block in read_blocks(clip):
        squares = np.square(block, dtype=np.float64).sum(axis=0)
        if carry is not None:
            squares = np.concatenate([carry, squares])
        whole = len(squares) // step * step
        energies.append(squares[:whole].reshape(-1, step).sum(axis=1))
        carry = squares[whole:]
    steps = np.concatenate(energies)
    width = round(seconds / STEP_SECONDS)
    if len(steps) <= width:
        return 0.0
    totals = np.convolve(steps, np.ones(width), mode="valid")  # every window's energy
    return round(int(np.argmax(totals)) * step / rate, 6)
