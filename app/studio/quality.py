"""Quality of one rendering against the codec's input, and Opus at the same bitrates.

The codec rows use the same metric functions as :func:`model.evaluation.evaluate` (the DAC
paper's mel and STFT distances, SI-SDR, against the loudness-normalised input), but on
reconstructions the studio has already rendered, so the quality panel costs no extra decode.

Opus reference: libsndfile (through soundfile) exposes no Opus bitrate setting; its
``compression_level`` (0..1) maps linearly onto the Opus encoder's bitrate, from about
256 kbit/s per channel at 0 down to its floor of 6 kbit/s at 1. We invert that mapping for
the wanted bitrate, encode, and report the bitrate *measured* from the file size (Ogg
overhead included) next to the quality, so the curve is honest about where Opus landed.
Opus cannot go below 6 kbit/s per channel; lower codec bitrates get no Opus point.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import torch

from model.audio_io import resample
from model.evaluation import RateRow
from model.metrics import si_sdr, spectral_distances

OPUS_RATE = 48_000
OPUS_MIN_BPS = 6_000
OPUS_MAX_BPS = 256_000


def rate_row(reference: np.ndarray, decoded: np.ndarray, sample_rate: int, n: int, kbps: float) -> RateRow:
    """Metrics of ``decoded`` against ``reference`` (both ``[C, 1, T]`` at ``sample_rate``)."""
    ref, est = torch.from_numpy(np.ascontiguousarray(reference)), torch.from_numpy(np.ascontiguousarray(decoded))
    mel, stft = spectral_distances(ref, est, sample_rate)
    return RateRow(n, kbps, float(mel.mean()), float(stft.mean()), float(si_sdr(ref, est).mean()))


@dataclass(frozen=True)
class OpusPoint:
    target_kbps: float
    measured_kbps: float
    decoded: np.ndarray  # [C, 1, T] at the reference's rate


def opus_level(kbps_per_channel: float) -> float:
    """libsndfile's ``compression_level`` that asks Opus for ``kbps_per_channel``."""
    bps = min(max(kbps_per_channel * 1000, OPUS_MIN_BPS), OPUS_MAX_BPS)
    return 1.0 - (bps - OPUS_MIN_BPS) / (OPUS_MAX_BPS - OPUS_MIN_BPS)


def opus_round_trip(reference: np.ndarray, sample_rate: int, kbps: float) -> OpusPoint | None:
    """Encode ``reference`` ``[C, 1, T]`` with Opus near ``kbps`` per channel and decode it back.

    Per channel, like the codec's nominal bitrate (it codes each channel on its own); the
    measured bitrate is per channel too.

    One correction step: if the first encode lands more than 10 % off the target (VBR and
    Ogg overhead), the request is scaled by target / measured and the clip encoded again.
    """
    channels, _, length = reference.shape
    if kbps * 1000 < OPUS_MIN_BPS:
        return None
    at48 = np.ascontiguousarray(resample(reference[:, 0], sample_rate, OPUS_RATE).T)
    seconds = at48.shape[0] / OPUS_RATE
    request = kbps
    for _ in range(2):
        buffer = io.BytesIO()
        sf.write(buffer, at48, OPUS_RATE, format="OGG", subtype="OPUS",
                 compression_level=opus_level(request))
        measured = len(buffer.getvalue()) * 8 / seconds / 1000 / channels
        if abs(measured - kbps) <= 0.1 * kbps or request * kbps / measured * 1000 < OPUS_MIN_BPS:
            break
        request *= kbps / measured
    buffer.seek(0)
    decoded48, _ = sf.read(buffer, dtype="float32", always_2d=True)
    back = resample(np.ascontiguousarray(decoded48.T), OPUS_RATE, sample_rate)
    back = back[:, :length] if back.shape[1] >= length else np.pad(back, ((0, 0), (0, length - back.shape[1])))
    return OpusPoint(kbps, measured, back[:, None, :])
