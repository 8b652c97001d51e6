"""Rate-distortion evaluation of a codec on a signal: one row per codebook count.

Shared by ``rvq-studio eval``, the studio's quality panel and the trainer's validation, so
the three always report the same numbers (the DAC paper's mel and STFT distances, SI-SDR,
and per-codebook usage entropy).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from model.codec import Codec, EncodedAudio
from model.metrics import bitrate_efficiency, codebook_entropy, si_sdr, spectral_distances


@dataclass
class RateRow:
    n_codebooks: int
    kbps: float
    mel_distance: float
    stft_distance: float
    si_sdr: float


@dataclass
class Evaluation:
    rows: list[RateRow]
    entropy_bits: list[float]  # usage entropy of each codebook
    bitrate_efficiency: float

    def to_dict(self) -> dict:
        return {"rows": [asdict(r) for r in self.rows], "entropy_bits": self.entropy_bits,
                "bitrate_efficiency": self.bitrate_efficiency}


def evaluate(
    codec: Codec,
    reference: torch.Tensor,
    codes: torch.Tensor | EncodedAudio,
    counts: list[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Metrics of ``decode(codes[:, :n])`` against ``reference [B, C, T]`` for each n (every
    channel of a jointly coded stereo codec measured as a signal of its own)."""
    encoded = codes if isinstance(codes, EncodedAudio) else EncodedAudio(codes)
    codes = encoded.codes
    counts = counts or list(range(1, codes.shape[1] + 1))
    rows = []
    length = reference.shape[-1]
    reference = reference.reshape(-1, 1, length)
    for i, n in enumerate(counts):
        decoded = codec.decode(encoded.first(n))[..., :length]
        decoded = decoded.reshape(-1, 1, decoded.shape[-1])
        if decoded.shape[-1] < length:
            decoded = torch.nn.functional.pad(decoded, (0, length - decoded.shape[-1]))
        mel, stft = spectral_distances(reference, decoded, codec.sample_rate)
        sdr = si_sdr(reference, decoded)
        rows.append(RateRow(n, codec.kbps(n), float(mel.mean()), float(stft.mean()), float(sdr.mean())))
        if progress is not None:
            progress(i + 1, len(counts))
    entropy = codebook_entropy(codes, codec.codebook_size)
    return Evaluation(rows, [float(h) for h in entropy], bitrate_efficiency(entropy, codec.codebook_size))
