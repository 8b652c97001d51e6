"""A neural codec's bitrate on a clip: nominal (codes times bits) and measured (its .rvq file).

The nominal rate counts every code at ``log2(codebook_size)`` bits; the measured one is the
size of the ``.rvq`` stream the codec would write for the clip -- header and range-coded
codes, exactly what ``rvq-studio encode`` writes -- over the clip's duration. Both cover all
of the clip's channels (a mono codec codes each channel as its own item).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from model.codec import Codec
from model.compression import EncodedClip, codec_items
from model.rvq_format import RvqMetadata, write_rvq


def nominal_kbps(codec: Codec, n_codebooks: int, channels: int) -> float:
    """``codec``'s nominal bitrate at ``n_codebooks`` for a clip of ``channels`` channels."""
    return codec.kbps(n_codebooks) * codec_items(channels, codec.channels)


def match_count(codec: Codec, target_kbps: float, channels: int) -> int:
    """The codebook count whose nominal bitrate is closest to ``target_kbps`` (the lower on a tie)."""
    counts = range(1, codec.n_codebooks + 1)
    return min(counts, key=lambda n: (abs(nominal_kbps(codec, n, channels) - target_kbps), n))


def rvq_bytes(codec: Codec, clip: EncodedClip, n_codebooks: int) -> int:
    """Size of the entropy-coded ``.rvq`` file of ``clip``'s first ``n_codebooks`` codebooks."""
    codes = clip.codes[:, :n_codebooks].numpy()
    meta = RvqMetadata(
        codec_name=codec.name, codec_id=codec.digest(), sample_rate=codec.sample_rate,
        original_sample_rate=clip.original_rate, length=clip.length, hop_length=codec.hop_length,
        codebook_size=codec.codebook_size, loudness_lufs=clip.loudness_lufs,
        codebook_strides=tuple(codec.codebook_strides[:n_codebooks]),
    )
    side = {name: value.numpy() for name, value in clip.side.items()}
    with tempfile.TemporaryDirectory(prefix="rvq-compare-") as folder:
        return write_rvq(Path(folder) / "clip.rvq", codes, meta, entropy_coding=True, side=side).file_bytes


def measured_kbps(codec: Codec, clip: EncodedClip, n_codebooks: int) -> float:
    """Bits of the clip's ``.rvq`` file per second of the clip, in kbit/s."""
    return rvq_bytes(codec, clip, n_codebooks) * 8 / (clip.length / clip.original_rate) / 1000
