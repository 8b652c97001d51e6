"""A soft limiter for the residual: loud peaks bend smoothly towards full scale instead of clipping.

The residual (original minus reconstruction) is lifted to listening level, and where the
reconstruction is poor its peaks pass full scale. Hard clipping them adds harsh harmonics
that were never in either signal -- the listener would hear the limiter, not the codec.
Here samples up to :data:`KNEE` pass unchanged, and the part of a peak above it is bent by a
tanh, so the curve keeps slope 1 at the knee (no kink), rises monotonically and never
exceeds full scale. It is memoryless (no look-ahead, no release time): each sample is
mapped on its own, so a block is limited the same however the stream cuts it.

:func:`soft_limit` works in place with scratch buffers the caller owns: it runs inside the
audio callback, which must not allocate.
"""
from __future__ import annotations

import numpy as np

KNEE = np.float32(10 ** (-3 / 20))  # -3 dBFS: below it the residual is heard exactly as it is
_HEADROOM = np.float32(1.0) - KNEE
_INV_HEADROOM = np.float32(1.0) / _HEADROOM


def soft_limit(x: np.ndarray, magnitude: np.ndarray, bent: np.ndarray) -> None:
    """Limit ``x`` in place: ``|y| = min(|x|, K) + (1 - K) tanh(max(|x| - K, 0) / (1 - K))``.

    ``magnitude`` and ``bent`` are float32 scratch buffers of ``x``'s shape. Samples with
    ``|x| <= K`` come out bit for bit unchanged, and since ``K + (1 - K) = 1`` exactly in
    float32, no sample comes out above full scale.
    """
    np.abs(x, out=magnitude)
    np.subtract(magnitude, KNEE, out=bent)
    np.maximum(bent, 0.0, out=bent)  # how far above the knee
    np.multiply(bent, _INV_HEADROOM, out=bent)
    np.tanh(bent, out=bent)
    np.multiply(bent, _HEADROOM, out=bent)  # ... bent into less than the headroom
    np.minimum(magnitude, KNEE, out=magnitude)
    np.add(magnitude, bent, out=magnitude)
    np.copysign(magnitude, x, out=x)
