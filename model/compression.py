"""From audio files to codes and back: resampling, channels, loudness, ``.rvq`` files.

Every channel is coded independently (as one batch item), at the codec's sample rate, and
resampled back to the original rate on output. Like the reference ``compress``, the input
can be normalised to a fixed loudness before encoding (codecs are trained on normalised
audio); the original loudness is stored so decoding restores the level. Loudness is
BS.1770's for any channel count (``model.loudness``). A file louder than the format's
``MAX_LOUDNESS_LUFS`` (only float audio beyond full scale gets there) is recorded at that
ceiling and normalised with its gain: the codec then sees a hotter signal, but the level
restored on decoding is still exactly the original's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model.audio_io import Audio, read_audio, resample, write_audio
from model.codec import Codec, ProgressFn
from model.loudness import integrated_loudness
from model.rvq_format import MAX_LOUDNESS_LUFS, DecoderSpec, RvqMetadata, RvqWriteReport, read_rvq, write_rvq

TARGET_LUFS = -16.0
MIN_LOUDNESS_SECONDS = 0.4  # the gating block of ITU-R BS.1770


@dataclass
class EncodedClip:
    """Codes ``[channels, n, frames]`` plus what is needed to rebuild the original signal."""

    codes: torch.Tensor
    original_rate: int
    length: int
    loudness_lufs: float | None = None

    @property
    def gain(self) -> float:
        """The linear gain that was applied before encoding."""
        return normalisation_gain(self.loudness_lufs)


def normalisation_gain(loudness_lufs: float | None) -> float:
    """Linear gain bringing a signal of ``loudness_lufs`` to the target (1 when not normalised)."""
    return 1.0 if loudness_lufs is None else 10 ** ((TARGET_LUFS - loudness_lufs) / 20)


def measure_loudness(samples: np.ndarray, sample_rate: int) -> float | None:
    """Integrated loudness (LUFS) of ``[channels, frames]``; None when too short or silent."""
    if samples.shape[1] < MIN_LOUDNESS_SECONDS * sample_rate:
        return None
    loudness = integrated_loudness(samples, sample_rate)
    return loudness if math.isfinite(loudness) else None


def model_input(codec: Codec, audio: Audio, normalize: bool = True) -> tuple[torch.Tensor, float | None]:
    """``[channels, 1, T]`` at the codec's rate, loudness-normalised when asked and possible."""
    samples = resample(audio.samples, audio.sample_rate, codec.sample_rate)
    loudness = measure_loudness(samples, codec.sample_rate) if normalize else None
    if loudness is not None:
        loudness = min(loudness, MAX_LOUDNESS_LUFS)
    wave = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)).unsqueeze(1)
    if loudness is not None:
        wave = wave * normalisation_gain(loudness)
    return wave, loudness


def encode_clip(
    codec: Codec,
    audio: Audio,
    n_codebooks: int | None = None,
    normalize: bool = True,
    progress: ProgressFn | None = None,
) -> EncodedClip:
    wave, loudness = model_input(codec, audio, normalize)
    codes = codec.encode(wave, n_codebooks, progress=progress)
    return EncodedClip(codes, audio.sample_rate, audio.frames, loudness)


def decode_clip(
    codec: Codec, clip: EncodedClip, n_codebooks: int | None = None, progress: ProgressFn | None = None
) -> Audio:
    """The reconstruction at the original rate, length and level."""
    codes = clip.codes if n_codebooks is None else clip.codes[:, :n_codebooks]
    wave = codec.decode(codes, progress=progress)[:, 0].numpy() / clip.gain
    out = resample(wave, codec.sample_rate, clip.original_rate)
    return Audio(_fit_length(out, clip.length), clip.original_rate)


def _fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    if samples.shape[1] >= length:
        return np.ascontiguousarray(samples[:, :length])
    return np.pad(samples, ((0, 0), (0, length - samples.shape[1])))


def compress_file(
    codec: Codec,
    source: str | Path,
    target: str | Path,
    n_codebooks: int | None = None,
    normalize: bool = True,
    entropy_coding: bool = True,
    progress: ProgressFn | None = None,
) -> RvqWriteReport:
    clip = encode_clip(codec, read_audio(source), n_codebooks, normalize, progress)
    meta = RvqMetadata(
        codec_name=codec.name, codec_id=codec.digest(), sample_rate=codec.sample_rate,
        original_sample_rate=clip.original_rate, length=clip.length, hop_length=codec.hop_length,
        codebook_size=codec.codebook_size, loudness_lufs=clip.loudness_lufs,
    )
    return write_rvq(target, clip.codes.numpy(), meta, entropy_coding)


def read_clip(codec: Codec, source: str | Path) -> EncodedClip:
    """Codes of an ``.rvq`` file, refused unless ``codec`` is the one that wrote them.

    The header is checked against the codec before the payload is decoded (a
    ``CodecMismatchError`` names both models).
    """
    decoder = DecoderSpec(codec_name=codec.name, codec_id=codec.digest(), sample_rate=codec.sample_rate,
                          hop_length=codec.hop_length, codebook_size=codec.codebook_size,
                          n_codebooks=codec.n_codebooks)
    codes, meta = read_rvq(source, decoder)
    return EncodedClip(torch.from_numpy(codes), meta.original_sample_rate, meta.length, meta.loudness_lufs)


def decompress_file(
    codec: Codec,
    source: str | Path,
    target: str | Path,
    n_codebooks: int | None = None,
    progress: ProgressFn | None = None,
) -> Audio:
    clip = read_clip(codec, source)
    stored = clip.codes.shape[1]
    if n_codebooks is not None and not 1 <= n_codebooks <= stored:
        raise ValueError(f"{Path(source).name} stores {stored} codebooks; cannot decode with {n_codebooks}")
    audio = decode_clip(codec, clip, n_codebooks, progress)
    write_audio(target, audio.samples, audio.sample_rate)
    return audio
