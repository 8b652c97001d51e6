"""What the player holds during a trial: one source per letter, switched at the sample being played.

The stimuli of a trial share one sample clock (providers align them to the clip), so switching
letters is the player's ordinary switch -- an equal-power crossfade of about 10 ms at the current
sample (:mod:`app.playback.player`) -- and looping plays the whole excerpt again seamlessly. The
sources are keyed by letter: nothing the player reports names a contestant.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from app.playback.player import AudioPlayer
from app.playback.sources import OriginalSource
from app.listening_test.stimuli import Stimulus


class LetterSource(OriginalSource):
    """A stimulus's samples ``[T, C]`` played under a letter (always ready: rendered beforehand)."""

    def __init__(self, letter: str, stimulus: Stimulus) -> None:
        super().__init__(np.ascontiguousarray(stimulus.audio.T, dtype=np.float32))
        self.key = ("letter", letter)


class TrialAudio:
    def __init__(self, player: AudioPlayer) -> None:
        self.player = player
        self.sources: dict[str, LetterSource] = {}

    def load(self, stimuli: Mapping[str, Stimulus]) -> None:
        """A new trial: ``letter -> stimulus``; playback stops at the start, on the first letter."""
        self.player.pause()
        self.sources = {letter: LetterSource(letter, s) for letter, s in stimuli.items()}
        first = next(iter(self.sources.values()))
        sample_rate = next(iter(stimuli.values())).sample_rate
        self.player.configure(sample_rate, first.samples.shape[1], first)
        self.player.set_loop(0, first.length)

    def select(self, letter: str) -> str | None:
        """Hear ``letter`` from the sample being played (starting playback if stopped); a device that
        stopped by itself is tried again, at each letter until it plays. Returns why nothing is
        heard, None when a device plays: a listener rating silence must be told."""
        self.player.check_output()
        self.player.set_source(self.sources[letter])
        if self.player.device_lost or not self.player.playing:
            self.player.play()
        return self.player.unavailable_reason

    @property
    def selected(self) -> str | None:
        requested = self.player.requested
        return requested[1] if requested else None

    def set_looping(self, looping: bool) -> None:
        length = self.player.length
        self.player.set_loop(0, length) if looping else self.player.set_loop(None)

    def stop(self) -> None:
        self.player.stop()
