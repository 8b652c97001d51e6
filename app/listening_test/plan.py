"""The randomised order of a listener's trials, reproducible from a recorded seed.

Every listener gets their own seed, derived from the test's seed and their place in the test
(:func:`listener_seed`), and their plan is drawn from it with :class:`random.Random`: the same
file always gives the same session, while two listeners hear different orders.

* MUSHRA: one trial per clip, clips in random order; in each trial every stimulus (the
  contestants, the hidden reference, both anchors) appears once, in a fresh random order that
  decides which letter it plays under.
* ABX: for every clip and contestant, ``repeats`` trials comparing the original with the
  contestant, all shuffled together; which of the two is A, and whether X is A or B, are
  independent fair coin tosses per trial.
"""
from __future__ import annotations

import random
import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LETTERS = string.ascii_uppercase


@dataclass(frozen=True)
class MushraTrial:
    clip: int
    order: tuple[str, ...]  # the stimulus under letter LETTERS[i] is order[i]


@dataclass(frozen=True)
class AbxTrial:
    clip: int
    a: str
    b: str
    x: str  # "A" or "B"

    def contestant(self, original: str) -> str:
        """The stimulus that is not the original (what this trial tests)."""
        return self.b if self.a == original else self.a

    @property
    def x_stimulus(self) -> str:
        return self.a if self.x == "A" else self.b


def listener_seed(test_seed: int, index: int) -> int:
    """A listener's seed: independent streams for each place in the test, fixed by the test's seed."""
    return int(np.random.SeedSequence([test_seed, index]).generate_state(1)[0])


def mushra_plan(seed: int, clips: int, stimuli: Sequence[str]) -> list[MushraTrial]:
    if len(stimuli) > len(LETTERS):
        raise ValueError(f"at most {len(LETTERS)} stimuli per trial, got {len(stimuli)}")
    rng = random.Random(seed)
    clip_order = rng.sample(range(clips), clips)
    return [MushraTrial(clip, tuple(rng.sample(list(stimuli), len(stimuli)))) for clip in clip_order]


def abx_plan(seed: int, clips: int, original: str, contestants: Sequence[str], repeats: int) -> list[AbxTrial]:
    rng = random.Random(seed)
    pairs = [(clip, name) for clip in range(clips) for name in contestants for _ in range(repeats)]
    rng.shuffle(pairs)
    trials = []
    for clip, name in pairs:
        a, b = (original, name) if rng.random() < 0.5 else (name, original)
        trials.append(AbxTrial(clip, a, b, "A" if rng.random() < 0.5 else "B"))
    return trials
