"""Equal-power crossfades for switching what the player plays without a click.

A switch (original <-> reconstruction, codebook count n -> m, or a seek) replaces one
signal by another at the same sample index. Cutting over hard leaves a step in the
waveform whenever the two differ there, which is heard as a click. Mixing them for about
10 ms with gains ``cos(pi/2 t)`` (outgoing) and ``sin(pi/2 t)`` (incoming) makes the
transition continuous; since ``cos^2 + sin^2 = 1`` the summed power stays constant for
uncorrelated signals, so the level does not dip mid-fade as with a linear fade.

The ramps are precomputed once per fade length; :func:`mix_crossfade` only multiplies and
adds in place into the incoming buffer, with no temporary array (the mix is computed as
``(incoming * tan + outgoing) * cos``, which equals ``incoming * sin + outgoing * cos``), so it
is safe to run inside the audio callback, which must not allocate.
"""
from __future__ import annotations

import numpy as np

DEFAULT_FADE_SECONDS = 0.010


class FadeRamps:
    """Gain tables for an equal-power fade of ``length`` samples (gain at sample centres)."""

    def __init__(self, length: int) -> None:
        if length < 1:
            raise ValueError(f"fade length must be at least one sample, got {length}")
        self.length = length
        phase = (np.arange(length, dtype=np.float64) + 0.5) / length * (np.pi / 2)
        self.fade_in = np.sin(phase).astype(np.float32)[:, None]
        self.fade_out = np.cos(phase).astype(np.float32)[:, None]
        self.tangent = np.tan(phase).astype(np.float32)[:, None]  # fade_in / fade_out: finite at sample centres

    @classmethod
    def for_rate(cls, sample_rate: int, seconds: float = DEFAULT_FADE_SECONDS) -> "FadeRamps":
        return cls(max(1, round(sample_rate * seconds)))


def mix_crossfade(outgoing: np.ndarray, incoming: np.ndarray, ramps: FadeRamps, progress: int) -> int:
    """Fade ``outgoing`` into ``incoming`` in place (both ``[frames, channels]``); new progress.

    ``progress`` is how many samples of the fade were already played; the fade continues
    from there, and past its end ``incoming`` is left untouched. Writing into ``incoming``
    lets the player render the new signal straight into the device buffer and only the
    old one into scratch space; ``outgoing`` is only read.
    """
    frames = incoming.shape[0]
    k = max(0, min(frames, ramps.length - progress))
    if k:
        mixed = incoming[:k]
        mixed *= ramps.tangent[progress : progress + k]
        mixed += outgoing[:k]
        mixed *= ramps.fade_out[progress : progress + k]
    return progress + frames
