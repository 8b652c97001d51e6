"""A stimulus provider without a model: the synthetic music clip and noisier copies of it, for
listening-test tests that exercise the test machinery rather than a codec."""
from __future__ import annotations

import numpy as np

from app.listening_test.excerpts import Excerpt
from app.listening_test.stimuli import REFERENCE, Stimulus
from synthetic_audio import music_clip

NOISE_LEVELS = {"quiet hiss": 0.003, "some hiss": 0.02, "loud hiss": 0.1}


def noisy_copies(clip_path: str, excerpt: Excerpt | None = None, sample_rate: int = 16000,
                 seconds: float = 0.5) -> list[Stimulus]:
    """The original (seeded by the clip's name) and one copy per :data:`NOISE_LEVELS` entry: made
    up, not read from the clip, so they stand for any excerpt of it."""
    seed = sum(map(ord, str(clip_path)))
    original = music_clip(seconds, sample_rate, seed=seed)
    rng = np.random.default_rng(seed)
    stimuli = [Stimulus("original", REFERENCE, original, sample_rate)]
    for name, level in NOISE_LEVELS.items():
        noisy = (original + level * rng.standard_normal(original.shape)).astype(np.float32)
        stimuli.append(Stimulus(name, "noise", noisy, sample_rate))
    return stimuli
