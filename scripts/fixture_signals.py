"""Test signals shared by the reference-fixture scripts (make_dac_fixtures.py,
make_encodec_fixtures.py).

Why log chirps plus noise: a sweep from 40 Hz to 0.45 * sample_rate puts energy in every
band a codec handles within a fraction of a second, so short fixtures still exercise the
whole decoder; the noise keeps the latents from being too regular.  Random phase and
amplitude per batch item make the items differ.
"""

from __future__ import annotations

import math

import numpy as np


def chirps_with_noise(seed: int, sample_rate: int, length: int, batch: int = 2) -> np.ndarray:
    """Batch of log chirps (40 Hz to 0.45*sr, random phase) plus white noise, (B, 1, T)."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / sample_rate
    duration = length / sample_rate
    f0, f1 = 40.0, 0.45 * sample_rate
    k = math.log(f1 / f0) / duration
    items = []
    for _ in range(batch):
        phase = 2 * np.pi * f0 * (np.exp(k * t) - 1) / k + rng.uniform(0, 2 * np.pi)
        amplitude = rng.uniform(0.3, 0.6)
        items.append(amplitude * np.sin(phase) + 0.05 * rng.standard_normal(length))
    return np.stack(items)[:, None, :].astype(np.float32)
