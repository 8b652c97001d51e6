"""What a listening test plays: one :class:`Stimulus` per contestant, aligned to the clip.

A test does not care how a contestant was made (a codec at n codebooks, Opus at a bitrate, a
second model): a :class:`StimulusProvider` turns an excerpt of a clip into the contestants, all at
one sample rate and one length, one of them the original (``kind == "reference"``). The test adds
what ITU-R BS.1534-3 asks of every MUSHRA trial on top: the hidden reference (the original, not
named as such) and the low-pass anchors at 3.5 kHz and 7 kHz, made here from the original.

The anchors are ideal (brick-wall) low-pass filters applied in the frequency domain over the
whole excerpt: the recommendation specifies the cut-off frequencies, not a filter design, and a
brick wall makes the anchor's bandwidth exactly the stated one.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from app.listening_test.excerpts import Excerpt

REFERENCE = "reference"  # kind of the original; the name the hidden reference is recorded under
HIDDEN_REFERENCE = "hidden reference"
LOW_ANCHOR = "anchor 3.5 kHz"
MID_ANCHOR = "anchor 7 kHz"
ANCHOR_CUTOFFS = {LOW_ANCHOR: 3500.0, MID_ANCHOR: 7000.0}
HIDDEN_REFERENCE_KIND, ANCHOR_KIND = "hidden reference", "anchor"  # kinds of what the test adds


class StimulusError(ValueError):
    """Stimuli a test cannot use (misaligned, unnamed, no original), in one line."""


@dataclass(frozen=True, eq=False)
class Stimulus:
    """One contestant rendered for one clip: ``audio`` is float32 ``[channels, frames]``."""

    name: str  # unique within a clip and the same across clips (the results are grouped by it)
    kind: str  # "reference" for the original; anything else for a contestant ("codec", "anchor", ...)
    audio: np.ndarray
    sample_rate: int


class StimulusProvider(Protocol):
    """Renders every contestant of a clip's excerpt (its start chosen), aligned to it, the original among them."""

    def __call__(self, clip_path: str, excerpt: Excerpt) -> list[Stimulus]: ...


def lowpass(audio: np.ndarray, sample_rate: int, cutoff_hz: float) -> np.ndarray:
    """``audio`` ``[C, T]`` without any content above ``cutoff_hz`` (an ideal filter, zero phase)."""
    frames = audio.shape[-1]
    spectrum = np.fft.rfft(audio.astype(np.float64), axis=-1)
    frequencies = np.fft.rfftfreq(frames, 1.0 / sample_rate)
    spectrum[..., frequencies > cutoff_hz] = 0.0
    return np.fft.irfft(spectrum, n=frames, axis=-1).astype(np.float32)


def checked(stimuli: Sequence[Stimulus]) -> list[Stimulus]:
    """The provider's stimuli if a test can play them side by side; :class:`StimulusError` if not."""
    stimuli = list(stimuli)
    originals = [s for s in stimuli if s.kind == REFERENCE]
    if len(originals) != 1:
        raise StimulusError(f"the contestants must include exactly one original (kind 'reference'), got {len(originals)}")
    names = [s.name for s in stimuli]
    if len(set(names)) != len(names) or not all(names):
        raise StimulusError(f"contestant names must be unique and non-empty, got {names}")
    if set(names) & {HIDDEN_REFERENCE, *ANCHOR_CUTOFFS}:
        raise StimulusError("the hidden reference and the anchors are added by the test; a provider must not name them")
    reference = originals[0]
    for s in stimuli:
        if s.audio.ndim != 2 or s.audio.dtype != np.float32:
            raise StimulusError(f"{s.name}: audio must be float32 [channels, frames], got {s.audio.dtype} {s.audio.shape}")
        if s.sample_rate != reference.sample_rate or s.audio.shape != reference.audio.shape:
            raise StimulusError(f"{s.name} is not aligned to the original: {s.audio.shape} at {s.sample_rate} Hz "
                                f"against {reference.audio.shape} at {reference.sample_rate} Hz")
    return stimuli


def with_hidden_reference_and_anchors(stimuli: Sequence[Stimulus]) -> list[Stimulus]:
    """The contestants plus the hidden reference and both anchors (BS.1534-3), the original last.

    An anchor whose cut-off is at or above the Nyquist frequency would equal the original; it is
    still made (the test's design stays the same for every model), and is then a second hidden
    reference in effect.
    """
    stimuli = checked(stimuli)
    reference = next(s for s in stimuli if s.kind == REFERENCE)
    extra = [Stimulus(HIDDEN_REFERENCE, HIDDEN_REFERENCE_KIND, reference.audio, reference.sample_rate)]
    extra += [Stimulus(name, ANCHOR_KIND, lowpass(reference.audio, reference.sample_rate, cutoff), reference.sample_rate)
              for name, cutoff in ANCHOR_CUTOFFS.items()]
    contestants = [s for s in stimuli if s.kind != REFERENCE]
    return contestants + extra + [reference]
