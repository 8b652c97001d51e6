"""Rate-distortion evaluation of a codec on a signal: one row per codebook count.

Shared by ``rvq-studio eval``, the studio's quality panel and the trainer's validation, so
the three always report the same numbers (the DAC paper's mel and STFT distances, SI-SDR,
and per-codebook usage entropy).  ``rvq-studio eval --metrics`` adds listening-grade metrics
from :mod:`model.listening_metrics` (ViSQOL, STOI, DNSMOS, ...) and ``--worst`` the windows
where each rendering is furthest from the input (:mod:`model.windowed_quality`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch

from model.codec import Codec, EncodedAudio
from model.listening_metrics import measure, resolve
from model.metrics import bitrate_efficiency, codebook_entropy, si_sdr, spectral_distances
from model.windowed_quality import QualityWindow, windowed_mel_distance, worst_windows

# The keys RateRow also keeps as fields (the studio and the trainer read them).
_FIELD_KEYS = ("mel_distance", "stft_distance", "si_sdr")


@dataclass
class RateRow:
    n_codebooks: int
    kbps: float
    mel_distance: float | None = None  # None: not measured (metric not chosen)
    stft_distance: float | None = None
    si_sdr: float | None = None
    measured: dict[str, float | None] = field(default_factory=dict)  # every chosen metric's keys; None: absent here
    worst_windows: list[QualityWindow] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Flat: the measured keys only, then ``worst_windows`` when asked for."""
        row: dict = {"n_codebooks": self.n_codebooks, "kbps": self.kbps}
        row.update({key: getattr(self, key) for key in _FIELD_KEYS if getattr(self, key) is not None})
        row.update(self.measured)
        if self.worst_windows:
            row["worst_windows"] = [asdict(w) for w in self.worst_windows]
        return row


@dataclass
class Evaluation:
    rows: list[RateRow]
    entropy_bits: list[float]  # usage entropy of each codebook
    bitrate_efficiency: float
    unavailable: dict[str, str] = field(default_factory=dict)  # metric name -> why it is absent

    def to_dict(self) -> dict:
        result = {"rows": [r.to_dict() for r in self.rows], "entropy_bits": self.entropy_bits,
                  "bitrate_efficiency": self.bitrate_efficiency}
        if self.unavailable:
            result["unavailable"] = self.unavailable
        return result


def _fast_row(n: int, kbps: float, reference: torch.Tensor, decoded: torch.Tensor, sample_rate: int) -> RateRow:
    """The DAC paper's three numbers, sharing the STFTs between the two distances."""
    mel, stft = spectral_distances(reference, decoded, sample_rate)
    return RateRow(n, kbps, float(mel.mean()), float(stft.mean()), float(si_sdr(reference, decoded).mean()))


def _chosen_row(n: int, kbps: float, reference: torch.Tensor, decoded: torch.Tensor, sample_rate: int,
                metrics: Sequence[str], unavailable: dict[str, str]) -> RateRow:
    row = RateRow(n, kbps)
    for name in metrics:
        outcome = measure(name, reference, decoded, sample_rate)
        if outcome.reason is not None:
            unavailable[name] = outcome.reason
        row.measured.update(outcome.values)
        for key in _FIELD_KEYS:
            if outcome.values.get(key) is not None:
                setattr(row, key, outcome.values[key])
    return row


def evaluate(
    codec: Codec,
    reference: torch.Tensor,
    codes: torch.Tensor | EncodedAudio,
    counts: list[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    metrics: Sequence[str] | None = None,
    worst: int = 0,
) -> Evaluation:
    """Metrics of ``decode(codes[:, :n])`` against ``reference [B, C, T]`` for each n (every
    channel of a jointly coded stereo codec measured as a signal of its own).

    ``metrics``: names from :data:`model.listening_metrics.METRICS`, each measured through that
    registry (absent ones noted in ``unavailable``); ``None``: the DAC paper's mel, STFT and
    SI-SDR only, the two distances sharing their STFTs (the trainer's validation and the studio).
    ``worst``: also keep each rendering's ``worst`` 0.5 s windows by mel distance.
    """
    names = [metric.name for metric in resolve(metrics)] if metrics is not None else None
    encoded = codes if isinstance(codes, EncodedAudio) else EncodedAudio(codes)
    codes = encoded.codes
    counts = counts or list(range(1, codes.shape[1] + 1))
    rows = []
    unavailable: dict[str, str] = {}
    length = reference.shape[-1]
    reference = reference.reshape(-1, 1, length)
    for i, n in enumerate(counts):
        decoded = codec.decode(encoded.first(n))[..., :length]
        decoded = decoded.reshape(-1, 1, decoded.shape[-1])
        if decoded.shape[-1] < length:
            decoded = torch.nn.functional.pad(decoded, (0, length - decoded.shape[-1]))
        if names is None:
            row = _fast_row(n, codec.kbps(n), reference, decoded, codec.sample_rate)
        else:
            row = _chosen_row(n, codec.kbps(n), reference, decoded, codec.sample_rate, names, unavailable)
        if worst:
            row.worst_windows = worst_windows(windowed_mel_distance(reference, decoded, codec.sample_rate), worst)
        rows.append(row)
        if progress is not None:
            progress(i + 1, len(counts))
    entropy = codebook_entropy(codes, codec.codebook_size, codec.codebook_strides)
    return Evaluation(rows, [float(h) for h in entropy],
                      bitrate_efficiency(entropy, codec.codebook_size, codec.codebook_strides[: codes.shape[1]]),
                      unavailable)
